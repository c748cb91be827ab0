"""/customers/{id}/wallets/holds: create, capture, void, list and retrieve over HTTP; the errors,
idempotency, tenant isolation and expiry."""

import datetime
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, ledger_post
from wallets import ledger
from wallets.models import Hold, LedgerEntry, Membership, Wallet
from wallets.money import INT64_MAX
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

HOLD_FIELDS = {"id", "customer_id", "currency", "amount", "captured_amount", "status", "expires_at",
               "reference_object_id", "reason", "created_at", "updated_at"}


def holds_path(customer_id: str, *rest: str) -> str:
    return "/".join([f"/customers/{customer_id}/wallets/holds", *rest])


def create_hold(client, customer_id: str, **body):
    headers = {name: body.pop(name) for name in list(body) if name.startswith("HTTP_")}
    body.setdefault("currency", "USD")
    body.setdefault("amount", 300)
    return client.post(holds_path(customer_id), body, format="json", **headers)


def wallet(customer, currency="USD") -> Wallet:
    return Wallet.objects.get(customer=customer, currency=currency)


@pytest.fixture
def funded(customer, post):
    post(customer, 1000)
    return customer


@pytest.fixture(autouse=True)
def _books_balance():
    """Whatever a test did through the API, the books still prove."""
    yield
    assert ledger_drift() == []


# --- Create ------------------------------------------------------------------------------------


def test_create_reserves_the_amount_with_a_default_expiry_of_seven_days(api, funded):
    before = timezone.now()
    response = create_hold(api, funded.id, amount=300, reference_object_id="inv_1", reason="checkout")
    after = timezone.now()

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == HOLD_FIELDS
    assert body["id"].startswith("hld_")
    assert (body["customer_id"], body["currency"], body["amount"], body["captured_amount"], body["status"]) == (
        funded.id, "USD", 300, 0, "active")
    assert (body["reference_object_id"], body["reason"]) == ("inv_1", "checkout")
    expires = datetime.datetime.fromisoformat(body["expires_at"])
    assert before + datetime.timedelta(days=7) <= expires <= after + datetime.timedelta(days=7)
    assert "Idempotent-Replayed" not in response
    w = wallet(funded)
    assert (w.balance, w.held_balance) == (1000, 300)


def test_a_given_expiry_is_kept(api, funded):
    at = (timezone.now() + datetime.timedelta(days=29)).replace(microsecond=0)
    body = create_hold(api, funded.id, expires_at=at.isoformat()).json()
    assert datetime.datetime.fromisoformat(body["expires_at"]) == at


@pytest.mark.parametrize("delta", [datetime.timedelta(days=31), datetime.timedelta(seconds=-1)])
def test_expiry_in_the_past_or_over_30_days_is_422(api, funded, delta):
    at = timezone.now() + delta
    body = assert_error(create_hold(api, funded.id, expires_at=at.isoformat()), 422, "INVALID_REQUEST_BODY")
    assert "expires_at" in body["errors"]
    assert not Hold.objects.exists()


@pytest.mark.parametrize("body", [
    {"amount": 0}, {"amount": -1}, {"amount": INT64_MAX + 1}, {"amount": "100"}, {"amount": 1.5},
    {"currency": "usd"}, {"currency": "XXX"}, {"expires_at": "tomorrow"}, {"reason": "r" * 501},
    {"reference_object_id": "x" * 256}, {"idempotency_key": "k" * 256},
])
def test_invalid_bodies_are_422(api, funded, body):
    assert_error(create_hold(api, funded.id, **body), 422, "INVALID_REQUEST_BODY")
    assert not Hold.objects.exists()


def test_a_hold_larger_than_available_is_refused(api, funded):
    assert create_hold(api, funded.id, amount=700).status_code == 200
    assert_error(create_hold(api, funded.id, amount=301), 400, "INSUFFICIENT_WALLET_FUNDS")
    assert create_hold(api, funded.id, amount=300).status_code == 200
    assert Hold.objects.count() == 2
    assert wallet(funded).held_balance == 1000


def test_a_hold_in_a_currency_without_a_wallet_is_refused(api, funded):
    assert_error(create_hold(api, funded.id, currency="EUR", amount=1), 400, "INSUFFICIENT_WALLET_FUNDS")
    assert not Wallet.objects.filter(customer=funded, currency="EUR").exists()


def test_a_debit_larger_than_available_with_an_active_hold_is_400(api, funded):
    assert create_hold(api, funded.id, amount=600).status_code == 200
    assert_error(ledger_post(api, funded.id, amount=401, entry_type="debit"), 400, "INSUFFICIENT_WALLET_FUNDS")
    assert wallet(funded).balance == 1000
    assert ledger_post(api, funded.id, amount=400, entry_type="debit").status_code == 200
    assert wallet(funded).balance == 600


