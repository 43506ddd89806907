"""A real Dagster instance for the end-to-end tests (webserver + daemon subprocesses on loopback), and small
GraphQL helpers that talk to it as the UI does. Every wait is bounded and prints its progress."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.helpers.catalogs import write_small_catalog  # noqa: E402,F401  (re-exported for the tests)

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCATION = "sku_studio"
REPOSITORY = "__repository__"
PROMOTION = "double11"
from assets.stages import PER_SKU_STAGE_NAMES as STAGES  # noqa: F401  (re-exported for the tests)

# The backfill daemon ticks every 30 s (dagster's DEFAULT_DAEMON_INTERVAL_SECONDS, not configurable in
# dagster.yaml). An asset backfill of our graph needs ~4 ticks, so the test's daemon ticks faster (see
# fast_daemon.py); set SKUSTUDIO_E2E_DAEMON_INTERVAL=30 to run with dagster's own pace.
DAEMON_INTERVAL = os.environ.get("SKUSTUDIO_E2E_DAEMON_INTERVAL", "2")
# The sensors evaluate every 30 s in a deployment; the steps that wait for a sensor's tick would wait that long.
SENSOR_INTERVAL = os.environ.get("SKUSTUDIO_E2E_SENSOR_INTERVAL", "5")

DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 3
    dequeue_interval_seconds: 1
"""


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQLError(AssertionError):
    pass


