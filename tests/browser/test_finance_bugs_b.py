"""Issue 12, bugs 4, 6, 7, 8 and 9, in Chromium: loading feedback while filtering (and a CSV link that
never exports a filter no longer selected), "last activity" from the last entry and a demo whose
customers come before their ledger, time zones labelled (and UTC on tap), a user with no business,
and a first page after login that never reloads itself. Screenshots at 1440 px and 390 px."""

import contextlib
import csv
import datetime
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from wallets.models import Customer, LedgerEntry

pytestmark = pytest.mark.browser

WIDE, PHONE = (1440, 900), (390, 844)


def test_bug9_first_page_after_login_never_reloads(demo, new_page, shot):
    """Before: the page posted the browser's zone, then reloaded ~0.5 s later, losing what was typed."""
    page = new_page(*WIDE)
    page.goto("/accounts/login/?next=/dashboard/customers/")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/customers/")
    # The first page is already in the browser's zone (the sign-in form carried it).
    expect(page.locator("body")).to_have_attribute("data-time-zone", "Asia/Kolkata")
    page.evaluate("window.__stillTheSamePage = true")
    page.get_by_label("Search").press_sequentially("car")
    page.wait_for_timeout(1500)  # the old reload came about 0.5 s after the page appeared
    assert page.evaluate("window.__stillTheSamePage === true"), "the page reloaded itself"
    expect(page.get_by_label("Search")).to_have_value("car")
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"
    expect(page.get_by_test_id("customers-table").locator("tbody tr")).to_have_count(1)  # Carla
    shot(page, "b9-first-page-after-login-1440")
    assert page.errors == []


def test_bug9_a_session_without_a_zone_is_set_in_the_background(demo, new_page):
    """Signed in without the login page's script (no zone in the session): the dashboard sends the
    browser's zone without reloading; the next page shows it."""
    page = new_page(*WIDE)
    page.goto("/accounts/login/?next=/dashboard/")
    page.evaluate("document.getElementById('id_browser_time_zone').remove()")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-time-zone", "UTC")
    page.evaluate("window.__stillTheSamePage = true")
    expect(page.locator("body")).to_have_attribute("data-time-zone-set", "1")  # sent
    page.wait_for_timeout(800)
    assert page.evaluate("window.__stillTheSamePage === true")
    page.goto("/dashboard/ledger/")
    expect(page.locator("body")).to_have_attribute("data-time-zone", "Asia/Kolkata")


@pytest.mark.parametrize("size", [WIDE, PHONE], ids=["1440", "390"])
def test_bug8_a_user_without_a_business_can_log_out(demo, new_page, shot, size):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="root", email="it-desk@example.com", password=PASSWORD)
    get_user_model().objects.create_user(username="newbie", password=PASSWORD)
    page = new_page(*size)
    page.goto("/accounts/login/?next=/dashboard/")
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/")
    expect(page.get_by_role("heading", name="Your account has no business yet")).to_be_visible()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("newbie")
    expect(page.get_by_test_id("who-to-ask")).to_contain_text("it-desk@example.com")
    expect(page.get_by_role("link", name="Back to the dashboard")).to_have_count(0)  # the old loop
    shot(page, f"b8-no-business-{size[0]}")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/dashboard/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/$"))  # really signed out
    assert page.errors == []


def _time_label(page) -> str:
    return page.get_by_test_id("ledger-table").locator("time").first.inner_text()