# --- Idempotency ---------------------------------------------------------------------------------


def test_same_key_same_body_replays_the_hold(api, funded):
    first = create_hold(api, funded.id, amount=200, idempotency_key="h-1", reason="r")
    again = create_hold(api, funded.id, amount=200, idempotency_key="h-1", reason="r")
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Hold.objects.count() == 1
    assert wallet(funded).held_balance == 200


def test_the_idempotency_key_header_is_the_key(api, funded):
    first = create_hold(api, funded.id, amount=200, HTTP_IDEMPOTENCY_KEY="h-2")
    again = create_hold(api, funded.id, amount=200, idempotency_key="h-2")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Hold.objects.get().idempotency_key == "h-2"


def test_header_and_body_keys_that_differ_are_422(api, funded):
    response = create_hold(api, funded.id, idempotency_key="a", HTTP_IDEMPOTENCY_KEY="b")
    assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert not Hold.objects.exists()


@pytest.mark.parametrize("change", [{"amount": 201}, {"currency": "INR"}, {"reason": "other"},
                                    {"reference_object_id": "inv_9"}])
def test_same_key_other_body_is_422(api, funded, post, change):
    post(funded, 1000, currency="INR")
    assert create_hold(api, funded.id, amount=200, idempotency_key="h-3", reason="r").status_code == 200
    body = {"amount": 200, "idempotency_key": "h-3", "reason": "r", **change}
    assert_error(create_hold(api, funded.id, **body), 422, "IDEMPOTENCY_KEY_REUSED")
    assert Hold.objects.count() == 1


def test_a_given_expiry_is_part_of_the_body_and_an_omitted_one_is_not(api, funded):
    soon = (timezone.now() + datetime.timedelta(days=2)).isoformat()
    later = (timezone.now() + datetime.timedelta(days=3)).isoformat()
    assert create_hold(api, funded.id, amount=100, idempotency_key="h-4", expires_at=soon).status_code == 200
    assert create_hold(api, funded.id, amount=100, idempotency_key="h-4", expires_at=soon)["Idempotent-Replayed"]
    assert_error(create_hold(api, funded.id, amount=100, idempotency_key="h-4", expires_at=later), 422,
                 "IDEMPOTENCY_KEY_REUSED")
    # Omitted, the default (7 days from each request) is not compared: a retry replays.
    assert create_hold(api, funded.id, amount=50, idempotency_key="h-5").status_code == 200
    assert create_hold(api, funded.id, amount=50, idempotency_key="h-5")["Idempotent-Replayed"] == "true"
    assert Hold.objects.count() == 2


# --- Capture and void ------------------------------------------------------------------------------


