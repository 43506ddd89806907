"""A real PostgreSQL 15 for tests: `initdb` in a temporary data folder and `postgres` on loopback, run as a non-root
user (PostgreSQL refuses root: as root this helper runs it as the `postgres` system user, else `nobody`).

    with PostgresServer() as pg:
        pg.create_database("dagster")
        pg.sqlalchemy_url("dagster")              # postgresql+psycopg2://postgres@127.0.0.1:PORT/dagster

Trust authentication on 127.0.0.1 only, fsync off (a test database need not survive a power cut). Only the
process this helper started is ever signalled, by its pid.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path:
    """The folder of `initdb` and `postgres` (Debian keeps them under /usr/lib/postgresql/<version>/bin)."""
    for candidate in [os.environ.get("SKUSTUDIO_PG_BINDIR", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL not found: apt-get install postgresql-15 (scripts/test.sh does, as root)")


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


class PostgresServer:
    def __init__(self, port: int | None = None, startup_timeout: float = 60.0):
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.user = _run_as()
        # Its own folder, readable by the non-root user (pytest's tmp folders are root-only).
        self.workdir = Path(tempfile.mkdtemp(prefix="pg-"))
        os.chmod(self.workdir, 0o755)
        self.data = self.workdir / "data"
        self.log_path = self.workdir / "postgres.log"
        self.proc: subprocess.Popen | None = None

    def _demote(self):
        if self.user is None:
            return None
        uid, gid = self.user.pw_uid, self.user.pw_gid

        def demote():
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        return demote

    def url(self, database: str = "postgres") -> str:
        """libpq's URL (psycopg2.connect, psql)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_url(self, database: str = "postgres") -> str:
        """SQLAlchemy's URL (dagster-postgres): SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> "PostgresServer":
        bindir = postgres_bindir()
        self.data.mkdir()
        if self.user is not None:
            for path in (self.workdir, self.data):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, env=env, preexec_fn=self._demote(), cwd=self.workdir, timeout=120,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        log = open(self.log_path, "ab")
        if self.user is not None:
            os.chown(self.log_path, self.user.pw_uid, self.user.pw_gid)
        self.proc = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1", "-k", "",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, preexec_fn=self._demote(),
            cwd=self.workdir, start_new_session=True,
        )
        log.close()
        atexit.register(self.kill)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._answers():
                return self
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"postgres did not accept connections on port {self.port} in {self.startup_timeout}s")

    def _answers(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url(), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
