"""The finance team's daily work, in a real browser: log in, find a customer, credit through the
confirmation step, see the new balance and the ledger row, be refused an overdraft, filter the
low-balance list, download CSVs. Every page is saved as a screenshot."""

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from wallets.models import LedgerEntry, Wallet

pytestmark = pytest.mark.browser


def nav(page, name: str):
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state("networkidle")


def low_balance(page):
    """The low-balance report: one of Analytics' reports."""
    nav(page, "Analytics")
    page.get_by_role("link", name="Low-balance wallets").click()
    page.wait_for_load_state("networkidle")


def test_credit_through_confirmation(demo, new_page, login, shot):
    page = new_page()
    page.goto("/dashboard/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/$"))
    shot(page, "01-login")
    login(page)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("customer-count")).to_have_text("6")
    shot(page, "02-overview")

    # Find the customer: the search box filters as one types (htmx swaps the results).
    nav(page, "Customers")
    page.get_by_label("Search").fill("carla")
    expect(page.get_by_test_id("customers-table").locator("tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=carla"))
    shot(page, "03-customers-search")
    page.get_by_role("link", name="Carla Diaz").click()
    expect(page.get_by_role("heading", name="Carla Diaz")).to_be_visible()
    expect(page.get_by_test_id("balance-USD")).to_have_text("$150.00")  # 25 + 50 + 75
    expect(page.locator("#charts canvas").first).to_be_visible()  # the balance chart was drawn
    shot(page, "04-customer")

    # Credit 50.00 with a reason; the confirmation shows the balance before and after.
    page.locator("#adjust").get_by_label("Credit (add money)").check()
    page.locator("#adjust").get_by_label("Amount").fill("50.00")
    page.locator("#adjust").get_by_label("Currency").select_option("USD")
    page.locator("#adjust").get_by_label("Reason").fill("Goodwill for a late delivery")
    page.get_by_role("button", name="Review adjustment").click()
    expect(page.get_by_role("heading", name="Confirm adjustment")).to_be_visible()
    expect(page.get_by_test_id("balance-before")).to_have_text("$150.00")
    expect(page.get_by_test_id("balance-after")).to_have_text("$200.00")
    shot(page, "05-confirm")
    # A double click posts once.
    page.get_by_role("button", name="Confirm and post").dblclick()
    expect(page.get_by_text("Credited $50.00 to Carla Diaz. New USD balance: $200.00.")).to_be_visible()
    expect(page.get_by_test_id("balance-USD")).to_have_text("$200.00")
    first_row = page.get_by_test_id("ledger-table").locator("tbody tr").first
    expect(first_row).to_contain_text("+$50.00")
    expect(first_row).to_contain_text("Goodwill for a late delivery")
    expect(first_row).to_contain_text("olivia")
    shot(page, "06-customer-after-credit")
    # A refresh does not post again either (the page after posting is a GET).
    page.reload()
    carla = demo["people"]["Carla Diaz"]
    entries = LedgerEntry.objects.filter(customer=carla, reason="Goodwill for a late delivery")
    assert entries.count() == 1
    entry = entries.get()
    assert (entry.actor_type, entry.actor_id, entry.amount) == ("user", str(demo["users"]["olivia"].pk), 5000)
    assert Wallet.objects.get(customer=carla, currency="USD").balance == 20000
    assert page.errors == []


