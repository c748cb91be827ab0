"""The project's OpenAPI document describes every ``/webhooks`` route with its errors, and every real
answer of theirs is valid for it (openapi-core judges the responses against our own schema)."""

import pytest

from tests.api.test_openapi_holds import our_spec, our_valid  # noqa: F401  (the schema and its judge)

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/webhooks", "get"): "list_webhooks",
    ("/webhooks", "post"): "create_webhook",
    ("/webhooks/{webhook_id}", "get"): "get_webhook",
    ("/webhooks/{webhook_id}", "patch"): "update_webhook",
    ("/webhooks/{webhook_id}", "delete"): "delete_webhook",
    ("/webhooks/{webhook_id}/secret", "get"): "get_webhook_secret",
    ("/webhooks/{webhook_id}/secret/rotate", "post"): "rotate_webhook_secret",
    ("/webhooks/{webhook_id}/headers", "get"): "get_webhook_headers",
    ("/webhooks/{webhook_id}/headers", "patch"): "update_webhook_headers",
}


def test_every_webhook_route_is_documented_with_its_errors(our_spec):  # noqa: F811
    for (path, method), operation_id in OPERATIONS.items():
        operation = our_spec["paths"][path][method]
        assert operation["operationId"] == operation_id
        success = "204" if method == "delete" else "200"
        assert {success, "401", "404", "422"} <= set(operation["responses"]), (path, method)
        if method != "get" or path.endswith("/secret"):
            assert "403" in operation["responses"], (path, method)
    webhook_paths = {path for path in our_spec["paths"] if path.startswith("/webhooks")}
    assert webhook_paths == {path for path, _ in OPERATIONS}
    listing = our_spec["paths"]["/webhooks"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"iterator", "limit"}
    details = our_spec["components"]["schemas"]["WebhookDetailsResponse"]
    assert {"id", "url", "description", "disabled", "filter_types", "metadata", "rate_limit", "created_at",
            "updated_at"} <= set(details["required"])
    assert details["properties"]["rate_limit"]["nullable"] is True


def test_real_answers_are_valid_for_our_schema(api, our_valid):  # noqa: F811
    made = our_valid(api.post("/webhooks", {"url": "https://hooks.example.com/a", "rate_limit": 5,
                                            "headers": {"Authorization": "x", "X-A": "b"},
                                            "filter_types": ["wallet.hold.created"]}, format="json"))
    our_valid(api.post("/webhooks", {"url": "https://hooks.example.com/b", "disabled": True}, format="json"))
    page = our_valid(api.get("/webhooks", {"limit": 1}))
    assert page["iterator"] is not None
    assert our_valid(api.get("/webhooks", {"limit": 1, "iterator": page["iterator"]}))["done"] is True
    path = f"/webhooks/{made['id']}"
    our_valid(api.get(path))
    assert our_valid(api.patch(path, {"rate_limit": None}, format="json"))["rate_limit"] is None
    our_valid(api.get(f"{path}/secret"))
    our_valid(api.post(f"{path}/secret/rotate"))
    assert our_valid(api.get(f"{path}/headers"))["sensitive"] == ["Authorization"]
    our_valid(api.patch(f"{path}/headers", {"headers": {"X-C": "d"}}, format="json"))
