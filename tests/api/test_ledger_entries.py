"""POST and GET /customers/{id}/wallets/ledger-entries: postings, the chain, idempotency."""

import datetime
import itertools
import re

import pytest

from tests.api.helpers import assert_error, ledger_post, unchanged
from wallets.models import LedgerEntry, Wallet
from wallets.money import INT64_MAX

pytestmark = pytest.mark.django_db


def wallet(customer, currency="USD") -> Wallet:
    return Wallet.objects.get(customer=customer, currency=currency)


# --- POST: happy paths ----------------------------------------------------------------------------


def test_credit_returns_the_wallet_after_the_entry(api, customer, dodo_valid):
    before = wallet(customer)
    body = dodo_valid(ledger_post(api, customer.id, amount=5000, reason="welcome bonus"))

    after = wallet(customer)
    assert body == {
        "balance": 5000,
        "created_at": body["created_at"],
        "currency": "USD",
        "customer_id": customer.id,
        "updated_at": body["updated_at"],
        # Extensions (API-NOTES, "Holds" and "Expiring credit").
        "available_balance": 5000,
        "held_balance": 0,
        "expiring": [],
    }
    assert datetime.datetime.fromisoformat(body["created_at"]) == before.created_at
    assert datetime.datetime.fromisoformat(body["updated_at"]) == after.updated_at > before.updated_at
    assert after.balance == 5000
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.amount, entry.is_credit, entry.before_balance, entry.after_balance, entry.reason) == (
        5000,
        True,
        0,
        5000,
        "welcome bonus",
    )
    assert (entry.event_type, entry.reference_object_id, entry.sequence) == ("merchant_adjustment", None, 1)
    assert entry.created_at == after.updated_at


def test_entry_records_the_api_key_that_made_it(api, customer):
    from wallets.models import ApiKey

    ledger_post(api, customer.id, amount=1)
    entry = LedgerEntry.objects.get(customer=customer)
    key = ApiKey.objects.get(prefix=api.raw_key[: ApiKey.PREFIX_LENGTH])
    assert (entry.actor_type, entry.actor_id) == ("api_key", key.id)


def test_debit_and_exact_overdraft_boundary(api, customer, dodo_valid):
    ledger_post(api, customer.id, amount=1000)
    assert dodo_valid(ledger_post(api, customer.id, amount=400, entry_type="debit"))["balance"] == 600
    assert dodo_valid(ledger_post(api, customer.id, amount=600, entry_type="debit"))["balance"] == 0
    assert wallet(customer).balance == 0
    entries = LedgerEntry.objects.filter(customer=customer).order_by("sequence")
    assert [(e.before_balance, e.after_balance, e.is_credit) for e in entries] == [
        (0, 1000, True),
        (1000, 600, False),
        (600, 0, False),
    ]


def test_first_credit_in_a_new_currency_creates_its_wallet(api, customer, dodo_valid):
    body = dodo_valid(ledger_post(api, customer.id, amount=1500, currency="EUR"))
    assert (body["currency"], body["balance"]) == ("EUR", 1500)
    assert wallet(customer, "EUR").balance == 1500
    assert sorted(Wallet.objects.filter(customer=customer).values_list("currency", flat=True)) == ["EUR", "INR", "USD"]


def test_reason_null_and_unknown_fields_are_accepted(api, customer):
    response = ledger_post(api, customer.id, amount=10, reason=None, idempotency_key=None, memo="ignored")
    assert response.status_code == 200
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.reason, entry.idempotency_key) == (None, None)


def test_int64_max_credit_then_any_credit_overflows(api, customer):
    assert ledger_post(api, customer.id, amount=INT64_MAX).json()["balance"] == INT64_MAX
    with unchanged():
        response = ledger_post(api, customer.id, amount=1)
    assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert wallet(customer).balance == INT64_MAX


def test_debit_of_the_whole_maximum_balance(api, customer, dodo_valid):
    ledger_post(api, customer.id, amount=INT64_MAX, currency="JPY")
    body = dodo_valid(ledger_post(api, customer.id, amount=INT64_MAX, currency="JPY", entry_type="debit"))
    assert body["balance"] == 0
    entry = LedgerEntry.objects.get(customer=customer, is_credit=False)
    assert (entry.before_balance, entry.after_balance) == (INT64_MAX, 0)


