"""The project's OpenAPI document describes the hold and payment extensions, and every answer of
theirs is valid for it (openapi-core judges real responses against our own schema)."""

import json

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

pytestmark = pytest.mark.django_db

SERVER = "https://wallets.example"
OPERATIONS = {
    ("/customers/{customer_id}/wallets/payments", "post"): "create_customer_wallet_payment",
    ("/customers/{customer_id}/wallets/holds", "get"): "list_customer_wallet_holds",
    ("/customers/{customer_id}/wallets/holds", "post"): "create_customer_wallet_hold",
    ("/customers/{customer_id}/wallets/holds/{hold_id}", "get"): "get_customer_wallet_hold",
    ("/customers/{customer_id}/wallets/holds/{hold_id}/capture", "post"): "capture_customer_wallet_hold",
    ("/customers/{customer_id}/wallets/holds/{hold_id}/void", "post"): "void_customer_wallet_hold",
}


@pytest.fixture
def our_spec(client) -> dict:
    response = client.get("/api/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.fixture
def our_valid(our_spec):
    """``our_valid(response)``: a 200 body valid for its operation in our own OpenAPI document."""
    spec = OpenAPI.from_dict({**our_spec, "servers": [{"url": SERVER}]})

    def check(response):
        assert response.status_code == 200, response.content
        request = response.wsgi_request
        spec.validate_response(
            MockRequest(SERVER, request.method, request.path, args=request.GET.dict()),
            MockResponse(response.content, status_code=200, content_type=response["Content-Type"]),
        )
        return json.loads(response.content)

    return check


def test_every_extension_route_is_documented_with_its_errors(our_spec):
    for (path, method), operation_id in OPERATIONS.items():
        operation = our_spec["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert {"200", "401", "404", "422"} <= set(operation["responses"]), (path, method)
        if method == "post":
            assert "403" in operation["responses"], (path, method)
    holds = our_spec["paths"]["/customers/{customer_id}/wallets/holds"]
    assert {"status", "currency", "page_number", "page_size"} <= {p["name"] for p in holds["get"]["parameters"]}
    assert "Idempotency-Key" in {p["name"] for p in holds["post"]["parameters"]}
    assert "400" in holds["post"]["responses"]
    for action in ("capture", "void"):
        assert "409" in our_spec["paths"][f"/customers/{{customer_id}}/wallets/holds/{{hold_id}}/{action}"]["post"][
            "responses"]
    assert our_spec["components"]["schemas"]["HoldStatusEnum"]["enum"] == ["active", "captured", "voided", "expired"]


def test_real_answers_are_valid_for_our_schema(api, customer, post, our_valid):
    post(customer, 1000)
    base = f"/customers/{customer.id}/wallets"
    payment = our_valid(api.post(f"{base}/payments", {"currency": "USD", "amount": 100,
                                                      "reference_object_id": "inv_1"}, format="json"))
    assert payment["entry"] is not None
    nothing = our_valid(api.post(f"{base}/payments", {"currency": "INR", "amount": 100,
                                                      "reference_object_id": "inv_1", "reason": None}, format="json"))
    assert nothing["entry"] is None
    hold = our_valid(api.post(f"{base}/holds", {"currency": "USD", "amount": 300}, format="json"))
    other = our_valid(api.post(f"{base}/holds", {"currency": "USD", "amount": 5, "reason": "r",
                                                 "reference_object_id": "o"}, format="json"))
    assert our_valid(api.get(f"{base}/holds", {"status": "active"}))["items"]
    our_valid(api.get(f"{base}/holds/{hold['id']}"))
    captured = our_valid(api.post(f"{base}/holds/{hold['id']}/capture", {"amount": 100}, format="json"))
    assert (captured["captured_amount"], captured["entry"]["amount"]) == (100, 100)
    voided = our_valid(api.post(f"{base}/holds/{other['id']}/void"))
    assert voided["status"] == "voided"
