"""Transport rules (issue 15 item 14): JSON for API keys whatever ``Accept`` says, and CORS for the
browser origins the environment allows (none by default). Chunked bodies: tests/security/test_chunked_bodies.py."""

import pytest

from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml,*/*;q=0.8", "application/xml"])
def test_a_bearer_key_gets_json_whatever_accept_says(api, customer, accept):
    response = api.get("/customers", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert [c["customer_id"] for c in response.json()["items"]] == [customer.id]
    missing = api.get("/customers/cus_doesNotExist1234567", HTTP_ACCEPT=accept)
    assert_error(missing, 404, "NOT_FOUND")


def test_a_bearer_key_asking_for_the_browsable_format_gets_json(api, customer):
    response = api.get("/customers", {"format": "api"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")


def test_a_bad_key_with_accept_html_gets_a_json_401(client):
    response = client.get("/customers", HTTP_ACCEPT="text/html", HTTP_AUTHORIZATION="Bearer wsk_nope")
    assert_error(response, 401, "UNAUTHORIZED")


def test_no_cors_headers_by_default(api, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []
    response = api.options("/customers", HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in api.get("/customers", HTTP_ORIGIN=SHOP).headers


def test_a_configured_origin_gets_preflight_and_response_headers(api, client, settings):
    settings.CORS_ALLOWED_ORIGINS = [SHOP]
    preflight = client.options(
        "/customers/cus_TV52uJWWXt2yIoBBxpjaa/wallets/ledger-entries", HTTP_ORIGIN=SHOP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key, x-stainless-lang",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-stainless-lang"} <= allowed
    assert "Access-Control-Allow-Credentials" not in preflight.headers

    response = api.get("/customers", HTTP_ORIGIN=SHOP)
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert "Idempotent-Replayed" in response["Access-Control-Expose-Headers"]


def test_other_origins_and_the_dashboard_get_no_cors_headers(api, client, settings):
    settings.CORS_ALLOWED_ORIGINS = [SHOP]
    evil = client.options("/customers", HTTP_ORIGIN="https://evil.example.com",
                          HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in evil.headers
    dashboard = client.options("/dashboard/", HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in dashboard.headers


def test_cors_origins_come_from_the_environment():
    import os
    import subprocess
    import sys

    from tests.support.servers import REPO_ROOT

    code = "import django; django.setup(); from django.conf import settings; print(settings.CORS_ALLOWED_ORIGINS)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "walletproject.settings",
           "WALLETS_CORS_ALLOWED_ORIGINS": f"{SHOP},https://b.example.com"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == str([SHOP, "https://b.example.com"])