# --- POST: refusals -------------------------------------------------------------------------------


def test_overdraft_is_400_insufficient_funds_and_writes_nothing(api, customer):
    ledger_post(api, customer.id, amount=100)
    with unchanged():
        response = ledger_post(api, customer.id, amount=101, entry_type="debit")
    assert_error(response, 400, "INSUFFICIENT_WALLET_FUNDS")


def test_debit_in_a_currency_without_wallet_creates_no_wallet(api, customer):
    with unchanged():
        response = ledger_post(api, customer.id, amount=1, currency="EUR", entry_type="debit")
    assert_error(response, 400, "INSUFFICIENT_WALLET_FUNDS")
    assert not Wallet.objects.filter(customer=customer, currency="EUR").exists()


MISSING = object()
INVALID_ENTRY_BODIES = {  # changes to a valid body
    "amount missing": {"amount": MISSING},
    "currency missing": {"currency": MISSING},
    "entry_type missing": {"entry_type": MISSING},
    "amount zero": {"amount": 0},
    "amount negative": {"amount": -5},
    "amount string": {"amount": "5"},
    "amount float": {"amount": 5.5},
    "amount whole float": {"amount": 5.0},
    "amount boolean": {"amount": True},
    "amount null": {"amount": None},
    "amount above int64": {"amount": INT64_MAX + 1},
    "currency lower case": {"amount": 5, "currency": "usd"},
    "currency unknown": {"amount": 5, "currency": "XXX"},
    "currency number": {"amount": 5, "currency": 840},
    "entry_type unknown": {"amount": 5, "entry_type": "refund"},
    "entry_type boolean": {"amount": 5, "entry_type": True},
    "idempotency_key number": {"amount": 5, "idempotency_key": 12},
    "idempotency_key blank": {"amount": 5, "idempotency_key": ""},
    "idempotency_key too long": {"amount": 5, "idempotency_key": "k" * 256},
    "reason number": {"amount": 5, "reason": 1},
    "reason too long": {"amount": 5, "reason": "r" * 501},
    "reason NUL": {"amount": 5, "reason": "a\x00"},
}


@pytest.mark.parametrize("body", INVALID_ENTRY_BODIES.values(), ids=INVALID_ENTRY_BODIES.keys())
def test_invalid_entry_body_is_422_and_writes_nothing(api, customer, body):
    body = {
        k: v for k, v in {"amount": 5, "currency": "USD", "entry_type": "credit", **body}.items() if v is not MISSING
    }
    with unchanged():
        response = api.post(f"/customers/{customer.id}/wallets/ledger-entries", body, format="json")
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert error["errors"]


@pytest.mark.parametrize("raw", ['{"amount": 5,', "[]", "5", ""], ids=["truncated", "array", "number", "empty"])
def test_malformed_entry_body_is_422(api, customer, raw):
    with unchanged():
        response = api.post(f"/customers/{customer.id}/wallets/ledger-entries", raw, content_type="application/json")
    assert_error(response, 422, "INVALID_REQUEST_BODY")


def test_limits_are_inclusive(api, customer):
    response = ledger_post(api, customer.id, amount=1, idempotency_key="k" * 255, reason="r" * 500)
    assert response.status_code == 200


def test_post_to_unknown_customer_is_404(api, customer):
    with unchanged():
        response = ledger_post(api, "cus_doesNotExist1234567", amount=5)
    assert_error(response, 404, "NOT_FOUND")


# --- Idempotency ----------------------------------------------------------------------------------


def test_same_key_same_body_replays_the_first_response(api, customer):
    first = ledger_post(api, customer.id, amount=700, idempotency_key="order-1", reason="refund")
    ledger_post(api, customer.id, amount=50)  # the wallet moves on after the first posting
    with unchanged():
        replay = ledger_post(api, customer.id, amount=700, idempotency_key="order-1", reason="refund")

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert LedgerEntry.objects.filter(customer=customer, idempotency_key="order-1").count() == 1


