"""Holds and payments under real concurrent HTTP requests on PostgreSQL: a hold is captured once,
payments never spend more than the balance, one reference pays once; the books prove after each."""

import datetime
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from tests.api.test_concurrency_http import post_together
from wallets import ledger
from wallets.models import Hold, LedgerEntry, Wallet, WalletPayment
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serializes every writer (BEGIN IMMEDIATE): there are no concurrent row locks to prove",
    ),
]


def test_concurrent_captures_of_one_hold_capture_once(live_server, api, customer, post):
    post(customer, 1000)
    hold = ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=600,
                              actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(days=1)).hold
    path = f"/customers/{customer.id}/wallets/holds/{hold.id}/capture"

    responses = post_together(live_server, api.raw_key, [(path, {})] * 8)

    assert Counter(r.status_code for r in responses) == Counter({200: 1, 409: 7}), [r.text for r in responses]
    assert all(r.json()["code"] == "HOLD_NOT_ACTIVE" for r in responses if r.status_code == 409)
    assert LedgerEntry.objects.filter(hold=hold).count() == 1
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert (wallet.balance, wallet.held_balance) == (400, 0)
    assert Hold.objects.get().status == "captured"
    assert ledger_drift() == []


def test_concurrent_payments_never_spend_more_than_the_balance(live_server, api, customer, post):
    post(customer, 1000)
    path = f"/customers/{customer.id}/wallets/payments"
    bodies = [(path, {"currency": "USD", "amount": 300, "reference_object_id": f"inv_{n}"}) for n in range(8)]

    responses = post_together(live_server, api.raw_key, bodies)

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    applied = [r.json()["applied"] for r in responses]
    assert sum(applied) == 1000
    assert sorted(applied) == [0, 0, 0, 0, 100, 300, 300, 300]
    assert all(r.json()["remaining"] == 300 - r.json()["applied"] for r in responses)
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0
    assert LedgerEntry.objects.filter(event_type="payment").count() == 4
    assert ledger_drift() == []


def test_concurrent_payments_with_one_reference_pay_once(live_server, api, customer, post):
    post(customer, 1000)
    path = f"/customers/{customer.id}/wallets/payments"
    body = {"currency": "USD", "amount": 250, "reference_object_id": "inv_once", "reason": "r"}

    responses = post_together(live_server, api.raw_key, [(path, body)] * 8)

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert Counter(r.headers.get("Idempotent-Replayed") for r in responses) == Counter({"true": 7, None: 1})
    assert len({r.text for r in responses}) == 1
    assert LedgerEntry.objects.filter(event_type="payment").count() == 1
    assert WalletPayment.objects.count() == 1
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 750
    assert ledger_drift() == []


def test_concurrent_holds_never_hold_more_than_the_balance(live_server, api, customer, post):
    post(customer, 1000)
    path = f"/customers/{customer.id}/wallets/holds"

    responses = post_together(live_server, api.raw_key, [(path, {"currency": "USD", "amount": 300})] * 8)

    assert Counter(r.status_code for r in responses) == Counter({200: 3, 400: 5}), [r.text for r in responses]
    assert all(r.json()["code"] == "INSUFFICIENT_WALLET_FUNDS" for r in responses if r.status_code == 400)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert (wallet.balance, wallet.held_balance) == (1000, 900)
    assert ledger_drift() == []


def test_concurrent_holds_with_one_key_hold_once(live_server, api, customer, post):
    post(customer, 1000)
    path = f"/customers/{customer.id}/wallets/holds"
    body = {"currency": "USD", "amount": 300, "idempotency_key": "order-1"}

    responses = post_together(live_server, api.raw_key, [(path, body)] * 8)

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert Counter(r.headers.get("Idempotent-Replayed") for r in responses) == Counter({"true": 7, None: 1})
    assert len({r.json()["id"] for r in responses}) == 1
    assert Wallet.objects.get(customer=customer, currency="USD").held_balance == 300
    assert ledger_drift() == []


def test_a_capture_racing_a_void_resolves_the_hold_once(live_server, api, customer, post):
    post(customer, 1000)
    for _ in range(3):
        hold = ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD",
                                  amount=100, actor=Actor.command("test"),
                                  expires_at=timezone.now() + datetime.timedelta(days=1)).hold
        base = f"/customers/{customer.id}/wallets/holds/{hold.id}"
        responses = post_together(live_server, api.raw_key, [(f"{base}/capture", {}), (f"{base}/void", {})] * 3)
        assert Counter(r.status_code for r in responses) == Counter({200: 1, 409: 5}), [r.text for r in responses]
        hold.refresh_from_db()
        winner = next(r for r in responses if r.status_code == 200).json()
        assert hold.status == winner["status"] in {"captured", "voided"}
        assert LedgerEntry.objects.filter(hold=hold).count() == (1 if hold.status == "captured" else 0)
    assert Wallet.objects.get(customer=customer, currency="USD").held_balance == 0
    assert ledger_drift() == []
