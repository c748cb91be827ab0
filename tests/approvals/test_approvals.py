"""Maker–checker: adjustments above the threshold are held until a different approver decides."""

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from tests.approvals.holds import release_hold
from wallets.exceptions import IdempotencyKeyReused, InsufficientFunds, InvalidInput, InvalidState, NotAllowed
from wallets.models import AdjustmentRequest, CurrencyPolicy, LedgerEntry, Membership, Wallet
from wallets.services.approvals import adjustment_approve, adjustment_reject, adjustment_submit


@pytest.fixture
def users(business):
    user_model = get_user_model()
    made = {}
    for role in ("operator", "approver", "viewer"):
        user = user_model.objects.create_user(f"{role}1", password="pw-123456789")
        Membership.objects.create(user=user, business=business, role=role)
        made[role] = user
    second = user_model.objects.create_user("approver2", password="pw-123456789")
    Membership.objects.create(user=second, business=business, role="approver")
    made["approver2"] = second
    return made


@pytest.fixture
def threshold(business):
    return CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=10_000)


def submit(customer, user, amount, key, credit=True, currency="USD"):
    return adjustment_submit(
        business_id=customer.business_id, customer_id=customer.id, currency=currency, amount=amount,
        is_credit=credit, reason="goodwill", idempotency_key=key, user=user,
    )


def test_within_threshold_posts_at_once(customer, users, threshold):
    outcome = submit(customer, users["operator"], 10_000, "k1")
    assert not outcome.held
    assert outcome.posting.balance == 10_000
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.actor_type, entry.actor_id) == ("user", str(users["operator"].pk))
    assert not AdjustmentRequest.objects.exists()


def test_no_policy_means_no_approval(customer, users):
    outcome = submit(customer, users["operator"], 10**9, "k1")
    assert outcome.posting.balance == 10**9


def test_above_threshold_is_held_and_changes_no_balance(customer, users, threshold):
    outcome = submit(customer, users["operator"], 10_001, "k1")
    assert outcome.held
    assert outcome.request.status == "pending"
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0
    assert not LedgerEntry.objects.exists()
    # A double submit of the same form finds the same request.
    again = submit(customer, users["operator"], 10_001, "k1")
    assert again.request.id == outcome.request.id
    assert AdjustmentRequest.objects.count() == 1


def test_approval_by_another_approver_posts_once(customer, users, threshold):
    request = submit(customer, users["operator"], 50_000, "k1").request
    approved = adjustment_approve(business_id=customer.business_id, request_id=request.id,
                                  approver=users["approver"], note="ok")
    assert approved.status == "approved"
    assert approved.decided_by == users["approver"]
    assert approved.decided_at is not None
    assert approved.ledger_entry.amount == 50_000
    assert approved.ledger_entry.actor_id == str(users["operator"].pk)
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 50_000
    with pytest.raises(InvalidState):
        adjustment_approve(business_id=customer.business_id, request_id=request.id, approver=users["approver2"])
    assert LedgerEntry.objects.count() == 1


def test_requester_cannot_approve_own_request(customer, users, threshold):
    request = submit(customer, users["approver"], 50_000, "k1").request
    with pytest.raises(NotAllowed):
        adjustment_approve(business_id=customer.business_id, request_id=request.id, approver=users["approver"])
    adjustment_approve(business_id=customer.business_id, request_id=request.id, approver=users["approver2"])
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 50_000


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_approvers_decide(customer, users, threshold, role):
    request = submit(customer, users["approver"], 50_000, "k1").request
    for decide in (adjustment_approve, adjustment_reject):
        with pytest.raises(NotAllowed):
            decide(business_id=customer.business_id, request_id=request.id, approver=users[role])
    request.refresh_from_db()
    assert request.status == "pending"


def test_approver_of_another_business_cannot_decide(customer, users, threshold, other_business):
    outsider = get_user_model().objects.create_user("outsider", password="pw-123456789")
    Membership.objects.create(user=outsider, business=other_business, role="approver")
    request = submit(customer, users["operator"], 50_000, "k1").request
    with pytest.raises(NotAllowed):
        adjustment_approve(business_id=customer.business_id, request_id=request.id, approver=outsider)


def test_reject_keeps_both_identities_and_posts_nothing(customer, users, threshold):
    request = submit(customer, users["operator"], 50_000, "k1").request
    rejected = adjustment_reject(business_id=customer.business_id, request_id=request.id,
                                 approver=users["approver"], note="no ticket")
    assert (rejected.status, rejected.requested_by, rejected.decided_by) == (
        "rejected", users["operator"], users["approver"])
    assert rejected.decision_note == "no ticket"
    assert rejected.ledger_entry is None
    assert not LedgerEntry.objects.exists()


def test_overdraft_at_approval_leaves_request_pending(customer, users, threshold, post):
    post(customer, 60_000)
    request = submit(customer, users["operator"], 55_000, "k1", credit=False).request
    release_hold(request)  # the reservation voided through the API: then the balance can fall meanwhile
    post(customer, 10_000, credit=False)
    with pytest.raises(InsufficientFunds):
        adjustment_approve(business_id=customer.business_id, request_id=request.id, approver=users["approver"])
    request.refresh_from_db()
    assert request.status == "pending"
    assert request.ledger_entry is None
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 50_000


