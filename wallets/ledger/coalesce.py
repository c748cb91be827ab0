"""Coalescing: concurrent postings on one wallet, in one process, under one lock and one commit.

With ``WALLETS_COALESCE_POSTINGS`` on, ``post`` (what the API's ``POST …/ledger-entries`` calls) does
not go straight to the database. Postings for the same wallet (business, customer, currency) that
reach one process at once wait on that wallet's queue:

- the first one is the **leader**. Alone in the queue, it posts the normal way (``post_alone``)
  while the others queue behind it. With others queued, it opens the transaction, locks the wallet,
  then takes everything queued by then (up to ``WALLETS_COALESCE_MAX_BATCH``, itself first) and
  posts them in arrival order with ``post_many``'s transaction (``_post_many_in_transaction``): each
  posting is decided by the same machine step on the state the one before left, a key used earlier
  in the batch replays or is refused as if committed, and ``effects.write`` writes the entries and
  their webhook events. One commit answers them all;
- each request gets its own answer: its ``PostingResult`` (a replay for a key used before or
  earlier in the batch), or the exception ``post`` raises (``InsufficientFunds`` with the same
  message, ``IdempotencyKeyReused``, …);
- when it is done the leader hands the queue to the first posting still waiting, which leads the
  next batch, so no request waits behind more than the batches ahead of it.

A **follower** waits on its ticket's event. Still queued after ``WALLETS_COALESCE_WAIT_S`` it
leaves the queue and posts alone; once taken into a batch it waits for that batch's answer.

Postings the coalescer does not take go the normal way: on SQLite (its writers are serialised
anyway), inside a caller's transaction (``post`` is durable: it raises there, as it always did), an
amount that is not positive (``post`` raises ``ValueError``), and a wallet that does not exist yet
(its first posting creates it; ``CustomerNotFound`` comes from there).

**A failed batch.** If the batch's transaction fails before its commit (a key raced by another
process, a deadlock, a lock timeout, the database gone), PostgreSQL rolled all of it back, so no
entry of it exists: each posting of the batch then runs alone (``post_alone``, with its own retry)
in its own thread, and answers whatever that answers. If the COMMIT itself fails, the batch may or
may not have committed (a connection lost during COMMIT): each request gets that error, exactly as a
single ``post`` whose commit is lost does, and a client resolves it by retrying with its key. (An
``IntegrityError`` at COMMIT is an answer from the server: rolled back, so those run alone too.)
The database stays the final guard: the chain trigger of migration 0009 refuses any entry that does
not follow its wallet's last one.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from wallets.exceptions import WalletError
from wallets.ledger import locking, rules, sql
from wallets.ledger import posting as engine
from wallets.ledger.rules import Code
from wallets.models import LedgerEntry
from wallets.services.actors import Actor

log = logging.getLogger(__name__)

WalletKey = tuple[str, str, str]  # business, customer, currency

#: How many batches of each size this process posted (1: a leader alone). For tests and the bench.
batch_sizes: Counter[int] = Counter()


@dataclass(eq=False, slots=True)
class _Ticket:
    """One request in a wallet's queue."""

    kwargs: dict[str, Any]
    #: Set when the ticket leads, or when its answer is in.
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    taken: bool = False
    answered: bool = False
    result: engine.PostingResult | None = None
    error: BaseException | None = None
    #: Post alone (the batch failed before its commit: nothing of it was written).
    alone: bool = False

    def answer(self, *, result: engine.PostingResult | None = None, error: BaseException | None = None,
               alone: bool = False) -> None:
        self.result, self.error, self.alone, self.answered = result, error, alone, True
        self.ready.set()

    def outcome(self, post_alone: Callable[..., engine.PostingResult]) -> engine.PostingResult:
        if self.alone:
            return post_alone(**self.kwargs)
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


_mutex = threading.Lock()
#: The wallets with a leader at work, and the tickets waiting behind it (in arrival order).
_queues: dict[WalletKey, list[_Ticket]] = {}


def when_enabled[**P](post_alone: Callable[P, engine.PostingResult]) -> Callable[P, engine.PostingResult]:
    """``post_alone``, coalesced when ``WALLETS_COALESCE_POSTINGS`` is on and the posting can join."""

    @functools.wraps(post_alone)
    def post(*args: P.args, **kwargs: P.kwargs) -> engine.PostingResult:
        if args or not settings.WALLETS_COALESCE_POSTINGS or not _joinable(kwargs):
            return post_alone(*args, **kwargs)
        return _post(post_alone, dict(kwargs))

    return post


