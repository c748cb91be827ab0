"""Run sizes of the resilience suite, and its names for the shared servers (``tests.support``).

Run sizes: ``WALLETS_RESILIENCE_SCALE`` multiplies operation counts and fault rounds (default 1,
sized for CI on two cores). ``WALLETS_RESILIENCE_SCALE=10`` is the longer run.

The servers are real: ``gunicorn walletproject.wsgi`` with several worker processes, and a private
PostgreSQL started with ``initdb`` and ``pg_ctl`` (``tests/support/servers.py``, ``postgres.py``).
"""

from __future__ import annotations

import os

from tests.support.postgres import PrivatePostgres, postgres_bindir  # noqa: F401
from tests.support.servers import REPO_ROOT, Gunicorn, child_pids, database_url, free_port, manage  # noqa: F401


def scale() -> float:
    return float(os.environ.get("WALLETS_RESILIENCE_SCALE", "1"))


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, int(n * scale()))
