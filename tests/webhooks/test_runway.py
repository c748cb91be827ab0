"""``wallet.runway_low`` with a controlled clock: the check is given ``now``, so the 14-day window
slides over entries posted in the test without waiting for days."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from tests.ledger.test_operations_concurrency import run_together
from wallets import ledger
from wallets.models import Wallet, WalletRunway, WebhookEvent
from wallets.services.actors import Actor
from wallets.services.webhooks import endpoint_create
from wallets.webhooks import runway

DAY = datetime.timedelta(days=1)
ACTOR = Actor.command("test")


@pytest.fixture
def endpoint(business):
    return endpoint_create(business_id=business.id, url="https://hooks.example.com/wallets")


def runway_events(**filters):
    return list(WebhookEvent.objects.filter(type="wallet.runway_low", **filters).order_by("created_at"))


def test_the_figures():
    assert runway.Runway(balance=600, burn=1400).burn_per_day == 100
    assert runway.Runway(balance=600, burn=1400).days_left == 6.0
    assert runway.Runway(balance=600, burn=1400).low(7)
    assert not runway.Runway(balance=700, burn=1400).low(7)  # exactly 7 days left is not "within 7"
    assert runway.Runway(balance=0, burn=1).days_left == 0.0
    assert runway.Runway(balance=5000, burn=0).days_left is None
    assert not runway.Runway(balance=0, burn=0).low(7)  # nothing spent: it never empties
    assert runway.Runway(balance=10, burn=21).burn_per_day == 2  # 1.5 rounds half-even to 2


def test_an_episode_starts_once_and_ends_when_the_window_moves_on(business, customer, post, endpoint):
    now = timezone.now()
    post(customer, 10_000)
    post(customer, 700, credit=False)
    post(customer, 700, credit=False)
    assert runway.check_due(now=now + datetime.timedelta(minutes=1)).episodes_started == 0  # 86 days left
    post(customer, 8000, credit=False)  # 600 left, 9400 spent in 14 days: under a day
    result = runway.check_due(now=now + datetime.timedelta(minutes=2))
    assert (result.checked, result.episodes_started) == (1, 1)
    (event,) = runway_events()
    assert event.customer_id == customer.id
    assert event.currency == "USD"
    assert event.data == {"balance": 600, "days_left": 0.89, "burn_per_day": 671, "runway_days": 7}
    # Still low at the next checks: no second event.
    assert runway.check_due(now=now + datetime.timedelta(minutes=3)).episodes_started == 0
    post(customer, 1, credit=False)
    assert runway.check_due(now=now + datetime.timedelta(minutes=4)).episodes_started == 0
    assert len(runway_events()) == 1
    # Fifteen days on, the window holds no spending: the episode ends, without an event.
    ended = runway.check_due(now=now + 15 * DAY)
    assert ended.episodes_ended == 1
    assert not WalletRunway.objects.get(wallet__currency="USD").low
    assert len(runway_events()) == 1
    # Nothing changed since: the wallet is not checked again.
    assert runway.check_due(now=now + 16 * DAY).checked == 0


def test_a_new_episode_after_one_ends(customer, post, endpoint):
    now = timezone.now()
    post(customer, 1000)
    post(customer, 900, credit=False)
    assert runway.check_due(now=now + datetime.timedelta(minutes=1)).episodes_started == 1
    assert runway.check_due(now=now + 15 * DAY).episodes_ended == 1
    post(customer, 50, credit=False)  # spending again: checked at a time whose window holds it
    assert runway.check_due(now=now + datetime.timedelta(hours=1)).episodes_started == 1
    assert len(runway_events()) == 2


def test_the_business_s_runway_days(business, customer, post, endpoint):
    now = timezone.now()
    post(customer, 14_000)
    post(customer, 1400, credit=False)  # 100 a day, 12600 left: 126 days
    assert runway.check_due(now=now + datetime.timedelta(minutes=1)).episodes_started == 0
    business.runway_days = 200
    business.save(update_fields=["runway_days"])
    post(customer, 1, credit=False)
    assert runway.check_due(now=now + datetime.timedelta(minutes=2)).episodes_started == 1
    assert runway_events()[0].data["runway_days"] == 200


def test_what_is_not_spending(business, customer, post, endpoint):
    now = timezone.now()
    top_up = post(customer, 5000).entry
    ledger.reverse(business_id=business.id, customer_id=customer.id, entry_id=top_up.id, actor=ACTOR,
                   amount=4000, reason="top-up undone")  # a credit reversed is not burn
    soon = timezone.now() + datetime.timedelta(seconds=1)
    post(customer, 3000, expires_at=soon)
    ledger.sweep_due(now=soon + datetime.timedelta(seconds=1))  # 3000 expired: not burn either
    spent = post(customer, 900, credit=False).entry
    ledger.reverse(business_id=business.id, customer_id=customer.id, entry_id=spent.id, actor=ACTOR,
                   amount=300, reason="refund")  # 300 of the 900 given back
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert runway.burns([wallet], now + datetime.timedelta(minutes=5)) == {wallet.id: 600}


def test_businesses_without_an_endpoint_are_not_checked(customer, post):
    post(customer, 1000)
    post(customer, 990, credit=False)
    assert runway.check_due(now=timezone.now() + datetime.timedelta(minutes=1)).checked == 0
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite serializes every writer: nothing races")
def test_two_workers_checking_at_once_write_one_event(customer, post, endpoint):
    post(customer, 1000)
    post(customer, 990, credit=False)
    at = timezone.now() + datetime.timedelta(minutes=1)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    results = run_together(4, lambda i: runway.check([wallet], now=at))
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(started for started, _ in results) == 1
    assert len(runway_events()) == 1
