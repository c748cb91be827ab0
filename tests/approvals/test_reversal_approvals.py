"""Maker–checker for reversals and expiring credit: the same policy as adjustments
(``adjustment_submit``), with ``reversal_of`` and ``expires_at`` carried to the engine."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.approvals.holds import release_hold
from wallets.exceptions import (
    EntryNotFound,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidInput,
    NotAllowed,
    ReversalExceedsOriginal,
)
from wallets.models import AdjustmentRequest, CreditGrant, CurrencyPolicy, LedgerEntry, Membership, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.approvals import adjustment_approve, adjustment_submit


@pytest.fixture(autouse=True)
def books_balance(db):
    yield
    assert ledger_drift() == []


@pytest.fixture
def users(business):
    made = {}
    for name, role in (("op", "operator"), ("appr", "approver"), ("view", "viewer")):
        user = get_user_model().objects.create_user(name, password="pw-123456789")
        Membership.objects.create(user=user, business=business, role=role)
        made[name] = user
    return made


@pytest.fixture
def threshold(business):
    return CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=1000)


def reverse_submit(entry, user, amount, key="dash_rev00001", **kwargs):
    return adjustment_submit(
        business_id=entry.business_id, customer_id=entry.customer_id, currency=entry.currency, amount=amount,
        is_credit=not entry.is_credit, reason="refund", idempotency_key=key, user=user, reversal_of=entry.pk,
        **kwargs,
    )


def balance(customer):
    return Wallet.objects.get(customer=customer, currency="USD").balance


def test_within_threshold_reverses_at_once_and_replays(customer, post, users, threshold):
    entry = post(customer, 5000).entry
    first = reverse_submit(entry, users["op"], 800)
    again = reverse_submit(entry, users["op"], 800)
    assert (first.held, first.replayed, again.replayed) == (False, False, True)
    reversal = LedgerEntry.objects.get(reversal_of=entry)
    assert (reversal.amount, reversal.is_credit, first.balance) == (800, False, 4200)
    assert balance(customer) == 4200


def test_above_threshold_is_held_then_approved_once_by_another_user(customer, post, users, threshold, business):
    entry = post(customer, 5000).entry
    outcome = reverse_submit(entry, users["op"], 3000)
    assert outcome.held
    assert reverse_submit(entry, users["op"], 3000).request.pk == outcome.request.pk
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()
    with pytest.raises(NotAllowed):
        adjustment_approve(business_id=business.pk, request_id=outcome.request.pk, approver=users["op"])
    approved = adjustment_approve(business_id=business.pk, request_id=outcome.request.pk, approver=users["appr"])
    reversal = LedgerEntry.objects.get(reversal_of=entry)
    assert approved.ledger_entry_id == reversal.pk
    assert (reversal.amount, reversal.actor_id) == (3000, str(users["op"].pk))
    assert balance(customer) == 2000


def test_held_reversal_refused_at_approval_stays_pending(customer, post, users, threshold, business):
    entry = post(customer, 5000).entry
    request = reverse_submit(entry, users["op"], 3000).request
    release_hold(request)  # the reservation voided through the API: then the money can go meanwhile
    post(customer, 4000, credit=False)
    with pytest.raises(InsufficientFunds):
        adjustment_approve(business_id=business.pk, request_id=request.pk, approver=users["appr"])
    request.refresh_from_db()
    assert request.status == AdjustmentRequest.Status.PENDING
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()


def test_engine_refusals_and_policy_checks(customer, post, users, threshold):
    entry = post(customer, 5000).entry
    for n in range(5):
        reverse_submit(entry, users["op"], 900, key=f"dash_a{n}")
    with pytest.raises(ReversalExceedsOriginal):  # 4500 reversed: 900 more exceeds the 5000
        reverse_submit(entry, users["op"], 900, key="dash_a9")
    assert LedgerEntry.objects.filter(reversal_of=entry).count() == 5
    with pytest.raises(NotAllowed):
        reverse_submit(entry, users["view"], 100, key="dash_v1")
    with pytest.raises(InvalidInput):  # a reversal keeps the original's direction rule
        adjustment_submit(business_id=entry.business_id, customer_id=entry.customer_id, currency="USD", amount=100,
                          is_credit=True, reason="x", idempotency_key="dash_d1", user=users["op"],
                          reversal_of=entry.pk)
    with pytest.raises(EntryNotFound):
        adjustment_submit(business_id=entry.business_id, customer_id=entry.customer_id, currency="USD", amount=100,
                          is_credit=False, reason="x", idempotency_key="dash_d2", user=users["op"],
                          reversal_of="wle_missing")


def test_a_held_key_reused_for_another_reversal_is_refused(customer, post, users, threshold):
    first = post(customer, 5000).entry
    second = post(customer, 5000).entry
    reverse_submit(first, users["op"], 3000, key="dash_same")
    with pytest.raises(IdempotencyKeyReused):
        reverse_submit(second, users["op"], 3000, key="dash_same")


def test_held_credit_keeps_its_expiry_to_the_grant(customer, users, threshold, business):
    expires = timezone.now() + datetime.timedelta(days=5)
    outcome = adjustment_submit(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=5000,
                                is_credit=True, reason="promo", idempotency_key="dash_grant1", user=users["op"],
                                expires_at=expires)
    assert outcome.request.expires_at == expires
    request = adjustment_approve(business_id=business.pk, request_id=outcome.request.pk, approver=users["appr"])
    grant = CreditGrant.objects.get(pk=request.ledger_entry_id)
    assert (grant.amount, grant.remaining, grant.expires_at) == (5000, 5000, expires)
