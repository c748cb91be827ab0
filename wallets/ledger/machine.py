"""One wallet's money, as a pure state machine: credits, debits, expiring grants, holds, payments,
reversals and expiry, each a step from one state to the next.

``run(state, op, now)`` answers what one operation does to a wallet, under its lock: the result code,
the entries to write (``Move``), the grant draws and hold changes, and the state after. No I/O, no
clock (``now`` is given), no database; ``wallets.ledger.posting`` loads the state, runs the step and
writes its effects, so the API, the dashboard, approvals, bulk files and the worker all move money
by these rules and no other. Each plain credit or debit is still decided by ``rules.decide``.

The wallet's money has three parts: ``balance = free + granted + held``.
- ``granted``: the unspent remainder of active grants (credits with ``expires_at``);
- ``held``: reserved by active holds; ``available = balance - held``;
- ``free``: money that never expires.
A debit (and a hold) takes from grants soonest-expiring first, then from free money; a grant's
``Draw`` records how much each entry or hold took (positive) or gave back (negative). At its expiry a
grant's remainder leaves in its own entry; before any step, everything due expires (holds are
released first, so grant money they return expires with the rest). Given back to a grant that has
expired (a reversal of a debit it paid, a released hold), money expires again at once.

Invariants after every step (property-tested against a reference model in
tests/ledger/test_machine.py): ``0 <= held``, ``0 <= granted``, ``held + granted <= balance``;
``granted`` is the sum of the grants' remainders; no money of a grant past its expiry is
available; an entry's reversals never exceed it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from wallets.ledger import rules
from wallets.ledger.rules import Code
from wallets.money import INT64_MAX

#: ``(grant_id, amount)`` pairs: positive takes from the grant, negative gives back.
Draws = tuple[tuple[str, int], ...]


class Kind(enum.StrEnum):
    """What an entry is, to the machine (the entry's ``event_type`` is the caller's)."""

    POSTING = "posting"
    PAYMENT = "payment"
    CAPTURE = "capture"
    REVERSAL = "reversal"
    EXPIRY = "expiry"


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    expires_at: datetime
    remaining: int
    expired: int = 0
    #: The grant's credit amount, and how much of it was reversed: what it may hold at most is
    #: ``amount - reversed - expired`` (money given back beyond that is free money).
    amount: int = 0
    reversed: int = 0

    @property
    def room(self) -> int:
        """How much more it may take back."""
        return max(self.amount - self.reversed - self.expired - self.remaining, 0)


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    amount: int
    expires_at: datetime
    draws: Draws = ()
    status: str = "active"
    captured: int = 0


@dataclass(frozen=True, slots=True)
class WalletState:
    """A wallet under its lock. ``grants`` holds every active grant when ``granted > 0`` (and any
    other a step gives back to); ``holds`` the active holds a step may touch (all of them when one
    may be due)."""

    balance: int = 0
    entry_count: int = 0
    held: int = 0
    granted: int = 0
    grants: tuple[Grant, ...] = ()
    holds: tuple[Hold, ...] = ()

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True, slots=True)
class Original:
    """An entry to reverse, read under its wallet's lock."""

    id: str
    amount: int
    is_credit: bool
    #: False for a reversal and for an expiry: neither can be reversed.
    reversible: bool
    reversed: int = 0
    #: A grant's expired amount (what expired cannot be reversed).
    expired: int = 0
    is_grant: bool = False
    #: A debit's net draws per grant (its own and its reversals'), in the order it drew them.
    draws: Draws = ()


# --- Operations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    request: rules.Request
    entry_id: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Pay:
    amount: int
    entry_id: str


@dataclass(frozen=True, slots=True)
class Reverse:
    original: Original
    amount: int | None
    entry_id: str


@dataclass(frozen=True, slots=True)
class CreateHold:
    hold_id: str
    amount: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Capture:
    hold_id: str
    amount: int | None
    entry_id: str


@dataclass(frozen=True, slots=True)
class Void:
    hold_id: str


@dataclass(frozen=True, slots=True)
class Sweep:
    """Only expire what is due."""


Op = Post | Pay | Reverse | CreateHold | Capture | Void | Sweep


