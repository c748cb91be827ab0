"""A held debit reserves its money (issue 12, bug 3): $60 and $100 against $106.25 are no longer
both accepted. The hold is placed with the request, captured by the approval, released by the
rejection, and never lapses on its own. Runs on PostgreSQL and SQLite."""

import datetime

import pytest
from django.contrib.auth import get_user_model

from wallets import ledger
from wallets.exceptions import InsufficientFunds, InvalidState
from wallets.models import AdjustmentRequest, CurrencyPolicy, Hold, LedgerEntry, Membership, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor
from wallets.services.approvals import (
    APPROVAL_HOLD_EXPIRES_AT,
    adjustment_approve,
    adjustment_reject,
    adjustment_submit,
)


@pytest.fixture
def users(business):
    made = {}
    for role in ("operator", "approver"):
        user = get_user_model().objects.create_user(f"{role}1", password="pw-123456789")
        Membership.objects.create(user=user, business=business, role=role)
        made[role] = user
    return made


@pytest.fixture
def funded(customer, business, post):
    """Carla's story: $106.25 in USD, approval above $50.00."""
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=5000)
    post(customer, 10625)
    return customer


def submit(customer, user, amount, key, credit=False, **kwargs):
    return adjustment_submit(business_id=customer.business_id, customer_id=customer.pk, currency="USD",
                             amount=amount, is_credit=credit, reason="Chargeback", idempotency_key=key, user=user,
                             **kwargs)


def usd(customer) -> Wallet:
    return Wallet.objects.get(customer=customer, currency="USD")


def test_a_held_debit_reserves_and_a_second_beyond_the_available_is_refused_in_money(funded, users):
    first = submit(funded, users["operator"], 6000, "dash_first0001").request
    hold = Hold.objects.get(pk=first.hold_id)
    assert (hold.status, hold.amount, hold.reference_object_id, hold.expires_at) == (
        "active", 6000, first.pk, APPROVAL_HOLD_EXPIRES_AT)
    wallet = usd(funded)
    assert (wallet.balance, wallet.held_balance) == (10625, 6000)  # booked unchanged, $46.25 available
    with pytest.raises(InsufficientFunds) as refused:
        submit(funded, users["operator"], 10000, "dash_second001")
    assert refused.value.message == ("Insufficient wallet funds: $46.25 available in USD ($60.00 reserved by holds "
                                     "and pending approvals), less than this debit of $100.00.")
    assert list(AdjustmentRequest.objects.values_list("pk", flat=True)) == [first.pk]
    assert Hold.objects.count() == 1
    # A double submit of the first form finds it again: one request, one hold.
    assert submit(funded, users["operator"], 6000, "dash_first0001").request.pk == first.pk
    assert Hold.objects.count() == 1


def test_other_debits_cannot_spend_the_reserved_money(funded, users, post):
    submit(funded, users["operator"], 6000, "dash_first0001")
    with pytest.raises(InsufficientFunds):
        post(funded, 4626, credit=False)
    post(funded, 4625, credit=False)
    assert (usd(funded).balance, usd(funded).held_balance) == (6000, 6000)


def test_approval_captures_the_hold_as_the_requesters_adjustment(funded, users):
    request = submit(funded, users["operator"], 6000, "dash_first0001").request
    approved = adjustment_approve(business_id=funded.business_id, request_id=request.pk, approver=users["approver"],
                                  note="Checked the chargeback")
    entry = LedgerEntry.objects.get(pk=approved.ledger_entry_id)
    assert (entry.event_type, entry.amount, entry.is_credit, entry.reason) == (
        "merchant_adjustment", 6000, False, "Chargeback")
    assert (entry.actor_type, entry.actor_id, entry.hold_id) == ("user", str(users["operator"].pk), request.hold_id)
    hold = Hold.objects.get(pk=request.hold_id)
    assert (hold.status, hold.captured_amount) == ("captured", 6000)
    assert (usd(funded).balance, usd(funded).held_balance) == (4625, 0)
    assert ledger_drift(business_id=funded.business_id) == []
    with pytest.raises(InvalidState):  # decided once
        adjustment_approve(business_id=funded.business_id, request_id=request.pk, approver=users["approver"])
    assert LedgerEntry.objects.filter(customer=funded).count() == 2


