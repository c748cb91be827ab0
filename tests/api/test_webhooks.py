"""``/webhooks``: endpoint management in Dodo's shapes. Every 200 body is parsed by Dodo's SDK's own
pydantic types (``WebhookDetails``, ``SyncCursorPagePagination``' fields, the secret and headers
responses), so a shape the SDK cannot read fails here; validation, read-only keys, tenancy and
idempotency are checked on the side."""

import datetime

import pytest
from dodopayments.types import WebhookDetails, WebhookRetrieveSecretResponse
from dodopayments.types.webhooks import HeaderRetrieveResponse
from standardwebhooks import Webhook

from tests.api.helpers import assert_error
from tests.api.test_browsable_api import session_client
from wallets.models import Membership, WebhookEndpoint
from wallets.services.webhooks import endpoint_create
from wallets.webhooks.outbox import TYPES

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/wallets"


def create(api, **body):
    body.setdefault("url", URL)
    return api.post("/webhooks", body, format="json")


def details(response) -> WebhookDetails:
    assert response.status_code == 200, response.content
    return WebhookDetails.model_validate(response.json(), strict=True)


def endpoints_unchanged():
    return list(WebhookEndpoint.objects.order_by("id").values())


def test_create_answers_webhook_details_with_the_sdk_types(api, business):
    body = create(api, description="Ledger", metadata={"team": "finance"}, rate_limit=50,
                  filter_types=["wallet.balance_low", "wallet.ledger_entry.created"],
                  headers={"X-Tenant": "acme", "Authorization": "Bearer s3cr3t"})
    made = details(body)
    assert made.id.startswith("whk_")
    assert (made.url, made.description, made.metadata, made.rate_limit, made.disabled) == (
        URL, "Ledger", {"team": "finance"}, 50, False)
    assert made.filter_types == ["wallet.ledger_entry.created", "wallet.balance_low"]  # in TYPES order
    assert body.json()["disabled_reason"] == ""
    created = datetime.datetime.fromisoformat(made.created_at)
    assert created.tzinfo is not None
    assert made.updated_at == made.created_at
    stored = WebhookEndpoint.objects.get(pk=made.id)
    assert stored.business_id == business.id
    assert stored.headers == {"X-Tenant": "acme", "Authorization": "Bearer s3cr3t"}
    assert "headers" not in body.json()
    assert "secret" not in body.json()


def test_minimal_create_has_dodo_defaults(api):
    made = details(create(api, description=None, metadata=None, headers=None, rate_limit=None, disabled=None))
    assert (made.description, made.metadata, made.filter_types, made.rate_limit, made.disabled) == (
        "", {}, [], None, False)
    disabled = create(api, disabled=True).json()
    assert (disabled["disabled"], disabled["disabled_reason"]) == (True, "manual")


def test_retrieve_update_and_delete(api):
    made = create(api, rate_limit=10, metadata={"a": "1"}).json()
    path = f"/webhooks/{made['id']}"
    assert details(api.get(path)).model_dump() == WebhookDetails.model_validate(made).model_dump()

    updated = details(api.patch(path, {"description": "New", "filter_types": ["wallet.hold.created"],
                                       "url": "https://other.example.com/h", "disabled": True}, format="json"))
    assert (updated.description, updated.filter_types, updated.url, updated.disabled) == (
        "New", ["wallet.hold.created"], "https://other.example.com/h", True)
    assert (updated.metadata, updated.rate_limit) == ({"a": "1"}, 10)  # omitted: unchanged
    assert updated.updated_at > made["updated_at"]

    # null leaves a field as it is, but for rate_limit, where it removes the limit.
    same = details(api.patch(path, {"description": None, "url": None, "metadata": None, "filter_types": None,
                                    "disabled": None, "rate_limit": None}, format="json"))
    assert (same.description, same.url, same.metadata, same.disabled, same.rate_limit) == (
        "New", "https://other.example.com/h", {"a": "1"}, True, None)
    enabled = api.patch(path, {"disabled": False}, format="json").json()
    assert (enabled["disabled"], enabled["disabled_reason"]) == (False, "")

    deleted = api.delete(path, HTTP_ACCEPT="*/*")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(api.get(path), 404, "NOT_FOUND")
    assert_error(api.delete(path), 404, "NOT_FOUND")
    assert not WebhookEndpoint.objects.exists()


