"""Ledger entries beyond Dodo (API-NOTES, "Ledger entries: kinds, links and optional fields", and the
wallet's "Holds" and "Expiring credit" fields), through HTTP."""

import datetime

import pytest
from django.utils import timezone

from tests.api.test_browsable_api import csrf_token, session_client
from wallets import ledger
from wallets.models import LedgerEntry, Membership
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db


def entries_path(customer_id):
    return f"/customers/{customer_id}/wallets/ledger-entries"


def post_entry(api, customer_id, **body):
    return api.post(entries_path(customer_id), {"amount": 100, "currency": "USD", "entry_type": "credit", **body},
                    format="json")


def in_days(days):
    return (timezone.now() + datetime.timedelta(days=days)).isoformat()


def test_optional_fields_are_stored_and_shown_on_every_entry(api, customer):
    response = post_entry(api, customer.id, event_type="refund", reference_object_id="re_1",
                          metadata={"order": "o_9", "n": 2, "ok": True}, idempotency_key="k-1")
    assert response.status_code == 200, response.content
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.event_type, entry.reference_object_id, entry.metadata) == (
        "refund", "re_1", {"order": "o_9", "n": 2, "ok": True})

    listed = api.get(entries_path(customer.id)).json()["items"][0]
    detail = api.get(f"{entries_path(customer.id)}/{entry.id}").json()
    assert listed == detail
    assert detail["event_type"] == "refund"
    assert detail["sequence"] == 1
    assert detail["idempotency_key"] == "k-1"
    assert detail["metadata"] == {"order": "o_9", "n": 2, "ok": True}
    assert detail["actor"]["type"] == "api_key"
    assert detail["actor"]["id"] == entry.actor_id
    assert detail["actor"]["name"]
    assert (detail["reversal_of"], detail["reversed_amount"], detail["hold_id"]) == (None, 0, None)


@pytest.mark.parametrize(("entry_type", "event_type"), [
    ("debit", "refund"), ("credit", "payment"), ("credit", "dispute"),
    ("credit", "payment_reversal"), ("debit", "dispute_reversal"), ("credit", "refund_reversal"),
    ("credit", "bogus"),
])
def test_an_event_type_that_does_not_fit_is_422(api, customer, post, entry_type, event_type):
    post(customer, 1000)
    response = post_entry(api, customer.id, entry_type=entry_type, event_type=event_type)
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_REQUEST_BODY"
    assert "event_type" in response.json()["errors"]
    assert LedgerEntry.objects.filter(customer=customer).count() == 1


@pytest.mark.parametrize(("field", "value"), [
    ("reference_object_id", "r" * 256), ("reference_object_id", 5), ("metadata", {"a": None}),
    ("metadata", {"a": [1]}), ("expires_at", "2031-01-01T00:00:00"), ("expires_at", "soon"),
    ("dry_run", "true"), ("dry_run", 1),
])
def test_invalid_optional_fields_are_422(api, customer, field, value):
    response = post_entry(api, customer.id, **{field: value})
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not LedgerEntry.objects.filter(customer=customer).exists()


def test_metadata_over_50_keys_is_maximum_keys_reached(api, customer):
    response = post_entry(api, customer.id, metadata={f"k{n}": n for n in range(51)})
    assert response.status_code == 422
    assert response.json()["code"] == "MAXIMUM_KEYS_REACHED"


@pytest.mark.parametrize(("entry_type", "expires_at"), [
    ("credit", -1), ("credit", 3660), ("debit", 5),
])
def test_expires_at_in_the_past_too_far_or_on_a_debit_is_422(api, customer, post, entry_type, expires_at):
    post(customer, 1000)
    response = post_entry(api, customer.id, entry_type=entry_type, expires_at=in_days(expires_at))
    assert response.status_code == 422
    assert "expires_at" in response.json()["errors"]


def test_an_expiring_credit_shows_in_the_wallet_soonest_first_five_at_most(api, customer):
    for days in (9, 3, 7, 1, 5, 11):
        assert post_entry(api, customer.id, amount=days, expires_at=in_days(days)).status_code == 200
    last = post_entry(api, customer.id, amount=1000).json()
    assert [e["amount"] for e in last["expiring"]] == [1, 3, 5, 7, 9]
    usd = next(w for w in api.get(f"/customers/{customer.id}/wallets").json()["items"] if w["currency"] == "USD")
    assert usd["expiring"] == last["expiring"]
    assert (usd["balance"], usd["held_balance"], usd["available_balance"]) == (1036, 0, 1036)
    grant = api.get(entries_path(customer.id), {"page_size": 1, "page_number": 6}).json()["items"][0]
    assert grant["expires_at"] is not None
    assert grant["expired_amount"] == 0


