"""The posting rules: pure functions of a wallet's state and a posting request.

No I/O, no clock, no database: given the wallet as it is under its lock and what is asked, they
return exactly what to write (the entry's sequence and balances) or why not, as a result code.
Everything that posts money asks these functions, one request at a time, in order; a batch is a
left fold of single decisions (``decide_all``), so a rule can never differ between paths.

Invariants every accepted decision keeps (property-tested in tests/ledger/test_rules.py):
- ``0 <= after <= INT64_MAX``; a debit never takes more than the balance;
- ``after - before`` is the signed amount; ``sequence`` is the wallet's ``entry_count + 1``;
- an idempotency key is applied at most once per customer: the same body replays the first
  entry, another body is refused; a replay or a refusal leaves the state unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from wallets.money import INT64_MAX


class Code(enum.StrEnum):
    """The result of one posting request (cf. TigerBeetle's per-request result codes)."""

    OK = "ok"
    REPLAYED = "replayed"  # the key was used with this same body: nothing new is written
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    AMOUNT_TOO_LARGE = "amount_too_large"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BALANCE_OVERFLOW = "balance_overflow"
    KEY_REUSED = "idempotency_key_reused"  # the key was used with another body
    # The operations beyond a plain credit or debit (wallets.ledger.machine):
    INVALID_EXPIRY = "invalid_expiry"  # expires_at on a debit, or not in the future
    NOT_REVERSIBLE = "not_reversible"  # a reversal or an expiry entry
    REVERSAL_EXCEEDS_ORIGINAL = "reversal_exceeds_original"
    HOLD_NOT_ACTIVE = "hold_not_active"  # captured, voided or expired already
    CAPTURE_EXCEEDS_HOLD = "capture_exceeds_hold"

    @property
    def accepted(self) -> bool:
        return self is Code.OK


@dataclass(frozen=True, slots=True)
class WalletState:
    """What the rules need of a wallet, read under its lock."""

    balance: int = 0
    entry_count: int = 0


@dataclass(frozen=True, slots=True)
class Body:
    """What makes two requests with one idempotency key "the same request": Dodo's fields, and the
    extension fields that change what the entry is (``kind``: its event type, reference and expiry,
    empty for a plain adjustment)."""

    currency: str
    amount: int
    is_credit: bool
    reason: str | None
    kind: tuple = ()


@dataclass(frozen=True, slots=True)
class Request:
    currency: str
    amount: int
    is_credit: bool
    reason: str | None = None
    idempotency_key: str | None = None
    kind: tuple = ()

    @property
    def body(self) -> Body:
        return Body(self.currency, self.amount, self.is_credit, self.reason, self.kind)


@dataclass(frozen=True, slots=True)
class Decision:
    """Accepted (``code`` OK): the entry to write. Otherwise nothing is written."""

    code: Code
    sequence: int = 0
    before: int = 0
    after: int = 0


def decide(state: WalletState, request: Request, prior: Body | None = None) -> Decision:
    """One request against one wallet. ``prior`` is the body the request's idempotency key was
    first used with, for this customer (``None``: the key is new, or there is no key)."""
    if prior is not None:
        return Decision(Code.REPLAYED if prior == request.body else Code.KEY_REUSED)
    amount = request.amount
    if amount <= 0:
        return Decision(Code.AMOUNT_NOT_POSITIVE)
    if amount > INT64_MAX:
        return Decision(Code.AMOUNT_TOO_LARGE)
    before = state.balance
    if request.is_credit:
        if before > INT64_MAX - amount:
            return Decision(Code.BALANCE_OVERFLOW, before=before)
        after = before + amount
    else:
        if amount > before:
            return Decision(Code.INSUFFICIENT_FUNDS, before=before)
        after = before - amount
    return Decision(Code.OK, sequence=state.entry_count + 1, before=before, after=after)


def apply(state: WalletState, decision: Decision) -> WalletState:
    """The wallet after a decision: changed only by an accepted one."""
    if not decision.code.accepted:
        return state
    return replace(state, balance=decision.after, entry_count=decision.sequence)


def decide_all(
    states: Mapping[tuple[str, str], WalletState],
    requests: Iterable[tuple[str, Request]],
    priors: Mapping[tuple[str, str], Body],
) -> tuple[list[Decision], dict[tuple[str, str], WalletState]]:
    """Many requests, in order: ``requests`` are ``(customer_id, request)`` pairs; a wallet is
    ``(customer_id, currency)`` and ``states`` holds each one's state; ``priors`` maps
    ``(customer_id, idempotency_key)`` to the body of a key already in the ledger. A key accepted
    earlier in the same run replays or is refused exactly as if it had been committed before.
    Returns the decisions (same order) and the wallets' final states."""
    states = dict(states)
    used = dict(priors)
    decisions = []
    for customer_id, request in requests:
        wallet = (customer_id, request.currency)
        scoped = (customer_id, request.idempotency_key) if request.idempotency_key is not None else None
        decision = decide(states[wallet], request, used.get(scoped) if scoped is not None else None)
        if decision.code.accepted:
            states[wallet] = apply(states[wallet], decision)
            if scoped is not None:
                used[scoped] = request.body
        decisions.append(decision)
    return decisions, states