@pytest.mark.parametrize("size", [WIDE, PHONE], ids=["1440", "390"])
def test_bug7_times_say_their_zone_and_show_utc_on_tap(demo, new_page, login, shot, size):
    page = new_page(*size, has_touch=True, is_mobile=size == PHONE)
    ann = demo["people"]["Ann Lee"]
    login(page, next_url=f"/dashboard/customers/{ann.pk}/")
    expect(page.locator("body")).to_have_attribute("data-time-zone", "Asia/Kolkata")  # not Asia/Calcutta
    when = page.get_by_test_id("ledger-table").locator("time").first
    assert re.search(r"\d\d:\d\d IST$", when.inner_text()), when.inner_text()
    expect(when.locator("abbr.tz")).to_have_attribute("title", "Asia/Kolkata")
    expect(page.get_by_test_id("last-entry-USD").locator("abbr.tz")).to_have_text("IST")
    expect(page.get_by_test_id("chart-zone")).to_have_text("Asia/Kolkata")  # the chart's axis times
    # Touch has no hover: a tap shows the UTC time.
    utc = when.locator(".utc")
    expect(utc).to_be_hidden()
    when.tap()
    expect(utc).to_be_visible()
    entry = LedgerEntry.objects.filter(customer=ann).order_by("-created_at", "-sequence").first()
    expect(utc).to_have_text(f"{entry.created_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    shot(page, f"b7-utc-on-tap-{size[0]}")
    # …and so does keyboard focus.
    page.goto("/dashboard/ledger/")
    page.get_by_test_id("ledger-table").locator("time").nth(1).focus()
    expect(page.get_by_test_id("ledger-table").locator("time").nth(1).locator(".utc")).to_be_visible()
    expect(page.locator("footer")).to_contain_text("Times shown in Asia/Kolkata; hover, tap or focus a time for UTC")
    # The picker lists current names only.
    page.goto("/dashboard/settings/")
    options = page.locator("#time-zones option")
    assert page.locator("#time-zones option[value='Asia/Kolkata']").count() == 1
    assert page.locator("#time-zones option[value='Asia/Calcutta']").count() == 0
    assert options.count() > 300
    expect(page.locator("#id_time_zone")).to_have_value("Asia/Kolkata")
    shot(page, f"b7-settings-zone-{size[0]}")
    assert page.errors == []


def test_bug7_csv_times_say_utc(demo, new_page, login):
    page = new_page(*WIDE)
    login(page, next_url="/dashboard/ledger/")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert "created_at_utc" in rows[0]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r["created_at_utc"]) for r in rows)


