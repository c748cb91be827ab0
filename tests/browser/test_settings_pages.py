"""The settings section in a real browser: an approver invites a member (the set-password link is
shown once), the new member opens it, chooses a password and signs in; the approver creates an API
key (shown once, with a copy button) and revokes it after a confirmation, sets an approval
threshold, and reads it all in the activity log. A viewer sees the team read-only. The pages fit a
phone (390 px) without sideways scroll; a policy saves without JavaScript. Screenshots at 1440 px
and 390 px."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from wallets.models import ApiKey, CurrencyPolicy, Membership
from wallets.services.api_keys import api_key_authenticate

pytestmark = pytest.mark.browser


def no_sideways_scroll(page, what: str):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px too wide at {page.viewport_size['width']}px"


@pytest.fixture
def approver(demo):
    user = get_user_model().objects.create_user(username="alice", password=PASSWORD, first_name="Alice",
                                                last_name="Approver", email="alice@acme.test")
    Membership.objects.create(user=user, business=demo["business"], role=Membership.Role.APPROVER)
    return user


def test_invite_set_password_and_sign_in_as_the_new_member(demo, approver, new_page, login, shot):
    page = new_page(width=1440, height=900)
    login(page, username="alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    settings_nav = page.get_by_role("navigation", name="Settings")
    settings_nav.get_by_role("link", name="Team").click()
    expect(page.get_by_test_id("members")).to_contain_text("olivia")
    shot(page, "85-settings-team")

    page.get_by_label("Name").fill("Nina New")
    page.get_by_label("Email").fill("nina@acme.test")
    page.get_by_label("Role").select_option("operator")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_test_id("invited")).to_contain_text("shown only now")
    link = page.get_by_test_id("invite-link").input_value()
    assert "/dashboard/welcome/" in link
    expect(page.get_by_role("button", name="Copy")).to_be_visible()  # JavaScript shows it
    shot(page, "85-settings-team-invited")
    page.reload()
    expect(page.get_by_test_id("invited")).to_have_count(0)  # shown once

    # The new member, on a phone, opens the link, chooses a password and signs in.
    phone = new_page(width=390, height=844, has_touch=True, is_mobile=True)
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Choose a password")).to_be_visible()
    expect(phone.get_by_text("nina@acme.test")).to_be_visible()
    shot(phone, "85-settings-set-password-390")
    no_sideways_scroll(phone, "the set-password page")
    phone.get_by_label("New password", exact=True).fill(PASSWORD)
    phone.get_by_label("New password again").fill(PASSWORD)
    phone.get_by_role("button", name="Set password").click()
    expect(phone.get_by_text("Your password is set")).to_be_visible()
    login(phone, username="nina@acme.test")
    expect(phone.locator(".usermenu .username")).to_have_text("nina@acme.test")
    shot(phone, "85-settings-new-member-signed-in-390")
    phone.goto(link)
    expect(phone.get_by_role("heading", name="This link no longer works")).to_be_visible()

    # The approver sees the new member with a last login, changes the role and removes them.
    page.reload()
    row = page.get_by_test_id("members").get_by_role("row").filter(has_text="nina@acme.test")
    expect(row).not_to_contain_text("never")
    row.get_by_role("link", name="Manage").click()
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Change role").click()
    expect(page.get_by_text("is now Viewer")).to_be_visible()
    page.get_by_test_id("members").get_by_role("row").filter(has_text="nina@acme.test") \
        .get_by_role("link", name="Manage").click()
    page.get_by_role("link", name="Remove from team…").click()
    shot(page, "85-settings-member-remove-confirm")
    page.get_by_role("button", name="Remove from team").click()
    expect(page.get_by_text("Removed nina@acme.test")).to_be_visible()
    assert not Membership.objects.filter(user__username="nina@acme.test").exists()

    # Nobody demotes themselves, and the last approver stays.
    page.get_by_test_id("members").get_by_role("row").filter(has_text="alice").get_by_role("link").click()
    expect(page.get_by_text("You cannot change your own role")).to_be_visible()
    assert page.errors == []
    assert phone.errors == []


def test_api_keys_policies_and_the_activity_log(demo, approver, new_page, login, shot):
    page = new_page(width=1440, height=900)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, username="alice", next_url="/dashboard/settings/api-keys/")
    expect(page.get_by_test_id("keys")).to_contain_text("Checkout server")
    page.get_by_label("Name").fill("Reporting job")
    page.get_by_label("Read-only").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("secret").input_value()
    assert api_key_authenticate(secret).read_only
    expect(page.get_by_test_id("created")).to_contain_text("shown only this once")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "86-settings-api-key-created")
    page.goto("/dashboard/settings/api-keys/")
    expect(page.get_by_text(secret)).to_have_count(0)
    row = page.get_by_test_id("keys").get_by_role("row").filter(has_text="Reporting job")
    row.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_role("heading", name="Revoke this key?")).to_be_visible()
    shot(page, "86-settings-api-key-revoke")
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("requests with it now fail")).to_be_visible()
    assert api_key_authenticate(secret) is None
    assert ApiKey.objects.get(name="Reporting job").revoked_at is not None

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Approval policies").click()
    page.get_by_label("USD approval threshold").fill("500")
    page.get_by_label("INR approval threshold").fill("12.345")
    page.get_by_role("button", name="Save approval thresholds").click()
    expect(page.get_by_role("alert").filter(has_text="decimal")).to_be_visible()  # next to the INR field
    assert not CurrencyPolicy.objects.filter(approval_above__isnull=False).exists()
    page.get_by_label("INR approval threshold").fill("")
    page.get_by_role("button", name="Save approval thresholds").click()
    expect(page.get_by_text("Saved the approval thresholds")).to_be_visible()
    assert CurrencyPolicy.objects.get(business=demo["business"], currency="USD").approval_above == 50_000
    shot(page, "87-settings-policies")

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Activity log").click()
    events = page.get_by_test_id("events")
    expect(events).to_contain_text("USD approval threshold none → $500.00")
    expect(events).to_contain_text("Reporting job")
    expect(events).to_contain_text("API key revoked")
    shot(page, "88-settings-activity")
    page.get_by_label("Kind").select_option("policy_changed")
    page.get_by_role("button", name="Filter").click()
    expect(events.get_by_role("row")).to_have_count(2)  # the header and the one change
    with page.expect_download() as download:
        page.get_by_test_id("activity-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeffcreated_at_utc,")
    assert "→ $500.00" in text
    assert "Reporting job" not in text

    # On a phone: every settings page fits.
    phone = new_page(width=390, height=844, has_touch=True, is_mobile=True)
    login(phone, username="alice")
    for path, name in (("/dashboard/settings/", "general"), ("/dashboard/settings/team/", "team"),
                       ("/dashboard/settings/api-keys/", "api-keys"), ("/dashboard/settings/policies/", "policies"),
                       ("/dashboard/settings/activity/", "activity")):
        phone.goto(path)
        expect(phone.get_by_role("navigation", name="Settings")).to_be_visible()
        no_sideways_scroll(phone, f"settings {name}")
        shot(phone, f"89-settings-{name}-390")
    assert page.errors == []
    assert phone.errors == []


def test_a_viewer_sees_the_team_read_only_and_policies_save_without_javascript(demo, approver, new_page, login,
                                                                                shot):
    page = new_page(width=1440, height=900)
    login(page, username="victor", next_url="/dashboard/settings/team/")
    expect(page.get_by_test_id("members")).to_contain_text("alice")
    expect(page.get_by_role("button", name="Invite")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Settings").get_by_role("link", name="API keys")).to_have_count(0)
    shot(page, "85-settings-team-viewer")

    no_js = new_page(width=1440, height=900, java_script_enabled=False)
    no_js.goto("/accounts/login/?next=/dashboard/settings/policies/")
    no_js.get_by_label("Username").fill("alice")
    no_js.get_by_label("Password").fill(PASSWORD)
    no_js.get_by_role("button", name="Sign in").click()
    no_js.get_by_label("USD approval threshold").fill("250.00")
    no_js.get_by_role("button", name="Save approval thresholds").click()
    expect(no_js.get_by_text("Saved the approval thresholds")).to_be_visible()
    assert CurrencyPolicy.objects.get(business=demo["business"], currency="USD").approval_above == 25_000


def test_admin_times_say_utc_and_a_policy_change_there_is_in_the_activity_log(demo, approver, new_page, login,
                                                                              shot):
    """Bug 7 (the admin's part) and bug 12: the admin shows UTC whatever the dashboard's zone, and says
    so; a threshold changed there is in the business's activity log, with before and after."""
    get_user_model().objects.create_superuser(username="root", password=PASSWORD, email="root@ops.test")
    policy = CurrencyPolicy.objects.get(business=demo["business"], currency="USD")
    for width in (1440, 390):
        page = new_page(width=width, height=900)
        login(page, username="root", next_url="/admin/wallets/ledgerentry/")
        expect(page.locator("#utc-note")).to_have_text("Times in UTC")
        expect(page.get_by_role("columnheader", name="Created at (UTC)")).to_be_visible()
        shot(page, f"90-admin-times-utc-{width}")
    page.goto(f"/admin/wallets/currencypolicy/{policy.pk}/change/")
    page.get_by_label("Approval needed above").fill("750")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")

    manager = new_page(width=1440, height=900)
    login(manager, username="alice", next_url="/dashboard/settings/activity/")
    expect(manager.get_by_test_id("events")).to_contain_text("USD approval threshold none → $750.00")
    row = manager.get_by_test_id("events").get_by_role("row").filter(has_text="$750.00")
    expect(row).to_contain_text("root")