def _joinable(kwargs: dict[str, Any]) -> bool:
    conn = sql.connection()
    amount = kwargs.get("amount")
    return (
        conn.vendor == "postgresql"
        and not conn.in_atomic_block
        and isinstance(amount, int)
        and amount > 0
    )


def _post(post_alone: Callable[..., engine.PostingResult], kwargs: dict[str, Any]) -> engine.PostingResult:
    key: WalletKey = (kwargs["business_id"], kwargs["customer_id"], kwargs["currency"])
    ticket = _Ticket(kwargs)
    with _mutex:
        waiting = _queues.get(key)
        if waiting is None:
            _queues[key] = []
            ticket.lead = True
        else:
            waiting.append(ticket)
    if not ticket.lead and not ticket.ready.wait(settings.WALLETS_COALESCE_WAIT_S):
        with _mutex:
            if not ticket.taken and not ticket.lead:
                _queues[key].remove(ticket)
                left = True
            else:
                left = False
        if left:
            return post_alone(**kwargs)
        ticket.ready.wait()  # taken into a batch, or leading: the answer or the lead is coming
    if ticket.lead and not ticket.answered:
        try:
            _lead(key, ticket, post_alone)
        finally:
            _hand_over(key)
    return ticket.outcome(post_alone)


def _hand_over(key: WalletKey) -> None:
    with _mutex:
        waiting = _queues[key]
        if waiting:
            successor = waiting.pop(0)
            successor.lead = True
            successor.ready.set()
        else:
            del _queues[key]


def _take(key: WalletKey, room: int) -> list[_Ticket]:
    with _mutex:
        waiting = _queues[key]
        taken = waiting[:room]
        del waiting[:room]
        for ticket in taken:
            ticket.taken = True
    return taken


def _lead(key: WalletKey, leader: _Ticket, post_alone: Callable[..., engine.PostingResult]) -> None:
    """Post ``leader`` and what is queued behind it; every ticket taken is answered, whatever happens."""
    with _mutex:
        alone = not _queues[key]
    if alone:
        _run_alone(leader, post_alone)
        return
    business_id, customer_id, currency = key
    batch = [leader]
    committing = False
    answers: list[tuple[engine.PostingResult | None, BaseException | None]] = []
    try:
        with transaction.atomic(durable=True):
            conn = sql.connection()
            locked = locking.lock_wallet(conn, business_id=business_id, customer_id=customer_id,
                                         currency=currency, idempotency_key=None,
                                         api_key_id=leader.kwargs.get("confirm_api_key"))
            if locked is not None:
                # What queued while the lock was awaited joins too.
                batch += _take(key, max(settings.WALLETS_COALESCE_MAX_BATCH - 1, 0))
                answers = _post_batch(conn, business_id, locked, batch)
                committing = True
    except IntegrityError:
        _all_alone(batch)  # refused by the server, at any point: rolled back
        return
    except Exception as exc:
        if committing:
            for ticket in batch:  # the COMMIT's outcome is unknown: never post these a second time
                ticket.answer(error=_copy(exc))
        else:
            _all_alone(batch)
        return
    except BaseException as exc:
        for ticket in batch:
            ticket.answer(error=_copy(exc))
        raise
    if locked is None:  # no wallet yet: its first posting creates it, the normal way
        _run_alone(leader, post_alone)
        return
    with _mutex:
        batch_sizes[len(batch)] += 1
    log.debug("coalesced %d postings on one wallet", len(batch))
    for ticket, (result, error) in zip(batch, answers, strict=True):
        ticket.answer(result=result, error=error)


def _run_alone(leader: _Ticket, post_alone: Callable[..., engine.PostingResult]) -> None:
    """The normal path, run by the leader while it still leads (the others queue behind it)."""
    with _mutex:
        batch_sizes[1] += 1
    try:
        leader.answer(result=post_alone(**leader.kwargs))
    except Exception as exc:
        leader.answer(error=exc)


def _all_alone(batch: list[_Ticket]) -> None:
    for ticket in batch:
        ticket.answer(alone=True)


def _copy(exc: BaseException) -> BaseException:
    """Each waiting thread raises an exception of its own (a shared one would share its traceback)."""
    try:
        return copy.copy(exc)
    except Exception:  # an exception that cannot be copied is raised as it is
        return exc


def _post_batch(
    conn: BaseDatabaseWrapper, business_id: str, locked: locking.LockedWallet, batch: list[_Ticket]
) -> list[tuple[engine.PostingResult | None, BaseException | None]]:
    """Post the batch in the open transaction; per ticket, its result or its refusal."""
    refused = _unconfirmed_keys(conn, business_id, locked, batch)
    tickets = [t for t in batch if t not in refused]
    postings = [_posting(ticket.kwargs) for ticket in tickets]
    answered: dict[_Ticket, tuple[engine.PostingResult | None, BaseException | None]] = {}
    if postings:
        actor = tickets[0].kwargs["actor"]  # each posting carries its own; this one is post_many's default
        answered = dict(zip(tickets, _answers(business_id, locked, postings, actor), strict=True))
    return [(None, refused[t]) if t in refused else answered[t] for t in batch]