def test_rejection_releases_the_money(funded, users):
    request = submit(funded, users["operator"], 6000, "dash_first0001").request
    adjustment_reject(business_id=funded.business_id, request_id=request.pk, approver=users["approver"], note="No")
    assert Hold.objects.get(pk=request.hold_id).status == "voided"
    assert (usd(funded).balance, usd(funded).held_balance) == (10625, 0)
    assert LedgerEntry.objects.filter(customer=funded).count() == 1  # nothing posted
    # The $100 that was refused fits now.
    assert submit(funded, users["operator"], 10000, "dash_second001").request.hold_id is not None


def test_a_held_credit_reserves_nothing(funded, users):
    request = submit(funded, users["operator"], 9000, "dash_credit001", credit=True).request
    assert request.hold_id is None
    assert usd(funded).held_balance == 0


def test_a_held_reversal_of_a_credit_reserves_and_posts_as_a_reversal(funded, users, post):
    credit = post(funded, 8000).entry  # $186.25
    request = submit(funded, users["operator"], 8000, "dash_revers001", reversal_of=credit.pk).request
    assert usd(funded).held_balance == 8000
    with pytest.raises(InsufficientFunds):  # the reversal's money is reserved too
        post(funded, 10626, credit=False)
    adjustment_approve(business_id=funded.business_id, request_id=request.pk, approver=users["approver"])
    reversal = LedgerEntry.objects.get(reversal_of=credit)
    assert (reversal.amount, reversal.is_credit) == (8000, False)
    assert Hold.objects.get(pk=request.hold_id).status == "voided"  # released into the reversal, one transaction
    assert (usd(funded).balance, usd(funded).held_balance) == (10625, 0)
    assert ledger_drift(business_id=funded.business_id) == []


def test_a_hold_captured_through_the_api_is_not_taken_twice(funded, users):
    request = submit(funded, users["operator"], 6000, "dash_first0001").request
    ledger.capture_hold(business_id=funded.business_id, customer_id=funded.pk, hold_id=request.hold_id,
                        actor=Actor.api_key("k"))
    with pytest.raises(InvalidState, match="captured through the API"):
        adjustment_approve(business_id=funded.business_id, request_id=request.pk, approver=users["approver"])
    request.refresh_from_db()
    assert (request.status, usd(funded).balance) == ("pending", 4625)
    adjustment_reject(business_id=funded.business_id, request_id=request.pk, approver=users["approver"])
    assert usd(funded).balance == 4625


def test_a_hold_voided_through_the_api_still_posts_if_the_money_is_there(funded, users):
    request = submit(funded, users["operator"], 6000, "dash_first0001").request
    ledger.void_hold(business_id=funded.business_id, customer_id=funded.pk, hold_id=request.hold_id,
                     actor=Actor.api_key("k"))
    approved = adjustment_approve(business_id=funded.business_id, request_id=request.pk, approver=users["approver"])
    assert approved.ledger_entry.amount == 6000
    assert (usd(funded).balance, usd(funded).held_balance) == (4625, 0)


def test_an_approval_hold_never_lapses_in_the_sweep(funded, users):
    request = submit(funded, users["operator"], 6000, "dash_first0001").request
    ledger.sweep_due(now=datetime.datetime(2999, 12, 31, tzinfo=datetime.UTC))
    assert Hold.objects.get(pk=request.hold_id).status == "active"
    assert usd(funded).held_balance == 6000


def test_no_wallet_yet_is_refused_in_money(customer, business, users):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=5000)
    with pytest.raises(InsufficientFunds, match=r"\$0\.00 available in USD, less than this debit of \$60\.00"):
        submit(customer, users["operator"], 6000, "dash_nowallet1")
    assert not AdjustmentRequest.objects.exists()