@dataclass(frozen=True, slots=True)
class Move:
    """One entry to write, in order."""

    kind: Kind
    entry_id: str | None  # None for an expiry: the writer names it
    sequence: int
    amount: int
    is_credit: bool
    before: int
    after: int
    draws: Draws = ()
    #: EXPIRY: the grant whose remainder this is.
    grant_id: str | None = None
    #: A grant credit's expiry.
    expires_at: datetime | None = None
    #: CAPTURE: the hold it captures.
    hold_id: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    code: Code
    state: WalletState
    moves: tuple[Move, ...] = ()
    #: ``(hold_id, grant_id, amount)``: draws made or given back by holds.
    hold_draws: tuple[tuple[str, str, int], ...] = ()
    #: Holds created or changed by the step, as they are after it.
    holds: tuple[Hold, ...] = ()
    #: Grants whose remainder or expired amount changed, as they are after it (new ones included).
    grants: tuple[Grant, ...] = ()
    #: A payment's applied amount; a reversal's amount.
    applied: int = 0
    #: The available balance when refused (for the message).
    available: int = 0
    #: The lowest held and granted amounts at any entry of the step: the wallet row's counters are
    #: lowered to these before the entries are written, so that ``held + granted <= balance``
    #: holds after each one.
    low_held: int = 0
    low_granted: int = 0

    @property
    def main(self) -> Move | None:
        """The operation's own entry (after any expiry entries)."""
        return next((m for m in reversed(self.moves) if m.kind is not Kind.EXPIRY), None)


class _Book:
    """The mutable working copy of one step."""

    def __init__(self, state: WalletState):
        self.balance, self.count, self.held, self.granted = state.balance, state.entry_count, state.held, state.granted
        self.grants = {g.id: g for g in state.grants}
        self.holds = {h.id: h for h in state.holds}
        self.moves: list[Move] = []
        self.hold_draws: list[tuple[str, str, int]] = []
        self.changed_grants: set[str] = set()
        self.changed_holds: set[str] = set()
        self.low_held, self.low_granted = self.held, self.granted

    # entries

    def entry(
        self,
        kind: Kind,
        amount: int,
        is_credit: bool,
        *,
        entry_id: str | None,
        draws: Draws = (),
        grant_id: str | None = None,
        expires_at: datetime | None = None,
        hold_id: str | None = None,
    ) -> Move:
        before = self.balance
        after = before + amount if is_credit else before - amount
        self.count += 1
        self.balance = after
        self.low_held, self.low_granted = min(self.low_held, self.held), min(self.low_granted, self.granted)
        move = Move(kind, entry_id, self.count, amount, is_credit, before, after, draws, grant_id, expires_at, hold_id)
        self.moves.append(move)
        return move

    # grants

    def _set_grant(self, grant: Grant) -> None:
        old = self.grants.get(grant.id)
        self.granted += grant.remaining - (old.remaining if old else 0)
        self.grants[grant.id] = grant
        self.changed_grants.add(grant.id)

    def take(self, amount: int, first: str | None = None) -> Draws:
        """Take up to ``amount`` from the grants (``first`` first, then soonest-expiring)."""
        order = sorted((g for g in self.grants.values() if g.remaining > 0), key=lambda g: (g.expires_at, g.id))
        if first is not None:
            order.sort(key=lambda g: g.id != first)
        draws = []
        for grant in order:
            if amount <= 0:
                break
            part = min(amount, grant.remaining)
            self._set_grant(replace(grant, remaining=grant.remaining - part))
            draws.append((grant.id, part))
            amount -= part
        return tuple(draws)

    def give_back(self, draws: Draws, amount: int) -> Draws:
        """Give up to ``amount`` back to the grants of ``draws``, the last drawn first. A grant takes
        back no more than it may hold (a grant reversed meanwhile paid with free money instead: what
        it would get back is free money)."""
        given = []
        for grant_id, part in reversed(draws):
            if amount <= 0:
                break
            grant = self.grants[grant_id]
            back = min(part, amount, grant.room)
            amount -= min(part, amount)
            if back <= 0:
                continue
            self._set_grant(replace(grant, remaining=grant.remaining + back))
            given.append((grant_id, -back))
        return tuple(given)

    # holds

    def release(self, hold: Hold, status: str, spend: int = 0) -> Draws:
        """Resolve an active hold: ``spend`` of it is captured; the draws it spends are returned."""
        self.held -= hold.amount
        spent: list[tuple[str, int]] = []
        left = spend
        back: list[tuple[str, int]] = []
        for grant_id, part in hold.draws:
            used = min(part, max(left, 0))
            left -= used
            if used:
                spent.append((grant_id, used))
            if part - used:
                back.append((grant_id, part - used))
        for grant_id, part in hold.draws:
            self.hold_draws.append((hold.id, grant_id, -part))
        self.give_back(tuple(back), sum(p for _, p in back))
        self.holds[hold.id] = replace(hold, status=status, captured=spend)
        self.changed_holds.add(hold.id)
        return tuple(spent)

    # expiry

    def expire_due(self, now: datetime) -> None:
        for hold in sorted(self.holds.values(), key=lambda h: (h.expires_at, h.id)):
            if hold.status == "active" and hold.expires_at <= now:
                self.release(hold, "expired")
        for grant in sorted(self.grants.values(), key=lambda g: (g.expires_at, g.id)):
            if grant.expires_at <= now and grant.remaining > 0:
                remainder = grant.remaining
                self._set_grant(replace(grant, remaining=0, expired=grant.expired + remainder))
                self.entry(
                    Kind.EXPIRY, remainder, False, entry_id=None, draws=((grant.id, remainder),), grant_id=grant.id
                )

    def state(self) -> WalletState:
        return WalletState(
            self.balance,
            self.count,
            self.held,
            self.granted,
            tuple(sorted(self.grants.values(), key=lambda g: (g.expires_at, g.id))),
            tuple(h for h in self.holds.values() if h.status == "active"),
        )

    def done(self, code: Code = Code.OK, applied: int = 0) -> Step:
        return Step(
            code,
            self.state(),
            tuple(self.moves),
            tuple(self.hold_draws),
            tuple(self.holds[h] for h in sorted(self.changed_holds)),
            tuple(self.grants[g] for g in sorted(self.changed_grants)),
            applied,
            low_held=min(self.low_held, self.held),
            low_granted=min(self.low_granted, self.granted),
        )


