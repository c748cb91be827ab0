"""``post`` (one wallet) and ``post_many`` (many postings, in batches): the only code that posts money.

Both run the same steps in one short transaction:
1. lock the wallet(s) (``locking``: ``FOR NO KEY UPDATE``, ascending id order);
2. read the idempotency keys' earlier entries (in the lock statement for one wallet);
3. ask the pure rules (``rules.decide`` / ``rules.decide_all``) what to write;
4. create the wallets that receive their first entry (never one for a refused posting);
5. insert the entries (``sql``); the database applies each to its wallet and refuses a broken chain
   (migration 0009), so the balance is never written by this code at all.

Idempotency keys are scoped to the customer and kept forever. Two postings with one key in
*different* currencies lock different wallets; the unique constraint
``ledger_entry_idempotency_key_per_customer`` stops the second, whose transaction then runs once
more and replays or refuses the first.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from django.db import IntegrityError, OperationalError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from wallets import ids
from wallets.exceptions import (
    ApiKeyRevoked,
    BalanceOverflow,
    CaptureExceedsHold,
    CustomerNotFound,
    HoldNotActive,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidExpiry,
    NotAllowed,
    NotReversible,
    ReversalExceedsOriginal,
)
from wallets.ledger import coalesce, effects, locking, machine, rules, sql
from wallets.ledger.rules import Code
from wallets.models import LedgerEntry
from wallets.services.actors import Actor

_ATTEMPTS = 2
REFUSALS = {
    Code.BALANCE_OVERFLOW: BalanceOverflow,
    Code.KEY_REUSED: IdempotencyKeyReused,
    Code.INVALID_EXPIRY: InvalidExpiry,
    Code.NOT_REVERSIBLE: NotReversible,
    Code.REVERSAL_EXCEEDS_ORIGINAL: ReversalExceedsOriginal,
    Code.HOLD_NOT_ACTIVE: HoldNotActive,
    Code.CAPTURE_EXCEEDS_HOLD: CaptureExceedsHold,
}
#: Entries per COPY / INSERT statement of a batch.
INSERT_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class PostingResult:
    """The wallet right after the entry (what the API returns) and the entry itself."""

    customer_id: str
    currency: str
    balance: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    entry: LedgerEntry
    replayed: bool
    held: int = 0
    #: What of the balance is unspent expiring credit (0: the wallet has no active grant).
    granted: int = 0


@dataclass(frozen=True, slots=True)
class Posting:
    """One posting of a batch."""

    customer_id: str
    request: rules.Request
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT
    reference_object_id: str | None = None
    #: For replaying history (demo data): the entry's time; the caller keeps each wallet's
    #: postings in time order.
    created_at: datetime.datetime | None = None
    #: A credit that expires (a grant).
    expires_at: datetime.datetime | None = None
    metadata: dict[str, Any] | None = None
    #: Who asked, when not the batch's actor (a coalesced batch joins several requests: ``coalesce``).
    actor: Actor | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one posting of a batch: its decision and, when written, its entry's values
    (a batch never builds model instances it does not need; ``entry`` makes one)."""

    posting: Posting
    decision: rules.Decision
    values: dict[str, Any] | None = None
    #: The accepted step (the wallet's state right after it), when written.
    step: machine.Step | None = None

    @property
    def entry(self) -> LedgerEntry | None:
        if self.values is None:
            return None
        entry = LedgerEntry(**self.values)
        entry._state.adding = False
        return entry


@dataclass(frozen=True, slots=True)
class BatchResult:
    outcomes: list[Outcome]
    #: False for a dry run, and for an all-or-nothing batch with a refused posting.
    written: bool


# --- One wallet -------------------------------------------------------------------------------


def post_in_transaction(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    is_credit: bool,
    actor: Actor,
    reason: str | None = None,
    idempotency_key: str | None = None,
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
    reference_object_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    expires_at: datetime.datetime | None = None,
    confirm_api_key: str | None = None,
) -> PostingResult:
    """The posting itself, for a service that holds a transaction already and needs the posting
    to commit or roll back with its own writes (approvals). Locks the wallet row. (A dry run is
    ``rehearse(post_in_transaction, …)``.)

    ``confirm_api_key``: the id of an API key that a caller took from a cache (the API's
    authentication, ``wallets.services.api_keys``); the lock statement reads its state too, and a key
    revoked or made read-only since is refused (``ApiKeyRevoked``, ``NotAllowed``) before anything
    else is answered."""
    if amount <= 0:
        raise ValueError("amount must be positive")  # callers validate; this is a programming error
    conn = sql.connection()
    request = rules.Request(currency, amount, is_credit, reason, idempotency_key,
                            locking.kind(event_type, reference_object_id, expires_at))
    locked = locking.lock_wallet(
        conn, business_id=business_id, customer_id=customer_id, currency=currency, idempotency_key=idempotency_key,
        api_key_id=confirm_api_key,
    )
    if confirm_api_key is not None:
        _check_api_key(locked.key_state if locked is not None else
                       locking.api_key_state(conn, business_id=business_id, api_key_id=confirm_api_key))
    if locked is None:
        _check_customers(business_id, {customer_id})
        prior = None
        if idempotency_key is not None:
            prior = locking.used_keys(conn, business_id=business_id, keys=[(customer_id, idempotency_key)]).get(
                (customer_id, idempotency_key)
            )
        _raise_if_refused(rules.decide(rules.WalletState(), request, prior), request)
        locked = _create_wallets(conn, business_id, [(customer_id, currency)], idempotency_key)[
            (customer_id, currency)
        ]
    if locked.prior_body is not None:
        decision = rules.decide(locked.state, request, locked.prior_body)
        _raise_if_refused(decision, request)
        prior_entry = locked.prior
        assert prior_entry is not None
        return PostingResult(
            customer_id=customer_id,
            currency=currency,
            balance=prior_entry.after_balance,
            created_at=locked.created_at,
            updated_at=prior_entry.created_at,
            entry=prior_entry,
            replayed=True,
            held=locked.hints.held,
            granted=locked.hints.granted,
        )
    now = locked.clock(timezone.now())
    state = effects.load(locked, now)
    entry_id = ids.ledger_entry_id()
    step = machine.run(state, machine.Post(request, entry_id, expires_at), now)
    raise_if_refused(step, request.currency, request.amount)
    values: dict[str, Any] = {
        "id": entry_id,
        "actor": actor,
        "event_type": event_type,
        "reason": reason,
        "reference_object_id": reference_object_id,
        "idempotency_key": idempotency_key,
        "metadata": metadata,
    }
    write = effects.WalletWrite(customer_id, currency, locked, [step], [lambda move: values],
                                holds_known=_holds_known(locked, state))
    ((written,),) = effects.write(conn, business_id=business_id, now=now, wallets=[write])
    posted = written.main
    assert posted is not None
    return PostingResult(
        customer_id=customer_id, currency=currency, balance=step.state.balance, created_at=locked.created_at,
        updated_at=now, entry=posted, replayed=False, held=step.state.held, granted=step.state.granted,
    )


def _in_own_transaction[**P](posting: Callable[P, PostingResult]) -> Callable[P, PostingResult]:
    """``posting``, with the same typed keyword arguments, in its own durable transaction."""

    def run(*args: P.args, **kwargs: P.kwargs) -> PostingResult:
        # With a key, a posting that lost a race for the key to another currency's wallet (the
        # unique constraint) runs once more, and then replays or refuses the winner.
        retry_on = (IntegrityError,) if kwargs.get("idempotency_key") is not None else ()
        return _with_retry(lambda: posting(*args, **kwargs), retry_on=retry_on)

    run.__name__ = run.__qualname__ = "post"
    run.__doc__ = (
        "Credit or debit one wallet in its own durable transaction (the arguments of "
        "``post_in_transaction``). Raises a ``WalletError`` and writes nothing on refusal."
    )
    return run


#: ``post`` never coalesced: what a posting the coalescer cannot take, or a failed batch's posting, runs.
post_alone = _in_own_transaction(post_in_transaction)
post = coalesce.when_enabled(post_alone)


class _RolledBack(Exception):
    def __init__(self, answer: object):
        super().__init__("rehearsal")
        self.answer = answer


def rehearse[**P, T](operation: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A dry run: ``operation`` (a ``*_in_transaction`` function, or a caller's function around one)
    runs for real in its own transaction, which is then rolled back. It answers exactly what the
    operation would answer now, refusals included, and writes nothing. One that lost a race for a
    unique key runs once more, as a real operation does."""
    try:
        _with_retry(lambda: _raise_answer(operation(*args, **kwargs)), retry_on=(IntegrityError,))
    except _RolledBack as done:
        return done.answer  # type: ignore[return-value]
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_answer(answer: object) -> NoReturn:
    raise _RolledBack(answer)


# --- Many wallets -----------------------------------------------------------------------------


def post_many(
    *,
    business_id: str,
    postings: Sequence[Posting],
    actor: Actor,
    all_or_nothing: bool = False,
    dry_run: bool = False,
    settle_known_first: bool = True,
) -> BatchResult:
    """Post a batch in one durable transaction: each wallet's postings in their given order, each
    decided by the same rules as ``post``. A refused posting is reported in its outcome and the
    others are written; with ``all_or_nothing`` one refusal writes nothing; ``dry_run`` decides
    under the same locks and writes nothing. A database error (a concurrent posting took a key
    first, a lock timeout) rolls the batch back whole; it is run once more, then raised.

    ``settle_known_first``: postings whose key is already in the ledger are settled (replayed or
    refused) before any lock, so a rerun of a posted batch locks nothing. A caller whose batches are
    new (the rest of a file once a batch had nothing posted before) saves that read with ``False``."""
    return _with_retry(
        lambda: _post_many_in_transaction(
            business_id,
            postings,
            actor,
            all_or_nothing=all_or_nothing,
            dry_run=dry_run,
            settle_known_first=settle_known_first,
        ),
        retry_on=(IntegrityError, OperationalError),
    )


def _post_many_in_transaction(
    business_id: str,
    postings: Sequence[Posting],
    actor: Actor,
    *,
    all_or_nothing: bool,
    dry_run: bool,
    settle_known_first: bool,
    locked_already: dict[tuple[str, str], locking.LockedWallet] | None = None,
) -> BatchResult:
    """``post_many``'s work in the caller's transaction. ``locked_already``: wallets this
    transaction has locked (the coalescer's leader), not locked a second time."""
    conn = sql.connection()
    postings = [replace(p, request=replace(p.request, kind=locking.kind(p.event_type, p.reference_object_id,
                                                                        p.expires_at))) for p in postings]
    # Keys are final (entries never change), so the ones already in the ledger can be read before
    # any lock, and their postings settled without locking their wallets.
    priors = _used_keys(conn, business_id, postings) if settle_known_first else {}
    settled: list[rules.Decision | None] = [None] * len(postings)
    todo: list[int] = []
    for i, p in enumerate(postings):
        key = p.request.idempotency_key
        prior = priors.get((p.customer_id, key)) if key is not None else None
        if prior is not None:
            settled[i] = rules.decide(rules.WalletState(), p.request, prior)
        else:
            todo.append(i)
    pairs = {(postings[i].customer_id, postings[i].request.currency) for i in todo}
    locked = {pair: w for pair, w in (locked_already or {}).items() if pair in pairs}
    if to_lock := pairs - locked.keys():
        locked.update(locking.lock_wallets(conn, business_id=business_id, pairs=to_lock))
    _check_customers(business_id, {customer_id for customer_id, _ in pairs - locked.keys()})
    if locked or not settle_known_first:
        # Read (again) under the locks: whoever held them committed its keys first. (A key taken
        # meanwhile in a wallet outside this batch fails the insert on its unique constraint, and
        # the batch's second run sees it.)
        priors = _used_keys(conn, business_id, [postings[i] for i in todo])
    # Read after the locks, and never before any of these wallets' last entry.
    now = timezone.now()
    now = max([now, *(w.clock(now) for w in locked.values())])
    entry_ids = {i: ids.ledger_entry_id() for i in todo}
    while True:
        loaded = {pair: effects.load(locked[pair], now) if pair in locked else machine.WalletState() for pair in pairs}
        states = dict(loaded)
        used = dict(priors)
        decisions = list(settled)
        steps: dict[int, machine.Step] = {}
        for i in todo:
            p = postings[i]
            pair = (p.customer_id, p.request.currency)
            scoped = (p.customer_id, p.request.idempotency_key) if p.request.idempotency_key is not None else None
            prior = used.get(scoped) if scoped is not None else None
            if prior is not None:
                decisions[i] = rules.decide(rules.WalletState(), p.request, prior)
                continue
            step = machine.run(states[pair], machine.Post(p.request, entry_ids[i], p.expires_at), now)
            decisions[i] = _decision(step)
            if step.code.accepted:
                states[pair] = step.state
                steps[i] = step
                if scoped is not None:
                    used[scoped] = p.request.body
        final = [d for d in decisions if d is not None]
        refused = any(not d.code.accepted and d.code is not Code.REPLAYED for d in final)
        if dry_run or (all_or_nothing and refused):
            return BatchResult([Outcome(p, d) for p, d in zip(postings, final, strict=True)], written=False)
        new = {(postings[i].customer_id, postings[i].request.currency) for i in steps} - locked.keys()
        if not new:
            break
        created = _create_wallets(conn, business_id, new, None)
        locked.update(created)
        if all(w.state == rules.WalletState() for w in created.values()):
            break
        # Another transaction created one of them and posted to it first: decide again on its state.
    by_wallet: dict[tuple[str, str], list[int]] = {}
    for i in steps:
        p = postings[i]
        by_wallet.setdefault((p.customer_id, p.request.currency), []).append(i)
    writes = [
        effects.WalletWrite(
            customer_id,
            currency,
            locked[(customer_id, currency)],
            [steps[i] for i in indexes],
            [_batch_values(postings[i], entry_ids[i], postings[i].actor or actor) for i in indexes],
            holds_known=_holds_known(locked[(customer_id, currency)], loaded[(customer_id, currency)]),
        )
        for (customer_id, currency), indexes in by_wallet.items()
    ]
    written = effects.write(conn, business_id=business_id, wallets=writes, now=now, chunk=INSERT_CHUNK)
    values: dict[int, dict[str, Any]] = {}
    for (_, indexes), per_wallet in zip(by_wallet.items(), written, strict=True):
        for i, w in zip(indexes, per_wallet, strict=True):
            assert w.main_row is not None
            values[i] = w.main_row
    return BatchResult(
        [Outcome(p, d, values.get(i), steps.get(i)) for i, (p, d) in enumerate(zip(postings, final, strict=True))],
        written=True,
    )


def _batch_values(posting: Posting, entry_id: str, actor: Actor) -> effects.MainValues:
    values: dict[str, Any] = {
        "id": entry_id,
        "actor": actor,
        "event_type": posting.event_type,
        "reason": posting.request.reason,
        "reference_object_id": posting.reference_object_id,
        "idempotency_key": posting.request.idempotency_key,
        "metadata": posting.metadata,
        "created_at": posting.created_at,
    }
    return lambda move: values


def _decision(step: machine.Step) -> rules.Decision:
    main = step.main
    if not step.code.accepted or main is None:
        return rules.Decision(step.code, before=step.available)
    return rules.Decision(step.code, sequence=main.sequence, before=main.before, after=main.after)


def _holds_known(locked: locking.LockedWallet, state: machine.WalletState) -> bool:
    """Every active hold of the wallet is in ``state`` (none, or all were loaded)."""
    return locked.hints.held == 0 or bool(state.holds)


# --- Shared steps -----------------------------------------------------------------------------


def _with_retry[T](run: Callable[[], T], *, retry_on: tuple[type[Exception], ...]) -> T:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with transaction.atomic(durable=True):
                return run()
        except retry_on:
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _create_wallets(
    conn: BaseDatabaseWrapper,
    business_id: str,
    pairs: Sequence[tuple[str, str]] | set[tuple[str, str]],
    idempotency_key: str | None,
) -> dict[tuple[str, str], locking.LockedWallet]:
    """A wallet is created by its first posting, inside the posting's transaction (its customer is
    checked first, ``_check_customers``); then it is locked (a concurrent transaction may have
    created it)."""
    locking.create_wallets(business_id=business_id, pairs=pairs)
    if len(pairs) == 1 and idempotency_key is not None:
        ((customer_id, currency),) = pairs
        one = locking.lock_wallet(
            conn, business_id=business_id, customer_id=customer_id, currency=currency, idempotency_key=idempotency_key
        )
        assert one is not None  # it exists now: created here or by a concurrent transaction
        return {(customer_id, currency): one}
    return locking.lock_wallets(conn, business_id=business_id, pairs=pairs)


def _used_keys(conn: BaseDatabaseWrapper, business_id: str, postings: Sequence[Posting]) -> dict:
    return locking.used_keys(
        conn,
        business_id=business_id,
        keys=[(p.customer_id, p.request.idempotency_key) for p in postings if p.request.idempotency_key is not None],
    )


def _check_api_key(state: str | None) -> None:
    """A posting by an API key needs the key active and writable now: the API's per-process key cache
    is confirmed here, in the lock statement's own round trip (``wallets.services.api_keys``)."""
    if state == sql.KEY_STATE_READ_ONLY:
        raise NotAllowed("This API key is read-only.")
    if state != sql.KEY_STATE_OK:
        raise ApiKeyRevoked()


def _check_customers(business_id: str, customer_ids: set[str]) -> None:
    """A wallet's first posting needs its customer to exist in this business (another business's
    customer is unknown here), before any rule is asked."""
    if customer_ids and locking.customers_found(business_id=business_id, customer_ids=customer_ids) != customer_ids:
        raise CustomerNotFound()


def raise_if_refused(step: machine.Step, currency: str, amount: int | None, what: str = "debit") -> None:
    """A refused step as the domain error a caller answers with (``what``: the debit, hold, reversal)."""
    if not step.code.accepted:
        _raise(step.code, currency, step.available, amount, what)


def _raise_if_refused(decision: rules.Decision, request: rules.Request) -> None:
    if not decision.code.accepted and decision.code is not Code.REPLAYED:
        _raise(decision.code, request.currency, decision.before, request.amount)


def _raise(code: Code, currency: str, available: int, amount: int | None, what: str = "debit") -> None:
    if code is Code.INSUFFICIENT_FUNDS:
        asked = f"the {what} is {amount}" if amount is not None else f"the {what} needs more"
        raise InsufficientFunds(f"Insufficient wallet funds: the available {currency} balance is {available}, {asked}.")
    if code in REFUSALS:
        raise REFUSALS[code]()
    if code in (Code.AMOUNT_NOT_POSITIVE, Code.AMOUNT_TOO_LARGE):
        raise ValueError(f"amount out of range: {amount}")  # callers validate: a programming error
    raise AssertionError(f"unhandled refusal {code}")  # pragma: no cover
