"""Concurrent postings on PostgreSQL: real threads, each with its own database connection, released
together by a barrier. Row locks must serialize them so that no money is lost or invented."""

import random
import threading
from collections import Counter

import pytest
from django.db import connection, connections

from tests.support.locks import wait_for_a_lock_wait
from wallets import ledger, services
from wallets.exceptions import IdempotencyKeyReused, InsufficientFunds
from wallets.models import Customer, LedgerEntry, Wallet
from wallets.services.actors import Actor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serializes every writer (BEGIN IMMEDIATE): there are no concurrent row locks to prove",
    ),
]


def run_together(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads started at once; return each result or raised exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # the test inspects what each thread saw
            results[i] = exc
        finally:
            connections.close_all()  # this thread's connection; the test database must be droppable

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a posting thread hung"
    return results


def post(customer, amount, currency="USD", credit=True, **kwargs):
    return ledger.post(
        business_id=customer.business_id,
        customer_id=customer.id,
        currency=currency,
        amount=amount,
        is_credit=credit,
        actor=Actor.command("concurrency-test"),
        **kwargs,
    )


def assert_wallet_is_consistent(wallet: Wallet) -> None:
    wallet.refresh_from_db()
    entries = list(LedgerEntry.objects.filter(wallet=wallet).order_by("sequence"))
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    running = 0
    for entry in entries:
        assert entry.before_balance == running, f"chain broken at sequence {entry.sequence}"
        running += entry.signed_amount
        assert entry.after_balance == running >= 0
    assert wallet.balance == running
    assert wallet.entry_count == len(entries)


def test_hammering_one_wallet_loses_and_invents_nothing(customer):
    post(customer, 1000)
    threads, per_thread = 8, 25

    def work(i):
        rng = random.Random(i)
        done = []
        for _ in range(per_thread):
            credit = rng.random() < 0.45
            amount = rng.randint(1, 400)
            try:
                post(customer, amount, credit=credit)
                done.append(amount if credit else -amount)
            except InsufficientFunds:
                done.append(0)
        return done

    results = run_together(threads, work)

    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert_wallet_is_consistent(wallet)
    moved = sum(sum(r) for r in results)
    assert wallet.balance == 1000 + moved
    posted = sum(1 for r in results for x in r if x)
    assert wallet.entry_count == 1 + posted
    assert any(x == 0 for r in results for x in r), "no overdraft was attempted; the test proves less than it says"


def test_postings_to_several_wallets_at_once_stay_consistent(customer):
    def work(i):
        currency = ["USD", "INR", "EUR"][i % 3]
        for n in range(20):
            post(customer, n + 1, currency)
            if n % 3 == 2:
                post(customer, n, currency, credit=False)
        return currency

    results = run_together(6, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    for wallet in Wallet.objects.filter(customer=customer):
        assert_wallet_is_consistent(wallet)
    assert Wallet.objects.filter(customer=customer, currency="EUR").count() == 1


def test_one_idempotency_key_posts_exactly_once(customer):
    for round_ in range(3):
        key = f"order-{round_}"
        results = run_together(8, lambda i, key=key: post(customer, 500, idempotency_key=key, reason="r"))
        assert not [r for r in results if isinstance(r, Exception)], results
        assert LedgerEntry.objects.filter(idempotency_key=key).count() == 1
        assert Counter(r.replayed for r in results) == Counter({True: 7, False: 1})
        assert len({(r.balance, r.updated_at, r.entry.id) for r in results}) == 1
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert wallet.balance == 1500
    assert_wallet_is_consistent(wallet)


def test_one_key_in_two_currencies_at_once_posts_once(customer):
    for round_ in range(6):
        key = f"cross-{round_}"
        results = run_together(2, lambda i, key=key: post(customer, 100, ["USD", "INR"][i], idempotency_key=key))
        entries = list(LedgerEntry.objects.filter(idempotency_key=key))
        assert len(entries) == 1
        winner = entries[0].currency
        for currency, result in zip(["USD", "INR"], results, strict=True):
            if currency == winner:
                assert not isinstance(result, Exception), result
                assert not result.replayed, result
            else:
                assert isinstance(result, IdempotencyKeyReused), result
    for wallet in Wallet.objects.filter(customer=customer):
        assert_wallet_is_consistent(wallet)
    assert sum(Wallet.objects.filter(customer=customer).values_list("balance", flat=True)) == 600


def test_first_credits_in_a_new_currency_at_once_make_one_wallet(customer):
    results = run_together(6, lambda i: post(customer, 10, "GBP"))
    assert not [r for r in results if isinstance(r, Exception)], results
    wallet = Wallet.objects.get(customer=customer, currency="GBP")
    assert wallet.balance == 60
    assert_wallet_is_consistent(wallet)


def test_creating_one_email_at_once_makes_one_customer(business):
    def work(i):
        email = "Race@Example.com" if i % 2 else "race@example.com"
        return services.customer_create(business_id=business.id, email=email, name=f"R{i}")

    results = run_together(6, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({customer.id for customer, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    customer = Customer.objects.get(business=business)
    assert Wallet.objects.filter(customer=customer).count() == 2


# --- Deterministic interleavings: the first posting holds its transaction open until told ----------


def hold_first_posting_then_race(customer, first_currency: str, second_currency: str):
    """T1 posts with key K and keeps its transaction open; T2 posts with K and must wait for it
    (on the wallet row, or on the unique key); then T1 commits. Returns what T2 got."""
    from django.db import transaction

    from wallets.ledger import post_in_transaction as ledger_entry_post_in_transaction

    posted, release = threading.Event(), threading.Event()
    outcome = {}

    def first():
        try:
            with transaction.atomic():
                ledger_entry_post_in_transaction(
                    business_id=customer.business_id,
                    customer_id=customer.id,
                    currency=first_currency,
                    amount=100,
                    is_credit=True,
                    actor=Actor.command("t1"),
                    idempotency_key="K",
                )
                posted.set()
                assert release.wait(timeout=30)
        finally:
            connections.close_all()

    def second():
        try:
            outcome["result"] = post(customer, 100, second_currency, idempotency_key="K")
        except Exception as exc:
            outcome["result"] = exc
        finally:
            connections.close_all()

    t1 = threading.Thread(target=first)
    t1.start()
    assert posted.wait(timeout=30)
    t2 = threading.Thread(target=second)
    t2.start()
    try:
        wait_for_a_lock_wait(what="the second posting")
    finally:
        release.set()
        t1.join(timeout=30)
        t2.join(timeout=30)
    return outcome["result"]


def test_second_posting_with_the_key_in_the_same_currency_waits_then_replays(customer):
    result = hold_first_posting_then_race(customer, "USD", "USD")
    assert not isinstance(result, Exception), result
    assert result.replayed
    assert result.balance == 100
    assert LedgerEntry.objects.filter(idempotency_key="K").count() == 1


def test_second_posting_with_the_key_in_another_currency_waits_then_is_refused(customer):
    # T2 locks another wallet, finds no prior entry, and blocks on the unique key until T1 commits;
    # the unique violation then makes it look again and refuse (a 422), never a 500.
    result = hold_first_posting_then_race(customer, "USD", "INR")
    assert isinstance(result, IdempotencyKeyReused), result
    assert list(LedgerEntry.objects.filter(idempotency_key="K").values_list("currency", flat=True)) == ["USD"]
    assert Wallet.objects.get(customer=customer, currency="INR").balance == 0