def test_secret_is_standard_webhooks_and_rotation_keeps_the_old_one_a_day(api):
    made = create(api).json()
    secret = WebhookRetrieveSecretResponse.model_validate(api.get(f"/webhooks/{made['id']}/secret").json()).secret
    assert secret.startswith("whsec_")
    Webhook(secret)  # the library Dodo's SDK verifies with accepts it
    rotated = api.post(f"/webhooks/{made['id']}/secret/rotate")
    assert rotated.status_code == 200, rotated.content
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != secret
    assert api.get(f"/webhooks/{made['id']}/secret").json() == {"secret": new}
    endpoint = WebhookEndpoint.objects.get(pk=made["id"])
    now = datetime.datetime.now(datetime.UTC)
    assert endpoint.signing_secrets(now) == [new, secret]
    assert endpoint.signing_secrets(now + datetime.timedelta(hours=24, seconds=1)) == [new]


def test_headers_hide_sensitive_values_and_merge(api):
    made = create(api, headers={"X-Tenant": "acme", "Authorization": "Bearer s3cr3t"}).json()
    path = f"/webhooks/{made['id']}/headers"
    shown = HeaderRetrieveResponse.model_validate(api.get(path).json(), strict=True)
    assert (shown.headers, shown.sensitive) == ({"X-Tenant": "acme"}, ["Authorization"])
    assert "s3cr3t" not in api.get(path).content.decode()

    merged = api.patch(path, {"headers": {"X-Env": "prod", "X-Tenant": "", "X-Api-Key": "k"}}, format="json")
    assert merged.status_code == 200, merged.content
    assert merged.json() == {"headers": {"X-Env": "prod"}, "sensitive": ["Authorization", "X-Api-Key"]}
    assert WebhookEndpoint.objects.get(pk=made["id"]).headers == {
        "Authorization": "Bearer s3cr3t", "X-Env": "prod", "X-Api-Key": "k"}


def test_list_pages_newest_first_with_an_opaque_cursor_stable_under_inserts(api, other_api):
    ids = [create(api, description=f"n{i}").json()["id"] for i in range(5)]
    create(other_api)
    first = api.get("/webhooks", {"limit": 2}).json()
    assert set(first) == {"data", "iterator", "done"}
    assert [d["id"] for d in first["data"]] == ids[::-1][:2]
    assert first["done"] is False
    assert isinstance(first["iterator"], str)
    assert "whk_" not in first["iterator"]  # opaque
    for item in first["data"]:
        WebhookDetails.model_validate(item, strict=True)

    late = create(api).json()["id"]  # newer than every page: must not shift the next one
    second = api.get("/webhooks", {"limit": 2, "iterator": first["iterator"]}).json()
    assert [d["id"] for d in second["data"]] == ids[::-1][2:4]
    last = api.get("/webhooks", {"limit": 2, "iterator": second["iterator"]}).json()
    assert ([d["id"] for d in last["data"]], last["iterator"], last["done"]) == ([ids[0]], None, True)

    everything = api.get("/webhooks").json()
    assert [d["id"] for d in everything["data"]] == [late, *ids[::-1]]
    assert everything["done"] is True
    assert len(api.get("/webhooks", {"limit": 100}).json()["data"]) == 6


def test_an_exact_page_ends_done_and_an_empty_list_is_done(api):
    assert api.get("/webhooks").json() == {"data": [], "iterator": None, "done": True}
    create(api)
    create(api)
    page = api.get("/webhooks", {"limit": 2}).json()
    assert (len(page["data"]), page["iterator"], page["done"]) == (2, None, True)
    assert api.get("/webhooks", {"limit": "", "iterator": ""}).json()["done"] is True  # empty: not given


@pytest.mark.parametrize("query", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "-1"}, {"limit": "x"}, {"limit": "2.0"},
    {"iterator": "not-a-cursor"}, {"iterator": "d2hrX3h4"}, {"iterator": "%%%"}, {"iterator": "A" * 300},
    {"iterator": "MjAyNi0xMy0wMVQwMDowMDowMCswMDowMHx3aGtfeA"},  # month 13
    {"iterator": "MjAyNi0wMS0wMVQwMDowMDowMHx3aGtfeA"},  # no offset
])
def test_a_bad_cursor_or_limit_is_422(api, query):
    assert_error(api.get("/webhooks", query), 422, "INVALID_REQUEST_BODY")


