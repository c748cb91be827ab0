"""Every 200 body of every operation, validated by openapi-core against the operation's response
schema in Dodo's own OpenAPI 3.1 document ($refs resolved, formats checked), with realistic data."""

import json

import pytest
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import InvalidData

from tests.api.conftest import DODO_SERVER

pytestmark = pytest.mark.django_db

# Dodo's Metadata schema says each value is oneOf string | integer | number | boolean. An integer
# is also a number, so no integer can match exactly one branch: integer values are left out here.
METADATA = {"plan": "pro", "score": 4.5, "vip": True, "note": ""}


@pytest.fixture
def rich_customer(api):
    body = {"email": "rich@example.com", "name": "Rich Data", "phone_number": "+919876543210", "metadata": METADATA}
    return api.post("/customers", body, format="json").json()["customer_id"]


def test_every_operation_answers_bodies_valid_in_dodos_schema(api, rich_customer, make_customer, dodo_valid):
    cid = rich_customer
    make_customer(email="plain@example.com", name="Plain")  # phone null, metadata empty
    entries = f"/customers/{cid}/wallets/ledger-entries"

    bodies = [
        dodo_valid(api.post("/customers", {"email": "new@example.com", "name": "New"}, format="json")),
        dodo_valid(api.post("/customers", {"email": "RICH@example.com", "name": "Again"}, format="json")),
        dodo_valid(api.get(f"/customers/{cid}")),
        dodo_valid(api.patch(f"/customers/{cid}", {"name": "Rich Renamed"}, format="json")),
        dodo_valid(
            api.post(entries, {"amount": 1999, "currency": "USD", "entry_type": "credit", "reason": "x"}, format="json")
        ),
        dodo_valid(
            api.post(
                entries,
                {"amount": 500000, "currency": "INR", "entry_type": "credit", "idempotency_key": "i-1"},
                format="json",
            )
        ),
        dodo_valid(
            api.post(
                entries,
                {"amount": 500000, "currency": "INR", "entry_type": "credit", "idempotency_key": "i-1"},
                format="json",
            )
        ),  # a replay
        dodo_valid(api.post(entries, {"amount": 999, "currency": "USD", "entry_type": "debit"}, format="json")),
        dodo_valid(api.post(entries, {"amount": 7, "currency": "EUR", "entry_type": "credit"}, format="json")),
        dodo_valid(api.get("/customers")),
        dodo_valid(api.get("/customers", {"name": "rich", "page_size": 1})),
        dodo_valid(api.get(f"/customers/{cid}/wallets")),
        dodo_valid(api.get(entries)),
        dodo_valid(api.get(entries, {"currency": "INR", "page_size": 1, "page_number": 0})),
        dodo_valid(api.patch(f"/customers/{cid}", {"phone_number": None, "metadata": None}, format="json")),
    ]
    assert len(bodies[9]["items"]) == 3
    assert {w["currency"] for w in bodies[11]["items"]} == {"EUR", "INR", "USD"}
    assert len(bodies[12]["items"]) == 4
    assert bodies[12]["items"][0]["reason"] is None
    assert bodies[12]["items"][-1]["reason"] == "x"


def test_the_validator_is_not_vacuous(dodo_openapi, api, customer):
    """The same check refuses a body that breaks Dodo's schema, so the passes above mean something."""
    good = api.get(f"/customers/{customer.id}/wallets").json()
    request = MockRequest(DODO_SERVER, "get", f"/customers/{customer.id}/wallets")
    dodo_openapi.validate_response(request, MockResponse(json.dumps(good).encode()))
    broken = [
        {**good, "total_balance_usd": "0"},
        {"items": good["items"]},
        {**good, "items": [{**good["items"][0], "currency": "usd"}]},
        {**good, "items": [{**good["items"][0], "created_at": "22/11/2026"}]},
        {**good, "total_balance_usd": 2**63},
    ]
    for body in broken:
        with pytest.raises(InvalidData):
            dodo_openapi.validate_response(request, MockResponse(json.dumps(body).encode()))
