"""The servers of a benchmark run: the shared ones (``tests/support/servers.py``: gunicorn as deployed,
Redis, PgBouncer) with the benchmark's own settings."""

from __future__ import annotations

from tests.support.servers import REPO_ROOT, RUN_SECRET_KEY, PgBouncer, Redis  # noqa: F401
from tests.support.servers import Gunicorn as _Gunicorn
from tests.support.servers import production_env as _production_env

REPO = REPO_ROOT

BENCH_ENV = {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    # The per-key throttle stays in the request path; its limit is lifted above what the benchmark
    # sends so it measures the cost of the check, not refusals.
    "WALLETS_API_RATE_LIMIT": "100000000/min",
}


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production deployment, pointed at the benchmark database."""
    return _production_env(database_url, **{**BENCH_ENV, **extra})


class Gunicorn(_Gunicorn):
    """The product exactly as deployed: ``gunicorn.conf.py``'s workers and threads, stopped gracefully."""

    def __init__(self, database_url: str, *, access_log: bool = False, extra_env: dict[str, str] | None = None):
        super().__init__(database_url=database_url, config=True, workers=None, threads=None, timeout=None,
                         access_log=access_log, env={**BENCH_ENV, **(extra_env or {})}, graceful_stop=20)