def test_a_repeated_limit_is_422(api):
    assert_error(api.get("/webhooks?limit=1&limit=2"), 422, "INVALID_REQUEST_BODY")


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "not a url"}, "url"),
    ({"url": "ftp://hooks.example.com/x"}, "url"),
    ({"url": "https://user:pw@hooks.example.com/x"}, "url"),
    ({"url": 5}, "url"),
    ({"url": "https://hooks.example.com/\x00"}, "url"),
    ({"url": "https://hooks.example.com/a\nb"}, "url"),
    ({"url": "https://hooks.example.com/a\x7f"}, "url"),
    ({"filter_types": ["payment.succeeded"]}, "filter_types"),
    ({"filter_types": "wallet.balance_low"}, "filter_types"),
    ({"filter_types": [1]}, "filter_types"),
    ({"headers": {"webhook-signature": "x"}}, "headers"),
    ({"headers": {"Content-Type": "text/plain"}}, "headers"),
    ({"headers": {"X-Bad": "a\r\nInjected: 1"}}, "headers"),
    ({"headers": {"bad name": "x"}}, "headers"),
    ({"headers": {"X-A": 1}}, "headers"),
    ({"headers": {"X-A": "\x00"}}, "headers"),
    # HTTP carries ASCII: a name or value that could not be sent would fail every delivery.
    ({"headers": {"X-\u00e9": "v"}}, "headers"),
    ({"headers": {"X-A": "\u65e5\u672c"}}, "headers"),
    ({"headers": {"X-A": "a\x7fb"}}, "headers"),
    ({"headers": {"X-A": "a\x0bb"}}, "headers"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"rate_limit": -5}, "rate_limit"),
    ({"rate_limit": 100_001}, "rate_limit"),
    ({"rate_limit": 2**70}, "rate_limit"),
    ({"rate_limit": "10"}, "rate_limit"),
    ({"rate_limit": True}, "rate_limit"),
    ({"metadata": {"a": 1}}, "metadata"),
    ({"metadata": {"\x00": "v"}}, "metadata"),
    ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
    ({"description": "x" * 501}, "description"),
    ({"disabled": "yes"}, "disabled"),
    ({"idempotency_key": ""}, "idempotency_key"),
])
def test_invalid_create_is_422_naming_the_field_and_creates_nothing(api, body, field):
    response = create(api, **body)
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert any(name.split(".")[0] == field for name in error.get("errors", {})), error
    assert not WebhookEndpoint.objects.exists()


def test_http_and_private_addresses_are_refused_unless_private_targets_are_allowed(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.8/x",
                "https://169.254.169.254/latest", "https://[::1]/x"):
        error = assert_error(create(api, url=url), 422, "INVALID_REQUEST_BODY")
        assert "url" in error["errors"], url
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    assert create(api, url="http://127.0.0.1:9/x").status_code == 200


@pytest.mark.parametrize("body", [
    {"url": "nope"}, {"filter_types": ["nope"]}, {"rate_limit": 0}, {"metadata": {"a": 1}},
    {"disabled": 1}, {"description": 3},
])
def test_invalid_update_is_422_and_changes_nothing(api, body):
    made = create(api).json()
    before = endpoints_unchanged()
    assert_error(api.patch(f"/webhooks/{made['id']}", body, format="json"), 422, "INVALID_REQUEST_BODY")
    assert endpoints_unchanged() == before


@pytest.mark.parametrize("body", [
    {"headers": {"Host": "evil"}}, {"headers": {"X": "\n"}}, {"headers": None}, {}, {"headers": []},
    {"headers": {f"X-{i}": "v" for i in range(21)}},
])
def test_invalid_headers_update_is_422_and_changes_nothing(api, body):
    made = create(api, headers={"X-A": "1"}).json()
    before = endpoints_unchanged()
    response = api.patch(f"/webhooks/{made['id']}/headers", body, format="json")
    assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert endpoints_unchanged() == before


