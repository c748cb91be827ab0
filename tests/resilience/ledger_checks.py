"""The resilience tests' name for the invariant oracle, which lives in ``tests.support.oracle`` (shared
with ``bench``). No check is defined here."""

from tests.support.oracle import (  # noqa: F401
    INVARIANTS,
    check,
    ledger_rows,
    snapshot_violations,
    stuck_transactions,
    violations,
    wallet_balances,
)
