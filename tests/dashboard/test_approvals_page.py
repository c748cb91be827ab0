"""The approvals page: held adjustments, decided by an approver who is not the requester."""

import pytest

from tests.approvals.holds import release_hold
from wallets.models import AdjustmentRequest, CurrencyPolicy, LedgerEntry, Membership, Wallet
from wallets.services.approvals import adjustment_submit


@pytest.fixture
def approver_client(make_user, business, client_for):
    return client_for(make_user(Membership.Role.APPROVER, business, username="april"))


@pytest.fixture
def held(business, customer, operator, post):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=10000)
    post(customer, 5000)
    outcome = adjustment_submit(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=20000,
                                is_credit=True, reason="Big goodwill", idempotency_key="dash_heldkey0001",
                                user=operator)
    return outcome.request


def test_lists_pending_requests(viewer_client, held):
    body = viewer_client.get("/dashboard/approvals/").content.decode()
    assert "Big goodwill" in body
    assert "+$200.00" in body
    assert "by olivia" in body
    assert "Waiting for an approver" in body
    assert ">Approve</button>" not in body
    assert 'data-testid="pending-count">1<' in viewer_client.get("/dashboard/").content.decode()


def test_approver_approves_and_the_entry_is_posted(approver_client, held, customer, operator):
    response = approver_client.post(f"/dashboard/approvals/{held.pk}/decide/",
                                    {"decision": "approve", "note": "ok", "next": "/dashboard/approvals/"})
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/approvals/"
    held.refresh_from_db()
    assert held.status == "approved"
    assert held.decision_note == "ok"
    entry = LedgerEntry.objects.get(pk=held.ledger_entry_id)
    assert (entry.amount, entry.actor_type, entry.actor_id) == (20000, "user", str(operator.pk))
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 25000
    body = approver_client.get("/dashboard/approvals/", {"status": "approved"}).content.decode()
    assert "april" in body
    assert "Approved" in body
    assert "Nothing waiting for approval" in approver_client.get("/dashboard/approvals/").content.decode()


def test_approver_rejects(approver_client, held):
    approver_client.post(f"/dashboard/approvals/{held.pk}/decide/", {"decision": "reject", "note": "no"})
    held.refresh_from_db()
    assert held.status == "rejected"
    assert not LedgerEntry.objects.filter(reason="Big goodwill").exists()


def test_operator_cannot_decide(operator_client, held):
    response = operator_client.post(f"/dashboard/approvals/{held.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    assert AdjustmentRequest.objects.get(pk=held.pk).status == "pending"


def test_nobody_approves_their_own_request(client_for, business, customer, make_user, held):
    requester = held.requested_by
    Membership.objects.filter(user=requester).update(role=Membership.Role.APPROVER)
    client = client_for(type(requester).objects.get(pk=requester.pk))
    assert "another approver decides" in client.get("/dashboard/approvals/").content.decode()
    response = client.post(f"/dashboard/approvals/{held.pk}/decide/", {"decision": "approve"}, follow=True)
    assert "A different person must approve" in response.content.decode()
    assert AdjustmentRequest.objects.get(pk=held.pk).status == "pending"


def test_overdraft_at_approval_keeps_it_pending(approver_client, business, customer, operator, post):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=100)
    post(customer, 5000)
    held = adjustment_submit(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=4000,
                             is_credit=False, reason="Clawback", idempotency_key="dash_heldkey0002",
                             user=operator).request
    release_hold(held)  # the reservation voided through the API: then the balance can fall meanwhile
    post(customer, 2000, credit=False)  # the balance is now $30.00, less than the $40.00 debit
    response = approver_client.post(f"/dashboard/approvals/{held.pk}/decide/", {"decision": "approve"}, follow=True)
    # In money, as the page shows every amount (not the engine's minor units "3000, the debit is 4000").
    assert ("Not approved: Insufficient wallet funds: the available USD balance is $30.00, less than this debit "
            "of $40.00.") in response.content.decode()
    assert AdjustmentRequest.objects.get(pk=held.pk).status == "pending"


def test_another_business_request_is_404(approver_client, other_business, make_customer, make_user):
    from wallets.services.approvals import adjustment_submit as submit

    CurrencyPolicy.objects.create(business=other_business, currency="USD", approval_above=1)
    stranger = make_customer(email="s@globex.test", business_id=other_business.pk)
    them = make_user(Membership.Role.OPERATOR, other_business)
    foreign = submit(business_id=other_business.pk, customer_id=stranger.pk, currency="USD", amount=500,
                     is_credit=True, reason="x", idempotency_key="dash_foreign0001", user=them).request
    assert approver_client.post(f"/dashboard/approvals/{foreign.pk}/decide/", {"decision": "approve"}).status_code \
        == 404
    assert "x@" not in approver_client.get("/dashboard/approvals/").content.decode()


def test_approvals_query_count_is_flat(approver_client, business, make_customer, operator, count_queries,
                                       django_assert_max_num_queries):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=1)

    def grow(n, start):
        for i in range(start, start + n):
            c = make_customer(email=f"ap{i}@x.test")
            adjustment_submit(business_id=business.pk, customer_id=c.pk, currency="USD", amount=500,
                              is_credit=True, reason=f"r{i}", idempotency_key=f"dash_grow{i:08}", user=operator)

    grow(5, 0)
    small = count_queries(approver_client, "/dashboard/approvals/")
    grow(45, 5)
    large = count_queries(approver_client, "/dashboard/approvals/")
    assert small == large
    with django_assert_max_num_queries(8):
        approver_client.get("/dashboard/approvals/")
