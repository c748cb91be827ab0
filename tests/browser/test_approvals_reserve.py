"""Issue 12, bug 3 (and the approver of bug 12) as a finance team meets it in Chromium, at 1440 px and
on a phone: Carla has $106.25; a $60.00 debit is held for approval and reserves its money, so a
$100.00 debit is refused at once ("$46.25 available"); the customer page shows what waits; the
approver sees the balance now → after, approves, and the entry says who approved it."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from wallets import ledger
from wallets.models import AdjustmentRequest, CurrencyPolicy, Hold, Membership, Wallet
from wallets.services.actors import Actor

pytestmark = pytest.mark.browser

WIDTHS = [pytest.param(1440, 900, id="1440"), pytest.param(390, 844, id="phone")]


def _sideways(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def _debit(page, amount: str, reason: str) -> None:
    adjust = page.locator("#adjust")
    adjust.get_by_label("Debit (take money)").check()
    adjust.get_by_label("Amount").fill(amount)
    adjust.get_by_label("Currency").select_option("USD")
    adjust.get_by_label("Reason").fill(reason)
    adjust.get_by_role("button", name="Review adjustment").click()


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_a_held_debit_reserves_its_money_and_the_approver_sees_now_and_after(demo, new_page, login, shot,
                                                                          width, height):
    business = demo["business"]
    carla = demo["people"]["Carla Diaz"]  # USD $150.00
    ledger.post(business_id=business.pk, customer_id=carla.pk, currency="USD", amount=4375, is_credit=False,
                actor=Actor.api_key(demo["key"].pk), reason="Purchase")  # $106.25
    CurrencyPolicy.objects.filter(business=business, currency="USD").update(approval_above=5000)
    april = get_user_model().objects.create_user(username="april", password=PASSWORD)
    Membership.objects.create(user=april, business=business, role=Membership.Role.APPROVER)
    tag = f"{width}"

    page = new_page(width=width, height=height)
    login(page, next_url=f"/dashboard/customers/{carla.pk}/")
    _debit(page, "60.00", "Chargeback of order #1021")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("is waiting for approval")).to_be_visible()
    expect(page.get_by_test_id("held-USD")).to_have_text("$60.00")
    expect(page.get_by_test_id("available-USD")).to_have_text("$46.25")
    expect(page.get_by_test_id("balance-USD")).to_have_text("$106.25")
    pending = page.get_by_test_id("pending-table")
    expect(pending).to_contain_text("−$60.00")
    expect(pending).to_contain_text("by olivia")
    expect(pending.get_by_test_id("reserved")).to_have_text("$60.00 reserved for approval")
    expect(page.get_by_test_id("holds-table")).to_contain_text("Reserved for approval")
    assert _sideways(page) <= 0
    shot(page, f"60-reserve-pending-{tag}")

    _debit(page, "100.00", "Chargeback of order #1022")
    error = page.locator("#adjust .field.has-error", has=page.locator("#adj_amount")).locator(".error")
    expect(error).to_have_text("Insufficient funds: $46.25 available (the USD balance is $106.25, $60.00 reserved "
                               "by holds and pending approvals), less than this debit of $100.00.")
    error.scroll_into_view_if_needed()
    shot(page, f"61-reserve-second-refused-{tag}")
    assert AdjustmentRequest.objects.count() == 1
    request = AdjustmentRequest.objects.get()

    other = new_page(width=width, height=height)
    login(other, username="april", next_url="/dashboard/approvals/")
    row = other.get_by_test_id("approvals-table").locator("tbody tr").first
    preview = row.get_by_test_id(f"preview-{request.pk}")
    expect(preview.get_by_test_id("balance-now")).to_have_text("$106.25")
    expect(preview.get_by_test_id("balance-after")).to_have_text("$46.25")
    expect(row.get_by_test_id(f"available-{request.pk}")).to_have_text("Available $46.25")
    expect(row.get_by_test_id(f"reserved-{request.pk}")).to_have_text("$60.00 reserved for this")
    assert _sideways(other) <= 0
    shot(other, f"62-reserve-approver-preview-{tag}")
    row.get_by_label("Note for Carla Diaz").fill("Matches the bank's chargeback")
    row.get_by_role("button", name="Approve").click()
    expect(other.get_by_text("Approved and posted: debit of $60.00 for Carla Diaz.")).to_be_visible()
    wallet = Wallet.objects.get(customer=carla, currency="USD")
    assert (wallet.balance, wallet.held_balance) == (4625, 0)
    assert Hold.objects.get(pk=request.hold_id).status == "captured"

    page.goto(f"/dashboard/customers/{carla.pk}/")
    expect(page.get_by_test_id("balance-USD")).to_have_text("$46.25")
    expect(page.get_by_test_id("pending-table")).to_have_count(0)
    approved = page.locator("#ledger").get_by_test_id("approved-by")
    expect(approved).to_have_text("approved by april")
    shot(page, f"63-reserve-approved-customer-{tag}")
    page.locator("#ledger").get_by_test_id("entry-link").first.click()
    expect(page.get_by_test_id("approval")).to_contain_text("Requested by olivia")
    expect(page.get_by_test_id("approved-by")).to_have_text("april")
    expect(page.get_by_test_id("approval-note")).to_have_text("Matches the bank's chargeback")
    assert _sideways(page) <= 0
    shot(page, f"64-reserve-entry-approved-by-{tag}")
    assert page.errors == []
    assert other.errors == []


def test_a_request_that_cannot_post_says_why_before_the_click(demo, new_page, login, shot):
    from wallets.services.approvals import adjustment_submit

    business = demo["business"]
    carla = demo["people"]["Carla Diaz"]
    CurrencyPolicy.objects.filter(business=business, currency="USD").update(approval_above=5000)
    april = get_user_model().objects.create_user(username="april", password=PASSWORD)
    Membership.objects.create(user=april, business=business, role=Membership.Role.APPROVER)
    request = adjustment_submit(business_id=business.pk, customer_id=carla.pk, currency="USD", amount=10000,
                                is_credit=False, reason="Chargeback", idempotency_key="dash_cannotpost1",
                                user=demo["users"]["olivia"]).request
    ledger.void_hold(business_id=business.pk, customer_id=carla.pk, hold_id=request.hold_id,
                     actor=Actor.api_key(demo["key"].pk))  # released through the API
    ledger.post(business_id=business.pk, customer_id=carla.pk, currency="USD", amount=10375, is_credit=False,
                actor=Actor.api_key(demo["key"].pk), reason="Purchase")  # $46.25 left
    page = new_page(width=390, height=844)
    login(page, username="april", next_url="/dashboard/approvals/")
    blocker = page.get_by_test_id(f"blocker-{request.pk}")
    expect(blocker).to_have_text("Cannot be posted now: $46.25 available, less than this debit of $100.00.")
    blocker.scroll_into_view_if_needed()
    shot(page, "65-reserve-cannot-post-390")
    assert page.errors == []
