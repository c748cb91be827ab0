"""The servers of a benchmark run: the shared ones (``tests/support/servers.py``: gunicorn as deployed,
Redis, PgBouncer) with the benchmark's own settings, and the application servers the bench compares
(``--servers``): gunicorn gthread (production's ``gunicorn.conf.py``), gunicorn sync, uvicorn workers
under gunicorn (ASGI, ``walletproject/asgi.py``) and granian (WSGI).

Every one gets the same number of request slots as ``gunicorn.conf.py`` (workers x threads: two
processes per core, two threads each): sync as that many single-threaded processes, uvicorn as
``gunicorn.conf.py``'s processes (Django runs a sync view on one thread per process under ASGI), granian
as the same processes with the same number of blocking threads each.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time

from tests.support.servers import GUNICORN_CONF, REPO_ROOT, RUN_SECRET_KEY, PgBouncer, Redis  # noqa: F401
from tests.support.servers import Gunicorn as _Gunicorn
from tests.support.servers import production_env as _production_env

REPO = REPO_ROOT

BENCH_ENV = {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    # The per-key throttle stays in the request path; its limit is lifted above what the benchmark
    # sends so it measures the cost of the check, not refusals.
    "WALLETS_API_RATE_LIMIT": "100000000/min",
}

SERVERS = ("gthread", "sync", "granian", "uvicorn")
UVICORN_WORKER = "uvicorn_worker.UvicornWorker"


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production deployment, pointed at the benchmark database."""
    return _production_env(database_url, **{**BENCH_ENV, **extra})


def _conf() -> dict:
    return runpy.run_path(str(GUNICORN_CONF))


class Gunicorn(_Gunicorn):
    """The product exactly as deployed: ``gunicorn.conf.py``'s workers and threads, stopped gracefully.

    ``kind`` picks the worker: ``gthread`` (the file's default), ``sync`` (one thread per process, as
    many processes as the file's workers x threads) or ``uvicorn`` (``uvicorn_worker.UvicornWorker``
    serving ``walletproject.asgi``); everything else is the file's."""

    def __init__(self, database_url: str, *, access_log: bool = False, extra_env: dict[str, str] | None = None,
                 kind: str = "gthread", workers: int | None = None):
        conf = _conf()
        env = dict(extra_env or {})
        if workers:
            env.setdefault("WEB_CONCURRENCY", str(workers))  # a caller's own WEB_CONCURRENCY wins
        self.n_workers = int(env.get("WEB_CONCURRENCY", conf["workers"]))
        self.n_threads = int(env.get("WALLETS_GUNICORN_THREADS", conf["threads"]))
        if kind == "sync":
            env |= {"WALLETS_GUNICORN_WORKER_CLASS": "sync", "WALLETS_GUNICORN_THREADS": "1",
                    "WEB_CONCURRENCY": str(self.n_workers * conf["threads"])}
        elif kind == "uvicorn":
            env |= {"WALLETS_GUNICORN_WORKER_CLASS": UVICORN_WORKER}
        elif kind != "gthread":
            raise ValueError(f"not a gunicorn worker: {kind}")
        super().__init__(database_url=database_url, config=True, workers=None, threads=None, timeout=None,
                         access_log=access_log, env={**BENCH_ENV, **env}, graceful_stop=20)
        if kind == "uvicorn":
            self.args[-1] = "walletproject.asgi:application"
        self.kind = kind

    def describe(self) -> str:
        conf = _conf()
        if self.kind == "sync":
            return f"gunicorn sync workers={self.n_workers * conf['threads']} (no keep-alive)"
        if self.kind == "uvicorn":
            return (f"gunicorn {UVICORN_WORKER} workers={self.n_workers} (ASGI, walletproject.asgi) "
                    f"keepalive={conf['keepalive']}s")
        return (f"gunicorn {conf['worker_class']} workers={self.n_workers} threads={self.n_threads} "
                f"keepalive={conf['keepalive']}s")

    def launch(self) -> None:
        """Start the process without waiting for it (``wait_ready`` next): servers start side by side."""
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.args, cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_access_lines(self, count: int, timeout: float = 5.0) -> None:
        """Until the access log holds ``count`` lines (gunicorn writes a line just after the response)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.access_log_path.exists() and self.access_log_path.read_bytes().count(b"\n") >= count:
                return
            time.sleep(0.01)


class Granian(Gunicorn):
    """``granian --interface wsgi walletproject.wsgi:application`` with ``gunicorn.conf.py``'s processes and
    threads (``--workers``, ``--blocking-threads``), HTTP/1.1 keep-alive; no access log (posting only)."""

    def __init__(self, database_url: str, *, extra_env: dict[str, str] | None = None, access_log: bool = False,
                 workers: int | None = None):
        if access_log:
            raise ValueError("the bench times reads on gunicorn only (its access log has the server-side time)")
        super().__init__(database_url, extra_env=extra_env, workers=workers)
        conf = _conf()
        self.kind = "granian"
        self.args = [sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1", "--no-ws",
                     "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.n_workers),
                     "--blocking-threads", str(conf["threads"]), "--backlog", str(conf["backlog"]),
                     "--log-level", "warning", "walletproject.wsgi:application"]

    def describe(self) -> str:
        import granian

        conf = _conf()
        return (f"granian {granian.__version__} WSGI workers={self.n_workers} blocking-threads={conf['threads']} "
                "HTTP/1.1 keep-alive")


def app_server(kind: str, database_url: str, *, extra_env: dict[str, str] | None = None,
               access_log: bool = False, workers: int | None = None) -> Gunicorn:
    """An application server of ``kind`` (one of ``SERVERS``), not started; ``workers`` processes instead
    of ``gunicorn.conf.py``'s (the smoke's: it exercises the servers, it does not measure them)."""
    if kind == "granian":
        return Granian(database_url, extra_env=extra_env, access_log=access_log, workers=workers)
    return Gunicorn(database_url, extra_env=extra_env, access_log=access_log, kind=kind, workers=workers)


def stop_all(servers: list[Gunicorn], graceful: float = 20) -> None:
    """SIGTERM every server's process group at once, then wait for each (SIGKILL after ``graceful`` s)."""
    running = [s for s in servers if s.process is not None and s.process.poll() is None]
    for server in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + graceful
    for server in running:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
    for server in servers:
        shutil.rmtree(server.dir, ignore_errors=True)
