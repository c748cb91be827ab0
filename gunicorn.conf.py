"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py walletproject.wsgi``.

Measured with ``python -m bench`` (see docs/scaling.md). Every value can be overridden from the
environment (``GUNICORN_*``, or the standard ``WEB_CONCURRENCY`` for the number of workers).
"""

import multiprocessing
import os

# gthread: HTTP keep-alive (the sync worker closes every connection) and a second request in
# flight per process while the first waits on PostgreSQL. Processes, not threads, scale the Python
# work (one GIL each): two per core, two threads each, so a core is never idle while a request
# waits on the database and few threads queue on one GIL. Each thread keeps one database
# connection (CONN_MAX_AGE), so this is also 4 x cores connections per app server: put PgBouncer
# in front of PostgreSQL when app servers multiply (docs/scaling.md).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Load the application once in the master and fork it: faster start, shared memory pages.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() == "true"
# Recycle workers now and then so a slow leak cannot grow forever (jitter avoids all at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# The heartbeat file is touched on every loop of every worker: keep it in memory, not on disk
# (gunicorn creates it with mkstemp, private to the worker, so a shared tmpfs is fine).
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", _SHM if os.path.isdir(_SHM) else None)
# A thread that gets its database answer must not wait 5 ms (Python's default switch interval)
# for another thread's CPU-bound turn to end, least of all while it holds a wallet's row lock.
switch_interval_ms = float(os.environ.get("GUNICORN_SWITCH_INTERVAL_MS", "1"))


def post_worker_init(worker):
    import sys

    sys.setswitchinterval(switch_interval_ms / 1000)