def test_bug6_last_activity_is_the_last_entry(demo, new_page, login, shot):
    """A never-used wallet has no activity (it used to show the wallet row's own time); a used one
    shows its last entry's time, on the low-balance list and on the customer's cards."""
    from wallets.models import CurrencyPolicy

    CurrencyPolicy.objects.create(business=demo["business"], currency="INR", low_balance_below=100_000_000)
    page = new_page(*WIDE)
    login(page, next_url="/dashboard/wallets/low-balance/")
    page.goto("/dashboard/wallets/low-balance/?currency=INR&include_unused=1")
    ann = demo["people"]["Ann Lee"]  # never had an INR entry
    row = page.get_by_test_id("low-table").locator("tbody tr", has_text="Ann Lee")
    expect(row.get_by_test_id("last-activity")).to_have_text("No entries yet")
    bob = demo["people"]["Bob Stone"]  # ₹1,500 festival bonus, his only INR entry
    bob_inr = LedgerEntry.objects.get(customer=bob, currency="INR")
    bob_row = page.get_by_test_id("low-table").locator("tbody tr", has_text="Bob Stone")
    expect(bob_row.get_by_test_id("last-activity").locator("time")).to_have_attribute(
        "datetime", bob_inr.created_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"))
    shot(page, "b6-low-balance-last-activity-1440")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    rows = {r["customer_name"]: r for r in csv.DictReader(io.StringIO(
        Path(download_info.value.path()).read_text(encoding="utf-8-sig")))}
    assert rows["Ann Lee"]["last_activity_utc"] == ""
    bob_at = bob_inr.created_at.astimezone(datetime.UTC)
    assert rows["Bob Stone"]["last_activity_utc"].startswith(f"{bob_at:%Y-%m-%dT%H:%M}")
    page.goto(f"/dashboard/customers/{ann.pk}/")
    last_usd = LedgerEntry.objects.filter(customer=ann, currency="USD").order_by("-sequence").first()
    expect(page.get_by_test_id("last-entry-USD").locator("time")).to_have_attribute(
        "datetime", last_usd.created_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"))
    expect(page.get_by_test_id("last-entry-INR")).to_have_count(0)


def test_bug6_demo_customers_come_before_their_ledger(transactional_db, new_page, shot):
    from wallets.management.demo import USERS, demo_seed

    demo_seed()
    username, password, _ = USERS[0]
    customer = Customer.objects.get(name="Aarav Sharma")
    first = LedgerEntry.objects.filter(customer=customer).order_by("created_at").first()
    assert customer.created_at < first.created_at
    page = new_page(*PHONE)
    page.goto(f"/accounts/login/?next=/dashboard/customers/{customer.pk}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dashboard/customers/{customer.pk}/")
    since = page.locator("p.muted time").first
    shown_since = datetime.datetime.fromisoformat(since.get_attribute("datetime"))
    assert shown_since <= first.created_at
    page.goto(f"/dashboard/customers/{customer.pk}/?sort=created")  # oldest entry first
    oldest = datetime.datetime.fromisoformat(
        page.get_by_test_id("ledger-table").locator("time").first.get_attribute("datetime"))
    assert shown_since <= oldest
    shot(page, "b6-demo-customer-390")


def _hold_htmx(page, path: str):
    """Hold every htmx request to ``path`` (a slow server) until released; plain loads go through."""
    held = []

    def handle(route):
        if route.request.headers.get("hx-request"):
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(rf".*{re.escape(path)}\?.*"), handle)
    return held


@pytest.mark.parametrize("size", [WIDE, PHONE], ids=["1440", "390"])
def test_bug4_filtering_shows_loading_and_the_csv_waits(demo, new_page, login, shot, size):
    page = new_page(*size)
    login(page, next_url="/dashboard/ledger/")
    results = page.locator("#results")
    export = page.get_by_test_id("export-csv")
    expect(page.get_by_test_id("result-count")).to_have_text("25")
    expect(page.get_by_test_id("filter-zone")).to_have_text("From and To are whole days in Asia/Kolkata.")
    held = _hold_htmx(page, "/dashboard/ledger/")
    page.get_by_label("Source").select_option("command")
    # While the (slow) request runs: busy, dimmed, and no CSV of the old filter to click.
    expect(results).to_have_attribute("aria-busy", "true")
    expect(page.get_by_test_id("loading")).to_be_visible()
    expect(export).to_have_attribute("aria-disabled", "true")
    assert export.get_attribute("href") is None
    page.wait_for_function(
        "() => parseFloat(getComputedStyle(document.querySelector('#results .table-wrap')).opacity) < 0.5")
    shot(page, f"b4-ledger-loading-{size[0]}")
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_test_id("result-count")).to_have_text("3")
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")
    expect(export).to_have_attribute("href", re.compile(r"actor_type=command"))
    expect(export).not_to_have_attribute("aria-disabled", "true")
    shot(page, f"b4-ledger-loaded-{size[0]}")
    page.unroute_all()
    with page.expect_download() as download_info:
        export.click()
    rows = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8-sig"))))
    assert len(rows) == 3
    assert {r["actor_type"] for r in rows} == {"command"}
    assert page.errors == []


def test_bug4_a_newer_filter_replaces_the_one_in_flight(demo, new_page, login):
    """Two changes in a row: the first request is dropped, the rows shown are the last selection's."""
    page = new_page(*WIDE)
    login(page, next_url="/dashboard/ledger/")
    held = _hold_htmx(page, "/dashboard/ledger/")
    page.get_by_label("Source").select_option("command")
    expect(page.locator("#results")).to_have_attribute("aria-busy", "true")
    page.get_by_label("Direction").select_option("debit")
    page.wait_for_timeout(300)  # the second request is sent (and held)
    assert len(held) == 2
    for route in held:
        with contextlib.suppress(Exception):  # the replaced request was aborted: its route cannot go on
            route.continue_()
    expect(page.get_by_test_id("result-count")).to_have_text("0")  # command ∧ debit: none
    href = re.compile(r"(?=.*actor_type=command)(?=.*direction=debit)")
    expect(page.get_by_test_id("export-csv")).to_have_attribute("href", href)


def test_bug4_without_javascript_the_filters_and_csv_agree(demo, new_page, shot):
    page = new_page(*WIDE, java_script_enabled=False)
    page.goto("/accounts/login/?next=/dashboard/ledger/")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/ledger/")
    page.get_by_label("Source").select_option("command")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"actor_type=command"))
    expect(page.get_by_test_id("result-count")).to_have_text("3")
    expect(page.get_by_test_id("export-csv")).to_have_attribute("href", re.compile(r"actor_type=command"))
    shot(page, "b4-ledger-no-js-1440")
