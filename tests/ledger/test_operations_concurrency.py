"""The engine's movements beyond a plain posting, raced on PostgreSQL: real threads, each with its own
connection, released together by a barrier. Reversals, captures, payments and a grant's expiry must
serialize on the wallet's lock: no entry over-reversed, no hold captured twice, no balance below zero,
no debit funded by money that has expired; and the books prove it (``ledger_drift``)."""

import datetime
import threading
import time

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone

from tests.support import oracle
from wallets import ledger
from wallets.exceptions import (
    HoldNotActive,
    InsufficientFunds,
    ReversalExceedsOriginal,
)
from wallets.models import CreditGrant, GrantDraw, Hold, LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serializes every writer (BEGIN IMMEDIATE): there are no concurrent row locks to prove",
    ),
]
ACTOR = Actor.command("concurrency-test")
THREADS = 8


@pytest.fixture(autouse=True)
def books_balance():
    yield
    assert ledger_drift() == []
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []


def run_together(count, work):
    """Run ``work(i)`` in ``count`` threads started at once; each thread's result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # the test inspects what each thread saw
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread hung"
    return results


def ids(customer):
    return {"business_id": customer.business_id, "customer_id": customer.id}


def post(customer, amount, credit=True, **kwargs):
    return ledger.post(**ids(customer), currency="USD", amount=amount, is_credit=credit, actor=ACTOR, **kwargs)


def wallet(customer):
    return Wallet.objects.get(customer=customer, currency="USD")


def entries_sum(customer):
    rows = LedgerEntry.objects.filter(customer=customer, currency="USD")
    credits = rows.filter(is_credit=True).aggregate(t=Sum("amount"))["t"] or 0
    debits = rows.filter(is_credit=False).aggregate(t=Sum("amount"))["t"] or 0
    return credits - debits


def test_concurrent_reversals_of_one_entry_never_exceed_it(customer):
    post(customer, 1000)
    original = post(customer, 500).entry
    amounts = [100, 150, 200, 50, 120, 90, 60, 130]

    results = run_together(
        THREADS, lambda i: ledger.reverse(**ids(customer), entry_id=original.id, actor=ACTOR, amount=amounts[i])
    )

    for result in results:
        assert isinstance(result, ledger.Result | ReversalExceedsOriginal), repr(result)
    reversed_total = LedgerEntry.objects.filter(reversal_of=original).aggregate(t=Sum("amount"))["t"]
    succeeded = sum(amounts[i] for i, r in enumerate(results) if isinstance(r, ledger.Result))
    assert reversed_total == succeeded <= 500
    assert any(isinstance(r, ReversalExceedsOriginal) for r in results)  # 900 asked, 500 there
    assert wallet(customer).balance == 1500 - reversed_total == entries_sum(customer)


def test_concurrent_full_reversals_of_a_debit_apply_once(customer):
    post(customer, 300)
    spent = post(customer, 120, credit=False).entry

    results = run_together(THREADS, lambda i: ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR))

    ok = [r for r in results if isinstance(r, ledger.Result)]
    assert len(ok) == 1
    assert all(isinstance(r, ReversalExceedsOriginal) for r in results if r not in ok)
    assert wallet(customer).balance == 300


def test_concurrent_captures_of_one_hold_succeed_exactly_once(customer):
    post(customer, 1000)
    hold = ledger.create_hold(
        **ids(customer), currency="USD", amount=400, actor=ACTOR, expires_at=timezone.now() + datetime.timedelta(days=1)
    ).hold

    results = run_together(
        THREADS, lambda i: ledger.capture_hold(**ids(customer), hold_id=hold.id, actor=ACTOR, amount=100 + i)
    )

    ok = [r for r in results if isinstance(r, ledger.Result)]
    assert len(ok) == 1, results
    assert all(isinstance(r, HoldNotActive) for r in results if r not in ok), results
    captured = Hold.objects.get(pk=hold.id)
    assert captured.status == "captured"
    assert captured.captured_amount == ok[0].entry.amount
    after = wallet(customer)
    assert after.balance == 1000 - captured.captured_amount
    assert after.held_balance == 0
    assert LedgerEntry.objects.filter(hold=hold).count() == 1


def test_concurrent_capture_and_void_of_one_hold_resolve_it_once(customer):
    post(customer, 1000)
    hold = ledger.create_hold(
        **ids(customer), currency="USD", amount=250, actor=ACTOR, expires_at=timezone.now() + datetime.timedelta(days=1)
    ).hold

    def work(i):
        if i % 2:
            return ledger.void_hold(**ids(customer), hold_id=hold.id, actor=ACTOR)
        return ledger.capture_hold(**ids(customer), hold_id=hold.id, actor=ACTOR)

    results = run_together(THREADS, work)

    assert sum(isinstance(r, ledger.Result) for r in results) == 1, results
    assert all(isinstance(r, ledger.Result | HoldNotActive) for r in results), results
    resolved = Hold.objects.get(pk=hold.id)
    expected = 1000 - (250 if resolved.status == "captured" else 0)
    assert resolved.status in {"captured", "voided"}
    assert wallet(customer).balance == expected
    assert wallet(customer).held_balance == 0


def test_concurrent_payments_never_apply_more_than_the_balance(customer):
    post(customer, 1000)
    ledger.create_hold(
        **ids(customer), currency="USD", amount=150, actor=ACTOR, expires_at=timezone.now() + datetime.timedelta(days=1)
    )

    results = run_together(
        THREADS,
        lambda i: ledger.pay(**ids(customer), currency="USD", amount=200, reference_object_id=f"inv_{i}", actor=ACTOR),
    )

    for result in results:
        assert isinstance(result, ledger.Result), repr(result)
    applied = sum(r.payment.applied for r in results)
    assert applied == 850  # all that was available: 1000 less the hold
    assert all(0 <= r.payment.applied <= r.payment.requested == 200 for r in results)
    after = wallet(customer)
    assert after.balance == 150 == entries_sum(customer)
    assert after.balance >= after.held_balance == 150


def test_debits_racing_a_grants_expiry_are_never_funded_by_expired_money(customer):
    """A grant expires while threads debit across its expiry and a sweeper runs: what expired left
    the wallet exactly once, and no debit took any of it."""
    post(customer, 300)
    lifetime = 0.6
    expires_at = timezone.now() + datetime.timedelta(seconds=lifetime)
    grant = post(customer, 500, expires_at=expires_at).entry
    started = time.monotonic()

    def work(i):
        if i == 0:
            swept = []
            while time.monotonic() - started < lifetime + 0.6:
                swept.append(ledger.sweep_due())
                time.sleep(0.05)
            return swept
        outcomes = []
        # each thread debits before, across and after the expiry instant
        while time.monotonic() - started < lifetime + 0.5:
            try:
                outcomes.append(post(customer, 10, credit=False))
            except InsufficientFunds as refused:
                outcomes.append(refused)
            time.sleep(0.1)
        return outcomes

    results = run_together(6, work)

    for result in results:
        assert isinstance(result, list), repr(result)
    for outcomes in results[1:]:
        for outcome in outcomes:
            assert isinstance(outcome, ledger.PostingResult | InsufficientFunds), repr(outcome)
    grant_row = CreditGrant.objects.get(pk=grant.id)
    paid = (
        GrantDraw.objects.filter(grant_id=grant.id, entry__expired_grant__isnull=True).aggregate(t=Sum("amount"))["t"]
        or 0
    )
    assert grant_row.remaining == 0  # it is past its expiry now
    # the race was real: the grant paid debits before its expiry, and some of it expired
    assert paid > 0
    assert grant_row.expired_amount > 0
    after_expiry = LedgerEntry.objects.filter(
        customer=customer, is_credit=False, expired_grant__isnull=True, created_at__gte=expires_at
    )
    assert after_expiry.exists()
    assert grant_row.expired_amount + paid == 500
    assert timezone.now() > expires_at
    # no debit after the expiry drew from the grant
    late = GrantDraw.objects.filter(grant_id=grant.id, entry__created_at__gte=expires_at, amount__gt=0)
    assert not late.exclude(entry__expired_grant_id=grant.id).exists()
    debits = (
        LedgerEntry.objects.filter(customer=customer, is_credit=False, expired_grant__isnull=True).aggregate(
            t=Sum("amount")
        )["t"]
        or 0
    )
    expired = LedgerEntry.objects.filter(expired_grant_id=grant.id).aggregate(t=Sum("amount"))["t"] or 0
    assert expired == grant_row.expired_amount
    assert LedgerEntry.objects.filter(expired_grant_id=grant.id).count() <= 1
    after = wallet(customer)
    assert after.balance == 800 - debits - expired == entries_sum(customer)
    assert after.balance >= 0
    assert after.granted_balance == 0
