"""Authentication, permissions, tenancy, unknown paths, methods, rate limits and 500s: every error
is Dodo's JSON body and changes nothing."""

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, ledger_post, unchanged
from wallets.services.api_keys import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

CUSTOMER_BODY = {"email": "new@example.com", "name": "New"}
ENTRY_BODY = {"amount": 5, "currency": "USD", "entry_type": "credit"}


def every_operation(customer_id: str):
    """(method, path, body) of every operation of the API."""
    return [
        ("get", "/customers", None),
        ("post", "/customers", CUSTOMER_BODY),
        ("get", f"/customers/{customer_id}", None),
        ("patch", f"/customers/{customer_id}", {"name": "Changed"}),
        ("get", f"/customers/{customer_id}/wallets", None),
        ("get", f"/customers/{customer_id}/wallets/ledger-entries", None),
        ("post", f"/customers/{customer_id}/wallets/ledger-entries", ENTRY_BODY),
    ]


def call(client, method, path, body):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


# --- 401 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wsk_" + "A" * 43,  # well-formed, unknown
        "Bearer wsk_short",
        "Bearer ",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Token wsk_" + "A" * 43,
        "Bearer wsk_\u00e9t\u00e9",
    ],
    ids=["none", "unknown", "malformed", "empty", "scheme only", "basic", "token scheme", "non-ascii"],
)
def test_missing_or_unknown_key_is_401_on_every_operation(customer, authorization):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for method, path, body in every_operation(customer.id):
        with unchanged():
            response = call(client, method, path, body)
        assert_error(response, 401, "UNAUTHORIZED")
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_fails_at_once(api, customer):
    from wallets.models import ApiKey

    assert api.get("/customers").status_code == 200
    key = ApiKey.objects.get(prefix=api.raw_key[: ApiKey.PREFIX_LENGTH])
    api_key_revoke(key_id=key.id)
    for method, path, body in every_operation(customer.id):
        with unchanged():
            response = call(api, method, path, body)
        assert_error(response, 401, "UNAUTHORIZED")


def test_another_key_of_the_business_keeps_working_after_a_revoke(business, customer):
    first, first_raw = api_key_create(business=business)
    _, second_raw = api_key_create(business=business)
    api_key_revoke(key_id=first.id)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {second_raw}")
    assert client.get(f"/customers/{customer.id}").status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {first_raw}")
    assert_error(client.get(f"/customers/{customer.id}"), 401, "UNAUTHORIZED")


def test_lowercase_bearer_scheme_is_accepted(api, customer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {api.raw_key}")
    assert client.get(f"/customers/{customer.id}").status_code == 200


# --- 403 --------------------------------------------------------------------------------------------


def test_read_only_key_reads_but_every_write_is_403(read_only_api, customer):
    for method, path, body in every_operation(customer.id):
        with unchanged():
            response = call(read_only_api, method, path, body)
        if method == "get":
            assert response.status_code == 200, (path, response.content)
        else:
            assert_error(response, 403, "FORBIDDEN")


# --- 404: tenancy and unknown paths -----------------------------------------------------------------


def test_another_business_sees_none_of_its_customers(api, other_api, customer, post):
    post(customer, 1000)
    for method, path, body in every_operation(customer.id):
        if path == "/customers":
            continue
        with unchanged():
            response = call(other_api, method, path, body)
        assert_error(response, 404, "NOT_FOUND")
    assert other_api.get("/customers").json() == {"items": []}
    assert other_api.get("/customers", {"email": customer.email}).json() == {"items": []}


def test_another_business_may_post_idempotency_key_and_email_of_ours(api, other_api, customer):
    ledger_post(api, customer.id, amount=5, idempotency_key="k")
    theirs = other_api.post("/customers", {"email": customer.email, "name": "Theirs"}, format="json").json()
    assert theirs["customer_id"] != customer.id
    response = ledger_post(other_api, theirs["customer_id"], amount=7, idempotency_key="k")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/customers/",
        "/customers/cus_x/",
        "/customers/cus_x/wallets/",
        "/customers/cus_x/unknown",
        "/customers/cus_x/wallets/ledger-entries/",
        "/v1/customers",
        "/api/nothing",
    ],
)
def test_unknown_path_is_json_404_for_every_method(api, path, method):
    # A client enforcing CSRF like a real one: an unknown path must not turn into an HTML 403.
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.raw_key}")
    with unchanged():
        response = getattr(client, method)(path, {"a": 1}, format="json")
    assert_error(response, 404, "NOT_FOUND")


def test_unknown_path_without_a_key_is_json_404():
    assert_error(APIClient().get("/nothing/here"), 404, "NOT_FOUND")


# --- 405 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/customers/{id}"),
        ("delete", "/customers/{id}"),
        ("post", "/customers/{id}"),
        ("put", "/customers"),
        ("delete", "/customers"),
        ("patch", "/customers"),
        ("post", "/customers/{id}/wallets"),
        ("delete", "/customers/{id}/wallets"),
        ("put", "/customers/{id}/wallets/ledger-entries"),
        ("delete", "/customers/{id}/wallets/ledger-entries"),
        ("patch", "/customers/{id}/wallets/ledger-entries"),
    ],
)
def test_unsupported_method_is_405(api, customer, post, method, path):
    post(customer, 100)
    with unchanged():
        response = getattr(api, method)(path.format(id=customer.id), {"name": "x", **ENTRY_BODY}, format="json")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")


# --- 429 --------------------------------------------------------------------------------------------


@override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}})
def test_rate_limit_is_429_with_retry_after_per_key(api, other_api, customer):
    for _ in range(3):
        assert api.get("/customers").status_code == 200
    with unchanged():
        response = ledger_post(api, customer.id, amount=5)
    assert_error(response, 429, "TOO_MANY_REQUESTS")
    assert 1 <= int(response["Retry-After"]) <= 60
    # The limit is per key: another key is not affected.
    assert other_api.get("/customers").status_code == 200


# --- 500 and the request id ------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["production", "DEBUG"])
def test_a_bug_is_a_json_500_with_the_request_id_and_no_traceback(
    api, customer, monkeypatch, settings, caplog, debug
):
    settings.DEBUG = debug
    from wallets import selectors

    def broken(**kwargs):
        raise RuntimeError("secret internals: SELECT * FROM wallets_wallet")

    monkeypatch.setattr(selectors, "wallet_list", broken)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.raw_key}")
    response = client.get(f"/customers/{customer.id}/wallets", HTTP_X_REQUEST_ID="req-123")
    body = assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert "req-123" in body["message"]
    assert response["X-Request-Id"] == "req-123"
    assert b"secret internals" not in response.content
    assert b"SELECT" not in response.content
    # The server log has the traceback under that id.
    logged = [r for r in caplog.records if r.name == "wallets.errors" and "req-123" in r.getMessage()]
    assert logged
    assert logged[0].exc_info
    assert "secret internals" in str(logged[0].exc_info[1])


def test_every_response_carries_a_request_id(api):
    response = api.get("/customers")
    assert len(response["X-Request-Id"]) == 32
    assert api.get("/customers", HTTP_X_REQUEST_ID="bad id <script>")["X-Request-Id"] != "bad id <script>"


def test_sdk_headers_are_ignored(api, customer):
    response = api.get(
        f"/customers/{customer.id}",
        HTTP_X_STAINLESS_LANG="python",
        HTTP_X_STAINLESS_RETRY_COUNT="0",
        HTTP_USER_AGENT="DodoPayments/Python 1.123.0",
    )
    assert response.status_code == 200