def test_idempotency_key_replays_the_same_endpoint_and_refuses_another_body(api, other_api):
    first = create(api, idempotency_key="create-1", description="a").json()
    again = create(api, idempotency_key="create-1", description="a").json()
    assert again["id"] == first["id"]
    assert WebhookEndpoint.objects.count() == 1
    assert_error(create(api, idempotency_key="create-1", description="b"), 422, "IDEMPOTENCY_KEY_REUSED")
    # Keys are per business; no key creates every time.
    assert create(other_api, idempotency_key="create-1", description="a").json()["id"] != first["id"]
    assert create(api).json()["id"] != create(api).json()["id"]
    assert WebhookEndpoint.objects.count() == 4


def test_the_idempotency_key_header_stands_for_the_body_field(api):
    first = api.post("/webhooks", {"url": URL}, format="json", HTTP_IDEMPOTENCY_KEY="hdr-1").json()
    assert create(api, idempotency_key="hdr-1").json()["id"] == first["id"]
    assert_error(api.post("/webhooks", {"url": URL, "idempotency_key": "other"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="hdr-1"), 422, "INVALID_REQUEST_BODY")
    assert_error(api.post("/webhooks", {"url": URL}, format="json", HTTP_IDEMPOTENCY_KEY=""), 422,
                 "INVALID_REQUEST_BODY")
    assert WebhookEndpoint.objects.count() == 1


def test_read_only_keys_read_but_do_not_write_nor_see_the_secret(api, read_only_api):
    made = create(api, headers={"X-A": "1"}).json()
    path = f"/webhooks/{made['id']}"
    assert read_only_api.get("/webhooks").json()["data"][0]["id"] == made["id"]
    assert read_only_api.get(path).status_code == 200
    assert read_only_api.get(f"{path}/headers").status_code == 200
    before = endpoints_unchanged()
    for response in (create(read_only_api), read_only_api.patch(path, {"description": "x"}, format="json"),
                     read_only_api.delete(path), read_only_api.post(f"{path}/secret/rotate"),
                     read_only_api.patch(f"{path}/headers", {"headers": {"X-B": "2"}}, format="json"),
                     read_only_api.get(f"{path}/secret")):
        assert_error(response, 403, "FORBIDDEN")
    assert endpoints_unchanged() == before


def test_another_business_endpoint_is_404_everywhere(api, other_api):
    made = create(api, headers={"X-A": "1"}).json()
    path = f"/webhooks/{made['id']}"
    before = endpoints_unchanged()
    for response in (other_api.get(path), other_api.patch(path, {"description": "x"}, format="json"),
                     other_api.delete(path), other_api.get(f"{path}/secret"),
                     other_api.post(f"{path}/secret/rotate"), other_api.get(f"{path}/headers"),
                     other_api.patch(f"{path}/headers", {"headers": {"X-B": "2"}}, format="json")):
        assert_error(response, 404, "NOT_FOUND")
    assert other_api.get("/webhooks").json() == {"data": [], "iterator": None, "done": True}
    assert endpoints_unchanged() == before


def test_without_a_key_it_is_401(client):
    assert_error(client.get("/webhooks"), 401, "UNAUTHORIZED")
    assert_error(client.post("/webhooks", {"url": URL}, content_type="application/json"), 401, "UNAUTHORIZED")


def test_every_event_type_can_be_filtered(api):
    made = details(create(api, filter_types=list(TYPES)))
    assert made.filter_types == list(TYPES)


HOSTILE_BODIES = {
    "nested 100k deep": '{"url": "https://h.example.com/x", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "1e400 rate limit": '{"url": "https://h.example.com/x", "rate_limit": 1e400}',
    "int beyond int64 rate limit": '{"url": "https://h.example.com/x", "rate_limit": 74727252263436497715200}',
    "float rate limit": '{"url": "https://h.example.com/x", "rate_limit": 1.5}',
    "lone surrogate url": '{"url": "https://h.example.com/\\ud800"}',
    "lone surrogate header": '{"url": "https://h.example.com/x", "headers": {"X-A": "\\udfff"}}',
    "NUL in header name": '{"url": "https://h.example.com/x", "headers": {"X-\\u0000": "v"}}',
    "not JSON": "{url: https",
    "a list": '["https://h.example.com/x"]',
    "a string": '"https://h.example.com/x"',
    "null": "null",
    "empty": "",
    "headers as a list": '{"url": "https://h.example.com/x", "headers": [["X-A", "b"]]}',
    "metadata nested": '{"url": "https://h.example.com/x", "metadata": {"a": {"b": "c"}}}',
    "filter_types of objects": '{"url": "https://h.example.com/x", "filter_types": [{}]}',
    "10k filter types": '{"url": "https://h.example.com/x", "filter_types": [' + ",".join(['"x"'] * 10_000) + "]}",
    "URL with a bad port": '{"url": "https://h.example.com:99999/x"}',
    "URL of 3000 characters": '{"url": "https://h.example.com/' + "a" * 3000 + '"}',
    "URL with spaces only": '{"url": "   "}',
}


#: Bodies whose only hostile part is ``headers``, which ``PATCH /webhooks/{id}`` does not take (an
#: unknown field is ignored there, as everywhere in the API).
HEADERS_ONLY = {"lone surrogate header", "NUL in header name", "headers as a list"}


@pytest.mark.parametrize(("name", "raw"), HOSTILE_BODIES.items(), ids=HOSTILE_BODIES.keys())
def test_hostile_bodies_are_422_on_every_webhook_write_and_change_nothing(api, name, raw):
    made = create(api, headers={"X-A": "1"}).json()
    before = endpoints_unchanged()
    routes = [("POST", "/webhooks"), ("PATCH", f"/webhooks/{made['id']}/headers")]
    if name not in HEADERS_ONLY and name != "empty":  # an empty PATCH gives no field: nothing to change
        routes.append(("PATCH", f"/webhooks/{made['id']}"))
    for method, path in routes:
        response = api.generic(method, path, raw, content_type="application/json")
        assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert endpoints_unchanged() == before


@pytest.mark.parametrize(("label", "budget"), [
    ("list", 2),  # key, one page (limit + 1 rows: no count)
    ("list after a cursor", 2),
    ("retrieve", 2),
    ("create", 4),  # key, savepoint, insert, release
    ("create replayed", 2),  # key, the key's endpoint
    ("update", 5),  # key, savepoint, lock, update, release
    ("headers", 2),
])
def test_each_route_costs_a_fixed_number_of_queries(api, business, django_assert_max_num_queries, label, budget):
    ids = [endpoint_create(business_id=business.id, url=URL, idempotency_key=f"k{i}").id for i in range(12)]
    cursor = api.get("/webhooks", {"limit": 5}).json()["iterator"]
    calls = {
        "list": lambda: api.get("/webhooks", {"limit": 100}),
        "list after a cursor": lambda: api.get("/webhooks", {"limit": 100, "iterator": cursor}),
        "retrieve": lambda: api.get(f"/webhooks/{ids[0]}"),
        "create": lambda: create(api),
        "create replayed": lambda: create(api, idempotency_key="k3"),  # the same body as the service's
        "update": lambda: api.patch(f"/webhooks/{ids[0]}", {"description": "d"}, format="json"),
        "headers": lambda: api.get(f"/webhooks/{ids[0]}/headers"),
    }
    with django_assert_max_num_queries(budget):
        response = calls[label]()
    assert response.status_code == 200, response.content
    expected_items = {"list": 12, "list after a cursor": 7}
    if label in expected_items:
        assert len(response.json()["data"]) == expected_items[label]


def test_the_browsable_api_shows_endpoints_to_members_and_keeps_the_secret_from_viewers(business):
    made = endpoint_create(business_id=business.id, url=URL, headers={"X-A": "1"}, metadata={"k": "v"})
    for role in Membership.Role.values:
        client = session_client(business, role)
        for path in ("/webhooks", f"/webhooks/{made.id}", f"/webhooks/{made.id}/headers"):
            page = client.get(path, HTTP_ACCEPT="text/html")
            assert page.status_code == 200, (role, path, page.content[:300])
            assert page["Content-Type"].startswith("text/html")
        secret = client.get(f"/webhooks/{made.id}/secret", HTTP_ACCEPT="text/html")
        can_write = Membership.objects.get(user=client.user).can_post
        assert (secret.status_code == 200) == can_write, role
        assert (made.secret in secret.content.decode()) == can_write, role
