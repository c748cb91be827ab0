"""Run sizes of the resilience suite: ``WALLETS_RESILIENCE_SCALE`` multiplies operation counts and
fault rounds (default 1, sized for CI on two cores). ``WALLETS_RESILIENCE_SCALE=10`` is the longer run.

The servers it runs against are real and shared with ``bench`` (``tests/support``): ``gunicorn
walletproject.wsgi`` with several worker processes, and a private PostgreSQL started with ``initdb``
and ``pg_ctl``.
"""

from __future__ import annotations

import os


def scale() -> float:
    return float(os.environ.get("WALLETS_RESILIENCE_SCALE", "1"))


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, int(n * scale()))
