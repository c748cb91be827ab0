"""Moved: reconciliation only reads, so it lives in ``wallets.selectors.reconcile``. This name
keeps old imports working (tests, bench) until their owners switch; new code imports the selector."""

from wallets.selectors.reconcile import DEFAULT_LIMIT, Drift, ledger_drift

__all__ = ["DEFAULT_LIMIT", "Drift", "ledger_drift"]