def test_held_and_available_balance(api, customer, post):
    post(customer, 1000)
    ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=300,
                       actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(days=1))
    usd = next(w for w in api.get(f"/customers/{customer.id}/wallets").json()["items"] if w["currency"] == "USD")
    assert (usd["balance"], usd["held_balance"], usd["available_balance"]) == (1000, 300, 700)
    debit = post_entry(api, customer.id, amount=800, entry_type="debit")
    assert debit.status_code == 400
    assert debit.json()["code"] == "INSUFFICIENT_WALLET_FUNDS"


@pytest.mark.parametrize("body", [
    {"amount": 100, "entry_type": "credit"},
    {"amount": 40, "entry_type": "debit", "event_type": "payment", "reference_object_id": "pay_1"},
    {"amount": 60, "entry_type": "debit"},  # draws from the expiring credit first
    {"amount": 25, "entry_type": "credit", "expires_at": "EXPIRES"},
])
def test_dry_run_writes_nothing_and_answers_what_the_posting_answers(api, customer, post, body):
    post(customer, 100)
    post(customer, 50, expires_at=timezone.now() + datetime.timedelta(days=2))
    expires = (timezone.now() + datetime.timedelta(days=1)).replace(microsecond=0).isoformat()
    body = {**body, "currency": "USD", **({"expires_at": expires} if body.get("expires_at") else {})}
    count = LedgerEntry.objects.count()

    dry = api.post(entries_path(customer.id), {**body, "dry_run": True}, format="json")
    assert dry.status_code == 200, dry.content
    assert dry["Dry-Run"] == "true"
    assert LedgerEntry.objects.count() == count
    real = api.post(entries_path(customer.id), body, format="json")
    assert real.status_code == 200
    assert "Dry-Run" not in real
    assert LedgerEntry.objects.count() == count + 1

    def without_time(answer):
        return {k: v for k, v in answer.json().items() if k != "updated_at"}

    assert without_time(dry) == without_time(real)


def test_a_refused_dry_run_is_refused_like_the_posting(api, customer):
    response = post_entry(api, customer.id, entry_type="debit", dry_run=True)
    assert response.status_code == 400
    assert response.json()["code"] == "INSUFFICIENT_WALLET_FUNDS"


def test_entry_detail_of_another_customer_or_business_is_404(api, other_api, customer, make_customer, post,
                                                             other_business):
    mine = post(customer, 10).entry
    sibling = make_customer(email="sib@example.com")
    theirs = make_customer(email="x@example.com", business_id=other_business.id)
    theirs_entry = post(theirs, 10).entry
    assert api.get(f"{entries_path(customer.id)}/{mine.id}").status_code == 200
    for response in (
        api.get(f"{entries_path(sibling.id)}/{mine.id}"),
        other_api.get(f"{entries_path(customer.id)}/{mine.id}"),
        other_api.get(f"{entries_path(theirs.id)}/{mine.id}"),
        api.get(f"{entries_path(customer.id)}/{theirs_entry.id}"),
        api.get(f"{entries_path(customer.id)}/wle_unknown"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    assert other_api.get(entries_path(customer.id)).status_code == 404


def test_list_filters(api, customer, post):
    post(customer, 100, event_type="refund", reference_object_id="re_1")
    post(customer, 30, credit=False, event_type="payment", reference_object_id="pay_1")
    post(customer, 5)
    first, *_ = LedgerEntry.objects.filter(customer=customer).order_by("sequence")
    cut = first.created_at

    def ids(**query):
        response = api.get(entries_path(customer.id), query)
        assert response.status_code == 200, response.content
        return [(i["event_type"], i["amount"]) for i in response.json()["items"]]

    assert ids(event_type="refund") == [("refund", 100)]
    assert ids(reference_object_id="pay_1") == [("payment", 30)]
    assert ids(is_credit="false") == [("payment", 30)]
    assert ids(is_credit="true") == [("merchant_adjustment", 5), ("refund", 100)]
    z = cut.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    assert ids(created_at_lte=z) == [("refund", 100)]
    assert ids(created_at_lte=cut.isoformat()) == [("refund", 100)]
    assert len(ids(created_at_gte=z)) == 3
    assert ids(created_at_gte=in_days(1)) == []


@pytest.mark.parametrize("query", [
    {"is_credit": "yes"}, {"event_type": "bogus"}, {"created_at_gte": "yesterday"}, {"created_at_lte": "2030-13-01"},
])
def test_invalid_filters_are_422(api, customer, query):
    response = api.get(entries_path(customer.id), query)
    assert response.status_code == 422
    assert set(query) <= set(response.json()["errors"])


def test_the_list_costs_the_same_queries_whatever_the_page_size(api, customer, post, business,
                                                                django_assert_num_queries, django_user_model):
    user = django_user_model.objects.create_user("ops")
    Membership.objects.create(user=user, business=business, role=Membership.Role.OPERATOR)
    for n in range(30):
        actor = [Actor.command("t"), Actor.user(user.pk)][n % 2]
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=10, is_credit=True,
                    actor=actor, expires_at=timezone.now() + datetime.timedelta(days=1) if n % 3 else None)
        post_entry(api, customer.id, amount=1)
    first = ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=5, is_credit=True,
                        actor=Actor.command("t")).entry
    ledger.reverse(business_id=business.id, customer_id=customer.id, entry_id=first.id, actor=Actor.command("t"),
                   amount=2)
    for size in (5, 50):
        with django_assert_num_queries(5):  # key, customer, entries with both totals, users, keys
            items = api.get(entries_path(customer.id), {"page_size": size}).json()["items"]
        assert len(items) == size
    names = {i["actor"]["type"]: i["actor"]["name"] for i in api.get(entries_path(customer.id),
                                                                    {"page_size": 100}).json()["items"]}
    assert names["user"] == "ops"
    reversed_ = next(i for i in api.get(entries_path(customer.id), {"page_size": 100}).json()["items"]
                     if i["id"] == first.id)
    assert reversed_["reversed_amount"] == 2


