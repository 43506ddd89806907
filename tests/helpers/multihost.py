"""SKU Studio's production deployment on one machine, for the multi-host end-to-end test and the fleet benchmark.

Real servers on loopback, each from this project's helpers: Redis (`redis_server.py`, the Celery broker and result
backend), PostgreSQL 15 (`postgres.py`: Dagster's instance and the review queue), moto's S3 server (`s3_server.py`: store, CDN, the
catalog and Dagster's compute logs). A Dagster webserver and daemon run on the "control" host with the shipped
`deploy/dagster.yaml`; Celery workers started with `skustudio worker` stand for GPU hosts. Every host has its own
folder (SKUSTUDIO_HOME, DAGSTER_HOME, leases, working directory): the hosts share only Redis, PostgreSQL and S3.

Only the processes started here are ever signalled, by their pid or process group.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.catalogs import write_small_catalog
from tests.helpers.dagster_e2e import REPO_ROOT, STAGES, RunningInstance, free_port, kill_tree, log, wait_until_ready
from tests.helpers.postgres import PostgresServer, start_postgres
from tests.helpers.redis_server import RedisServer
from tests.helpers.s3_server import DUMMY_CREDENTIALS, MotoS3Server

BUCKETS = {"store": "skustudio-store", "cdn": "skustudio-cdn", "catalog": "skustudio-catalog", "logs": "dagster-logs"}
CATALOG_KEY = "catalog/catalog.csv"
CONTROL = "control"
REGENERATION_SENSOR = "catalog_change_regeneration"


def promotion_yaml(promotion: str, roles: list[str], platforms: list[str]) -> str:
    """A small promotion: few scenes and platforms keep the test within a few minutes on 2 cores."""
    return f"""\
id: {promotion}
title: "Fleet test / {promotion}"
badge_text: "限时特惠"
price_rule: {{kind: percent_off, value: 10, round_to: 1, currency: CNY}}
main_role: {roles[0]}
scene_roles:
  default: [{', '.join(roles)}]