def test_database_refuses_self_approval(customer, users, threshold):
    request = submit(customer, users["operator"], 50_000, "k1").request
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_adjustmentrequest SET decided_by_id = requested_by_id WHERE id = %s", [request.id]
        )


# --- One policy for every manual adjustment (issue 15 items 1, 3, 4) ---------------------------


@pytest.mark.parametrize("who", ["viewer", "stranger", "other_business_operator", "inactive_operator"])
def test_submit_refuses_a_user_whose_role_may_not_post(customer, users, other_business, who):
    user_model = get_user_model()
    user = {
        "viewer": lambda: users["viewer"],
        "stranger": lambda: user_model.objects.create_user("stranger", password="pw-123456789"),
        "other_business_operator": lambda: Membership.objects.create(
            user=user_model.objects.create_user("globex-op", password="pw-123456789"), business=other_business,
            role="operator").user,
        "inactive_operator": lambda: user_model.objects.filter(pk=users["operator"].pk).update(is_active=False)
        or user_model.objects.get(pk=users["operator"].pk),
    }[who]()
    with pytest.raises(NotAllowed):
        submit(customer, user, 100, "k-role")
    assert not LedgerEntry.objects.exists()
    assert not AdjustmentRequest.objects.exists()


def test_submit_lets_a_superuser_without_membership_post(customer):
    root = get_user_model().objects.create_superuser("root", password="pw-123456789")
    assert submit(customer, root, 100, "k-root").posting.balance == 100


@pytest.mark.parametrize("reason", ["", "   ", "\n\t", None])
def test_submit_refuses_a_blank_reason(customer, users, threshold, reason):
    for amount in (100, 50_000):  # posted at once or held: neither happens
        with pytest.raises(InvalidInput):
            adjustment_submit(
                business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=amount,
                is_credit=True, reason=reason, idempotency_key=f"k-blank-{amount}", user=users["operator"],
            )
    assert not LedgerEntry.objects.exists()
    assert not AdjustmentRequest.objects.exists()


def test_a_merchant_key_cannot_make_a_held_request_unapprovable(customer, users, threshold, api):
    """The attack: an API key pre-posts the key the approval used (``approval:<request id>``)."""
    request = submit(customer, users["operator"], 50_000, "k1").request
    response = api.post(f"/customers/{customer.id}/wallets/ledger-entries", {
        "amount": 1, "currency": "USD", "entry_type": "credit", "idempotency_key": f"approval:{request.id}",
    }, format="json")
    assert response.status_code == 200
    approved = adjustment_approve(business_id=customer.business_id, request_id=request.id,
                                  approver=users["approver"])
    assert approved.status == "approved"
    assert approved.ledger_entry.amount == 50_000
    assert approved.ledger_entry.idempotency_key is None
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 50_001


def test_resubmitting_a_held_form_after_the_threshold_rose_does_not_post(customer, users, threshold):
    request = submit(customer, users["operator"], 50_000, "k1").request
    threshold.approval_above = 100_000
    threshold.save()
    again = submit(customer, users["operator"], 50_000, "k1")
    assert again.held
    assert again.request.id == request.id
    assert not LedgerEntry.objects.exists()
    adjustment_approve(business_id=customer.business_id, request_id=request.id, approver=users["approver"])
    submit(customer, users["operator"], 50_000, "k1")  # and once more after the approval
    assert LedgerEntry.objects.count() == 1
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 50_000


def test_resubmitting_a_posted_form_after_the_threshold_fell_replays(customer, users, threshold):
    first = submit(customer, users["operator"], 5_000, "k1")
    threshold.approval_above = 1_000
    threshold.save()
    again = submit(customer, users["operator"], 5_000, "k1")
    assert not again.held
    assert again.posting.replayed
    assert again.posting.entry.pk == first.posting.entry.pk
    assert not AdjustmentRequest.objects.exists()
    assert LedgerEntry.objects.count() == 1


def test_a_held_form_key_reused_for_another_adjustment_is_refused(customer, users, threshold):
    submit(customer, users["operator"], 50_000, "k1")
    with pytest.raises(IdempotencyKeyReused):
        submit(customer, users["operator"], 60_000, "k1")
    assert AdjustmentRequest.objects.count() == 1
    assert not LedgerEntry.objects.exists()


def test_without_a_key_above_the_threshold_is_held_even_after_keyless_entries(customer, users, threshold, post):
    """A keyless submit (an API session request that sent no key) must not mistake the customer's
    keyless entries for "this form was posted" and skip the hold."""
    post(customer, 100)  # an entry without an idempotency key
    first = submit(customer, users["operator"], 50_000, None)
    second = submit(customer, users["operator"], 50_000, None)
    assert first.held
    assert second.held
    assert first.request.id != second.request.id
    assert first.request.idempotency_key.startswith("held_")
    assert LedgerEntry.objects.count() == 1
    within = submit(customer, users["operator"], 5_000, None)
    assert not within.held
    assert within.posting.entry.idempotency_key is None
