"""Deep pages are read as a deferred join (``wallets.selectors.pages``): the same items in the same
order as the plain ``LIMIT … OFFSET …`` they replace, on ties in time and in sequence too, under
the list's filters, and through the API byte for byte."""

import datetime

import pytest
from django.db.models import QuerySet

from wallets import ledger, selectors
from wallets.models import LedgerEntry
from wallets.selectors.entries import with_entry_extensions
from wallets.selectors.pages import DeferredPageQuerySet
from wallets.selectors.statements import wallet_statement
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db
ACTOR = Actor.command("test")
FIELDS = [f.attname for f in LedgerEntry._meta.concrete_fields]


@pytest.fixture
def busy(business, customer, post):
    """37 entries in USD and INR: two batches posted at one instant each (equal created_at, and
    the two wallets' sequences equal too: the id breaks the tie), a reversal and a grant between."""
    ledger.post_many(business_id=business.pk, actor=ACTOR, postings=[
        ledger.Posting(customer.id, ledger.Request(ccy, 10 + i, True, "batch")) for i in range(8)
        for ccy in ("USD", "INR")])
    first = post(customer, 500, reference_object_id="ref-1", event_type="payment")
    ledger.reverse(business_id=business.pk, customer_id=customer.id, entry_id=first.entry.id, actor=ACTOR,
                   amount=200)
    post(customer, 300, expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3))
    ledger.post_many(business_id=business.pk, actor=ACTOR, postings=[
        ledger.Posting(customer.id, ledger.Request(ccy, 3, i % 3 != 0, "batch 2")) for i in range(9)
        for ccy in ("INR", "USD")])
    entries = LedgerEntry.objects.filter(customer_id=customer.id)
    assert entries.count() == 37
    assert entries.values("created_at").distinct().count() < 10  # the ties are there
    return customer


def rows(entries) -> list[tuple]:
    return [(*(getattr(e, name) for name in FIELDS), e.reversed_total, e.grant_expired) for e in entries]


def plain(queryset, start: int, stop: int) -> list:
    """The slice as a plain QuerySet reads it: LIMIT/OFFSET on the whole query."""
    return list(QuerySet.__getitem__(queryset, slice(start, stop)))


@pytest.mark.parametrize("size", [1, 5, 10, 36])
@pytest.mark.parametrize("currency", [None, "USD"])
def test_every_deferred_page_is_the_plain_page(business, busy, size, currency):
    entries = with_entry_extensions(
        selectors.ledger_entry_list(business_id=business.pk, customer_id=busy.pk, currency=currency))
    assert isinstance(entries, DeferredPageQuerySet)
    everything = plain(entries, 0, 100)
    assert len(everything) == (37 if currency is None else 20)
    for start in range(0, len(everything) + size, size):
        page = list(entries[start:start + size])
        assert rows(page) == rows(plain(entries, start, start + size)) == rows(everything[start:start + size])
    assert sum(e.reversed_total for e in everything) == 200
    assert [e.grant_expired for e in everything].count(0) == 1  # the grant's own field came through


def test_a_deep_page_keeps_the_lists_other_filters(business, busy):
    entries = with_entry_extensions(
        selectors.ledger_entry_list(business_id=business.pk, customer_id=busy.pk)).filter(is_credit=False)
    everything = plain(entries, 0, 100)
    assert len(everything) == 7  # 6 debits of batch 2 and the reversal
    assert rows(entries[2:5]) == rows(everything[2:5])
    assert rows(entries[6:20]) == rows(everything[6:])


def test_past_the_end_is_empty_and_the_first_page_is_the_plain_query(business, busy):
    entries = selectors.ledger_entry_list(business_id=business.pk, customer_id=busy.pk)
    assert list(entries[500:510]) == []
    assert "IN (SELECT" not in str(entries[0:10].query)
    assert "IN (SELECT" in str(entries[10:20].query)


def test_statement_pages_are_the_plain_pages(business, busy):
    statement = wallet_statement(business_id=business.pk, customer_id=busy.pk, currency="USD", start=None,
                                 end=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1))
    assert statement.entry_count == 20
    everything = list(QuerySet.__getitem__(statement.entries, slice(0, 100)))
    assert [e.sequence for e in everything] == list(range(1, 21))  # oldest first, the wallet's chain
    for start in range(0, 24, 4):
        assert [e.pk for e in statement.entries[start:start + 4]] == [e.pk for e in everything[start:start + 4]]


def test_api_pages_are_byte_for_byte_the_slices_of_one_big_page(api, busy):
    path = f"/customers/{busy.pk}/wallets/ledger-entries"
    whole = api.get(path, {"page_size": 100})
    assert whole.status_code == 200
    items = whole.json()["items"]
    assert len(items) == 37
    for size in (3, 10):
        for number in range(37 // size + 2):
            response = api.get(path, {"page_number": number, "page_size": size})
            assert response.status_code == 200
            assert response.json()["items"] == items[number * size:(number + 1) * size]
    # Byte for byte: the same page rendered from a plain slice is the same JSON text.
    from wallets.api import serializers as s

    entries = with_entry_extensions(selectors.ledger_entry_list(business_id=busy.business_id, customer_id=busy.pk))
    page = plain(entries, 20, 30)
    labels = selectors.actor_labels_for_entries(business_id=busy.business_id, entries=page)
    from rest_framework.renderers import JSONRenderer

    expected = JSONRenderer().render({"items": s.LedgerEntryResponse(page, many=True,
                                                                     context={"actor_labels": labels}).data})
    assert api.get(path, {"page_number": 2, "page_size": 10}).content == expected