def test_overdraft_is_refused_next_to_the_amount(demo, new_page, login, shot):
    page = new_page()
    bob = demo["people"]["Bob Stone"]  # USD $75.00 - $70.00 = $5.00
    login(page, next_url=f"/dashboard/customers/{bob.pk}/")
    page.locator("#adjust").get_by_label("Debit (take money)").check()
    page.locator("#adjust").get_by_label("Amount").fill("5.01")
    page.locator("#adjust").get_by_label("Currency").select_option("USD")
    page.locator("#adjust").get_by_label("Reason").fill("Chargeback")
    page.get_by_role("button", name="Review adjustment").click()
    error = page.locator("#adjust .field.has-error", has=page.locator("#adj_amount")).locator(".error")
    expect(error).to_contain_text("Insufficient funds: the USD balance is $5.00, less than this debit of $5.01.")
    expect(page.locator("#adj_amount")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#adj_amount")).to_have_value("5.01")  # what was typed stays
    shot(page, "07-overdraft")
    assert Wallet.objects.get(customer=bob, currency="USD").balance == 500
    assert not LedgerEntry.objects.filter(reason="Chargeback").exists()


def test_low_balance_filter_and_csv(demo, new_page, login, shot):
    page = new_page()
    login(page)
    low_balance(page)
    table = page.get_by_test_id("low-table")
    # USD below $50.00 (the business's threshold): Ann ($25) and Bob ($5). The INR wallets that
    # were never credited (Ann, Carla, Emma) are not "running low" and are left out.
    expect(page.get_by_test_id("result-count")).to_have_text("2")
    shot(page, "08-low-balance")
    page.get_by_label("Currency").select_option("USD")
    expect(page.get_by_test_id("result-count")).to_have_text("2")
    expect(page).to_have_url(re.compile(r"currency=USD"))
    expect(table.locator("tbody tr")).to_have_count(2)
    # Sort by balance, highest first.
    table.get_by_role("link", name="Balance", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=balance"))
    table.get_by_role("link", name="Balance", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=-balance"))
    expect(table.locator("tbody tr").first).to_contain_text("Ann Lee")
    shot(page, "09-low-balance-usd")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    download = download_info.value
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert download.suggested_filename.startswith("low-balance-")
    assert sorted((r["customer_name"], r["balance"]) for r in rows) == [("Ann Lee", "25.00"), ("Bob Stone", "5.00")]
    # Each row links to the customer.
    table.get_by_role("link", name="Bob Stone").click()
    expect(page.get_by_role("heading", name="Bob Stone")).to_be_visible()


def test_ledger_filters_and_csv(demo, new_page, login, shot):
    page = new_page()
    login(page)
    nav(page, "Ledger")
    expect(page.get_by_test_id("result-count")).to_have_text("25")
    page.get_by_label("Source").select_option("command")
    expect(page.get_by_test_id("result-count")).to_have_text("3")
    page.get_by_label("Currency").select_option("INR")  # an amount bound needs one currency (bug 11)
    expect(page.get_by_test_id("result-count")).to_have_text("3")
    page.get_by_label("Min amount").fill("2000")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_test_id("result-count")).to_have_text("2")  # ₹4,500 and ₹7,500; not ₹1,500
    shot(page, "10-ledger-filtered")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8-sig"))))
    assert sorted(r["amount"] for r in rows) == ["4500.00", "7500.00"]
    assert {r["actor_type"] for r in rows} == {"command"}


def test_times_follow_the_browser_time_zone_with_utc_on_hover(demo, new_page, login):
    page = new_page()
    ann = demo["people"]["Ann Lee"]
    login(page, next_url=f"/dashboard/customers/{ann.pk}/")
    assert page.evaluate("document.body.dataset.timeZone") == "Asia/Kolkata"  # the current name, whatever Chromium says
    when = page.get_by_test_id("ledger-table").locator("time").first
    title = when.get_attribute("title")
    assert title.endswith(" UTC")
    import datetime
    # Two wall-clock readings (naive on purpose): the page's UTC title and the browser-local text.
    utc = datetime.datetime.strptime(title[:-4], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007
    text = when.inner_text()
    assert text.endswith(" IST")  # labelled with its zone
    shown = datetime.datetime.strptime(text.removesuffix(" IST"), "%b %d, %Y %H:%M")  # noqa: DTZ007
    assert shown - utc.replace(second=0) == datetime.timedelta(hours=5, minutes=30)


def test_viewer_reads_but_cannot_adjust(demo, new_page, login, shot):
    page = new_page()
    ann = demo["people"]["Ann Lee"]
    login(page, username="victor", next_url=f"/dashboard/customers/{ann.pk}/")
    expect(page.get_by_text("may view balances but not change them")).to_be_visible()
    expect(page.get_by_role("button", name="Review adjustment")).to_have_count(0)
    nav(page, "Settings")
    expect(page.get_by_role("button", name="Save thresholds")).to_have_count(0)
    shot(page, "11-settings-viewer")


def test_operator_edits_a_threshold(demo, new_page, login, shot):
    page = new_page()
    login(page)
    nav(page, "Settings")
    page.get_by_label("INR low-balance threshold").fill("2000")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_text("Saved the low-balance thresholds.")).to_be_visible()
    shot(page, "12-settings")
    low_balance(page)
    page.get_by_label("Currency").select_option("INR")
    expect(page.get_by_test_id("result-count")).to_have_text("1")  # ₹1,500 (Bob) is under ₹2,000
    page.get_by_test_id("include-unused").check()
    expect(page.get_by_test_id("result-count")).to_have_text("4")  # with the never-used ₹0 wallets
    expect(page).to_have_url(re.compile(r"include_unused=1"))


def test_error_pages_in_the_dashboard_style(demo, new_page, login, shot):
    page = new_page()
    login(page)
    response = page.goto("/dashboard/customers/cus_doesnotexist/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shot(page, "13-not-found")


@pytest.mark.parametrize(("width", "height", "label"), [(390, 844, "phone"), (1024, 768, "laptop")])
def test_pages_fit_small_screens(demo, new_page, login, shot, width, height, label):
    page = new_page(width=width, height=height)
    login(page)
    ann = demo["people"]["Ann Lee"]
    for name, path in [("overview", "/dashboard/"), ("customers", "/dashboard/customers/"),
                       ("customer", f"/dashboard/customers/{ann.pk}/"), ("ledger", "/dashboard/ledger/"),
                       ("statement", f"/dashboard/customers/{ann.pk}/statement/?currency=USD&as_of=2099-01-01"),
                       ("low-balance", "/dashboard/wallets/low-balance/"), ("settings", "/dashboard/settings/"),
                       ("approvals", "/dashboard/approvals/")]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        # The page itself never scrolls sideways (wide tables scroll inside their own box).
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px too wide at {width}px"
        shot(page, f"20-{label}-{name}")
    assert page.errors == []


def test_demo_credentials_from_seed_demo(transactional_db, new_page, shot):
    """A new user logs in with the credentials ``manage.py seed_demo`` prints."""
    from wallets.management.demo import USERS, demo_seed

    result = demo_seed()
    username, password, _ = USERS[0]
    page = new_page()
    page.goto("/dashboard/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("body")).not_to_have_attribute("data-time-zone", "UTC")  # the browser's zone, once
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("customer-count")).to_have_text(str(result.customers))
    expect(page.locator(".business-name")).to_have_text(result.business.name)
    shot(page, "30-demo-overview")
    nav(page, "Ledger")
    expect(page.get_by_test_id("result-count")).not_to_have_text("0")
    shot(page, "31-demo-ledger")


def test_large_adjustment_waits_for_an_approver(demo, new_page, login, shot):
    from django.contrib.auth import get_user_model

    from tests.browser.conftest import PASSWORD
    from wallets.models import CurrencyPolicy, Membership

    CurrencyPolicy.objects.filter(business=demo["business"], currency="USD").update(approval_above=10000)
    approver = get_user_model().objects.create_user(username="april", password=PASSWORD)
    Membership.objects.create(user=approver, business=demo["business"], role=Membership.Role.APPROVER)
    emma = demo["people"]["Emma Brown"]
    page = new_page()
    login(page, next_url=f"/dashboard/customers/{emma.pk}/")
    adjust = page.locator("#adjust")
    adjust.get_by_label("Amount").fill("250.00")
    adjust.get_by_label("Currency").select_option("USD")
    adjust.get_by_label("Reason").fill("Annual loyalty credit")
    adjust.get_by_role("button", name="Review adjustment").click()
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("is waiting for approval")).to_be_visible()
    assert Wallet.objects.get(customer=emma, currency="USD").balance == 37500  # unchanged

    other = new_page()
    login(other, username="april", next_url="/dashboard/approvals/")
    row = other.get_by_test_id("approvals-table").locator("tbody tr").first
    expect(row).to_contain_text("Annual loyalty credit")
    shot(other, "14-approvals")
    row.get_by_label("Note for Emma Brown").fill("Checked the contract")
    row.get_by_role("button", name="Approve").click()
    expect(other.get_by_text("Approved and posted: credit of $250.00 for Emma Brown.")).to_be_visible()
    assert Wallet.objects.get(customer=emma, currency="USD").balance == 62500


def test_adjustment_with_the_keyboard_only(demo, new_page, login):
    page = new_page()
    deepak = demo["people"]["Deepak Rao"]  # USD $250.00
    login(page, next_url=f"/dashboard/customers/{deepak.pk}/")
    page.locator("#adj_direction_0").focus()  # "Credit", the first control of the form
    page.keyboard.press("Tab")
    expect(page.locator("#adj_amount")).to_be_focused()
    page.keyboard.type("12.34")
    page.keyboard.press("Tab")
    expect(page.locator("#adj_currency")).to_be_focused()
    page.keyboard.type("USD")  # type-ahead in the select
    page.keyboard.press("Tab")
    expect(page.locator("#adj_reason")).to_be_focused()
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Review adjustment"
    expect(page.get_by_test_id("balance-after")).to_have_text("$262.34")
    expect(page.get_by_role("button", name="Confirm and post")).to_be_focused()  # autofocus
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("balance-USD")).to_have_text("$262.34")
