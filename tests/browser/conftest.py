"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against pytest-django's
live_server. Screenshots of every page go to test-artifacts/screenshots/ (gitignored)."""

from pathlib import Path

import pytest

# The session's Chromium (the ``chromium`` fixture) lives in tests/conftest.py, shared with the
# security suite's CSP test: Playwright's sync API allows one running instance per thread.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "demo-pass-for-tests-1"
BROWSER_TIME_ZONE = "Asia/Kolkata"


@pytest.fixture
def new_page(chromium, live_server):
    """``new_page(width=1280, height=900, **options)``: a fresh browser context (own cookies) on the live
    server; ``options`` go to ``new_context`` (``has_touch=True``, ``java_script_enabled=False`` …)."""
    contexts = []

    def make(width=1280, height=900, **options):
        context = chromium.new_context(viewport={"width": width, "height": height}, timezone_id=BROWSER_TIME_ZONE,
                                       base_url=live_server.url, accept_downloads=True, locale="en-US", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    """Save a full-page screenshot under test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def demo(transactional_db):
    """A business with an operator, a viewer, customers and some history (like seed_demo)."""
    from django.contrib.auth import get_user_model

    from wallets import ledger, services
    from wallets.models import CurrencyPolicy, Membership
    from wallets.services.actors import Actor
    from wallets.services.api_keys import api_key_create, business_get_or_create

    business, _ = business_get_or_create(name="Acme Coffee")
    users = {}
    for username, role in (("olivia", Membership.Role.OPERATOR), ("victor", Membership.Role.VIEWER)):
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        Membership.objects.create(user=user, business=business, role=role)
        users[username] = user
    key, _ = api_key_create(business=business, name="Checkout server")
    people = {}
    for i, name in enumerate(["Ann Lee", "Bob Stone", "Carla Diaz", "Deepak Rao", "Emma Brown", "Farid Khan"]):
        customer, _ = services.customer_create(business_id=business.pk, email=f"{name.split()[0].lower()}@example.com",
                                               name=name)
        people[name] = customer
        for j in range(i + 1):
            ledger.post(business_id=business.pk, customer_id=customer.pk, currency="USD",
                                       amount=2500 * (j + 1), is_credit=True, actor=Actor.api_key(key.pk),
                                       reason=f"Order #{1000 + 10 * i + j}", event_type="payment")
        if i % 2:
            ledger.post(business_id=business.pk, customer_id=customer.pk, currency="INR",
                                       amount=150000 * i, is_credit=True, actor=Actor.command("bulk_credit"),
                                       reason="Festival bonus")
    ledger.post(business_id=business.pk, customer_id=people["Bob Stone"].pk, currency="USD",
                               amount=7000, is_credit=False, actor=Actor.api_key(key.pk), reason="Refund clawback")
    CurrencyPolicy.objects.create(business=business, currency="USD", low_balance_below=5000)
    return {"business": business, "users": users, "people": people, "key": key}


@pytest.fixture
def login(live_server):
    from playwright.sync_api import expect

    def do(page, username="olivia", next_url="/dashboard/"):
        page.goto(f"/accounts/login/?next={next_url}")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**{next_url}")
        # The sign-in form sent the browser's time zone: the first page shows it (and never reloads).
        expect(page.locator("body")).not_to_have_attribute("data-time-zone", "UTC")
        page.wait_for_load_state("networkidle")

    return do