def _refused(code: Code, book: _Book) -> Step:
    """A refusal writes nothing, not even what expired meanwhile (the worker expires that)."""
    return Step(code, WalletState(), available=book.balance - book.held)


def run(state: WalletState, op: Op, now: datetime) -> Step:
    """One operation on one wallet at ``now``. Refused (code not OK): nothing is to be written."""
    book = _Book(state)
    book.expire_due(now)
    if isinstance(op, Sweep):
        return book.done()
    if isinstance(op, Post):
        return _post(book, op, now)
    if isinstance(op, Pay):
        return _pay(book, op)
    if isinstance(op, Reverse):
        return _reverse(book, op, now)
    if isinstance(op, CreateHold):
        return _create_hold(book, op)
    if isinstance(op, Capture):
        return _capture(book, op, now)
    return _void(book, op, now)


def _amount_code(amount: int) -> Code | None:
    if amount <= 0:
        return Code.AMOUNT_NOT_POSITIVE
    if amount > INT64_MAX:
        return Code.AMOUNT_TOO_LARGE
    return None


def _post(book: _Book, op: Post, now: datetime) -> Step:
    request = op.request
    if op.expires_at is not None and (not request.is_credit or op.expires_at <= now):
        return _refused(Code.INVALID_EXPIRY, book)
    # The plain rule, on what is available: held money is not there to spend.
    decision = rules.decide(rules.WalletState(book.balance - book.held, book.count), request)
    if not decision.code.accepted:
        return _refused(decision.code, book)
    if request.is_credit and book.balance > INT64_MAX - request.amount:
        return _refused(Code.BALANCE_OVERFLOW, book)
    if request.is_credit:
        book.entry(Kind.POSTING, request.amount, True, entry_id=op.entry_id, expires_at=op.expires_at)
        if op.expires_at is not None:
            book._set_grant(Grant(op.entry_id, op.expires_at, request.amount, amount=request.amount))
    else:
        draws = book.take(request.amount)
        book.entry(Kind.POSTING, request.amount, False, entry_id=op.entry_id, draws=draws)
    return book.done(applied=request.amount)


def _debit(book: _Book, kind: Kind, amount: int, entry_id: str, first: str | None = None) -> Code:
    if (code := _amount_code(amount)) is not None:
        return code
    if amount > book.balance - book.held:
        return Code.INSUFFICIENT_FUNDS
    book.entry(kind, amount, False, entry_id=entry_id, draws=book.take(amount, first))
    return Code.OK


def _pay(book: _Book, op: Pay) -> Step:
    if (code := _amount_code(op.amount)) is not None:
        return _refused(code, book)
    applied = min(op.amount, book.balance - book.held)
    if applied > 0:
        _debit(book, Kind.PAYMENT, applied, op.entry_id)
    return book.done(applied=applied)


