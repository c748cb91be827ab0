"""The Django admin in a real browser: the adjust-balance page (same rules as the dashboard)
and an API key shown once."""

import re

import pytest
from django.contrib.admin.utils import quote
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from wallets.models import ApiKey, LedgerEntry, Wallet
from wallets.services.api_keys import api_key_authenticate

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(demo, new_page):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="support", password=PASSWORD, email="s@acme.test")
    page = new_page()
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("support")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Support")).to_be_visible()
    return page


def test_admin_adjusts_a_balance_with_confirmation(demo, admin_page, shot):
    page = admin_page
    ann = demo["people"]["Ann Lee"]
    page.goto("/admin/wallets/customer/")
    page.locator("#searchbar").fill("ann@")
    page.keyboard.press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Ann Lee").click()
    shot(page, "40-admin-customer")
    page.get_by_role("link", name="Adjust balance").click()
    page.get_by_label("Debit (take money)").check()
    page.get_by_label("Amount").fill("30.00")
    page.get_by_label("Currency").select_option("USD")
    page.get_by_label("Reason").fill("Duplicate refund")
    page.get_by_role("button", name="Review adjustment").click()
    expect(page.locator(".errorlist")).to_contain_text("Insufficient funds")  # $25.00 < $30.00
    page.get_by_label("Amount").fill("5.00")
    page.get_by_role("button", name="Review adjustment").click()
    expect(page.get_by_test_id("admin-before-after")).to_contain_text("$25.00")
    expect(page.get_by_test_id("admin-before-after")).to_contain_text("$20.00")
    shot(page, "41-admin-adjust-confirm")
    page.get_by_role("button", name="Confirm and post").click()
    expect(page.get_by_text("Debited $5.00 from Ann Lee. New USD balance: $20.00.")).to_be_visible()
    entry = LedgerEntry.objects.get(reason="Duplicate refund")
    assert (entry.actor_type, entry.is_credit, entry.amount) == ("user", False, 500)
    assert Wallet.objects.get(customer=ann, currency="USD").balance == 2000


def test_admin_creates_an_api_key_shown_once(demo, admin_page, shot):
    page = admin_page
    page.goto("/admin/wallets/apikey/add/")
    # The business field is the admin's autocomplete (select2): search, then pick.
    page.locator(".field-business .select2-selection").click()
    page.locator(".select2-search__field").fill("Acme")
    page.get_by_role("option", name="Acme Coffee").click()
    page.get_by_label("Name").fill("Point of sale")
    page.get_by_role("button", name="Save", exact=True).click()
    raw = page.locator("code.new-api-key").inner_text()
    assert re.fullmatch(r"wsk_[A-Za-z0-9]{43}", raw)
    shot(page, "42-admin-api-key-created")
    key = ApiKey.objects.get(name="Point of sale")
    assert api_key_authenticate(raw) == key
    page.goto(f"/admin/wallets/apikey/{quote(key.pk)}/change/")
    expect(page.locator("body")).not_to_contain_text(raw)
    expect(page.locator("body")).not_to_contain_text(key.key_hash)