@dataclass
class RunningInstance:
    url: str
    dagster_home: Path
    home: Path  # SKUSTUDIO_HOME
    catalog: Path
    logs: dict[str, Path] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    # ---- GraphQL ---------------------------------------------------------------------------------------------
    def gql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        resp = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout)
        if resp.status_code != 200:
            raise GraphQLError(f"POST /graphql -> HTTP {resp.status_code}: {resp.text[:2000]}")
        body = resp.json()
        if body.get("errors"):
            raise GraphQLError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def tail_logs(self, n: int = 60) -> str:
        out = []
        for name, path in self.logs.items():
            try:
                lines = path.read_text(errors="replace").splitlines()[-n:]
            except OSError:
                lines = ["<no log>"]
            out.append(f"----- {name} ({path}) -----\n" + "\n".join(lines))
        return "\n".join(out)

    def check_alive(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise AssertionError(f"dagster process {p.args[:3]} exited with {p.returncode}\n{self.tail_logs()}")

    # ---- runs ------------------------------------------------------------------------------------------------
    def launch_job(self, job_name: str) -> str:
        data = self.gql(
            """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
                 __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message }
                 ... on PythonError { stack } } }""",
            {"p": {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name}}},
        )["launchRun"]
        if data["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(f"launchRun({job_name}) -> {data}")
        run_id = data["run"]["runId"]
        log(f"launched {job_name}: run {run_id}")
        return run_id

    def run(self, run_id: str) -> dict:
        data = self.gql(
            """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId status jobName
                 tags { key value } assetSelection { path } } ... on Error { message } } }""",
            {"id": run_id},
        )["runOrError"]
        if data["__typename"] != "Run":
            raise GraphQLError(f"runOrError({run_id}) -> {data}")
        return data

    def wait_for_run(self, run_id: str, timeout: float = 120) -> str:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            status = self.run(run_id)["status"]
            if status != last:
                log(f"run {run_id[:8]}: {status}")
                last = status
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                return status
            self.check_alive()
            time.sleep(1)
        raise AssertionError(f"run {run_id} still {last} after {timeout}s\n{self.tail_logs()}")

    def run_messages(self, run_id: str) -> list[str]:
        """Every message of the run's event log (and the error text of failure events)."""
        messages, cursor = [], None
        for _ in range(50):
            data = self.gql(
                """query($id: ID!, $c: String) { logsForRun(runId: $id, afterCursor: $c, limit: 1000) {
                     __typename ... on EventConnection { cursor hasMore events { __typename
                       ... on MessageEvent { message stepKey }
                       ... on ExecutionStepFailureEvent { error { message } }
                       ... on RunFailureEvent { pipelineFailureError: error { message } } } }
                     ... on Error { message } } }""",
                {"id": run_id, "c": cursor},
            )["logsForRun"]
            if data["__typename"] != "EventConnection":
                raise GraphQLError(f"logsForRun({run_id}) -> {data}")
            for e in data["events"]:
                messages.append(e.get("message") or "")
                for k in ("error", "pipelineFailureError"):
                    if e.get(k):
                        messages.append(e[k]["message"])
            cursor = data["cursor"]
            if not data["hasMore"]:
                break
        return messages

    # ---- backfills -------------------------------------------------------------------------------------------
    def launch_backfill(self, partitions_by_assets: list[dict], title: str) -> str:
        data = self.gql(
            """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
                 __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
                 ... on PythonError { stack } } }""",
            {"p": {"partitionsByAssets": partitions_by_assets, "title": title}},
        )["launchPartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"launchPartitionBackfill -> {data}")
        log(f"launched backfill {data['backfillId']} ({title})")
        return data["backfillId"]

    def reexecute_backfill(self, backfill_id: str, strategy: str = "FROM_FAILURE") -> str:
        data = self.gql(
            """mutation($p: ReexecutionParams!) { reexecutePartitionBackfill(reexecutionParams: $p) {
                 __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
                 ... on PythonError { stack } } }""",
            {"p": {"parentRunId": backfill_id, "strategy": strategy}},
        )["reexecutePartitionBackfill"]
        if data["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"reexecutePartitionBackfill -> {data}")
        log(f"re-executed backfill {backfill_id} ({strategy}) as {data['backfillId']}")
        return data["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        data = self.gql(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
                 ... on PartitionBackfill { id status title tags { key value } error { message stack }
                   runs { runId status tags { key value } assetSelection { path } }
                   assetBackfillData { assetBackfillStatuses { __typename
                     ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted
                         numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed }
                     ... on UnpartitionedAssetStatus { assetKey { path } inProgress materialized failed } } } }
                 ... on Error { message } } }""",
            {"id": backfill_id},
        )["partitionBackfillOrError"]
        if data["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"partitionBackfillOrError({backfill_id}) -> {data}")
        return data

    def wait_for_backfill(self, backfill_id: str, timeout: float = 180) -> dict:
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            b = self.backfill(backfill_id)
            counts = {
                "/".join(s["assetKey"]["path"]): (s.get("numPartitionsMaterialized"), s.get("numPartitionsFailed"), s.get("numPartitionsTargeted"))
                for s in b["assetBackfillData"]["assetBackfillStatuses"]
            } if b.get("assetBackfillData") else {}
            state = (b["status"], len(b["runs"]), tuple(sorted(counts.items())))
            if state != last:
                pretty = ", ".join(f"{k} {m}ok/{f}failed/{t}" for k, (m, f, t) in sorted(counts.items()))
                log(f"backfill {backfill_id}: {b['status']}, {len(b['runs'])} runs; {pretty}")
                last = state
            # Terminal, and every run of it finished (the daemon marks a backfill done once its runs are).
            if b["status"] not in ("REQUESTED", "CANCELING", "FAILING") and all(
                r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in b["runs"]
            ):
                return b
            self.check_alive()
            time.sleep(1.5)
        raise AssertionError(f"backfill {backfill_id} not finished after {timeout}s: {last}\n{self.tail_logs()}")

    def backfills(self, limit: int = 50) -> list[dict]:
        data = self.gql(
            """query($l: Int) { partitionBackfillsOrError(limit: $l) { __typename
                 ... on PartitionBackfills { results { id status timestamp tags { key value } } } ... on Error { message } } }""",
            {"l": limit},
        )["partitionBackfillsOrError"]
        if data["__typename"] != "PartitionBackfills":
            raise GraphQLError(f"partitionBackfillsOrError -> {data}")
        return data["results"]

    # ---- assets and partitions -------------------------------------------------------------------------------
    def partition_keys(self, asset: str) -> list[str]:
        data = self.gql(
            """query($k: [AssetKeyInput!]) { assetNodes(assetKeys: $k) { assetKey { path } partitionKeys } }""",
            {"k": [{"path": [asset]}]},
        )["assetNodes"]
        assert len(data) == 1, data
        return data[0]["partitionKeys"]

    def materializations(self, asset: str) -> list[dict]:
        data = self.gql(
            """query($k: AssetKeyInput!) { assetOrError(assetKey: $k) { __typename
                 ... on Asset { assetMaterializations(limit: 10000) { partition runId timestamp } } } }""",
            {"k": {"path": [asset]}},
        )["assetOrError"]
        if data["__typename"] != "Asset":
            return []
        return data["assetMaterializations"]

    def materialization_counts(self, asset: str) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for m in self.materializations(asset):
            counts[m["partition"]] = counts.get(m["partition"], 0) + 1
        return counts

    def sensor_ticks(self, sensor: str, limit: int = 20) -> list[dict]:
        data = self.gql(
            """query($s: SensorSelector!, $l: Int) { sensorOrError(sensorSelector: $s) { __typename
                 ... on Sensor { sensorState { status ticks(limit: $l) { tickId status timestamp skipReason
                   runIds cursor error { message errorChain { error { message } } } } } }
                 ... on Error { message } } }""",
            {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": sensor}, "l": limit},
        )["sensorOrError"]
        if data["__typename"] != "Sensor":
            raise GraphQLError(f"sensorOrError({sensor}) -> {data}")
        return data["sensorState"]["ticks"]


# ---- starting and stopping the instance --------------------------------------------------------------------------
def _kill_tree(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the process group we started (and any descendant that left it), then SIGKILL what is left."""
    import psutil

    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for d in descendants:
        try:
            d.terminate()
        except psutil.Error:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    _, alive = psutil.wait_procs(descendants, timeout=5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for d in alive:
        try:
            d.kill()
        except psutil.Error:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def start_instance(base: Path, n_skus: int = 4, startup_timeout: float = 180) -> RunningInstance:
    bin_dir = Path(sys.executable).parent
    webserver = bin_dir / "dagster-webserver"
    if not webserver.exists():
        raise AssertionError(f"{webserver} not found: install the project's dev dependencies (dagster-webserver)")
    dagster_home = base / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    home = base / "skustudio_home"
    home.mkdir()
    catalog = write_small_catalog(base / "catalog", n_skus)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "SKUSTUDIO_ENV": "local",
        "SKUSTUDIO_HOME": str(home),
        "SKUSTUDIO_CATALOG": str(catalog),
        "SKUSTUDIO_PROMOTIONS": str(REPO_ROOT / "promotions"),
        "SKUSTUDIO_E2E_DAEMON_INTERVAL": DAEMON_INTERVAL,
        "SKUSTUDIO_SENSOR_INTERVAL_S": SENSOR_INTERVAL,
        "PYTHONUNBUFFERED": "1",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    env.pop("SKUSTUDIO_GENERATOR", None)  # studio backend only
    inst = RunningInstance(url=f"http://127.0.0.1:{port}", dagster_home=dagster_home, home=home, catalog=catalog)
    commands = {
        "webserver": [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        "daemon": [sys.executable, str(Path(__file__).with_name("fast_daemon.py")), "run", "-w", "workspace.yaml"],
    }
    # Create the instance's SQLite storage once, before two processes race to create (and stamp) it: started
    # together on an empty DAGSTER_HOME, the webserver and the daemon can both stamp alembic_version
    # ("Version table 'alembic_version' has more than one head present").
    migrate = subprocess.run(
        [str(bin_dir / "dagster"), "instance", "migrate"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    if migrate.returncode != 0:
        raise AssertionError(f"dagster instance migrate failed ({migrate.returncode}):\n{migrate.stdout}\n{migrate.stderr}")
    try:
        for name, cmd in commands.items():
            inst.logs[name] = base / f"{name}.log"
            fh = open(inst.logs[name], "wb")
            inst.procs.append(
                subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            )
            fh.close()
            log(f"started {name} (pid {inst.procs[-1].pid}): {' '.join(cmd)}")
        _wait_until_ready(inst, startup_timeout)
    except BaseException:
        stop_instance(inst)
        raise
    return inst


def _wait_until_ready(inst: RunningInstance, timeout: float) -> None:
    started = time.monotonic()
    deadline = started + timeout
    stage = "graphql"
    while time.monotonic() < deadline:
        inst.check_alive()
        try:
            if stage == "graphql":
                inst.gql("{ version }", timeout=5)
                log(f"GraphQL answers after {time.monotonic() - started:.1f}s")
                stage = "location"
            if stage == "location":
                entries = inst.gql(
                    """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
                         locationOrLoadError { __typename ... on PythonError { message stack } } } } } }"""
                )["workspaceOrError"]["locationEntries"]
                entry = next((e for e in entries if e["name"] == LOCATION), None)
                if entry and entry["loadStatus"] == "LOADED":
                    err = entry["locationOrLoadError"]
                    if err and err["__typename"] == "PythonError":
                        raise AssertionError(f"code location {LOCATION} failed to load: {err['message']}\n{''.join(err['stack'])}")
                    log(f"code location {LOCATION} loaded after {time.monotonic() - started:.1f}s")
                    stage = "daemon"
            if stage == "daemon":
                statuses = inst.gql("{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }")[
                    "instance"]["daemonHealth"]["allDaemonStatuses"]
                needed = {"BACKFILL", "SENSOR", "QUEUED_RUN_COORDINATOR"}
                healthy = {s["daemonType"] for s in statuses if s["healthy"]}
                if needed <= healthy:
                    log(f"daemons healthy after {time.monotonic() - started:.1f}s")
                    return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(1)
    raise AssertionError(f"dagster not ready ({stage}) after {timeout}s\n{inst.tail_logs()}")


def stop_instance(inst: RunningInstance) -> None:
    for p in reversed(inst.procs):
        _kill_tree(p)
    log("dagster processes stopped")


# Public names for other helpers (tests/helpers/multihost.py starts a production instance the same way).
wait_until_ready = _wait_until_ready
kill_tree = _kill_tree
