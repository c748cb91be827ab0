"""Balance alerts under concurrent postings on PostgreSQL: real threads, each with its own connection,
released together. The wallet lock orders the entries, and each entry's crossing is decided from its
own before/after balances, so the events match the committed chain exactly: one ``balance_low`` per
downward crossing, one ``balance_recovered`` per way back, one ``ledger_entry.created`` per entry and
none for a refused posting."""

import contextlib

import pytest
from django.db import connection

from tests.ledger.test_operations_concurrency import run_together
from wallets import ledger
from wallets.exceptions import InsufficientFunds
from wallets.models import LedgerEntry, WebhookEvent
from wallets.services.actors import Actor
from wallets.services.policies import currency_policy_set_low_balance
from wallets.services.webhooks import endpoint_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite",
                       reason="SQLite serializes every writer (BEGIN IMMEDIATE): nothing runs concurrently"),
]
ACTOR = Actor.command("concurrency-test")
THRESHOLD = 1000


@pytest.fixture
def alerting(business):
    endpoint_create(business_id=business.id, url="https://hooks.example.com/wallets")
    currency_policy_set_low_balance(business_id=business.id, currency="USD", low_balance_below=THRESHOLD)


def crossings(customer):
    """The crossings of the committed chain, in order: what the events must be."""
    out = []
    for e in LedgerEntry.objects.filter(customer=customer, currency="USD").order_by("sequence"):
        if e.before_balance >= THRESHOLD > e.after_balance:
            out.append(("wallet.balance_low", e.id))
        elif e.before_balance < THRESHOLD <= e.after_balance and e.sequence > 1:
            out.append(("wallet.balance_recovered", e.id))
    return out


def alert_events(customer):
    events = WebhookEvent.objects.filter(customer_id=customer.id, type__startswith="wallet.balance")
    order = dict(LedgerEntry.objects.filter(customer=customer).values_list("id", "sequence"))
    return [(e.type, e.entry_id) for e in sorted(events, key=lambda e: order[e.entry_id])]


def test_racing_debits_cross_once(customer, post, alerting):
    post(customer, 2000)
    results = run_together(16, lambda i: post(customer, 150, credit=False))
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientFunds)]
    assert len(refused) == 16 - 2000 // 150  # 13 × 150 fit in 2000: the last three found too little
    assert [t for t, _ in alert_events(customer)] == ["wallet.balance_low"]
    assert alert_events(customer) == crossings(customer)


def test_racing_credits_and_debits_around_the_threshold_match_the_chain(customer, post, alerting):
    # Each thread debits 200 then credits it back, six times, from 1,100: the first debit of any
    # thread crosses below 1,000, and the balance ends at or above where it began, so the chain
    # crosses both ways whatever the interleaving (debits refused at 0 only raise the end).
    post(customer, 1100)

    def work(i):
        done = []
        for _ in range(6):
            for credit in (False, True):
                with contextlib.suppress(InsufficientFunds):
                    done.append(post(customer, 200, credit=credit).entry.id)
        return done

    results = run_together(8, work)
    assert not [r for r in results if isinstance(r, Exception)]
    expected = crossings(customer)
    assert len(expected) >= 2
    assert expected[0][0] == "wallet.balance_low"
    assert alert_events(customer) == expected
    entries = set(LedgerEntry.objects.filter(customer=customer).values_list("id", flat=True))
    created = list(WebhookEvent.objects.filter(type="wallet.ledger_entry.created").values_list("entry_id", flat=True))
    assert sorted(created) == sorted(entries)  # one each, none for a refused posting
    assert len(entries) == 1 + sum(len(r) for r in results)


def test_concurrent_holds_each_get_their_event(business, customer, post, alerting):
    import datetime

    from django.utils import timezone

    post(customer, 1000)
    week = timezone.now() + datetime.timedelta(days=7)
    results = run_together(8, lambda i: ledger.create_hold(business_id=business.id, customer_id=customer.id,
                                                           currency="USD", amount=200, expires_at=week, actor=ACTOR))
    made = [r.hold.id for r in results if not isinstance(r, Exception)]
    assert len(made) == 5
    assert all(isinstance(r, InsufficientFunds) for r in results if isinstance(r, Exception))
    created = WebhookEvent.objects.filter(type="wallet.hold.created").values_list("hold_id", flat=True)
    assert sorted(created) == sorted(made)