def _unconfirmed_keys(
    conn: BaseDatabaseWrapper, business_id: str, locked: locking.LockedWallet, batch: list[_Ticket]
) -> dict[_Ticket, BaseException]:
    """The tickets whose cached API key (``confirm_api_key``) was revoked or made read-only since: refused
    before anything else, as ``post`` refuses them. The leader's key was read by the lock statement."""
    states: dict[str, str | None] = {}
    leader_key = batch[0].kwargs.get("confirm_api_key")
    if leader_key is not None:
        states[leader_key] = locked.key_state
    refused: dict[_Ticket, BaseException] = {}
    for ticket in batch:
        key_id = ticket.kwargs.get("confirm_api_key")
        if key_id is None:
            continue
        if key_id not in states:
            states[key_id] = locking.api_key_state(conn, business_id=business_id, api_key_id=key_id)
        try:
            engine._check_api_key(states[key_id])
        except WalletError as exc:
            refused[ticket] = exc
    return refused


def _answers(
    business_id: str, locked: locking.LockedWallet, postings: list[engine.Posting], actor: Actor
) -> list[tuple[engine.PostingResult | None, BaseException | None]]:
    customer_id, currency = postings[0].customer_id, postings[0].request.currency
    done = engine._post_many_in_transaction(business_id, postings, actor, all_or_nothing=False, dry_run=False,
                                            settle_known_first=False, locked_already={(customer_id, currency): locked})
    held, granted = locked.hints.held, locked.hints.granted
    written: dict[str, LedgerEntry] = {}
    earlier: dict[str, LedgerEntry] | None = None
    answers: list[tuple[engine.PostingResult | None, BaseException | None]] = []
    for outcome in done.outcomes:
        request, decision, step = outcome.posting.request, outcome.decision, outcome.step
        key = request.idempotency_key
        if step is not None:
            entry = outcome.entry
            assert entry is not None
            held, granted = step.state.held, step.state.granted
            if key is not None:
                written[key] = entry
            answers.append((engine.PostingResult(
                customer_id=customer_id, currency=currency, balance=step.state.balance, created_at=locked.created_at,
                updated_at=entry.created_at, entry=entry, replayed=False, held=held, granted=granted,
            ), None))
        elif decision.code is Code.REPLAYED:
            assert key is not None
            prior = written.get(key)
            if prior is None:
                if earlier is None:
                    earlier = _entries_of_keys(business_id, customer_id, done)
                prior = earlier[key]
            answers.append((engine.PostingResult(
                customer_id=customer_id, currency=currency, balance=prior.after_balance, created_at=locked.created_at,
                updated_at=prior.created_at, entry=prior, replayed=True, held=held, granted=granted,
            ), None))
        else:
            answers.append((None, _refusal(decision, request)))
    return answers


def _posting(kwargs: dict[str, Any]) -> engine.Posting:
    return engine.Posting(
        customer_id=kwargs["customer_id"],
        request=rules.Request(kwargs["currency"], kwargs["amount"], kwargs["is_credit"], kwargs.get("reason"),
                              kwargs.get("idempotency_key")),
        event_type=kwargs.get("event_type", LedgerEntry.EventType.MERCHANT_ADJUSTMENT),
        reference_object_id=kwargs.get("reference_object_id"),
        expires_at=kwargs.get("expires_at"),
        metadata=kwargs.get("metadata"),
        actor=kwargs["actor"],
    )


def _entries_of_keys(business_id: str, customer_id: str, done: engine.BatchResult) -> dict[str, LedgerEntry]:
    """The entries already in the ledger that the batch's replays answer with (read under the lock)."""
    keys = {o.posting.request.idempotency_key for o in done.outcomes if o.decision.code is Code.REPLAYED}
    rows = LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, idempotency_key__in=keys,
                                      reversal_of__isnull=True)  # a reversal's keys are a scope of their own
    return {entry.idempotency_key: entry for entry in rows if entry.idempotency_key is not None}


def _refusal(decision: rules.Decision, request: rules.Request) -> BaseException:
    """The exception ``post`` raises for this refusal (same type, same message)."""
    try:
        engine._raise_if_refused(decision, request)
    except (WalletError, ValueError) as exc:
        return exc
    raise AssertionError(f"not a refusal: {decision}")  # pragma: no cover