def test_capture_all_posts_one_payment_debit(api, funded):
    hold = create_hold(api, funded.id, amount=300, reference_object_id="inv_2").json()
    response = api.post(holds_path(funded.id, hold["id"], "capture"), {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == HOLD_FIELDS | {"entry", "wallet"}
    assert (body["status"], body["captured_amount"]) == ("captured", 300)
    entry = LedgerEntry.objects.get(hold_id=hold["id"])
    assert body["entry"]["id"] == entry.id
    assert (body["entry"]["amount"], body["entry"]["is_credit"], body["entry"]["event_type"]) == (
        300, False, "payment")
    assert body["entry"]["reference_object_id"] == "inv_2"
    assert (body["entry"]["before_balance"], body["entry"]["after_balance"]) == (1000, 700)
    assert body["wallet"] | {"created_at": None, "updated_at": None} == {
        "customer_id": funded.id, "currency": "USD", "balance": 700, "available_balance": 700,
        "held_balance": 0, "expiring": [], "created_at": None, "updated_at": None}
    w = wallet(funded)
    assert (w.balance, w.held_balance) == (700, 0)


def test_partial_capture_releases_the_rest(api, funded):
    hold = create_hold(api, funded.id, amount=300).json()
    body = api.post(holds_path(funded.id, hold["id"], "capture"), {"amount": 120}, format="json").json()
    assert (body["status"], body["captured_amount"], body["entry"]["amount"]) == ("captured", 120, 120)
    assert (body["wallet"]["balance"], body["wallet"]["available_balance"], body["wallet"]["held_balance"]) == (
        880, 880, 0)


def test_capture_more_than_the_hold_is_422(api, funded):
    hold = create_hold(api, funded.id, amount=300).json()
    assert_error(api.post(holds_path(funded.id, hold["id"], "capture"), {"amount": 301}, format="json"),
                 422, "INVALID_REQUEST_BODY")
    assert Hold.objects.get().status == "active"
    assert wallet(funded).balance == 1000


@pytest.mark.parametrize("amount", [0, -5, "10", INT64_MAX + 1])
def test_capture_with_an_invalid_amount_is_422(api, funded, amount):
    hold = create_hold(api, funded.id).json()
    assert_error(api.post(holds_path(funded.id, hold["id"], "capture"), {"amount": amount}, format="json"),
                 422, "INVALID_REQUEST_BODY")
    assert Hold.objects.get().status == "active"


def test_void_releases_it_all(api, funded):
    hold = create_hold(api, funded.id, amount=300).json()
    response = api.post(holds_path(funded.id, hold["id"], "void"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == HOLD_FIELDS | {"wallet"}
    assert (body["status"], body["captured_amount"]) == ("voided", 0)
    assert (body["wallet"]["balance"], body["wallet"]["available_balance"], body["wallet"]["held_balance"]) == (
        1000, 1000, 0)
    assert not LedgerEntry.objects.filter(hold_id=hold["id"]).exists()


@pytest.mark.parametrize("first", ["capture", "void"])
@pytest.mark.parametrize("then", ["capture", "void"])
def test_a_hold_resolves_once(api, funded, first, then):
    hold = create_hold(api, funded.id, amount=300).json()
    assert api.post(holds_path(funded.id, hold["id"], first), {}, format="json").status_code == 200
    balance = wallet(funded).balance
    assert_error(api.post(holds_path(funded.id, hold["id"], then), {}, format="json"), 409, "HOLD_NOT_ACTIVE")
    assert wallet(funded).balance == balance
    assert LedgerEntry.objects.filter(hold_id=hold["id"]).count() == (1 if first == "capture" else 0)


def test_an_expired_hold_cannot_be_captured_and_shows_expired_after_the_sweep(api, funded):
    result = ledger.create_hold(business_id=funded.business_id, customer_id=funded.id, currency="USD", amount=400,
                                actor=Actor.command("test"),
                                expires_at=timezone.now() + datetime.timedelta(milliseconds=300))
    hold_id = result.hold.id
    assert wallet(funded).held_balance == 400
    time.sleep(0.4)

    assert_error(api.post(holds_path(funded.id, hold_id, "capture"), {}, format="json"), 409, "HOLD_NOT_ACTIVE")
    assert not LedgerEntry.objects.filter(hold_id=hold_id).exists()
    assert ledger.sweep_due().holds_expired == 1

    assert api.get(holds_path(funded.id, hold_id)).json()["status"] == "expired"
    w = wallet(funded)
    assert (w.balance, w.held_balance) == (1000, 0)
    assert_error(api.post(holds_path(funded.id, hold_id, "void")), 409, "HOLD_NOT_ACTIVE")


def test_unknown_hold_is_404(api, funded):
    for path in (holds_path(funded.id, "hld_unknown"),):
        assert_error(api.get(path), 404, "NOT_FOUND")
    for action in ("capture", "void"):
        assert_error(api.post(holds_path(funded.id, "hld_unknown", action), {}, format="json"), 404, "NOT_FOUND")


# --- List and retrieve -----------------------------------------------------------------------------


def test_list_is_newest_first_paged_and_filtered(api, funded, post):
    post(funded, 1000, currency="INR")
    ids = [create_hold(api, funded.id, amount=10 + n, currency="USD" if n % 2 else "INR").json()["id"]
           for n in range(5)]
    api.post(holds_path(funded.id, ids[0], "void"))

    everything = api.get(holds_path(funded.id), {"page_size": 100}).json()["items"]
    assert [h["id"] for h in everything] == ids[::-1]
    assert all(set(h) == HOLD_FIELDS for h in everything)
    pages = [api.get(holds_path(funded.id), {"page_size": 2, "page_number": n}).json()["items"] for n in range(4)]
    assert [[h["id"] for h in p] for p in pages] == [ids[:2:-1], ids[2:0:-1], ids[:1], []]
    usd = api.get(holds_path(funded.id), {"currency": "USD"}).json()["items"]
    assert [h["id"] for h in usd] == [ids[3], ids[1]]
    voided = api.get(holds_path(funded.id), {"status": "voided"}).json()["items"]
    assert [h["id"] for h in voided] == [ids[0]]
    active_inr = api.get(holds_path(funded.id), {"status": "active", "currency": "INR"}).json()["items"]
    assert [h["id"] for h in active_inr] == [ids[4], ids[2]]


@pytest.mark.parametrize("query", [{"status": "done"}, {"currency": "usd"}, {"page_size": 101},
                                   {"page_number": -1}, {"page_size": "x"}])
def test_invalid_list_queries_are_422(api, funded, query):
    assert_error(api.get(holds_path(funded.id), query), 422, "INVALID_REQUEST_BODY")


def test_a_repeated_filter_is_422(api, funded):
    assert_error(api.get(holds_path(funded.id) + "?status=active&status=voided"), 422, "INVALID_REQUEST_BODY")


def test_retrieve_shows_the_hold(api, funded):
    created = create_hold(api, funded.id, amount=42).json()
    assert api.get(holds_path(funded.id, created["id"])).json() == created


# --- Who may see and write ---------------------------------------------------------------------------


@pytest.fixture
def their_hold(other_business, make_customer):
    theirs = make_customer(email="theirs@example.com", business_id=other_business.id)
    ledger.post(business_id=other_business.id, customer_id=theirs.id, currency="USD", amount=500, is_credit=True,
                actor=Actor.command("test"))
    result = ledger.create_hold(business_id=other_business.id, customer_id=theirs.id, currency="USD", amount=100,
                                actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(days=1))
    return theirs, result.hold


def test_another_business_sees_nothing_on_every_route(api, funded, their_hold):
    theirs, hold = their_hold
    assert_error(api.get(holds_path(theirs.id)), 404, "NOT_FOUND")
    assert_error(api.get(holds_path(theirs.id, hold.id)), 404, "NOT_FOUND")
    assert_error(create_hold(api, theirs.id, amount=1), 404, "NOT_FOUND")
    for action in ("capture", "void"):
        assert_error(api.post(holds_path(theirs.id, hold.id, action), {}, format="json"), 404, "NOT_FOUND")
        # Their hold under our own customer's path: not ours either.
        assert_error(api.post(holds_path(funded.id, hold.id, action), {}, format="json"), 404, "NOT_FOUND")
    assert_error(api.get(holds_path(funded.id, hold.id)), 404, "NOT_FOUND")
    hold.refresh_from_db()
    assert hold.status == "active"
    assert not Hold.objects.filter(customer=funded).exists()


def test_another_customers_hold_of_the_same_business_is_404(api, funded, make_customer):
    other = make_customer()
    hold = create_hold(api, funded.id, amount=5).json()
    assert_error(api.get(holds_path(other.id, hold["id"])), 404, "NOT_FOUND")
    assert_error(api.post(holds_path(other.id, hold["id"], "void")), 404, "NOT_FOUND")
    assert Hold.objects.get().status == "active"


def test_a_read_only_key_reads_but_may_not_write(api, read_only_api, funded):
    hold = create_hold(api, funded.id, amount=5).json()
    assert read_only_api.get(holds_path(funded.id)).status_code == 200
    assert read_only_api.get(holds_path(funded.id, hold["id"])).status_code == 200
    assert_error(create_hold(read_only_api, funded.id, amount=5), 403, "FORBIDDEN")
    for action in ("capture", "void"):
        assert_error(read_only_api.post(holds_path(funded.id, hold["id"], action), {}, format="json"),
                     403, "FORBIDDEN")
    assert Hold.objects.get().status == "active"


def test_no_key_is_401(funded):
    assert_error(APIClient().get(holds_path(funded.id)), 401, "UNAUTHORIZED")


@pytest.fixture
def operator_session(business) -> APIClient:
    user = get_user_model().objects.create_user("hold-operator")
    Membership.objects.create(user=user, business=business, role=Membership.Role.OPERATOR)
    client = APIClient()  # CSRF is not enforced here: the refusal below is the policy, not the token
    client.force_login(user)
    return client


def test_a_session_user_lists_and_sees_holds_but_writes_are_api_only(api, operator_session, funded):
    hold = create_hold(api, funded.id, amount=5).json()
    assert [h["id"] for h in operator_session.get(holds_path(funded.id)).json()["items"]] == [hold["id"]]
    assert operator_session.get(holds_path(funded.id, hold["id"])).json()["id"] == hold["id"]
    page = operator_session.get(holds_path(funded.id), HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert hold["id"] in page.content.decode()
    body = assert_error(create_hold(operator_session, funded.id, amount=5), 403, "FORBIDDEN")
    assert "API-only" in body["message"]
    for action in ("capture", "void"):
        assert_error(operator_session.post(holds_path(funded.id, hold["id"], action), {}, format="json"),
                     403, "FORBIDDEN")
    assert Hold.objects.count() == 1
    assert Hold.objects.get().status == "active"


def test_listing_many_holds_costs_the_same_queries_as_one(api, funded, django_assert_num_queries):
    create_hold(api, funded.id, amount=1)
    with django_assert_num_queries(3):  # key, customer, holds
        assert len(api.get(holds_path(funded.id)).json()["items"]) == 1
    for _ in range(20):
        create_hold(api, funded.id, amount=1)
    with django_assert_num_queries(3):
        assert len(api.get(holds_path(funded.id), {"page_size": 100}).json()["items"]) == 21
