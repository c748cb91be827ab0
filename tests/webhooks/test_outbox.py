"""The outbox: the engine writes a step's events in the step's own transaction, so an event exists
if and only if its cause committed, and only for businesses with an enabled endpoint."""

import datetime

import pytest
from django.utils import timezone

from wallets import ledger
from wallets.exceptions import InsufficientFunds
from wallets.ledger.posting import Posting
from wallets.models import LedgerEntry, WebhookEvent
from wallets.services.actors import Actor
from wallets.services.policies import currency_policy_set_low_balance
from wallets.services.webhooks import endpoint_create, endpoint_update

ACTOR = Actor.command("test")
CREATED = "wallet.ledger_entry.created"


@pytest.fixture
def endpoint(business):
    return endpoint_create(business_id=business.id, url="https://hooks.example.com/wallets")


def types(**filters):
    return list(WebhookEvent.objects.filter(**filters).order_by("created_at", "type").values_list("type", flat=True))


def test_no_endpoint_no_events(customer, post):
    post(customer, 500)
    post(customer, 200, credit=False)
    assert LedgerEntry.objects.count() == 2
    assert WebhookEvent.objects.count() == 0


def test_a_disabled_endpoint_is_no_endpoint(business, customer, post, endpoint):
    endpoint_update(business_id=business.id, endpoint_id=endpoint.id, disabled=True)
    post(customer, 500)
    assert WebhookEvent.objects.count() == 0


def test_one_event_per_entry_with_its_own_id(business, customer, post, endpoint):
    for amount in (1500, 700, 300):
        post(customer, amount)
    entries = list(LedgerEntry.objects.values_list("id", flat=True))
    events = WebhookEvent.objects.filter(type=CREATED)
    assert sorted(events.values_list("entry_id", flat=True)) == sorted(entries)
    assert len(set(events.values_list("id", flat=True))) == 3
    assert all(e.id.startswith("evt_") and e.business_id == business.id for e in events)
    assert {(e.customer_id, e.currency) for e in events} == {(customer.id, "USD")}


def test_refused_replayed_and_rehearsed_postings_write_no_event(customer, post, endpoint):
    post(customer, 100, idempotency_key="k1")
    assert WebhookEvent.objects.filter(type=CREATED).count() == 1
    with pytest.raises(InsufficientFunds):
        post(customer, 10_000, credit=False)
    replay = post(customer, 100, idempotency_key="k1")
    assert replay.replayed
    ledger.rehearse(ledger.post_in_transaction, business_id=customer.business_id, customer_id=customer.id,
                    currency="USD", amount=50, is_credit=True, actor=ACTOR)
    assert WebhookEvent.objects.filter(type=CREATED).count() == 1
    assert LedgerEntry.objects.count() == 1


def test_balance_low_once_per_crossing_and_recovered_on_the_way_back(business, customer, post, endpoint):
    currency_policy_set_low_balance(business_id=business.id, currency="USD", low_balance_below=1000)
    post(customer, 2000)  # 0 -> 2000: a first credit is no recovery
    assert types(type__startswith="wallet.balance") == []
    post(customer, 500, credit=False)  # 1500: still above
    post(customer, 600, credit=False)  # 900: crosses below
    post(customer, 100, credit=False)  # 800: stays low, no repeat
    post(customer, 100)  # 900: still low
    post(customer, 100)  # 1000: at the threshold is recovered
    post(customer, 1, credit=False)  # 999: low again
    events = list(WebhookEvent.objects.filter(type__startswith="wallet.balance").order_by("created_at", "id"))
    by_entry = {e.entry_id: e for e in events}
    chain = list(LedgerEntry.objects.filter(customer=customer).order_by("sequence"))
    expected = [("wallet.balance_low", 900), ("wallet.balance_recovered", 1000), ("wallet.balance_low", 999)]
    got = [(by_entry[e.id].type, by_entry[e.id].data["balance"]) for e in chain if e.id in by_entry]
    assert got == expected
    assert all(e.data["threshold"] == 1000 for e in events)


def test_the_default_threshold_applies_without_a_policy(customer, post, endpoint, settings):
    settings.WALLET_LOW_BALANCE_DEFAULT = "10"  # USD 10.00
    post(customer, 1500)
    post(customer, 600, credit=False)
    (low,) = WebhookEvent.objects.filter(type="wallet.balance_low")
    assert low.data == {"balance": 900, "threshold": 1000}


def test_a_batch_writes_every_entry_s_events(business, make_customer, endpoint):
    customers = [make_customer() for _ in range(3)]
    result = ledger.post_many(business_id=business.id, actor=ACTOR, postings=[
        Posting(customer_id=c.id, request=ledger.Request("EUR", 100 * (i + 1), True))
        for i, c in enumerate(customers)
    ])
    assert result.written
    assert all(o.values is not None for o in result.outcomes)
    assert WebhookEvent.objects.filter(type=CREATED).count() == 3
    assert set(WebhookEvent.objects.values_list("customer_id", flat=True)) == {c.id for c in customers}


def test_hold_events(business, customer, post, endpoint):
    post(customer, 5000)
    common = {"business_id": business.id, "customer_id": customer.id, "actor": ACTOR}
    week = timezone.now() + datetime.timedelta(days=7)
    first = ledger.create_hold(currency="USD", amount=1000, expires_at=week, **common).hold
    second = ledger.create_hold(currency="USD", amount=500, expires_at=week, **common).hold
    ledger.capture_hold(hold_id=first.id, amount=400, **common)
    ledger.void_hold(hold_id=second.id, **common)
    hold_events = list(WebhookEvent.objects.filter(hold_id__isnull=False).order_by("created_at", "type"))
    assert [(e.type, e.hold_id, e.data["status"]) for e in hold_events] == [
        ("wallet.hold.created", first.id, "active"),
        ("wallet.hold.created", second.id, "active"),
        ("wallet.hold.captured", first.id, "captured"),
        ("wallet.hold.voided", second.id, "voided"),
    ]
    assert hold_events[2].data["captured_amount"] == 400
    capture = LedgerEntry.objects.get(hold_id=first.id)
    assert WebhookEvent.objects.filter(type=CREATED, entry_id=capture.id).count() == 1


def test_expiry_writes_credit_expired_with_its_entry(business, customer, post, endpoint):
    soon = timezone.now() + datetime.timedelta(seconds=1)
    grant = post(customer, 800, expires_at=soon).entry
    later = soon + datetime.timedelta(seconds=5)
    ledger.sweep_due(now=later)
    expiry = LedgerEntry.objects.get(expired_grant_id=grant.id)
    (expired,) = WebhookEvent.objects.filter(type="wallet.credit.expired")
    assert expired.entry_id == expiry.id
    assert expired.data == {"credit_entry_id": grant.id, "amount": 800}
    assert WebhookEvent.objects.filter(type=CREATED, entry_id=expiry.id).count() == 1
