"""The Content Security Policy is on every page, and the pages that people use still work under
it: a real Chromium loads each page from a live server and we assert the page rendered and the
browser reported no CSP violation."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from wallets.models import Membership
from wallets.services.api_keys import business_get_or_create

# Recorded before any page script runs (an init script is not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
    const element = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 200) : '';
    window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} ${element}`);
});
"""


def test_every_response_carries_the_policy(client, db):
    for path in ("/api/docs", "/api/schema", "/accounts/login/", "/customers", "/healthz"):
        policy = client.get(path).headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy, (path, policy)
        assert "object-src 'none'" in policy, (path, policy)
        assert "frame-ancestors 'none'" in policy
        assert "*" not in policy
        assert "http:" not in policy
        assert "https:" not in policy  # nothing from elsewhere


@pytest.fixture
def browser_session(chromium, live_server, transactional_db):
    business = business_get_or_create(name="CSP")[0]
    user = get_user_model().objects.create_user(username="csp", password="a-long-password-1")
    user.is_staff = user.is_superuser = True
    user.save()
    Membership.objects.create(business=business, user=user, role=Membership.Role.OPERATOR)
    client = Client()
    client.force_login(user)
    context = chromium.new_context(base_url=live_server.url)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    context.add_init_script(RECORD_VIOLATIONS)
    yield context
    context.close()


PAGES = [
    # (path, a selector that appears only once the page's scripts have run)
    ("/api/docs", "#redoc-container h1, redoc h1"),  # Redoc here too
    ("/api/redoc", "#redoc-container h1, redoc h1"),  # Redoc rendered the title
    ("/customers", "#content .response-info, .response-info"),  # DRF's browsable API
    ("/dashboard/", "body"),
    ("/admin/", "#content"),
]


@pytest.mark.browser
def test_pages_render_under_the_policy(browser_session):
    failures = []
    for path, ready in PAGES:
        page = browser_session.new_page()
        errors = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        response = page.goto(path)
        assert response is not None, (path, response)
        assert response.status == 200, (path, response.status)
        assert "default-src 'self'" in response.headers.get("content-security-policy", "")
        page.wait_for_selector(ready, timeout=15_000)
        page.wait_for_load_state("networkidle")
        # Redoc's CDN logo is never asked for (static/api/redoc-offline.js): no violation is expected.
        violations = page.evaluate("window.__csp")
        if violations or errors:
            failures.append(f"{path}: CSP violations {violations}, script errors {errors}")
        page.close()
    assert failures == []
