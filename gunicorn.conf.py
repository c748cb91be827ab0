"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py walletproject.wsgi``.

Measured with ``python -m bench`` (see docs/scaling.md). Every value can be overridden from the
environment (``GUNICORN_*``, or the standard ``WEB_CONCURRENCY`` for the number of workers).
"""

import multiprocessing
import os

# gthread: HTTP keep-alive (the sync worker closes every connection) and a few requests in flight
# per process while others wait on PostgreSQL. Processes, not threads, are what scale the Python
# work: one per core plus one, so a core is never idle while a worker waits on the database.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
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
