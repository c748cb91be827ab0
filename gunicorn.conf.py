"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py walletproject.wsgi``.

Measured with ``python -m bench`` (see docs/scaling.md). Every value can be overridden from the
environment (``WALLETS_GUNICORN_*``, or the standard ``WEB_CONCURRENCY`` for the number of workers);
the old ``GUNICORN_*`` names still work for this release, with a warning (``walletproject/envvars.py``).

Bind: ``127.0.0.1:8000`` by default, loopback only. The app speaks plain HTTP and expects a
TLS-terminating proxy in front (nginx, a load balancer's agent, a sidecar) on the same host; binding
every interface by default would expose the plain-HTTP port, session cookies and API keys included, to
anything that can route to the machine. Where the proxy is elsewhere (a container whose port is
published to the proxy only), set ``WALLETS_GUNICORN_BIND=0.0.0.0:8000`` deliberately.
"""

import multiprocessing
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # gunicorn runs this file before the app
from walletproject.envvars import adopt_renamed

adopt_renamed()


def _env(name: str, default: str) -> str:
    return os.environ.get(f"WALLETS_GUNICORN_{name}", default)


DEFAULT_BIND = "127.0.0.1:8000"

# gthread: HTTP keep-alive (the sync worker closes every connection) and a second request in
# flight per process while the first waits on PostgreSQL. Processes, not threads, scale the Python
# work (one GIL each): two per core, two threads each, so a core is never idle while a request
# waits on the database and few threads queue on one GIL. Each thread keeps one database
# connection (CONN_MAX_AGE), so this is also 4 x cores connections per app server: put PgBouncer
# in front of PostgreSQL when app servers multiply (docs/scaling.md).
worker_class = _env("WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
threads = int(_env("THREADS", "2"))
keepalive = int(_env("KEEPALIVE", "30"))
backlog = int(_env("BACKLOG", "2048"))
timeout = int(_env("TIMEOUT", "30"))
graceful_timeout = int(_env("GRACEFUL_TIMEOUT", "30"))
# Load the application once in the master and fork it: faster start, shared memory pages.
preload_app = _env("PRELOAD", "true").lower() == "true"
# Recycle workers now and then so a slow leak cannot grow forever (jitter avoids all at once).
max_requests = int(_env("MAX_REQUESTS", "0"))
max_requests_jitter = int(_env("MAX_REQUESTS_JITTER", "0"))
# Loopback only unless told otherwise: see the module docstring.
bind = _env("BIND", DEFAULT_BIND)
# The heartbeat file is touched on every loop of every worker: keep it in memory, not on disk
# (gunicorn creates it with mkstemp, private to the worker, so a shared tmpfs is fine).
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _env("WORKER_TMP_DIR", _SHM if os.path.isdir(_SHM) else "") or None
# A thread that gets its database answer must not wait 5 ms (Python's default switch interval)
# for another thread's CPU-bound turn to end, least of all while it holds a wallet's row lock.
switch_interval_ms = float(_env("SWITCH_INTERVAL_MS", "1"))


def post_worker_init(worker):
    sys.setswitchinterval(switch_interval_ms / 1000)
