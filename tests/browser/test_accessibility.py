"""Accessibility: axe-core (vendored from npm, tests/browser/vendor) finds no serious or critical
violation on any page a finance user, an operator or a new visitor reaches.

The dashboard's pages are not listed here: they are found by following every link from the overview
(breadth first, one page per URL shape, so a page added later is checked without editing this file),
as an approver with a full demo business (holds, grants, a pending approval, a webhook endpoint).
The pages behind a form (a confirmation step, a form with errors), the sign-in page, the page of a
user with no business, the admin and the API docs are visited directly."""

import hashlib
import json
import re
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
SERIOUS = {"serious", "critical"}
#: WCAG 2.1 A and AA, and axe's best practices.
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
#: Links that download, leave or end the session are not pages to check.
NOT_PAGES = re.compile(r"(\.csv|\.pdf|/export|/logout|/admin/|/api/)")
#: A path segment that is an object's id (cus_…, led_…, a number): pages differing only there are one shape.
ID_SEGMENT = re.compile(r"^([a-z]+_[A-Za-z0-9]+|\d+)$")
MAX_PAGES = 80


def _axe_source() -> str:
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, "tests/browser/vendor/axe.min.js is not the vendored file"
    return source.decode()


def _violations(page) -> list[str]:
    """axe's serious and critical violations on the page as it is now, one line per node."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", RULE_TAGS)
    return [f"{page.url}: [{violation['impact']}] {violation['id']}: {violation['help']} "
            f"at {json.dumps(node['target'])}: {node.get('failureSummary', '')[:300]}"
            for violation in result["violations"] if violation["impact"] in SERIOUS for node in violation["nodes"]]


def _shape(path: str) -> str:
    return "/".join("{id}" if ID_SEGMENT.match(part) else part for part in path.split("/"))


def _links(page, origin: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    paths = []
    for href in hrefs:
        url = urlsplit(href)
        if f"{url.scheme}://{url.netloc}" != origin or url.query or not url.path.startswith("/dashboard/"):
            continue
        if NOT_PAGES.search(url.path):
            continue
        paths.append(url.path)
    return paths


@pytest.fixture
def full_demo(demo):
    """The demo business with something on every page: an approver, a hold, a grant, a held adjustment and
    a webhook endpoint."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from wallets import ledger
    from wallets.models import AdjustmentRequest, CurrencyPolicy, Membership
    from wallets.services.actors import Actor
    from wallets.services.webhooks import endpoint_create

    business = demo["business"]
    approver = get_user_model().objects.create_user(username="amara", password=PASSWORD)
    Membership.objects.create(user=approver, business=business, role=Membership.Role.APPROVER)
    ann = demo["people"]["Ann Lee"]
    key = Actor.api_key(demo["key"].pk)
    ledger.create_hold(business_id=business.pk, customer_id=ann.pk, currency="USD", amount=500, actor=key,
                       reason="Card authorisation", expires_at=timezone.now() + datetime.timedelta(days=7))
    ledger.post(business_id=business.pk, customer_id=ann.pk, currency="USD", amount=1500, is_credit=True, actor=key,
                reason="Welcome credit", expires_at=timezone.now() + datetime.timedelta(days=3))
    CurrencyPolicy.objects.filter(business=business, currency="USD").update(approval_above=1000)
    AdjustmentRequest.objects.create(business=business, customer=ann, currency="USD", amount=2000, is_credit=True,
                                     reason="Goodwill", idempotency_key="a11y-1", requested_by=demo["users"]["olivia"])
    endpoint_create(business_id=business.pk, url="https://hooks.example.com/wallets", description="Billing")
    return demo


def test_every_dashboard_page_has_no_serious_violation(full_demo, new_page, login, live_server):
    page = new_page(width=1440, height=900)
    login(page, username="amara")
    origin = live_server.url
    queue, seen, problems, visited = deque(["/dashboard/"]), set(), [], []
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        if _shape(path) in seen:
            continue
        seen.add(_shape(path))
        response = page.goto(path)
        assert response is not None, path
        assert response.ok, f"{path} answered {response.status}"
        page.wait_for_load_state("networkidle")
        visited.append(path)
        problems += _violations(page)
        queue.extend(p for p in _links(page, origin) if _shape(p) not in seen)
    # The crawl reached the pages a finance user lives in (a shape per page kind, not one page).
    shapes = {_shape(p) for p in visited}
    for expected in ("/dashboard/", "/dashboard/customers/", "/dashboard/customers/{id}/", "/dashboard/ledger/",
                     "/dashboard/approvals/", "/dashboard/settings/", "/dashboard/webhooks/",
                     "/dashboard/customers/{id}/statement/", "/dashboard/customers/{id}/entries/{id}/"):
        assert expected in shapes, f"the crawl never reached {expected}: {sorted(shapes)}"
    assert not problems, "\n".join(problems)