def test_replay_of_a_debit_still_replays_when_funds_are_gone(api, customer):
    ledger_post(api, customer.id, amount=100)
    first = ledger_post(api, customer.id, amount=100, entry_type="debit", idempotency_key="d1")
    replay = ledger_post(api, customer.id, amount=100, entry_type="debit", idempotency_key="d1")
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "change",
    [{"amount": 701}, {"currency": "INR"}, {"entry_type": "debit"}, {"reason": "other"}, {"reason": None}],
    ids=["amount", "currency", "entry_type", "reason", "reason removed"],
)
def test_same_key_different_body_is_422_and_writes_nothing(api, customer, change):
    ledger_post(api, customer.id, amount=1000)
    ledger_post(api, customer.id, amount=700, idempotency_key="order-1", reason="refund")
    body = {"amount": 700, "idempotency_key": "order-1", "reason": "refund", **change}
    with unchanged():
        response = ledger_post(api, customer.id, **body)
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")


def test_reused_key_in_a_new_currency_creates_no_wallet(api, customer):
    ledger_post(api, customer.id, amount=5, idempotency_key="k1")
    with unchanged():
        response = ledger_post(api, customer.id, amount=5, currency="EUR", idempotency_key="k1")
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")


def test_idempotency_key_header_is_used_when_the_body_has_none(api, customer):
    first = api.post(
        f"/customers/{customer.id}/wallets/ledger-entries",
        {"amount": 5, "currency": "USD", "entry_type": "credit"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="hdr-1",
    )
    replay = ledger_post(api, customer.id, amount=5, idempotency_key="hdr-1")  # the same key, in the body
    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert LedgerEntry.objects.get(customer=customer).idempotency_key == "hdr-1"


def test_idempotency_key_header_equal_to_the_body_key_is_fine(api, customer):
    response = api.post(
        f"/customers/{customer.id}/wallets/ledger-entries",
        {"amount": 5, "currency": "USD", "entry_type": "credit", "idempotency_key": "same"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same",
    )
    assert response.status_code == 200
    assert LedgerEntry.objects.get(customer=customer).idempotency_key == "same"


@pytest.mark.parametrize("header", ["other", "", "h" * 256], ids=["different", "blank", "too long"])
def test_bad_idempotency_key_header_is_422(api, customer, header):
    body = {"amount": 5, "currency": "USD", "entry_type": "credit"}
    if header == "other":
        body["idempotency_key"] = "body-key"
    with unchanged():
        response = api.post(
            f"/customers/{customer.id}/wallets/ledger-entries", body, format="json", HTTP_IDEMPOTENCY_KEY=header
        )
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert "idempotency_key" in error["errors"]


def test_idempotency_keys_are_scoped_per_customer(api, customer, make_customer):
    other = make_customer(email="bo@example.com")
    first = ledger_post(api, customer.id, amount=5, idempotency_key="shared")
    second = ledger_post(api, other.id, amount=5, idempotency_key="shared")
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second
    assert LedgerEntry.objects.filter(idempotency_key="shared").count() == 2
    assert wallet(customer).balance == wallet(other).balance == 5


# --- GET: the list --------------------------------------------------------------------------------


def test_list_entries_carries_every_field_newest_first(api, customer, dodo_valid):
    ledger_post(api, customer.id, amount=1000, reason="top up")
    ledger_post(api, customer.id, amount=250, entry_type="debit")
    ledger_post(api, customer.id, amount=9900, currency="INR")

    items = dodo_valid(api.get(f"/customers/{customer.id}/wallets/ledger-entries"))["items"]

    entries = {e.id: e for e in LedgerEntry.objects.filter(customer=customer)}
    assert [i["id"] for i in items] == [
        e.id for e in sorted(entries.values(), key=lambda e: e.created_at, reverse=True)
    ]
    inr, debit, credit = items
    assert credit == {
        "id": credit["id"],
        "business_id": customer.business_id,
        "customer_id": customer.id,
        "currency": "USD",
        "amount": 1000,
        "is_credit": True,
        "event_type": "merchant_adjustment",
        "reason": "top up",
        "reference_object_id": None,
        "before_balance": 0,
        "after_balance": 1000,
        "created_at": credit["created_at"],
        # Extensions (API-NOTES, "Ledger entries: kinds, links and optional fields").
        "sequence": 1,
        "idempotency_key": None,
        "metadata": {},
        "actor": {"type": "api_key", "id": entries[credit["id"]].actor_id, "name": credit["actor"]["name"]},
        "reversal_of": None,
        "reversed_amount": 0,
        "expires_at": None,
        "expired_amount": None,
        "hold_id": None,
    }
    assert (debit["amount"], debit["is_credit"], debit["before_balance"], debit["after_balance"]) == (
        250,
        False,
        1000,
        750,
    )
    assert (inr["currency"], inr["before_balance"], inr["after_balance"]) == ("INR", 0, 9900)
    assert all(re.fullmatch(r"wle_[A-Za-z0-9]{21}", item["id"]) for item in items)
    for item in items:
        assert datetime.datetime.fromisoformat(item["created_at"]) == entries[item["id"]].created_at
        assert item["after_balance"] - item["before_balance"] == (
            item["amount"] if item["is_credit"] else -item["amount"]
        )


def test_list_entries_chain_is_unbroken_per_wallet(api, customer):
    for amount, kind, currency in [
        (500, "credit", "USD"),
        (70, "credit", "INR"),
        (200, "debit", "USD"),
        (20, "debit", "INR"),
        (1, "credit", "USD"),
    ]:
        assert ledger_post(api, customer.id, amount=amount, entry_type=kind, currency=currency).status_code == 200
    items = api.get(f"/customers/{customer.id}/wallets/ledger-entries", {"page_size": 100}).json()["items"]
    for currency in ("USD", "INR"):
        chain = [i for i in reversed(items) if i["currency"] == currency]
        assert chain[0]["before_balance"] == 0
        for previous, current in itertools.pairwise(chain):
            assert current["before_balance"] == previous["after_balance"]
        assert chain[-1]["after_balance"] == wallet(customer, currency).balance


def test_list_entries_currency_filter(api, customer, dodo_valid):
    ledger_post(api, customer.id, amount=1, currency="USD")
    ledger_post(api, customer.id, amount=2, currency="INR")
    ledger_post(api, customer.id, amount=3, currency="USD")
    items = dodo_valid(api.get(f"/customers/{customer.id}/wallets/ledger-entries", {"currency": "USD"}))["items"]
    assert [i["amount"] for i in items] == [3, 1]
    assert dodo_valid(api.get(f"/customers/{customer.id}/wallets/ledger-entries", {"currency": "EUR"})) == {"items": []}


@pytest.mark.parametrize("currency", ["usd", "XXX", "", "US"])
def test_list_entries_invalid_currency_is_422(api, customer, currency):
    if currency == "":
        # An empty parameter is "not given" (django-filter), not an error.
        assert api.get(f"/customers/{customer.id}/wallets/ledger-entries", {"currency": ""}).status_code == 200
        return
    assert_error(
        api.get(f"/customers/{customer.id}/wallets/ledger-entries", {"currency": currency}), 422, "INVALID_REQUEST_BODY"
    )


def test_list_entries_of_a_customer_without_entries_is_empty(api, customer, dodo_valid):
    assert dodo_valid(api.get(f"/customers/{customer.id}/wallets/ledger-entries")) == {"items": []}


def test_list_entries_of_unknown_customer_is_404(api):
    assert_error(api.get("/customers/cus_doesNotExist1234567/wallets/ledger-entries"), 404, "NOT_FOUND")


def test_list_entries_shows_only_this_customers_entries(api, customer, make_customer):
    other = make_customer(email="other@example.com")
    ledger_post(api, customer.id, amount=1)
    ledger_post(api, other.id, amount=2)
    items = api.get(f"/customers/{customer.id}/wallets/ledger-entries").json()["items"]
    assert [(i["customer_id"], i["amount"]) for i in items] == [(customer.id, 1)]
