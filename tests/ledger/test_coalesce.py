"""Coalescing (``wallets/ledger/coalesce.py``) with real threads on PostgreSQL, no mocks.

Each test makes the batches it needs deterministically: another connection holds the wallet's row
lock, the first posting (the leader, alone in the queue) waits on it, the next ones queue behind it
in a known order, and the lock is released. The leader posts alone, then hands the queue to the
first one waiting, which posts the rest as one batch. Every answer is compared with what ``post``
answers for the same requests one at a time, on a twin wallet with coalescing off.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from tests.ledger.coalescing import Posters, held, lock_wallet_row, queued, wait_for
from tests.support import oracle
from tests.support.locks import sessions_waiting_on_a_lock
from wallets import ledger
from wallets.exceptions import ApiKeyRevoked, CustomerNotFound, IdempotencyKeyReused, InsufficientFunds, NotAllowed
from wallets.ledger import coalesce, locking
from wallets.models import ApiKey, LedgerEntry, Wallet, WebhookEvent
from wallets.selectors import low_balance_default
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, api_key_revoke
from wallets.services.webhooks import endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                   reason="coalescing is off on SQLite (test_sqlite_posts_alone covers that)")

ACTOR = Actor.command("coalesce-test")


@pytest.fixture
def coalescing(settings):
    settings.WALLETS_COALESCE_POSTINGS = True
    settings.WALLETS_COALESCE_MAX_BATCH = 64
    return settings


def answer(a) -> tuple:
    """What a caller sees of an answer (the entry's id and time differ between twin wallets)."""
    if isinstance(a, Exception):
        return (type(a).__name__, str(a))
    return ("ok", a.balance, a.replayed, a.entry.sequence, a.entry.amount, a.entry.is_credit, a.entry.reason,
            a.entry.idempotency_key, a.held, a.granted)


def one_at_a_time(business_id, customer_id, requests) -> list[tuple]:
    out = []
    for request in requests:
        try:
            out.append(answer(ledger.post(business_id=business_id, customer_id=customer_id, currency="USD",
                                          actor=ACTOR, **request)))
        except Exception as exc:
            out.append(answer(exc))
    return out


def sizes_since(before: Counter) -> Counter:
    return +(coalesce.batch_sizes - before)


def credit(amount, **kw):
    return {"amount": amount, "is_credit": True, **kw}


def debit(amount, **kw):
    return {"amount": amount, "is_credit": False, **kw}


@postgres_only
def test_a_batch_answers_each_request_as_post_does_one_at_a_time(business, make_customer, coalescing):
    hot, twin = make_customer(), make_customer()
    for customer in (hot, twin):  # the same history before the batch: 100 under key k0
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=100, is_credit=True,
                    actor=ACTOR, idempotency_key="k0", reason="before")
    requests = [
        credit(1, reason="leader"),                              # the leader, alone (waits on the lock)
        credit(50, idempotency_key="k1", reason="top-up"),       # batch from here: 151
        debit(140, reason="fits only after the credit above"),   # 11
        debit(500, reason="does not fit"),                       # InsufficientFunds, 11 available
        credit(50, idempotency_key="k1", reason="top-up"),       # replay within the batch: 151
        credit(51, idempotency_key="k1", reason="top-up"),       # the key with another body
        credit(100, idempotency_key="k0", reason="before"),      # replay of a key from before the batch
        debit(100, idempotency_key="k0", reason="before"),       # k0 with another body
        debit(11, idempotency_key="k2", reason="empties it"),    # 0
        debit(1, reason="nothing left"),                         # InsufficientFunds, 0 available
        credit(7, reason="last"),                                # 7
    ]
    expected = one_at_a_time(business.id, twin.id, [dict(r) for r in requests])
    wallet = Wallet.objects.get(customer_id=hot.id, currency="USD")
    before = Counter(coalesce.batch_sizes)

    posters = Posters(business.id, hot.id)
    with held(lock_wallet_row(wallet.id)):
        for request in requests:
            posters.start(**request)
    answers = posters.join()

    assert [answer(a) for a in answers] == expected
    assert isinstance(answers[3], InsufficientFunds)
    assert str(answers[3]) == "Insufficient wallet funds: the available USD balance is 11, the debit is 500."
    assert isinstance(answers[5], IdempotencyKeyReused)
    assert answers[4].replayed
    assert answers[4].entry.id == answers[1].entry.id
    assert answers[6].replayed
    assert answers[6].entry.reason == "before"
    assert sizes_since(before) == Counter({1: 1, len(requests) - 1: 1})
    # One batch: its entries share one time and follow the arrival order.
    batch = list(LedgerEntry.objects.filter(customer_id=hot.id, sequence__gt=2).order_by("sequence"))
    assert [e.reason for e in batch] == ["top-up", "fits only after the credit above", "empties it", "last"]
    assert len({e.created_at for e in batch}) == 1
    assert Wallet.objects.get(pk=wallet.id).balance == 7
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []


def credits_queued_behind_a_held_lock(business, customer, count: int):
    """Credit 1 (reason r0), then credits 1..count (r1..) started while another connection holds the
    wallet's row: r1 leads alone, waiting on the lock, the others queue behind it in order. Returns
    the wallet, the batch sizes before, and the answers."""
    ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=1, is_credit=True,
                actor=ACTOR, reason="r0")
    wallet = Wallet.objects.get(customer_id=customer.id, currency="USD")
    before = Counter(coalesce.batch_sizes)
    posters = Posters(business.id, customer.id)
    with held(lock_wallet_row(wallet.id)):
        for n in range(1, count + 1):
            posters.start(**credit(n, reason=f"r{n}"))
    return wallet, before, posters.join()


@postgres_only
def test_max_batch_size_splits_the_queue_in_arrival_order(business, make_customer, coalescing):
    coalescing.WALLETS_COALESCE_MAX_BATCH = 3
    wallet, before, answers = credits_queued_behind_a_held_lock(business, make_customer(), 8)

    assert [a.balance for a in answers] == [1 + sum(range(1, n + 1)) for n in range(1, 9)]
    # r1 alone (it waited on the lock), r2-r4 and r5-r7 in batches of three, r8 alone (the queue was empty).
    assert sizes_since(before) == Counter({1: 2, 3: 2})
    entries = list(LedgerEntry.objects.filter(wallet_id=wallet.id).order_by("sequence"))
    assert [e.reason for e in entries] == [f"r{n}" for n in range(9)]
    times = Counter(e.created_at for e in entries[2:])  # r2..r8: batches of 3, 3 and the last one alone
    assert sorted(times.values()) == [1, 3, 3]


@postgres_only
def test_a_batch_locks_its_wallet_once(business, make_customer, coalescing, monkeypatch):
    """The leader's lock statement is the batch's only one: the engine's batch step is given the
    wallet it holds rather than locking it a second time (one round trip less under the lock)."""
    relocked = []
    lock_wallets = locking.lock_wallets
    monkeypatch.setattr(locking, "lock_wallets", lambda conn, **kw: relocked.append(kw) or lock_wallets(conn, **kw))
    _, before, answers = credits_queued_behind_a_held_lock(business, make_customer(), 4)

    assert sizes_since(before) == Counter({1: 1, 3: 1})  # r1 alone (it waited on the lock), r2-r4 together
    assert relocked == []
    assert [a.balance for a in answers] == [2, 4, 7, 11]
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []


@postgres_only
def test_a_batch_that_loses_a_key_race_writes_nothing_and_each_posting_runs_alone(business, make_customer,
                                                                                   coalescing):
    customer = make_customer()
    for currency in ("USD", "INR"):
        ledger.post(business_id=business.id, customer_id=customer.id, currency=currency, amount=100,
                    is_credit=True, actor=ACTOR, reason=f"open {currency}")
    wallet = Wallet.objects.get(customer_id=customer.id, currency="USD")
    before = Counter(coalesce.batch_sizes)
    posters = Posters(business.id, customer.id)

    def key_taken_in_inr():  # uncommitted: the batch cannot see it when it reads its keys
        ledger.post_in_transaction(business_id=business.id, customer_id=customer.id, currency="INR", amount=5,
                                   is_credit=True, actor=ACTOR, idempotency_key="raced", reason="inr")

    with held(key_taken_in_inr) as commit_the_key:
        with held(lock_wallet_row(wallet.id)):
            posters.start(**credit(1, reason="leader"))
            posters.start(**credit(2, reason="first of the batch"))
            posters.start(**credit(3, idempotency_key="raced", reason="usd"))
            posters.start(**debit(4, reason="last of the batch"))
        # The batch's insert now waits on the key's unique index; the other transaction commits.
        wait_for(lambda: sessions_waiting_on_a_lock("COPY%wallets_ledgerentry%"),
                 "the batch's insert to wait on the key")
        commit_the_key.set()
    answers = posters.join()

    # Alone, each in its own thread: the credit of 2 and the debit of 4 in either order.
    assert answers[0].balance == 101
    assert isinstance(answers[2], IdempotencyKeyReused)
    assert (answers[1].balance, answers[3].balance) in ((103, 99), (99, 97))
    assert Wallet.objects.get(pk=wallet.id).balance == 99
    assert 3 not in sizes_since(before)  # the batch of three never committed
    reasons = Counter(LedgerEntry.objects.filter(customer_id=customer.id).values_list("reason", flat=True))
    assert reasons == Counter(["open USD", "open INR", "leader", "first of the batch", "last of the batch", "inr"])
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []


@postgres_only
def test_a_batch_confirms_each_cached_api_key_as_post_does(business, make_customer, coalescing):
    """The API passes a key it took from its cache (``confirm_api_key``): in a batch, a key revoked or
    made read-only since is refused, the others post."""
    customer = make_customer()
    ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=10, is_credit=True,
                actor=ACTOR)
    keys = {name: api_key_create(business=business, name=name)[0] for name in ("ok", "revoked", "read-only")}
    api_key_revoke(key_id=keys["revoked"].id)
    ApiKey.objects.filter(pk=keys["read-only"].id).update(read_only=True)
    wallet = Wallet.objects.get(customer_id=customer.id, currency="USD")
    before = Counter(coalesce.batch_sizes)
    posters = Posters(business.id, customer.id)
    with held(lock_wallet_row(wallet.id)):
        for name in ("ok", "ok", "revoked", "read-only", "ok"):
            key = keys[name]
            posters.start(**credit(1, reason=name), confirm_api_key=key.id, actor=Actor.api_key(key.id))
    answers = posters.join()

    assert [a.balance if not isinstance(a, Exception) else type(a) for a in answers] == [
        11, 12, ApiKeyRevoked, NotAllowed, 13]
    assert sizes_since(before) == Counter({1: 1, 4: 1})
    assert list(LedgerEntry.objects.filter(wallet_id=wallet.id).order_by("sequence")
                .values_list("actor_id", flat=True))[1:] == [keys["ok"].id] * 3


@postgres_only
def test_a_batch_writes_each_postings_webhook_events(business, make_customer, coalescing):
    endpoint_create(business_id=business.id, url="https://hooks.example.com/wallets")
    hot, twin = make_customer(), make_customer()
    low = low_balance_default("USD")
    requests = [credit(2 * low, reason="leader"), debit(2 * low, reason="crosses the low-balance line"),
                credit(5, reason="c"), debit(10, reason="refused"), credit(5 * low, reason="back above")]
    one_at_a_time(business.id, twin.id, [credit(1, reason="open"), *requests])
    ledger.post(business_id=business.id, customer_id=hot.id, currency="USD", amount=1, is_credit=True,
                actor=ACTOR, reason="open")
    wallet = Wallet.objects.get(customer_id=hot.id, currency="USD")
    posters = Posters(business.id, hot.id)
    with held(lock_wallet_row(wallet.id)):
        for request in requests:
            posters.start(**request)
    posters.join()

    def events(customer):
        return Counter(WebhookEvent.objects.filter(customer_id=customer.id).values_list("type", flat=True))

    assert events(hot) == events(twin)
    # Up from 1 with the first credit, down, and up again: what the twin, one at a time, got too.
    assert events(hot) == Counter({"wallet.ledger_entry.created": 5, "wallet.balance_low": 1,
                                   "wallet.balance_recovered": 2})


@postgres_only
def test_what_the_coalescer_does_not_take_goes_the_normal_way(business, other_business, make_customer,
                                                              coalescing):
    customer = make_customer()
    before = Counter(coalesce.batch_sizes)
    # A wallet's first postings, at once: it is created once, every credit lands.
    posters = [threading.Thread(target=_post_and_close, args=(business.id, customer.id, "JPY", n))
               for n in range(1, 9)]
    for thread in posters:
        thread.start()
    for thread in posters:
        thread.join(30)
    wallet = Wallet.objects.get(customer_id=customer.id, currency="JPY")
    assert (wallet.balance, wallet.entry_count) == (36, 8)
    with pytest.raises(CustomerNotFound):  # another business's customer
        ledger.post(business_id=other_business.id, customer_id=customer.id, currency="USD", amount=1,
                    is_credit=True, actor=ACTOR)
    with pytest.raises(ValueError, match="amount must be positive"):
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=0, is_credit=True,
                    actor=ACTOR)
    # Inside a caller's transaction ``post`` refuses to run, coalescing or not (it is durable).
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=1, is_credit=True,
                    actor=ACTOR)
    assert not LedgerEntry.objects.filter(customer_id=customer.id, currency="USD").exists()
    assert sum(sizes_since(before).values()) >= 1
    assert coalesce._queues == {}
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []


def _post_and_close(business_id, customer_id, currency, amount):
    try:
        ledger.post(business_id=business_id, customer_id=customer_id, currency=currency, amount=amount,
                    is_credit=True, actor=ACTOR)
    finally:
        connection.close()


@postgres_only
def test_a_follower_that_waits_too_long_posts_alone(business, make_customer, coalescing):
    coalescing.WALLETS_COALESCE_WAIT_S = 0.2
    customer = make_customer()
    ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=1, is_credit=True,
                actor=ACTOR)
    wallet = Wallet.objects.get(customer_id=customer.id, currency="USD")
    posters = Posters(business.id, customer.id)
    with held(lock_wallet_row(wallet.id)):
        posters.start(**credit(1, reason="leader"))
        posters.start(**credit(2, reason="impatient"))
        # It gave up its place and waits on the row lock itself, the normal way.
        wait_for(lambda: queued(posters.key) == 0, "the follower to leave the queue", timeout=5)
    answers = posters.join()
    assert sorted(a.balance for a in answers) in ([2, 4], [3, 4])
    assert coalesce._queues == {}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite pass checks this")
def test_sqlite_posts_alone(business, make_customer, coalescing):
    customer = make_customer()
    before = Counter(coalesce.batch_sizes)
    result = ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=5,
                         is_credit=True, actor=ACTOR)
    assert result.balance == 5
    assert coalesce.batch_sizes == before