def test_phone_width_pages_have_no_serious_violation(full_demo, new_page, login):
    page = new_page(width=390, height=844)
    login(page, username="amara")
    ann = full_demo["people"]["Ann Lee"]
    problems = []
    for path in ("/dashboard/", "/dashboard/customers/", f"/dashboard/customers/{ann.pk}/", "/dashboard/ledger/",
                 "/dashboard/approvals/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        problems += _violations(page)
    assert not problems, "\n".join(problems)


def test_forms_in_their_other_states_have_no_serious_violation(full_demo, new_page, login):
    """The confirmation step before money moves, and a form showing its errors next to the fields."""
    page = new_page(width=1440, height=900)
    login(page)
    ann = full_demo["people"]["Ann Lee"]
    page.goto(f"/dashboard/customers/{ann.pk}/")
    form = page.locator("form.adjust-form, form[action$='/adjust/']").first
    form.get_by_label("Amount").fill("not money")
    form.get_by_label("Reason").fill("Checking the error state")
    form.locator("button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".errorlist, .field-error, [aria-invalid=true]").count() > 0, "the error state was not shown"
    problems = _violations(page)
    form = page.locator("form.adjust-form, form[action$='/adjust/']").first
    form.get_by_label("Amount").fill("5.00")
    form.locator("button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("button", name=re.compile("Confirm", re.IGNORECASE)).count() > 0, "no confirmation step"
    problems += _violations(page)
    assert not problems, "\n".join(problems)


def test_pages_outside_the_dashboard_have_no_serious_violation(full_demo, new_page, login, live_server):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="nobody", password=PASSWORD)
    page = new_page(width=1440, height=900)
    page.goto("/accounts/login/")
    problems = _violations(page)
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    problems += _violations(page)  # the sign-in form with its error
    other = new_page(width=1440, height=900)
    login(other, username="nobody", next_url="/dashboard/")
    problems += _violations(other)  # no business yet
    login(page)
    response = page.goto("/dashboard/customers/cus_nobodyhere/")
    assert response is not None
    assert response.status == 404
    problems += _violations(page)  # the not-found page
    assert not problems, "\n".join(problems)


def test_api_docs_and_the_admin_have_no_serious_violation(full_demo, new_page, login):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    page = new_page(width=1440, height=900)
    problems = []
    for path in ("/api/docs",):  # /api/redoc is the same page (Redoc at both)
        page.goto(path)
        page.wait_for_selector("#redoc-container h1, redoc h1")
        page.wait_for_load_state("networkidle")
        problems += _violations(page)
    login(page, username="root", next_url="/admin/")
    ann = full_demo["people"]["Ann Lee"]
    for path in ("/admin/", "/admin/wallets/customer/", f"/admin/wallets/customer/{ann.pk}/change/",
                 "/admin/wallets/ledgerentry/", "/admin/wallets/wallet/", "/admin/wallets/securityevent/",
                 "/admin/wallets/currencypolicy/"):
        response = page.goto(path)
        assert response is not None, path
        assert response.ok, f"{path} answered {response.status}"
        problems += _violations(page)
    assert not problems, "\n".join(problems)


def test_the_browsable_api_has_no_serious_violation(full_demo, new_page, login):
    page = new_page(width=1440, height=900)
    page.goto("/api-auth/login/")
    problems = _violations(page)
    login(page)
    ann = full_demo["people"]["Ann Lee"]
    for path in ("/customers", f"/customers/{ann.pk}/wallets"):
        response = page.goto(path)
        assert response is not None, path
        assert response.ok, f"{path} answered {response.status}"
        problems += _violations(page)
    assert not problems, "\n".join(problems)