def _reverse(book: _Book, op: Reverse, now: datetime) -> Step:
    original = op.original
    if not original.reversible:
        return _refused(Code.NOT_REVERSIBLE, book)
    grant = book.grants.get(original.id) if original.is_grant else None
    # What of a grant has expired, as of now (the step expired what was due).
    expired = grant.expired if grant is not None else original.expired
    left = original.amount - original.reversed - expired
    amount = left if op.amount is None else op.amount
    if (code := _amount_code(amount)) is not None:
        return _refused(Code.REVERSAL_EXCEEDS_ORIGINAL if left <= 0 else code, book)
    if amount > left:
        return _refused(Code.REVERSAL_EXCEEDS_ORIGINAL, book)
    if original.is_credit:
        code = _debit(book, Kind.REVERSAL, amount, op.entry_id, first=original.id if original.is_grant else None)
        if code is not Code.OK:
            return _refused(code, book)
        if grant is not None:
            book._set_grant(replace(book.grants[grant.id], reversed=grant.reversed + amount))
        return book.done(applied=amount)
    if book.balance > INT64_MAX - amount:
        return _refused(Code.BALANCE_OVERFLOW, book)
    given = book.give_back(original.draws, amount)
    book.entry(Kind.REVERSAL, amount, True, entry_id=op.entry_id, draws=given)
    book.expire_due(now)  # what went back to a grant that has expired expires again at once
    return book.done(applied=amount)


def _create_hold(book: _Book, op: CreateHold) -> Step:
    if (code := _amount_code(op.amount)) is not None:
        return _refused(code, book)
    if op.amount > book.balance - book.held:
        return _refused(Code.INSUFFICIENT_FUNDS, book)
    draws = book.take(op.amount)
    book.held += op.amount
    for grant_id, part in draws:
        book.hold_draws.append((op.hold_id, grant_id, part))
    book.holds[op.hold_id] = Hold(op.hold_id, op.amount, op.expires_at, draws)
    book.changed_holds.add(op.hold_id)
    return book.done(applied=op.amount)


def _active_hold(book: _Book, hold_id: str) -> Hold | None:
    hold = book.holds.get(hold_id)
    return hold if hold is not None and hold.status == "active" else None


def _capture(book: _Book, op: Capture, now: datetime) -> Step:
    hold = _active_hold(book, op.hold_id)
    if hold is None:
        return _refused(Code.HOLD_NOT_ACTIVE, book)
    amount = hold.amount if op.amount is None else op.amount
    if (code := _amount_code(amount)) is not None:
        return _refused(code, book)
    if amount > hold.amount:
        return _refused(Code.CAPTURE_EXCEEDS_HOLD, book)
    spent = book.release(hold, "captured", amount)
    book.entry(Kind.CAPTURE, amount, False, entry_id=op.entry_id, draws=spent, hold_id=hold.id)
    book.expire_due(now)
    return book.done(applied=amount)


def _void(book: _Book, op: Void, now: datetime) -> Step:
    hold = _active_hold(book, op.hold_id)
    if hold is None:
        return _refused(Code.HOLD_NOT_ACTIVE, book)
    book.release(hold, "voided")
    book.expire_due(now)
    return book.done()


def fold(state: WalletState, ops: Iterable[Op], now: datetime) -> tuple[list[Step], WalletState]:
    """Many operations on one wallet, in order: each refused one leaves the state as it was."""
    steps = []
    for op in ops:
        step = run(state, op, now)
        if step.code.accepted:
            state = step.state
        steps.append(step)
    return steps, state


@dataclass(frozen=True, slots=True)
class Hints:
    """What the wallet row keeps so that a posting knows what to load (see ``Wallet``)."""

    held: int
    granted: int
    next_grant_expiry: datetime | None
    next_hold_expiry: datetime | None = field(default=None)


def hints(state: WalletState, *, holds_known: bool) -> Hints:
    """The wallet row's counters and expiry hints after a step. A hint may be early, never late:
    without every active hold in ``state`` (``holds_known`` False) the caller keeps the old one."""
    grants = [g.expires_at for g in state.grants if g.remaining > 0]
    holds = [h.expires_at for h in state.holds if h.status == "active"]
    return Hints(
        state.held, state.granted, min(grants, default=None), min(holds, default=None) if holds_known else None
    )
