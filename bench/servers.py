"""The product served as in production (gunicorn, DEBUG off), and PgBouncer in transaction mode."""

from __future__ import annotations

import http.client
import os
import runpy
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.pg import _as_postgres_user, chown_for_server, free_port

REPO = Path(__file__).resolve().parent.parent
# One secret per run, shared by the harness (which creates the dashboard session) and the servers.
RUN_SECRET_KEY = os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50)


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production deployment, pointed at the benchmark database."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "walletproject.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": RUN_SECRET_KEY,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_LOG_LEVEL": "WARNING",
        # The per-key throttle stays in the request path; its limit is lifted above what the
        # benchmark sends so it measures the cost of the check, not refusals.
        "WALLETS_API_RATE_LIMIT": "100000000/min",
    })
    env.update(extra)
    return env


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

        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        import redis

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_timeout=1).ping()
                return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in 20 s")

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        return out.split(" sha=")[0].strip()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)

    def __enter__(self) -> Redis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Gunicorn:
    """``with Gunicorn(database_url) as server:`` → the product on ``server.port``."""

    def __init__(self, database_url: str, *, access_log: bool = False, extra_env: dict[str, str] | None = None):
        self.database_url = database_url
        self.access_log = access_log
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wallets_bench_gunicorn_"))
        self.access_log_path = self.dir / "access.log"
        self.error_log_path = self.dir / "error.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        args = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"), "--bind",
                f"127.0.0.1:{self.port}", "--error-logfile", str(self.error_log_path)]
        if self.access_log:
            # %(D)s is the server-side time of the request in microseconds.
            args += ["--access-logfile", str(self.access_log_path), "--access-logformat", '%(r)s %(s)s %(D)s']
        args.append("walletproject.wsgi:application")
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=production_env(self.database_url, **self.extra_env),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.error_log_path.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not become healthy in 60 s")

    def workers(self) -> str:
        return self.describe()

    def describe(self) -> str:
        conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))  # as gunicorn reads it (``__file__`` set)
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
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PgBouncer:
    """Our own pgbouncer process (transaction pooling) on a free port, in front of ``pg_port``."""

    def __init__(self, pg_port: int, *, pool_size: int = 20):
        self.pg_port = pg_port
        self.pool_size = pool_size
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wallets_bench_pgbouncer_"))
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

        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError("pgbouncer is not installed: apt-get install -y pgbouncer")
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(self.ini())
        self.dir.chmod(0o755)
        for path in (self.dir, *self.dir.iterdir()):
            chown_for_server(path)
        self.proc = subprocess.Popen(
            [*_as_postgres_user(), binary, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        import psycopg

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
        out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "pgbouncer"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
