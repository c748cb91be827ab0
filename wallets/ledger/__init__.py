"""The ledger engine: the only code that posts money (see ``post`` for the steps, ``rules`` for
the rules, ``locking`` for the lock order and ``sql`` for the statements).

Everything that moves money, whatever its path (API, dashboard, approvals, bulk files, demo
data), is a request to ``post`` (one wallet) or ``post_many`` (a batch). The database guards the
result: an entry must follow its wallet's chain, and a wallet's balance changes only by an entry
(migration ``0009_ledger_chain_guard``).
"""

from wallets.ledger.operations import (
    Result,
    SweepResult,
    capture_hold,
    capture_hold_in_transaction,
    create_hold,
    create_hold_in_transaction,
    pay,
    reverse,
    reverse_in_transaction,
    sweep_due,
    sweep_wallet,
    void_hold,
    void_hold_in_transaction,
)
from wallets.ledger.posting import (
    BatchResult,
    Outcome,
    Posting,
    PostingResult,
    post,
    post_in_transaction,
    post_many,
    rehearse,
)
from wallets.ledger.rules import Code, Request

__all__ = [
    "BatchResult",
    "Code",
    "Outcome",
    "Posting",
    "PostingResult",
    "Request",
    "Result",
    "SweepResult",
    "capture_hold",
    "capture_hold_in_transaction",
    "create_hold",
    "create_hold_in_transaction",
    "pay",
    "post",
    "post_in_transaction",
    "post_many",
    "rehearse",
    "reverse",
    "reverse_in_transaction",
    "sweep_due",
    "sweep_wallet",
    "void_hold",
    "void_hold_in_transaction",
]
