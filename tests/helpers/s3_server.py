"""A real S3 API server for tests: moto's standalone server as a separate process on loopback.

Not an in-process mock: the server is `python -m moto.server -H 127.0.0.1 -p PORT` in a child process, so a test
can kill it with SIGKILL mid-request and restart it on the same port, exactly like a real outage.

    from tests.helpers.s3_server import MotoS3Server, moto_s3_server_fixture

    s3_server = moto_s3_server_fixture(scope="module")          # in a test module or conftest

    def test_x(s3_server):
        client = s3_server.client()                              # boto3 S3 client on the server
        s3_server.create_bucket("cdn")
        ...
        s3_server.kill()                                         # SIGKILL, like a crash
        s3_server.restart()                                      # same port, same endpoint_url

State: moto keeps everything in memory, so a plain kill loses every bucket and object. With `persist=True` the
server runs with moto's request recorder on (`MOTO_ENABLE_RECORDING`, one JSON line appended per request to a file
that outlives the process); `restart()` drops a torn last line (a request cut by the kill) and replays the
recording into the new process (`POST /moto-api/recorder/replay-recording`), so buckets and objects written before
the crash are there again: a restart then behaves like a durable store coming back. Replay re-executes requests,
so `LastModified` of replayed objects changes; compare content or ETag across a restart, not times.

Only the processes this helper started are ever signalled, by their pid.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class MotoS3ServerError(RuntimeError):
    pass


class MotoS3Server:
    """moto's standalone server in a child process on `host:port` (port chosen free if not given)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        persist: bool = False,
        workdir: str | os.PathLike | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.persist = persist
        self.startup_timeout = startup_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="moto-s3-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recording_path = self.workdir / "moto_recording.jsonl"
        self.log_path = self.workdir / "moto_server.log"
        self._proc: subprocess.Popen | None = None
        self._log_fh = None
        self.starts = 0

    # ---- properties -------------------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise MotoS3ServerError("server has no port yet: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> "MotoS3Server":
        """Start the process and wait until it answers HTTP. Picks a free port the first time (retries a few
        times if another process grabs it in between); later starts reuse the same port."""
        if self.is_running():
            return self
        if self.port is not None:
            self._spawn_and_wait()
        else:
            last: Exception | None = None
            for _ in range(5):
                self.port = free_port(self.host)
                try:
                    self._spawn_and_wait()
                    break
                except MotoS3ServerError as exc:  # port race: try another
                    last = exc
                    self.port = None
            else:
                raise MotoS3ServerError(f"could not start moto server: {last}")
        if self.persist:
            self._replay_recording()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM, then SIGKILL if it does not exit)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server process (a crash: no cleanup, in-memory state gone) and wait until the port is
        closed."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self._reap()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._port_open():
            time.sleep(0.05)

    def restart(self) -> "MotoS3Server":
        """Stop if still running (SIGKILL), then start again on the same port. With persist=True the recorded
        requests are replayed, so earlier buckets and objects come back."""
        if self.is_running():
            self.kill()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove the work folder if this helper created it."""
        self.stop()
        if self._own_workdir:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "MotoS3Server":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- conveniences -----------------------------------------------------------------------------------------
    def client(self, **kwargs: Any):
        """A boto3 S3 client on this server with dummy credentials (no retries unless asked)."""
        import boto3
        from botocore.config import Config

        config = kwargs.pop("config", None) or Config(retries={"max_attempts": 1, "mode": "standard"})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=kwargs.pop("region_name", DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"]),
            aws_access_key_id=kwargs.pop("aws_access_key_id", DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]),
            aws_secret_access_key=kwargs.pop("aws_secret_access_key", DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
            config=config,
            **kwargs,
        )

    def create_bucket(self, bucket: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API) and, with persist=True, the recording too."""
        self._post("/moto-api/reset")
        if self.persist:
            self._post("/moto-api/recorder/reset-recording")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    # ---- internals --------------------------------------------------------------------------------------------
    def _spawn_and_wait(self) -> None:
        env = dict(os.environ)
        env.update(DUMMY_CREDENTIALS)
        env.pop("AWS_PROFILE", None)
        if self.persist:
            env["MOTO_ENABLE_RECORDING"] = "True"
            env["MOTO_RECORDER_FILEPATH"] = str(self.recording_path)
        else:
            env.pop("MOTO_ENABLE_RECORDING", None)
        self._log_fh = open(self.log_path, "ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(self.workdir),
        )
        self.starts += 1
        if self.starts == 1:
            atexit.register(self._kill_at_exit)  # a crashed test script must not leave a server behind
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._reap()
                raise MotoS3ServerError(
                    f"moto server exited with {self._proc.returncode if self._proc else '?'} on port {self.port}:\n"
                    f"{self.log_tail()}"
                )
            if self._answers():
                return
            time.sleep(0.1)
        self.kill()
        raise MotoS3ServerError(f"moto server did not answer on {self.endpoint_url} in {self.startup_timeout}s")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ConnectionError):
            return False

    def _port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            return sock.connect_ex((self.host, self.port or 0)) == 0

    def _post(self, path: str) -> None:
        req = urllib.request.Request(f"{self.endpoint_url}{path}", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            resp.read()

    def _replay_recording(self) -> None:
        if not self.recording_path.exists():
            return
        lines = self.recording_path.read_bytes().splitlines(keepends=True)
        good: list[bytes] = []
        for line in lines:
            try:
                json.loads(line)
            except ValueError:  # a line torn by SIGKILL: the request never completed
                continue
            good.append(line if line.endswith(b"\n") else line + b"\n")
        self.recording_path.write_bytes(b"".join(good))
        if good:
            self._post("/moto-api/recorder/replay-recording")

    def _kill_at_exit(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)

    def _reap(self) -> None:
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None


def moto_s3_server_fixture(scope: str = "module", *, persist: bool = False, name: str | None = None):
    """Make a pytest fixture that yields a started MotoS3Server and closes it afterwards.

        s3_server = moto_s3_server_fixture(scope="module")
        durable_s3 = moto_s3_server_fixture(scope="function", persist=True)
    """
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _fixture() -> Iterator[MotoS3Server]:
        server = MotoS3Server(persist=persist)
        server.start()
        try:
            yield server
        finally:
            server.close()

    return _fixture
