"""Real servers for the tests and ``bench``: gunicorn (the product as deployed), the task worker
(``manage.py run_worker``), Redis and PgBouncer, each our own process (the servers on a free loopback
port) in its own process group, and ``manage.py`` runs.

Each server is ``start()``-ed and ``stop()``-ped, or used as a context manager. Stopping kills the
server's own process group only (``start_new_session``), never anything matched by name.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import os
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.postgres import as_postgres_user, chown_for_server

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO_ROOT / "gunicorn.conf.py"
# One secret per run, shared by every server started here and by a harness that signs sessions for
# them (bench's dashboard reads); BENCH_SECRET_KEY fixes it.
RUN_SECRET_KEY = os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50)


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


def production_env(database_url: str, *, secret_key: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a production deployment (DEBUG off, a real secret key), pointed at
    ``database_url``. Plain HTTP on loopback: TLS is the proxy's job, so no HTTPS redirect."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "walletproject.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secret_key or RUN_SECRET_KEY,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _stop_group(proc: subprocess.Popen | None, *, graceful: float) -> None:
    """SIGTERM the process group and wait ``graceful`` seconds (0: SIGKILL at once), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    if graceful:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=graceful)
            return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


class Gunicorn:
    """``gunicorn walletproject.wsgi`` on a free loopback port with production settings.

    ``config=True`` reads ``gunicorn.conf.py`` as production does (bench); otherwise gunicorn's own
    defaults apply (the sync worker, no preload), which the resilience tests kill workers of. Given
    ``workers``, ``threads`` and ``timeout`` override either. ``env`` adds to ``production_env``.
    ``graceful_stop``: seconds ``stop()`` gives the server to finish (0, the tests' choice: the test is
    over, SIGKILL at once).
    """

    def __init__(self, *, database_url: str, workers: int | None = 3, threads: int | None = 1,
                 timeout: int | None = 30, env: dict | None = None, config: bool = False,
                 access_log: bool = False, secret_key: str | None = None, graceful_stop: float = 0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.graceful_stop = graceful_stop
        self.dir = Path(tempfile.mkdtemp(prefix="wallets-gunicorn-"))
        self.log_path = self.dir / "error.log"
        self.access_log_path = self.dir / "access.log"
        self.env = production_env(database_url, secret_key=secret_key, **(env or {}))
        args = [sys.executable, "-m", "gunicorn"]
        if config:
            args += ["-c", str(GUNICORN_CONF)]
        args += ["--bind", f"127.0.0.1:{self.port}", "--error-logfile", str(self.log_path)]
        if workers is not None:
            args += ["--workers", str(workers)]
        if threads is not None:
            args += ["--threads", str(threads)]
        if timeout is not None:
            args += ["--timeout", str(timeout)]
        if not config:
            args += ["--graceful-timeout", "3", "--backlog", "256"]
        if access_log:
            # %(D)s is the server-side time of the request in microseconds.
            args += ["--access-logfile", str(self.access_log_path), "--access-logformat", "%(r)s %(s)s %(D)s"]
        self.args = [*args, "walletproject.wsgi:application"]
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 60.0) -> Gunicorn:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.args, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/healthz`` answers 200 (it touches the database) and, when the number of workers
        was given, every worker is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._healthy() and (self.workers is None or len(self.worker_pids()) >= self.workers):
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready after {timeout}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid) if self.process else []

    def kill_worker(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def describe(self) -> str:
        """The production configuration (``gunicorn.conf.py``) in one line."""
        conf = runpy.run_path(str(GUNICORN_CONF))
        return (f"gunicorn {conf.get('worker_class', 'sync')} workers={conf.get('workers')} "
                f"threads={conf.get('threads', 1)} keepalive={conf.get('keepalive')}s")

    def server_times_ms(self, path_prefix: str) -> list[float]:
        """Server-side durations (ms) of the logged requests whose path starts with ``path_prefix``."""
        out = []
        for line in self.access_log_path.read_text().splitlines():
            parts = line.split()
            # "GET /path HTTP/1.1 200 1234"
            if len(parts) >= 5 and parts[1].startswith(path_prefix):
                out.append(int(parts[-1]) / 1000)
        return out

    def clear_access_log(self) -> None:
        # gunicorn appends with O_APPEND, so truncating in place is safe.
        if self.access_log_path.exists():
            os.truncate(self.access_log_path, 0)

    def stop(self) -> None:
        _stop_group(self.process, graceful=self.graceful_stop)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class TaskWorker:
    """``python manage.py run_worker`` (the background worker) with production settings against
    ``database_url``, its output in a log file. ``args`` go to the command (e.g. ``--interval 0.2``);
    ``env`` adds to ``production_env``. ``start()`` returns once the worker polls its queue; ``kill()``
    is SIGKILL, ``stop()`` SIGTERM (``graceful`` seconds, then SIGKILL)."""

    def __init__(self, *, database_url: str, args: tuple[str, ...] = (), env: dict | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="wallets-worker-"))
        self.log_path = self.dir / "worker.log"
        self.env = production_env(database_url, **{"DJANGO_LOG_LEVEL": "INFO", **(env or {})})
        self.args = [sys.executable, "manage.py", "run_worker", "--no-startup-delay", *args]
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 60.0) -> TaskWorker:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.args, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"run_worker exited with {self.process.returncode}:\n{self.log_tail()}")
            if "Starting worker" in self.log_path.read_text(errors="replace")[offset:]:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"run_worker not polling after {ready_timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        _stop_group(self.process, graceful=0)

    def stop(self, graceful: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after ``graceful`` seconds; the exit status (negative: the signal)."""
        _stop_group(self.process, graceful=graceful)
        return self.process.returncode if self.process else None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> TaskWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()


class Redis:
    """Our own redis-server on a free port (no persistence): the shared cache production uses for
    the exact per-key rate limit and for the API-key cache's version."""

    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in 20 s")

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
        return out.split(" sha=")[0].strip()

    def stop(self) -> None:
        _stop_group(self.proc, graceful=10)

    def __enter__(self) -> Redis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PgBouncer:
    """Our own pgbouncer process (transaction pooling) on a free port, in front of ``pg_port``."""

    def __init__(self, pg_port: int, *, pool_size: int = 20):
        self.pg_port = pg_port
        self.pool_size = pool_size
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wallets-pgbouncer-"))
        self.proc: subprocess.Popen | None = None

    def ini(self) -> str:
        return "\n".join([
            "[databases]",
            f"* = host=127.0.0.1 port={self.pg_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.dir / 'users.txt'}",
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            "max_client_conn = 1000",
            "server_reset_query =",
            "ignore_startup_parameters = extra_float_digits,options",
            f"logfile = {self.dir / 'pgbouncer.log'}",
            f"pidfile = {self.dir / 'pgbouncer.pid'}",
            "",
        ])

    def start(self) -> PgBouncer:
        import psycopg

        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError("pgbouncer is not installed: apt-get install -y pgbouncer")
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(self.ini())
        self.dir.chmod(0o755)
        for path in (self.dir, *self.dir.iterdir()):
            chown_for_server(path)
        self.proc = subprocess.Popen(
            [*as_postgres_user(), binary, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.dir / "pgbouncer.log"
                raise RuntimeError(f"pgbouncer exited: {log.read_text()[-2000:] if log.exists() else ''}")
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                connect_timeout=2).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("pgbouncer did not accept connections in 20 s")

    def version(self) -> str:
        out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True, check=False).stdout
        return out.splitlines()[0] if out else "pgbouncer"

    def stop(self) -> None:
        _stop_group(self.proc, graceful=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def manage(*args: str, database_url: str, env: dict | None = None, timeout: float = 120) -> str:
    """``python manage.py ...`` in a subprocess against ``database_url``; returns standard output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
        check=False,
        env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def wait_until(predicate, *, timeout: float = 30.0, what: str = "the condition", workers=()):
    """``predicate()``'s first truthy value within ``timeout`` seconds, else a failure naming ``what``
    with the log tails of the ``workers`` (``TaskWorker``s) that should have made it true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    logs = "\n".join(w.log_tail() for w in workers)
    pytest.fail(f"{what} did not happen within {timeout}s\n{logs}")
