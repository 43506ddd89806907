"""A real PostgreSQL 15 server for tests, from Debian's `postgresql-15` package (scripts/test.sh installs it).

    with postgres_server() as pg:           # or: pg = start_postgres(tmp_dir) ... pg.stop()
        url = pg.create_database("queue")    # postgresql://postgres@127.0.0.1:PORT/queue
        ...

The server runs from a temporary data folder (initdb), listens on 127.0.0.1 on a free port (plus a Unix socket in
that folder), trusts local connections (it is reachable from this machine only, for the test's lifetime) and is
stopped and removed on exit. PostgreSQL refuses to run as root: when the tests run as root, the server runs as
`nobody` through `runuser`, and its folder is made under the system temp folder (pytest's own tmp folders are
private to root, which `nobody` could not enter).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("SKUSTUDIO_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = os.environ.get("SKUSTUDIO_PG_USER", "nobody")  # used only when running as root


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's binaries are missing, or the server did not start (the message says which and how to fix)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    folder: Path
    port: int
    user: str = "postgres"
    host: str = "127.0.0.1"
    _as_root: bool = field(default=False, repr=False)
    _owns_folder: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The URL of the server's `postgres` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name}"

    def sqlalchemy_url(self, name: str) -> str:
        """The URL for SQLAlchemy users that take it as is (dagster-postgres): 2.1 reads a bare postgresql:// as
        psycopg 3, which is not installed."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create database `name` (dropped first if it exists) and return its URL."""
        import psycopg2

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.database_url(name)

    def stop(self) -> None:
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            _run(self._as_root, [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], check=False)
        if self._owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.folder / "server.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no server log>"


def _run(as_root: bool, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if as_root:
        argv = ["runuser", "-u", RUN_AS, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise PostgresUnavailable(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
    return result


def start_postgres(tmp_dir: str | os.PathLike | None = None) -> PostgresServer:
    """Start a server in a new folder under `tmp_dir` (under the system temp folder when running as root, or when
    `tmp_dir` is None); returns it running. Call `.stop()` (or use `postgres_server()`)."""
    if not (PG_BIN / "initdb").is_file():
        raise PostgresUnavailable(
            f"{PG_BIN}/initdb not found: the PostgreSQL tests need Debian's postgresql-15 package "
            "(apt-get install -y postgresql-15; scripts/test.sh does it as root), or SKUSTUDIO_PG_BIN pointing at "
            "a PostgreSQL 15 bin folder")
    as_root = os.geteuid() == 0
    base = None if (as_root or tmp_dir is None) else Path(tmp_dir)
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="skustudio-pg-", dir=base))
    if as_root:
        shutil.chown(folder, user=RUN_AS)
    server = PostgresServer(folder=folder, port=_free_port(), _as_root=as_root, _owns_folder=True)
    data = folder / "data"
    try:
        _run(as_root, [str(PG_BIN / "initdb"), "-D", str(data), "-U", server.user, "--auth=trust", "-E", "UTF8",
                       "--no-locale", "--no-sync"])
        options = (f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c shared_buffers=16MB")
        _run(as_root, [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options,
                       "-w", "-t", "60", "start"])
        _wait_ready(server)
    except Exception as exc:
        log = server.log_tail()
        server.stop()
        if isinstance(exc, PostgresUnavailable):
            raise PostgresUnavailable(f"{exc}\nserver log:\n{log}") from exc
        raise
    return server


def _wait_ready(server: PostgresServer, timeout_s: float = 30.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname="postgres",
                             connect_timeout=2).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"PostgreSQL on port {server.port} did not accept connections: {exc}")
            time.sleep(0.2)


@contextmanager
def postgres_server(tmp_dir: str | os.PathLike | None = None):
    """`start_postgres` as a context manager: the server is stopped and its folder removed on exit."""
    server = start_postgres(tmp_dir)
    try:
        yield server
    finally:
        server.stop()


def postgres_server_fixture(scope: str = "session", name: str = "postgres_server"):
    """A pytest fixture (define it in a conftest or test module: `pg = postgres_server_fixture("module")`) that
    yields a running `PostgresServer` and stops it at teardown. A machine without PostgreSQL fails the test with
    the reason rather than skipping it."""
    import pytest

    @pytest.fixture(scope=scope, name=name)
    def _server(tmp_path_factory):
        try:
            server = start_postgres(tmp_path_factory.mktemp("postgres"))
        except PostgresUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
        try:
            yield server
        finally:
            server.stop()

    return _server
