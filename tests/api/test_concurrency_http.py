"""Concurrent HTTP requests against a live server on PostgreSQL: one idempotency key posts once,
the rest replay, and no request ever gets a 500."""

import itertools
import threading
from collections import Counter

import httpx
import pytest
from django.db import connection

from wallets.models import LedgerEntry, Wallet

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serializes every writer (BEGIN IMMEDIATE): there are no concurrent row locks to prove",
    ),
]


def post_together(live_server, raw_key: str, bodies: list[dict]) -> list[httpx.Response]:
    """POST every body to the customer's ledger at the same moment, one thread and client each."""
    barrier = threading.Barrier(len(bodies))
    responses: list = [None] * len(bodies)

    def send(i):
        with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=60) as c:
            barrier.wait(timeout=30)
            path, body = bodies[i]
            responses[i] = c.post(path, json=body)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r is not None for r in responses), "a request never completed"
    return responses


def test_concurrent_requests_with_one_key_post_once_and_replay(live_server, api, customer):
    path = f"/customers/{customer.id}/wallets/ledger-entries"
    body = {"amount": 250, "currency": "USD", "entry_type": "credit", "idempotency_key": "pay-1", "reason": "r"}

    responses = post_together(live_server, api.raw_key, [(path, body)] * 10)

    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert Counter(r.headers.get("Idempotent-Replayed") for r in responses) == Counter({"true": 9, None: 1})
    assert len({r.text for r in responses}) == 1
    assert LedgerEntry.objects.filter(customer=customer, idempotency_key="pay-1").count() == 1
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 250


def test_one_key_in_two_currencies_at_once(live_server, api, customer):
    path = f"/customers/{customer.id}/wallets/ledger-entries"
    for round_ in range(5):
        key = f"x-{round_}"
        bodies = [
            (path, {"amount": 10, "currency": c, "entry_type": "credit", "idempotency_key": key})
            for c in ("USD", "INR")
        ]
        responses = post_together(live_server, api.raw_key, bodies)
        assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 422)
        assert refused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert LedgerEntry.objects.filter(customer=customer, idempotency_key=key).count() == 1
    assert sum(Wallet.objects.filter(customer=customer).values_list("balance", flat=True)) == 50


def test_concurrent_credits_debits_and_overdrafts_over_http(live_server, api, customer, post):
    post(customer, 300)
    path = f"/customers/{customer.id}/wallets/ledger-entries"
    bodies = [(path, {"amount": 100, "currency": "USD", "entry_type": "debit"}) for _ in range(6)]
    bodies += [(path, {"amount": 50, "currency": "USD", "entry_type": "credit"}) for _ in range(4)]

    responses = post_together(live_server, api.raw_key, bodies)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 400}, [r.text for r in responses]
    assert all(r.json()["code"] == "INSUFFICIENT_WALLET_FUNDS" for r in responses if r.status_code == 400)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    debits_done = sum(
        1 for r, (_, b) in zip(responses, bodies, strict=True) if r.status_code == 200 and b["entry_type"] == "debit"
    )
    assert wallet.balance == 300 + 4 * 50 - 100 * debits_done >= 0
    entries = list(LedgerEntry.objects.filter(wallet=wallet).order_by("sequence"))
    assert len(entries) == 1 + 4 + debits_done
    for previous, current in itertools.pairwise(entries):
        assert current.before_balance == previous.after_balance
    assert entries[-1].after_balance == wallet.balance
