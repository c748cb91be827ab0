"""Reversing an entry through the confirmation step in a real browser (1440 px wide), and the
customer page with holds and expiring credit fitting a phone (390 px) without sideways scroll."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from wallets import ledger
from wallets.models import LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

pytestmark = pytest.mark.browser


def test_reverse_an_entry_through_the_confirmation(demo, new_page, login, shot):
    ann = demo["people"]["Ann Lee"]
    original = LedgerEntry.objects.get(customer=ann, currency="USD")
    page = new_page(width=1440, height=900)
    login(page, next_url=f"/dashboard/customers/{ann.pk}/")
    page.get_by_test_id("entry-link").filter(has_text=original.pk).click()
    expect(page.get_by_test_id("entry-id")).to_have_text(original.pk)
    expect(page.get_by_test_id("left-to-reverse")).to_have_text("$25.00")
    page.get_by_label("Amount").fill("10.00")
    page.get_by_label("Reason").fill("Customer returned part of the order")
    page.get_by_role("button", name="Review reversal").click()
    expect(page.get_by_test_id("balance-before")).to_have_text("$25.00")
    expect(page.get_by_test_id("balance-after")).to_have_text("$15.00")
    shot(page, "40-reverse-confirm")
    assert not LedgerEntry.objects.filter(reversal_of=original).exists()
    page.get_by_role("button", name="Confirm and reverse").click()
    expect(page.get_by_text(f"Reversed $10.00 of {original.pk}. New USD balance: $15.00.")).to_be_visible()
    expect(page.get_by_test_id("link-reversal")).to_have_count(1)
    shot(page, "41-reversed")
    reversal = LedgerEntry.objects.get(reversal_of=original)
    assert (reversal.amount, reversal.is_credit) == (1000, False)
    assert Wallet.objects.get(customer=ann, currency="USD").balance == 1500
    assert ledger_drift() == []
    assert page.errors == []


def test_customer_page_with_holds_and_grants_fits_a_phone(demo, new_page, login, shot):
    farid = demo["people"]["Farid Khan"]
    actor = Actor.command("test")
    ledger.create_hold(business_id=farid.business_id, customer_id=farid.pk, currency="USD", amount=1234,
                       actor=actor, expires_at=timezone.now() + datetime.timedelta(days=3),
                       reference_object_id="order_with_a_rather_long_reference_0001")
    ledger.post(business_id=farid.business_id, customer_id=farid.pk, currency="USD", amount=5000, is_credit=True,
                actor=actor, reason="Promo credit", expires_at=timezone.now() + datetime.timedelta(days=30))
    page = new_page(width=390, height=844)
    login(page, next_url=f"/dashboard/customers/{farid.pk}/")
    expect(page.get_by_test_id("holds-table")).to_be_visible()
    expect(page.get_by_test_id("grants-table")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the customer page is {overflow}px too wide at 390px"
    shot(page, "42-phone-customer-holds")
    assert ledger_drift() == []
    assert page.errors == []