platforms: [{', '.join(platforms)}]
brand_kit: {{primary: "#E4393C", secondary: "#FFE8E0", accent: "#FFC53D", text: "#FFFFFF", logo: null, logo_placement: none}}
seed_base: 7
"""


@dataclass
class Worker:
    host: str
    name: str
    proc: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Fleet:
    base: Path
    redis: RedisServer
    pg: PostgresServer
    s3: MotoS3Server
    env: dict  # what every host of the deployment is configured with
    catalog_dir: Path
    dagster: RunningInstance | None = None
    workers: dict[str, Worker] = field(default_factory=dict)
    started: list[Worker] = field(default_factory=list)

    # ---- hosts --------------------------------------------------------------------------------------------------
    def host_dir(self, host: str) -> Path:
        return self.base / "hosts" / host

    def host_env(self, host: str) -> dict:
        """A host's environment: the shared settings plus its own folders."""
        folder = self.host_dir(host)
        dagster_home = folder / "dagster_home"
        if not dagster_home.exists():
            dagster_home.mkdir(parents=True)
            shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
        return {
            **self.env,
            "DAGSTER_HOME": str(dagster_home),
            "SKUSTUDIO_HOME": str(folder / "skustudio"),
            "SKUSTUDIO_LEASE_DIR": str(folder / "leases"),
            "TMPDIR": str(self._tmp(folder)),
        }

    @staticmethod
    def _tmp(folder: Path) -> Path:
        tmp = folder / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def run_cli(self, host: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`skustudio ARGS` on `host`."""
        return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=self.host_dir(host),
                              env=self.host_env(host), capture_output=True, text=True, timeout=timeout)

    def dagster_cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        out = subprocess.run([str(Path(sys.executable).parent / "dagster"), *args], cwd=REPO_ROOT,
                             env=self.host_env(CONTROL), capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError(f"dagster {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    # ---- workers ------------------------------------------------------------------------------------------------
    def start_worker(self, host: str, name: str | None = None, queues: str = "gpu,cpu", concurrency: int = 1,
                     extra_env: dict | None = None) -> Worker:
        name = name or host
        folder = self.host_dir(host)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / f"worker-{name}.log"
        fh = open(log_path, "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "worker", "--name", name, "--queues", queues,
             "--concurrency", str(concurrency)],
            cwd=folder, env={**self.host_env(host), **(extra_env or {})}, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        fh.close()
        worker = Worker(host, name, proc, log_path)
        self.workers[host] = worker
        self.started.append(worker)
        log(f"started worker {name} on {host} (pid {proc.pid})")
        self.wait_for_workers([name])
        return worker

    def wait_for_workers(self, names: list[str], timeout: float = 180) -> None:
        """Until every named worker answers a Celery ping (it consumes its queues by then)."""
        from orchestration.celery_fleet import worker_app

        app = worker_app(self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for w in self.started:
                if w.name in names and not w.alive():
                    raise AssertionError(f"worker {w.name} exited with {w.proc.returncode}:\n{self.worker_log(w)}")
            replies = app.control.ping(timeout=1.0) or []
            answered = {node.split("@", 1)[0] for reply in replies for node in reply}
            if set(names) <= answered:
                log(f"workers {names} answer")
                return
            time.sleep(1)
        raise AssertionError(f"workers {names} did not answer within {timeout}s\n{self.tail_logs()}")

    def kill_worker(self, host: str) -> None:
        """SIGKILL the host's worker and everything it started: the host died."""
        worker = self.workers[host]
        try:
            os.killpg(worker.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.proc.wait(timeout=30)
        log(f"killed worker {worker.name} (SIGKILL)")

    def stop_worker(self, host: str) -> None:
        kill_tree(self.workers[host].proc, grace=60)
        log(f"stopped worker {self.workers[host].name}")

    @staticmethod
    def worker_log(worker: Worker, n: int = 60) -> str:
        try:
            return "\n".join(worker.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    def tail_logs(self, n: int = 40) -> str:
        parts = [self.dagster.tail_logs(n)] if self.dagster else []
        for w in self.started:
            parts.append(f"----- worker {w.name} ({w.log_path}) -----\n{self.worker_log(w, n)}")
        return "\n".join(parts)

    # ---- S3 -----------------------------------------------------------------------------------------------------
    def s3_client(self):
        return self.s3.client()

    def read_object(self, bucket: str, key: str) -> bytes:
        return self.s3_client().get_object(Bucket=BUCKETS[bucket], Key=key)["Body"].read()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        client, keys, token = self.s3_client(), [], None
        while True:
            kwargs = {"Bucket": BUCKETS[bucket], "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = client.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page["NextContinuationToken"]


def box_photo(border: tuple[int, int, int]) -> bytes:
    """A white box with a dark rim on a white background: a valid packshot whose product is mostly clipped
    highlights (the exposure check fails, a weight too small to cost the A on its own). A second box is a near
    duplicate of the first as well, and that makes it a B."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (1200, 1200), "white")
    ImageDraw.Draw(im).rounded_rectangle((280, 220, 920, 980), radius=30, fill=(255, 255, 255), outline=border,
                                         width=40)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def add_catalog_row(fleet: Fleet, sku: str, photo: bytes, like: str | None = None) -> None:
    """Append a SKU (the row of `like`, or the first row, under a new id and photo) to the catalog on S3."""
    local = fleet.catalog_dir / "catalog.csv"
    with open(local, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, fields = list(reader), reader.fieldnames
    base = next((r for r in rows if r["sku"] == like), rows[0])
    (fleet.catalog_dir / "photos" / f"{sku}.jpg").write_bytes(photo)
    rows.append({**base, "sku": sku, "image": f"photos/{sku}.jpg"})
    with open(local, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    upload_catalog(fleet)


def upload_catalog(fleet: Fleet) -> None:
    """The local catalog folder (catalog.csv and photos/) to s3://<catalog bucket>/catalog/."""
    local = fleet.catalog_dir / "catalog.csv"
    client = fleet.s3_client()
    for photo in sorted((local.parent / "photos").iterdir()):
        client.put_object(Bucket=BUCKETS["catalog"], Key=f"catalog/photos/{photo.name}", Body=photo.read_bytes())
    client.put_object(Bucket=BUCKETS["catalog"], Key=CATALOG_KEY, Body=local.read_bytes())  # the rows last


def start_fleet(base: Path, *, n_skus: int, promotions: dict[str, str], chunk_skus: int,
                worker_lost_after_s: int = 30, generation_slots: int = 2,
                code_location: str = "orchestration.definitions", extra_env: dict | None = None) -> Fleet:
    """Servers, the catalog on S3, the Dagster webserver and daemon on PostgreSQL. Workers: `start_worker`.
    `code_location`: the module the webserver and daemon load (the workers follow each run's own)."""
    base.mkdir(parents=True, exist_ok=True)
    redis = pg = s3 = None
    try:
        redis = RedisServer().start()
        pg = start_postgres()
        s3 = MotoS3Server(workdir=base / "moto").start()
        for database in ("dagster", "review"):
            pg.create_database(database)
        for bucket in BUCKETS.values():
            s3.create_bucket(bucket)
        promotions_dir = base / "promotions"  # configuration shipped with the code: the same on every host
        promotions_dir.mkdir()
        for pid, text in promotions.items():
            (promotions_dir / f"{pid}.yaml").write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SKUSTUDIO_", "DAGSTER_"))}
        env.update(DUMMY_CREDENTIALS)
        env.pop("AWS_PROFILE", None)
        env.update({
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "AWS_REGION": "us-east-1",
            "SKUSTUDIO_ENV": "production",
            "SKUSTUDIO_CHUNK_SKUS": str(chunk_skus),
            "SKUSTUDIO_CELERY_BROKER": redis.url,
            "SKUSTUDIO_WORKER_LOST_AFTER_S": str(worker_lost_after_s),
            "SKUSTUDIO_DAGSTER_PG_URL": pg.sqlalchemy_url("dagster"),
            "SKUSTUDIO_DAGSTER_LOGS_BUCKET": BUCKETS["logs"],
            "SKUSTUDIO_S3_ENDPOINT_URL": s3.endpoint_url,
            "SKUSTUDIO_STORE_BUCKET": BUCKETS["store"],
            "SKUSTUDIO_CDN_BUCKET": BUCKETS["cdn"],
            "SKUSTUDIO_CDN_BASE_URL": "https://cdn.example.test",
            "SKUSTUDIO_CATALOG": f"s3://{BUCKETS['catalog']}/{CATALOG_KEY}",
            "SKUSTUDIO_PROMOTIONS": str(promotions_dir),
            "SKUSTUDIO_REVIEW_DB_URL": pg.sqlalchemy_url("review"),
            "SKUSTUDIO_GENERATOR": "none",  # the studio backend on the CPU stands for the GPU here
            "SKUSTUDIO_ALLOW_STUDIO_FALLBACK": "true",
            "SKUSTUDIO_E2E_DAEMON_INTERVAL": os.environ.get("SKUSTUDIO_E2E_DAEMON_INTERVAL", "2"),
            "SKUSTUDIO_SENSOR_INTERVAL_S": os.environ.get("SKUSTUDIO_E2E_SENSOR_INTERVAL", "5"),
            # A loaded 2-core machine can take longer than Dagster's 60 s to answer a run launch.
            "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",
            **(extra_env or {}),
        })
        fleet = Fleet(base=base, redis=redis, pg=pg, s3=s3, env=env, catalog_dir=base / "catalog")
        catalog = write_small_catalog(fleet.catalog_dir, n_skus)
        upload_catalog(fleet)
        fleet.dagster = start_control_host(fleet, catalog, write_workspace(base, code_location))
        fleet.dagster_cli("instance", "concurrency", "set", "skustudio_generation", str(generation_slots))
        return fleet
    except BaseException:
        for server in (s3, pg, redis):
            if server is not None:
                (server.close if server is s3 else server.stop)()
        raise


def write_workspace(base: Path, module: str) -> Path:
    path = base / "workspace.yaml"
    path.write_text(f"load_from:\n  - python_module:\n      module_name: {module}\n"
                    f"      location_name: sku_studio\n      working_directory: {REPO_ROOT}\n", encoding="utf-8")
    return path


def start_control_host(fleet: Fleet, catalog: Path, workspace: Path, startup_timeout: float = 300) -> RunningInstance:
    """`dagster instance migrate`, then the webserver and the (faster-ticking) daemon on the control host."""
    bin_dir = Path(sys.executable).parent
    env = fleet.host_env(CONTROL)
    fleet.dagster_cli("instance", "migrate")
    port = free_port()
    inst = RunningInstance(url=f"http://127.0.0.1:{port}", dagster_home=Path(env["DAGSTER_HOME"]),
                           home=Path(env["SKUSTUDIO_HOME"]), catalog=catalog)
    commands = {
        "webserver": [str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
        "daemon": [sys.executable, str(REPO_ROOT / "tests" / "helpers" / "fast_daemon.py"), "run", "-w", str(workspace)],
    }
    try:
        for name, cmd in commands.items():
            inst.logs[name] = fleet.host_dir(CONTROL) / f"{name}.log"
            with open(inst.logs[name], "wb") as fh:
                inst.procs.append(subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL, start_new_session=True))
            log(f"started {name} (pid {inst.procs[-1].pid})")
        wait_until_ready(inst, startup_timeout)
    except BaseException:
        for p in reversed(inst.procs):
            kill_tree(p)
        raise
    return inst


def stop_fleet(fleet: Fleet) -> None:
    for worker in fleet.started:
        if worker.alive():
            kill_tree(worker.proc, grace=20)
    if fleet.dagster is not None:
        for p in reversed(fleet.dagster.procs):
            kill_tree(p)
    fleet.s3.close()
    fleet.pg.stop()
    fleet.redis.stop()
    log("fleet stopped")


# ---- the instance, through GraphQL as the UI drives it -------------------------------------------------------
def promotion_backfill(inst, promotion: str, skus: list[str], title: str, cutouts: bool = True) -> str:
    """A backfill of the promotion's prompts, cutouts (unless `cutouts=False`), per-SKU stages and manifest."""
    one = lambda key: {"start": key, "end": key}  # noqa: E731
    cut = [{"assetKey": {"path": ["product_cutouts"]}, "partitions": {"ranges": [one(s) for s in skus]}}] if cutouts else []
    return inst.launch_backfill([
        {"assetKey": {"path": ["prompt_table"]}, "partitions": {"ranges": [one(promotion)]}},
        *cut,
        *({"assetKey": {"path": [stage]}, "partitions": {"ranges": [one(f"{promotion}|{s}") for s in skus]}}
          for stage in STAGES),
        {"assetKey": {"path": ["cdn_manifest"]}, "partitions": {"ranges": [one(promotion)]}},
    ], title)


def workers_of_run(inst, run_id: str) -> set[str]:
    """The workers whose steps logged themselves in this run ("worker NAME (pid N): K partitions")."""
    return {m.split()[1] for m in inst.run_messages(run_id) if m.startswith("worker ") and "(pid " in m}


def stage_runs(backfill: dict) -> list[dict]:
    """The runs of a backfill that ran the per-SKU step (its chunks)."""
    return [r for r in backfill["runs"] if any(p["path"] == ["cdn_publish"] for p in r["assetSelection"] or [])]


def sync_catalog(fleet) -> float:
    """Run the catalog sync; wait until the regeneration sensor has evaluated it (its tick after the sync)."""
    inst = fleet.dagster
    run_id = inst.launch_job("catalog_sync")
    assert inst.wait_for_run(run_id, timeout=600) == "SUCCESS", inst.run_messages(run_id)[-20:]
    synced = time.time()
    wait_until(f"a {REGENERATION_SENSOR} tick after the sync",
               lambda: [t for t in inst.sensor_ticks(REGENERATION_SENSOR)
                        if t["timestamp"] > synced and t["status"] != "STARTED"], 300, fleet, poll=2)
    return synced


def wait_until(what: str, condition, timeout: float, fleet, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        fleet.dagster.check_alive()
        time.sleep(poll)
    raise AssertionError(f"{what}: not within {timeout}s\n{fleet.tail_logs()}")