def test_wallets_cost_one_query_for_every_wallets_expiring(api, customer, post, django_assert_num_queries):
    for currency in ("USD", "INR", "EUR"):
        post(customer, 10, currency, expires_at=timezone.now() + datetime.timedelta(days=1))
    with django_assert_num_queries(5):  # key, customer, wallets, rates, expiring grants
        items = api.get(f"/customers/{customer.id}/wallets").json()["items"]
    assert [len(w["expiring"]) for w in items] == [1, 1, 1]


def test_a_session_user_cannot_send_the_api_only_extension_fields(business, customer):
    client = session_client(business, Membership.Role.OPERATOR)
    token = csrf_token(client)
    body = {"amount": 1, "currency": "USD", "entry_type": "credit", "reason": "r"}
    for extension in ({"dry_run": True}, {"event_type": "refund"}, {"metadata": {"a": "b"}},
                      {"reference_object_id": "re_1"}):
        response = client.post(entries_path(customer.id), {**body, **extension}, format="json",
                               HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 403, extension
        assert "API key" in response.json()["message"]
    assert not LedgerEntry.objects.filter(customer=customer).exists()
    # Without them, the session adjustment flow answers as before.
    plain = client.post(entries_path(customer.id), body, format="json", HTTP_X_CSRFTOKEN=token)
    assert plain.status_code == 200, plain.content
    assert plain.json()["held_balance"] == 0
    assert plain.json()["balance"] == 1
    # An expiring credit goes through the same flow (a grant).
    grant = client.post(entries_path(customer.id), {**body, "expires_at": in_days(1), "idempotency_key": "g1"},
                        format="json", HTTP_X_CSRFTOKEN=token)
    assert grant.status_code == 200, grant.content
    assert [e["amount"] for e in grant.json()["expiring"]] == [1]


def test_the_schema_documents_the_extension_fields_and_routes(client):
    spec = client.get("/api/schema", {"format": "json"}).json()
    schemas = spec["components"]["schemas"]
    paths = spec["paths"]
    entries = "/customers/{customer_id}/wallets/ledger-entries"
    assert "get" in paths[entries + "/{entry_id}"]
    assert "post" in paths[entries + "/{entry_id}/reversals"]
    assert {"event_type", "reference_object_id", "metadata", "expires_at", "dry_run"} <= set(
        schemas["LedgerEntryCreateRequestRequest"]["properties"])
    assert {"sequence", "idempotency_key", "metadata", "actor", "reversal_of", "reversed_amount", "expires_at",
            "expired_amount", "hold_id"} <= set(schemas["LedgerEntryResponse"]["properties"])
    assert {"available_balance", "held_balance", "expiring"} <= set(schemas["WalletResponse"]["properties"])
    assert "wallet" in schemas["ReversalResponse"]["properties"]
    assert {"amount", "reason", "idempotency_key"} == set(schemas["ReversalCreateRequestRequest"]["properties"])
    listing = {p["name"] for p in paths[entries]["get"]["parameters"]}
    assert {"event_type", "reference_object_id", "created_at_gte", "created_at_lte", "is_credit"} <= listing
