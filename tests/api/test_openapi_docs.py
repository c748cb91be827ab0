"""The project's own OpenAPI document, its interactive docs (no CDN), and the health check."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

from tests.api.conftest import DODO_SCHEMA_PATH

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dodo_spec() -> dict:
    return yaml.safe_load(DODO_SCHEMA_PATH.read_text())


@pytest.fixture
def our_spec(client) -> dict:
    response = client.get("/api/schema")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def resolve(spec: dict, schema: dict) -> dict:
    """Follow ``$ref`` (and drf-spectacular's one-element ``allOf`` wrapper) within ``spec``."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = spec["components"]["schemas"][name]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def shape(spec: dict, schema: dict) -> object:
    """Property names, required names and item shapes, recursively: what a client depends on."""
    schema = resolve(spec, schema)
    if "properties" in schema:
        return {
            "required": sorted(schema.get("required", [])),
            "properties": {name: shape(spec, sub) for name, sub in sorted(schema["properties"].items())},
        }
    if "items" in schema:
        return {"items": shape(spec, schema["items"])}
    return None


def dodo_operations(dodo_spec):
    return [(path, method, op) for path, ops in dodo_spec["paths"].items() for method, op in ops.items()]


def test_schema_is_valid_openapi(our_spec):
    validate(our_spec)
    assert our_spec["info"]["title"] == "Wallets API"


def test_schema_is_served_as_json_too(client):
    response = client.get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    validate(response.json())


def test_every_dodo_operation_is_there_with_dodos_operation_id(our_spec, dodo_spec):
    operations = dodo_operations(dodo_spec)
    assert len(operations) == 7
    for path, method, dodo_op in operations:
        ours = our_spec["paths"].get(path, {}).get(method)
        assert ours is not None, f"{method.upper()} {path} is missing"
        assert ours["operationId"] == dodo_op["operationId"]
        assert ours["security"][0] == {"API_KEY": []}


# Fields beyond Dodo's v1.112.2 extract: Customer's fields of Dodo's newest SDK (1.123.0), and the
# wallet list's extensions (API-NOTES, "Transport rules", "Balances in time"). Documented in our
# schema, optional to clients.
BASE_EXTENSION_FIELDS = {"as_of", "blocked_at", "blocklist_entry_id", "preferred_locale", "total_balance_usd_capped",
                         "unconverted_currencies"}
EXTENSION_FIELDS = {*BASE_EXTENSION_FIELDS,
                    # API-NOTES "Beyond Dodo": the entry's and the wallet's extension fields.
                    "sequence", "idempotency_key", "actor", "reversal_of", "reversed_amount", "expires_at",
                    "expired_amount", "hold_id", "available_balance", "held_balance", "expiring"}
# The ledger entry's optional request fields (Dodo's entry response has event_type and
# reference_object_id, its request body does not).
REQUEST_EXTENSION_FIELDS = {"event_type", "reference_object_id", "metadata", "expires_at", "dry_run"}


def without_extensions(value, extensions=frozenset(EXTENSION_FIELDS)):
    if isinstance(value, dict):
        return {
            key: (sorted(set(sub) - extensions) if key == "required" else without_extensions(sub, extensions))
            for key, sub in value.items() if key not in extensions
        }
    return value


def without_entry_metadata(value):
    """Dodo's entry has no metadata (its customer has): drop it from the entry shapes only."""
    if isinstance(value, dict):
        if "reversal_of" in value.get("properties", {}):
            value = {**value, "properties": {k: v for k, v in value["properties"].items() if k != "metadata"},
                     "required": [r for r in value.get("required", []) if r != "metadata"]}
        return {key: without_entry_metadata(sub) for key, sub in value.items()}
    return value


def test_response_and_request_shapes_match_dodos(our_spec, dodo_spec):
    for path, method, dodo_op in dodo_operations(dodo_spec):
        ours = our_spec["paths"][path][method]
        dodo_200 = dodo_op["responses"]["200"]["content"]["application/json"]["schema"]
        our_200 = ours["responses"]["200"]["content"]["application/json"]["schema"]
        assert without_extensions(without_entry_metadata(shape(our_spec, our_200))) == shape(dodo_spec, dodo_200), \
            f"200 of {method.upper()} {path}"
        if "requestBody" in dodo_op:
            dodo_body = shape(dodo_spec, dodo_op["requestBody"]["content"]["application/json"]["schema"])
            our_body = without_extensions(
                shape(our_spec, ours["requestBody"]["content"]["application/json"]["schema"]),
                BASE_EXTENSION_FIELDS | (REQUEST_EXTENSION_FIELDS if path.endswith("/ledger-entries") else set()))
            assert set(our_body["properties"]) == set(dodo_body["properties"]), f"body of {method.upper()} {path}"
            assert our_body["required"] == dodo_body["required"], f"body of {method.upper()} {path}"
        dodo_params = {p["name"] for p in dodo_op.get("parameters", [])}
        our_params = {p["name"] for p in ours.get("parameters", [])}
        assert dodo_params <= our_params, f"parameters of {method.upper()} {path}"


def test_currency_enum_is_dodos(our_spec, dodo_spec):
    dodo_currencies = dodo_spec["components"]["schemas"]["Currency"]["enum"]
    assert our_spec["components"]["schemas"]["CurrencyEnum"]["enum"] == dodo_currencies
    listing = our_spec["paths"]["/customers/{customer_id}/wallets/ledger-entries"]["get"]
    currency = next(p for p in listing["parameters"] if p["name"] == "currency")
    assert currency["schema"]["enum"] == dodo_currencies


def test_errors_are_documented_with_the_error_body(our_spec):
    post = our_spec["paths"]["/customers/{customer_id}/wallets/ledger-entries"]["post"]
    for status in ("401", "403", "404", "422", "429"):
        schema = resolve(our_spec, post["responses"][status]["content"]["application/json"]["schema"])
        assert {"code", "message"} <= set(schema["required"])
    assert "Idempotency-Key" in {p["name"] for p in post["parameters"]}


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_interactive_docs_load_their_assets_from_static(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert any(s.endswith(".js") for s in sources), sources
    for source in sources:
        assert source.startswith("/static/"), f"{source} is not served by this server"
        assert finders.find(source.removeprefix("/static/")), f"{source} is not in the static files"
    assert "cdn" not in html.lower()
    assert "unpkg" not in html.lower()


def test_health_check_touches_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("path", ["/api/schema", "/api/docs", "/api/redoc"])
def test_docs_are_public_even_for_a_user_outside_any_business(client, django_user_model, api, path):
    # A logged-in admin with no business used to be refused by the session authentication.
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", None))
    assert client.get(path).status_code == 200
    # An API key, valid or not, is not needed and not checked.
    assert client.get(path, HTTP_AUTHORIZATION="Bearer wsk_unknown").status_code == 200


def test_the_extension_fields_are_documented(our_spec):
    customer = resolve(our_spec, our_spec["paths"]["/customers/{customer_id}"]["get"]["responses"]["200"]
                       ["content"]["application/json"]["schema"])
    assert {"blocked_at", "blocklist_entry_id", "preferred_locale"} <= set(customer["properties"])
    wallets = resolve(our_spec, our_spec["paths"]["/customers/{customer_id}/wallets"]["get"]["responses"]["200"]
                      ["content"]["application/json"]["schema"])
    assert {"total_balance_usd_capped", "unconverted_currencies", "as_of"} <= set(wallets["properties"])


def test_every_operation_has_its_own_description(our_spec):
    """Redoc and Swagger show an operation's description under its title: the viewset's docstring,
    shared by every operation of it, said nothing about what each one does."""
    described = {}
    for path, item in our_spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                text = (operation.get("description") or "").strip()
                assert text, f"{method.upper()} {path} has no description"
                described.setdefault(text, []).append(f"{method.upper()} {path}")
    shared = {text: ops for text, ops in described.items() if len(ops) > 1}
    assert shared == {}
    assert len(described) >= 25
