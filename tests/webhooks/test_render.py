"""Event bodies (``wallets.webhooks.render``): Dodo's envelope as compact JSON, the data of each
type, and a batch rendered with a fixed handful of queries whatever its size."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wallets import ledger
from wallets.models import WebhookEvent
from wallets.services import webhooks as endpoints
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create
from wallets.webhooks import render

WHEN = datetime.datetime(2026, 12, 1, 10, 30, 0, 123456, tzinfo=datetime.UTC)


def event(business, type_, **fields):
    return WebhookEvent(business=business, type=type_, created_at=WHEN, customer_id="cus_1", currency="USD",
                        **fields)


def body(business, type_, **fields):
    text = render.render(event(business, type_, **fields))
    assert " " not in text.replace("A test event", "").split('"message"')[0]  # compact
    return json.loads(text)


@pytest.mark.django_db
def test_the_envelope(business):
    rendered = body(business, "wallet.balance_low", entry_id="wle_1", data={"balance": 50, "threshold": 100})
    assert rendered == {
        "business_id": business.id, "type": "wallet.balance_low", "timestamp": "2026-12-01T10:30:00.123456Z",
        "data": {"payload_type": "WalletBalanceAlert", "customer_id": "cus_1", "currency": "USD", "balance": 50,
                 "threshold": 100, "ledger_entry_id": "wle_1"},
    }


@pytest.mark.django_db
def test_the_facts_of_each_alert(business):
    recovered = body(business, "wallet.balance_recovered", entry_id="wle_2", data={"balance": 150, "threshold": 100})
    assert recovered["data"]["payload_type"] == "WalletBalanceAlert"
    assert recovered["data"]["balance"] == 150
    runway = body(business, "wallet.runway_low", data={"days_left": 2.5, "burn_per_day": 40, "balance": 100})
    assert runway["data"] == {"payload_type": "WalletRunwayAlert", "customer_id": "cus_1", "currency": "USD",
                              "balance": 100, "days_left": 2.5, "burn_per_day": 40}
    expiry = body(business, "wallet.credit.expired", entry_id="wle_3", data={"credit_entry_id": "wle_0", "amount": 70})
    assert expiry["data"] == {"payload_type": "CreditExpiry", "customer_id": "cus_1", "currency": "USD",
                              "amount": 70, "credit_entry_id": "wle_0", "ledger_entry_id": "wle_3"}
    test = body(business, "webhook.test", data={"endpoint_id": "whk_1"})
    assert test["data"]["payload_type"] == "WebhookTest"
    assert test["data"]["endpoint_id"] == "whk_1"
    assert test["data"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_rendered_with_a_few_queries(business, make_customer, django_user_model):
    endpoints.endpoint_create(business_id=business.id, url="http://127.0.0.1:9/hooks")
    key, _ = api_key_create(business=business, name="billing")
    user = django_user_model.objects.create_user("ops", password="x")
    actors = [Actor.command("import"), Actor.api_key(key.id), Actor.user(user.pk)]
    for i in range(12):
        customer = make_customer(email=f"r{i}@example.com")
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=100 + i, is_credit=True,
                    actor=actors[i % 3])
        held = ledger.create_hold(business_id=business.id, customer_id=customer.id, currency="USD", amount=10,
                                  actor=actors[0], expires_at=timezone.now() + datetime.timedelta(days=1))
        ledger.void_hold(business_id=business.id, customer_id=customer.id, hold_id=held.hold.id, actor=actors[0])
    events = list(WebhookEvent.objects.order_by("created_at", "id"))
    assert len(events) >= 12 * 3
    with CaptureQueriesContext(connection) as queries:
        bodies = render.render_many(events)
    assert len(queries) <= 4  # entries, holds, users, keys
    entries = [json.loads(bodies[e.id])["data"] for e in events if e.type == "wallet.ledger_entry.created"]
    names = {e["actor"]["type"]: e["actor"]["name"] for e in entries}
    assert names["user"] == "ops"
    assert "billing" in names["api_key"]
    voided = [json.loads(bodies[e.id])["data"] for e in events if e.type == "wallet.hold.voided"]
    assert len(voided) == 12
    assert {v["status"] for v in voided} == {"voided"}
    created = [json.loads(bodies[e.id])["data"] for e in events if e.type == "wallet.hold.created"]
    assert {c["status"] for c in created} == {"active"}  # what it was then, not what it is now
