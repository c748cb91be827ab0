"""POST /customers/{id}/wallets/payments: pay what the wallet can, once per reference."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, unchanged
from wallets import ledger
from wallets.models import LedgerEntry, Membership, Wallet, WalletPayment
from wallets.money import INT64_MAX
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

PAYMENT_FIELDS = {"reference_object_id", "currency", "requested", "applied", "remaining", "entry", "wallet"}
WALLET_FIELDS = {"customer_id", "currency", "balance", "available_balance", "held_balance", "created_at",
                 "updated_at", "expiring"}  # the wallet as every route renders it


def pay(client, customer_id: str, **body):
    body.setdefault("currency", "USD")
    body.setdefault("reference_object_id", "inv_1")
    return client.post(f"/customers/{customer_id}/wallets/payments", body, format="json")


def wallet(customer, currency="USD") -> Wallet:
    return Wallet.objects.get(customer=customer, currency=currency)


@pytest.fixture(autouse=True)
def _books_balance():
    yield
    assert ledger_drift() == []


def test_pays_all_when_the_wallet_has_enough(api, customer, post):
    post(customer, 1000)
    response = pay(api, customer.id, amount=400, reason="invoice 1")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAYMENT_FIELDS
    assert (body["reference_object_id"], body["currency"], body["requested"], body["applied"], body["remaining"]) == (
        "inv_1", "USD", 400, 400, 0)
    entry = LedgerEntry.objects.get(customer=customer, event_type="payment")
    assert body["entry"]["id"] == entry.id
    assert (body["entry"]["amount"], body["entry"]["is_credit"], body["entry"]["reference_object_id"]) == (
        400, False, "inv_1")
    assert (body["entry"]["before_balance"], body["entry"]["after_balance"], body["entry"]["reason"]) == (
        1000, 600, "invoice 1")
    assert set(body["wallet"]) == WALLET_FIELDS
    assert (body["wallet"]["balance"], body["wallet"]["available_balance"], body["wallet"]["held_balance"]) == (
        600, 600, 0)
    assert wallet(customer).balance == 600
    assert "Idempotent-Replayed" not in response


def test_pays_what_is_available_and_tells_what_remains(api, customer, post):
    post(customer, 1000)
    ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=300,
                       actor=Actor.command("test"),
                       expires_at=timezone.now() + datetime.timedelta(days=1))
    body = pay(api, customer.id, amount=2500).json()
    assert (body["requested"], body["applied"], body["remaining"]) == (2500, 700, 1800)
    assert (body["wallet"]["balance"], body["wallet"]["available_balance"], body["wallet"]["held_balance"]) == (
        300, 0, 300)
    assert body["entry"]["amount"] == 700


def test_nothing_available_applies_0_and_replays(api, customer):
    first = pay(api, customer.id, amount=500)
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["requested"], body["applied"], body["remaining"], body["entry"]) == (500, 0, 500, None)
    assert body["wallet"]["balance"] == 0
    assert not LedgerEntry.objects.exists()

    again = pay(api, customer.id, amount=500)
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == body
    assert WalletPayment.objects.count() == 1


def test_same_reference_same_body_replays_the_first_answer(api, customer, post):
    post(customer, 1000)
    first = pay(api, customer.id, amount=400, reason="r")
    post(customer, 50)  # the wallet moved on; the replay still shows the wallet right after the payment
    again = pay(api, customer.id, amount=400, reason="r")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert LedgerEntry.objects.filter(event_type="payment").count() == 1
    assert wallet(customer).balance == 650


@pytest.mark.parametrize("change", [{"amount": 401}, {"reason": "other"}, {"reason": None}])
def test_same_reference_other_body_is_422(api, customer, post, change):
    post(customer, 1000)
    assert pay(api, customer.id, amount=400, reason="r").status_code == 200
    with unchanged():
        assert_error(pay(api, customer.id, **{"amount": 400, "reason": "r", **change}), 422,
                     "IDEMPOTENCY_KEY_REUSED")


def test_the_reference_is_per_currency_and_per_customer(api, customer, make_customer, post):
    other = make_customer()
    post(customer, 1000)
    post(customer, 1000, currency="INR")
    post(other, 1000)
    assert pay(api, customer.id, amount=100).json()["applied"] == 100
    assert pay(api, customer.id, amount=200, currency="INR").json()["applied"] == 200
    assert pay(api, other.id, amount=300).json()["applied"] == 300
    assert WalletPayment.objects.count() == 3


@pytest.mark.parametrize("body", [
    {"amount": 0}, {"amount": -1}, {"amount": INT64_MAX + 1}, {"amount": "100"}, {"amount": True},
    {"amount": 10.0}, {"currency": "usd"}, {"currency": "XXX"}, {"currency": None},
    {"reference_object_id": None}, {"reference_object_id": ""}, {"reference_object_id": "x" * 256},
    {"reference_object_id": 12}, {"reason": "r" * 501},
])
def test_invalid_bodies_are_422(api, customer, post, body):
    post(customer, 1000)
    payload = {"amount": 100, **body}
    with unchanged():
        assert_error(pay(api, customer.id, **payload), 422, "INVALID_REQUEST_BODY")
    assert not WalletPayment.objects.exists()


def test_missing_fields_are_422(api, customer):
    response = api.post(f"/customers/{customer.id}/wallets/payments", {}, format="json")
    body = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert {"amount", "currency", "reference_object_id"} <= set(body["errors"])


def test_unknown_customer_and_another_business_are_404(api, other_api, customer, post):
    post(customer, 1000)
    with unchanged():
        assert_error(pay(api, "cus_unknown", amount=1), 404, "NOT_FOUND")
        assert_error(pay(other_api, customer.id, amount=1), 404, "NOT_FOUND")
        assert_error(pay(other_api, customer.id, amount=1, currency="EUR"), 404, "NOT_FOUND")
    assert not WalletPayment.objects.exists()


def test_a_read_only_key_may_not_pay(read_only_api, customer, post):
    post(customer, 1000)
    with unchanged():
        assert_error(pay(read_only_api, customer.id, amount=1), 403, "FORBIDDEN")


def test_a_session_user_may_not_pay(business, customer, post):
    post(customer, 1000)
    user = get_user_model().objects.create_user("pay-operator")
    Membership.objects.create(user=user, business=business, role=Membership.Role.OPERATOR)
    client = APIClient()
    client.force_login(user)
    with unchanged():
        body = assert_error(pay(client, customer.id, amount=1), 403, "FORBIDDEN")
    assert "API-only" in body["message"]


def test_a_payment_without_a_wallet_replays_the_same_body_after_the_wallet_exists(api, customer, post):
    first = pay(api, customer.id, amount=500, currency="EUR").json()
    assert first["applied"] == 0
    post(customer, 100, currency="EUR")
    assert pay(api, customer.id, amount=500, currency="EUR").json() == first


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"x"', b"{", b"123"])
def test_non_object_bodies_are_422_on_every_write(api, customer, post, raw):
    post(customer, 1000)
    hold = ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=5,
                              actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(days=1)).hold
    base = f"/customers/{customer.id}/wallets"
    with unchanged():
        for path in (f"{base}/payments", f"{base}/holds", f"{base}/holds/{hold.id}/capture"):
            assert_error(api.generic("POST", path, raw, content_type="application/json"), 422,
                         "INVALID_REQUEST_BODY")
    hold.refresh_from_db()
    assert hold.status == "active"
