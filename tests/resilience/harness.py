"""Real parts for the resilience and security suites: a gunicorn server on a given database, a
private PostgreSQL cluster that may be killed, and run sizes scaled by an environment variable.

Nothing here is a stand-in: the server is ``gunicorn walletproject.wsgi`` with several worker
processes, and the cluster is a real PostgreSQL started with ``initdb`` and ``pg_ctl``.

Run sizes: ``WALLETS_RESILIENCE_SCALE`` multiplies operation counts and fault rounds (default 1,
sized for CI on two cores). ``WALLETS_RESILIENCE_SCALE=10`` is the longer run.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def scale() -> float:
    return float(os.environ.get("WALLETS_RESILIENCE_SCALE", "1"))


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, int(n * scale()))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_pids(parent: int) -> list[int]:
    """Direct children of ``parent`` (read from /proc, so no broad process matching)."""
    children = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            children.append(int(stat.split("/")[2]))
    return sorted(children)


def database_url(*, name: str, host: str = "127.0.0.1", port: int = 5432, user: str = "postgres") -> str:
    return f"postgres://{user}@{host}:{port}/{name}"


class Gunicorn:
    """``gunicorn walletproject.wsgi`` on a free loopback port, production settings (DEBUG off)."""

    def __init__(self, *, database_url: str, workers: int = 3, threads: int = 1, env: dict | None = None,
                 timeout: int = 30):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = Path(tempfile.mkstemp(prefix="wallets-gunicorn-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "walletproject.settings",
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "resilience-suite-" + "x" * 50,
            "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; TLS is the proxy's job
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.args = [
            sys.executable, "-m", "gunicorn", "walletproject.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
            "--timeout", str(timeout), "--graceful-timeout", "3", "--backlog", "256",
        ]
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 30.0) -> Gunicorn:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's life
        self.process = subprocess.Popen(
            self.args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every worker is up: /healthz answers (it touches the database)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200 and (
                    len(self.worker_pids()) >= self.workers
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready after {timeout}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid) if self.process else []

    def kill_worker(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # The test is over: no graceful shutdown (2 s per server). The server's own process
            # group (start_new_session) holds only its master and workers.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)


def postgres_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    if not found:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return Path(found).parent


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port in a temp dir, which a test may stop hard.

    Run as the ``postgres`` OS user when we are root (PostgreSQL refuses to run as root).
    """

    def __init__(self):
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="wallets-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")
        os.chmod(self.root, 0o700)

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(a) for a in args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout)

    def url(self, dbname: str) -> str:
        return database_url(name=dbname, port=self.port)

    def init(self) -> PrivatePostgres:
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60 "
                   "-c shared_buffers=32MB")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")

    def stop_immediate(self) -> None:
        """A crash, as far as clients can tell: no checkpoint, connections cut."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        result = self._run(self.bindir / "psql", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres",
                           "-d", dbname, "-v", "ON_ERROR_STOP=1", "-Atc", sql)
        return result.stdout

    def destroy(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def manage(*args: str, database_url: str, env: dict | None = None, timeout: float = 120) -> str:
    """``python manage.py ...`` in a subprocess against ``database_url``; returns standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout
