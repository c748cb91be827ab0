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
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from wallets import ids
from wallets.exceptions import BalanceOverflow, CustomerNotFound, IdempotencyKeyReused, InsufficientFunds
from wallets.ledger import locking, rules, sql
from wallets.ledger.rules import Code
from wallets.models import LedgerEntry
from wallets.services.actors import Actor

_ATTEMPTS = 2
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one posting of a batch: its decision and, when written, its entry's values
    (a batch never builds model instances it does not need; ``entry`` makes one)."""

    posting: Posting
    decision: rules.Decision
    values: dict[str, Any] | None = None

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
) -> PostingResult:
    """The posting itself, for a service that holds a transaction already and needs the posting
    to commit or roll back with its own writes (approvals). Locks the wallet row."""
    if amount <= 0:
        raise ValueError("amount must be positive")  # callers validate; this is a programming error
    conn = sql.connection()
    request = rules.Request(currency, amount, is_credit, reason, idempotency_key)
    locked = locking.lock_wallet(conn, business_id=business_id, customer_id=customer_id, currency=currency,
                                 idempotency_key=idempotency_key)
    if locked is None:
        _check_customers(business_id, {customer_id})
        prior = None
        if idempotency_key is not None:
            prior = locking.used_keys(conn, business_id=business_id, keys=[(customer_id, idempotency_key)]).get(
                (customer_id, idempotency_key))
        _raise_if_refused(rules.decide(rules.WalletState(), request, prior), request)
        locked = _create_wallets(conn, business_id, [(customer_id, currency)], idempotency_key)[
            (customer_id, currency)]
    decision = rules.decide(locked.state, request, locked.prior_body)
    if decision.code is Code.REPLAYED:
        prior_entry = locked.prior
        assert prior_entry is not None
        return PostingResult(
            customer_id=customer_id, currency=currency, balance=prior_entry.after_balance,
            created_at=locked.created_at, updated_at=prior_entry.created_at, entry=prior_entry, replayed=True,
        )
    _raise_if_refused(decision, request)
    now = timezone.now()
    entry = LedgerEntry(**_entry_values(business_id, customer_id, locked.id,
                                        Posting(customer_id, request, event_type, reference_object_id),
                                        decision=decision, actor=actor, now=now))
    sql.insert_entry(conn, entry)
    return PostingResult(
        customer_id=customer_id, currency=currency, balance=decision.after, created_at=locked.created_at,
        updated_at=now, entry=entry, replayed=False,
    )


def _in_own_transaction[**P](posting: Callable[P, PostingResult]) -> Callable[P, PostingResult]:
    """``posting``, with the same typed keyword arguments, in its own durable transaction."""

    def run(*args: P.args, **kwargs: P.kwargs) -> PostingResult:
        # With a key, a posting that lost a race for the key to another currency's wallet (the
        # unique constraint) runs once more, and then replays or refuses the winner.
        retry_on = (IntegrityError,) if kwargs.get("idempotency_key") is not None else ()
        return _with_retry(lambda: posting(*args, **kwargs), retry_on=retry_on)

    run.__name__ = run.__qualname__ = "post"
    run.__doc__ = ("Credit or debit one wallet in its own durable transaction (the arguments of "
                   "``post_in_transaction``). Raises a ``WalletError`` and writes nothing on refusal.")
    return run


post = _in_own_transaction(post_in_transaction)


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
        lambda: _post_many_in_transaction(business_id, postings, actor, all_or_nothing=all_or_nothing,
                                          dry_run=dry_run, settle_known_first=settle_known_first),
        retry_on=(IntegrityError, OperationalError),
    )


def _post_many_in_transaction(
    business_id: str, postings: Sequence[Posting], actor: Actor, *, all_or_nothing: bool, dry_run: bool,
    settle_known_first: bool,
) -> BatchResult:
    conn = sql.connection()
    # Keys are final (entries never change), so the ones already in the ledger can be read before
    # any lock, and their postings settled without locking their wallets.
    priors = _used_keys(conn, business_id, postings) if settle_known_first else {}
    decisions: list[rules.Decision | None] = [None] * len(postings)
    todo: list[int] = []
    for i, p in enumerate(postings):
        key = p.request.idempotency_key
        prior = priors.get((p.customer_id, key)) if key is not None else None
        if prior is not None:
            decisions[i] = rules.decide(rules.WalletState(), p.request, prior)
        else:
            todo.append(i)
    pairs = {(postings[i].customer_id, postings[i].request.currency) for i in todo}
    locked = locking.lock_wallets(conn, business_id=business_id, pairs=pairs) if pairs else {}
    _check_customers(business_id, {customer_id for customer_id, _ in pairs - locked.keys()})
    if locked or not settle_known_first:
        # Read (again) under the locks: whoever held them committed its keys first. (A key taken
        # meanwhile in a wallet outside this batch fails the insert on its unique constraint, and
        # the batch's second run sees it.)
        priors = _used_keys(conn, business_id, [postings[i] for i in todo])
    requests = [(postings[i].customer_id, postings[i].request) for i in todo]
    while True:
        states = {pair: locked[pair].state if pair in locked else rules.WalletState() for pair in pairs}
        for i, decision in zip(todo, rules.decide_all(states, requests, priors)[0], strict=True):
            decisions[i] = decision
        final = [d for d in decisions if d is not None]
        refused = any(not d.code.accepted and d.code is not Code.REPLAYED for d in final)
        if dry_run or (all_or_nothing and refused):
            return BatchResult([Outcome(p, d) for p, d in zip(postings, final, strict=True)], written=False)
        new = {(postings[i].customer_id, postings[i].request.currency) for i in todo
               if final[i].code.accepted} - locked.keys()
        if not new:
            break
        created = _create_wallets(conn, business_id, new, None)
        locked.update(created)
        if all(w.state == rules.WalletState() for w in created.values()):
            break
        # Another transaction created one of them and posted to it first: decide again on its state.
    now = timezone.now()  # read after the locks: every entry of these wallets so far is older
    outcomes = []
    rows = []
    for posting, decision in zip(postings, final, strict=True):
        values = None
        if decision.code.accepted:
            wallet = locked[(posting.customer_id, posting.request.currency)]
            values = _entry_values(business_id, posting.customer_id, wallet.id, posting,
                                   decision=decision, actor=actor, now=now)
            rows.append(values)
        outcomes.append(Outcome(posting, decision, values))
    for start in range(0, len(rows), INSERT_CHUNK):
        sql.insert_rows(conn, rows[start : start + INSERT_CHUNK])
    return BatchResult(outcomes, written=True)


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
    conn: BaseDatabaseWrapper, business_id: str, pairs: Sequence[tuple[str, str]] | set[tuple[str, str]],
    idempotency_key: str | None,
) -> dict[tuple[str, str], locking.LockedWallet]:
    """A wallet is created by its first posting, inside the posting's transaction (its customer is
    checked first, ``_check_customers``); then it is locked (a concurrent transaction may have
    created it)."""
    locking.create_wallets(business_id=business_id, pairs=pairs)
    if len(pairs) == 1 and idempotency_key is not None:
        ((customer_id, currency),) = pairs
        one = locking.lock_wallet(conn, business_id=business_id, customer_id=customer_id, currency=currency,
                                  idempotency_key=idempotency_key)
        assert one is not None  # it exists now: created here or by a concurrent transaction
        return {(customer_id, currency): one}
    return locking.lock_wallets(conn, business_id=business_id, pairs=pairs)


def _used_keys(conn: BaseDatabaseWrapper, business_id: str, postings: Sequence[Posting]) -> dict:
    return locking.used_keys(conn, business_id=business_id, keys=[
        (p.customer_id, p.request.idempotency_key) for p in postings if p.request.idempotency_key is not None
    ])


def _check_customers(business_id: str, customer_ids: set[str]) -> None:
    """A wallet's first posting needs its customer to exist in this business (another business's
    customer is unknown here), before any rule is asked."""
    if customer_ids and locking.customers_found(business_id=business_id, customer_ids=customer_ids) != customer_ids:
        raise CustomerNotFound()


def _entry_values(
    business_id: str, customer_id: str, wallet_id: str, posting: Posting, *, decision: rules.Decision, actor: Actor,
    now: datetime.datetime,
) -> dict[str, Any]:
    """Every column of the entry a decision accepted (``LedgerEntry``'s attribute names)."""
    request = posting.request
    return {
        **sql.entry_defaults(), "id": ids.ledger_entry_id(), "business_id": business_id,
        "customer_id": customer_id, "wallet_id": wallet_id, "currency": request.currency,
        "sequence": decision.sequence, "amount": request.amount, "is_credit": request.is_credit,
        "event_type": posting.event_type, "reason": request.reason,
        "reference_object_id": posting.reference_object_id, "idempotency_key": request.idempotency_key,
        "before_balance": decision.before, "after_balance": decision.after, "actor_type": actor.type,
        "actor_id": actor.id, "created_at": posting.created_at or now,
    }


def _raise_if_refused(decision: rules.Decision, request: rules.Request) -> None:
    code = decision.code
    if code is Code.INSUFFICIENT_FUNDS:
        raise InsufficientFunds(
            f"Insufficient wallet funds: the {request.currency} balance is {decision.before}, "
            f"the debit is {request.amount}."
        )
    if code is Code.BALANCE_OVERFLOW:
        raise BalanceOverflow()
    if code is Code.KEY_REUSED:
        raise IdempotencyKeyReused()
    if code in (Code.AMOUNT_NOT_POSITIVE, Code.AMOUNT_TOO_LARGE):
        raise ValueError(f"amount out of range: {request.amount}")  # callers validate: a programming error
