"""Production settings pass ``manage.py check --deploy`` with no warning, run in a subprocess with
the environment production sets (no DEBUG, a real secret, the hosts, behind a TLS proxy)."""

import os
import secrets
import subprocess
import sys

from tests.support.servers import REPO_ROOT

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "wallets.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://wallets.example.com",
    "DJANGO_BEHIND_PROXY": "true",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
}


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") or k == "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**clean, **env}, timeout=120, check=False)


def test_check_deploy_has_no_warnings():
    result = run("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_fails_on_a_debug_setting():
    """The check has teeth: the development defaults are refused."""
    result = run("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, "DJANGO_DEBUG": "true"})
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = run("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_headers(client, settings, db):
    """What the production settings put on a response (HTTPS assumed, as behind the proxy)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 301
    assert dashboard.url.startswith("https://")  # a browser page may redirect
    assert client.get("/healthz").status_code == 200  # the load balancer's plain-HTTP probe is not redirected
    response = client.get("/api/docs", HTTP_X_FORWARDED_PROTO="https")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_plain_http_to_the_api_is_a_json_403_never_a_redirect(client, settings, db):
    """Issue 15 item 12: the SDKs follow a 301, a POST becomes a GET, and the credit silently does
    not happen. Every API path and method answers ``403 HTTPS_REQUIRED`` instead."""
    from tests.api.helpers import assert_error

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for response in (
        client.get("/customers"),
        client.post("/customers/cus_TV52uJWWXt2yIoBBxpjaa/wallets/ledger-entries",
                    {"amount": 1, "currency": "USD", "entry_type": "credit"}, content_type="application/json"),
        client.patch("/customers/cus_TV52uJWWXt2yIoBBxpjaa", {}, content_type="application/json"),
        client.get("/no-such-path"),
        client.get("/api/schema"),
    ):
        body = assert_error(response, 403, "HTTPS_REQUIRED")
        assert "https" in body["message"].lower()
        assert "Location" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"  # Django's security headers still apply
    # Over HTTPS (as the proxy says) the API answers as usual: a missing key is a 401, not a 403.
    assert client.get("/customers", HTTP_X_FORWARDED_PROTO="https").status_code == 401
    assert client.get("/healthz").status_code == 200
    for page in ("/", "/api/docs", "/admin/", "/accounts/login/"):
        assert client.get(page).status_code == 301, page
