"""``POST /customers/{cid}/wallets/ledger-entries/{entry_id}/reversals`` (API-NOTES, "Reversals"),
through HTTP: the new entry with the wallet after it, every refusal, replays, tenancy, reversal of
a debit paid from expiring credit after the credit expired, and concurrent reversals on PostgreSQL."""

import datetime
import threading
import time
from collections import Counter

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from tests.api.test_browsable_api import csrf_token, session_client
from wallets import ledger
from wallets.models import AdjustmentRequest, CurrencyPolicy, LedgerEntry, Membership, Wallet
from wallets.selectors.reconcile import ledger_drift

pytestmark = pytest.mark.django_db


def reversals_path(customer_id, entry_id):
    return f"/customers/{customer_id}/wallets/ledger-entries/{entry_id}/reversals"


def reverse(api, customer_id, entry_id, **kwargs):
    headers = kwargs.pop("headers", {})
    return api.post(reversals_path(customer_id, entry_id), kwargs, format="json", headers=headers)


def test_a_partial_reversal_answers_the_new_entry_and_the_wallet(api, customer, post):
    payment = post(customer, 1000, event_type="refund", reference_object_id="re_1").entry

    response = reverse(api, customer.id, payment.id, amount=300, reason="partly wrong")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["amount"], body["is_credit"], body["event_type"], body["reversal_of"]) == (
        300, False, "refund_reversal", payment.id)
    assert (body["before_balance"], body["after_balance"], body["reason"]) == (1000, 700, "partly wrong")
    assert body["reference_object_id"] == "re_1"
    assert body["wallet"]["balance"] == 700
    assert body["wallet"]["available_balance"] == 700
    assert body["wallet"]["currency"] == "USD"
    assert body["wallet"]["customer_id"] == customer.id
    original = api.get(f"/customers/{customer.id}/wallets/ledger-entries/{payment.id}").json()
    assert original["reversed_amount"] == 300
    # The default amount is what is left.
    rest = reverse(api, customer.id, payment.id).json()
    assert rest["amount"] == 700
    assert rest["wallet"]["balance"] == 0
    assert api.get(f"/customers/{customer.id}/wallets/ledger-entries/{payment.id}").json()["reversed_amount"] == 1000


def test_reversing_more_than_the_original_is_422_and_writes_nothing(api, customer, post):
    entry = post(customer, 100).entry
    assert reverse(api, customer.id, entry.id, amount=60).status_code == 200
    for amount in (41, None):
        response = reverse(api, customer.id, entry.id, amount=41) if amount else None
        if response is None:
            assert reverse(api, customer.id, entry.id, amount=40).status_code == 200
            response = reverse(api, customer.id, entry.id)
        assert response.status_code == 422
        assert response.json()["code"] == "REVERSAL_EXCEEDS_ORIGINAL"
    assert LedgerEntry.objects.filter(reversal_of=entry).count() == 2


def test_a_reversal_or_an_expiry_cannot_be_reversed(api, customer, post):
    entry = post(customer, 100).entry
    reversal = reverse(api, customer.id, entry.id, amount=10).json()
    response = reverse(api, customer.id, reversal["id"])
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_REQUEST_BODY"

    now = timezone.now()
    post(customer, 50, expires_at=now + datetime.timedelta(hours=1))
    ledger.sweep_due(now=now + datetime.timedelta(hours=2))
    expiry = LedgerEntry.objects.get(customer=customer, expired_grant__isnull=False)
    response = reverse(api, customer.id, expiry.id)
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_REQUEST_BODY"
    assert not LedgerEntry.objects.filter(reversal_of=expiry).exists()


def test_reversing_a_credit_whose_money_is_gone_is_400(api, customer, post):
    credit = post(customer, 100).entry
    post(customer, 80, credit=False)
    response = reverse(api, customer.id, credit.id)
    assert response.status_code == 400
    assert response.json()["code"] == "INSUFFICIENT_WALLET_FUNDS"
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 20


def test_unknown_entry_and_other_tenants_are_404(api, other_api, customer, make_customer, other_business, post):
    entry = post(customer, 100).entry
    sibling = make_customer(email="sib@example.com")
    theirs = make_customer(email="t@example.com", business_id=other_business.id)
    for response in (
        reverse(api, customer.id, "wle_unknown"),
        reverse(api, sibling.id, entry.id),
        reverse(other_api, customer.id, entry.id),
        reverse(other_api, theirs.id, entry.id),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()


def test_a_read_only_key_is_403(read_only_api, customer, post):
    entry = post(customer, 100).entry
    response = reverse(read_only_api, customer.id, entry.id)
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_replay_with_the_body_key_or_the_header(api, customer, post):
    entry = post(customer, 100).entry
    first = reverse(api, customer.id, entry.id, amount=10, idempotency_key="rv-1")
    again = reverse(api, customer.id, entry.id, amount=10, idempotency_key="rv-1")
    header = reverse(api, customer.id, entry.id, amount=10, headers={"Idempotency-Key": "rv-1"})
    assert first.status_code == again.status_code == header.status_code == 200
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == header["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == header.json()["id"] == first.json()["id"]
    assert again.json()["wallet"]["balance"] == 90
    assert LedgerEntry.objects.filter(reversal_of=entry).count() == 1
    reused = reverse(api, customer.id, entry.id, amount=11, idempotency_key="rv-1")
    assert reused.status_code == 422
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    both = reverse(api, customer.id, entry.id, idempotency_key="a", headers={"Idempotency-Key": "b"})
    assert both.status_code == 422
    assert "idempotency_key" in both.json()["errors"]


@pytest.mark.parametrize("body", [{"amount": 0}, {"amount": "5"}, {"reason": "r" * 501}, {"idempotency_key": ""}])
def test_an_invalid_body_is_422(api, customer, post, body):
    entry = post(customer, 100).entry
    response = reverse(api, customer.id, entry.id, **body)
    assert response.status_code == 422
    assert set(body) <= set(response.json()["errors"])


def test_a_session_reversal_above_the_threshold_is_held_for_another_approver(business, customer, post):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=1)
    entry = post(customer, 100).entry
    client = session_client(business, Membership.Role.APPROVER)
    response = client.post(reversals_path(customer.id, entry.id), {"reason": "r"}, format="json",
                           HTTP_X_CSRFTOKEN=csrf_token(client))
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending_approval"
    held = AdjustmentRequest.objects.get(pk=response.json()["adjustment_request_id"])
    assert (held.reversal_of_id, held.amount, held.is_credit) == (entry.id, 100, False)
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()


def test_a_session_reversal_within_the_threshold_posts_and_needs_a_reason(business, customer, post):
    entry = post(customer, 100).entry
    client = session_client(business, Membership.Role.OPERATOR)
    token = csrf_token(client)
    missing = client.post(reversals_path(customer.id, entry.id), {"amount": 30}, format="json",
                          HTTP_X_CSRFTOKEN=token)
    assert missing.status_code == 422
    done = client.post(reversals_path(customer.id, entry.id), {"amount": 30, "reason": "r"}, format="json",
                       HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 200, done.content
    assert (done.json()["reversal_of"], done.json()["amount"], done.json()["wallet"]["balance"]) == (entry.id, 30, 70)
    viewer = session_client(business, Membership.Role.VIEWER, username="viewer-2")
    refused = viewer.post(reversals_path(customer.id, entry.id), {"reason": "r"}, format="json",
                          HTTP_X_CSRFTOKEN=csrf_token(viewer))
    assert refused.status_code == 403


def test_reversing_a_debit_paid_from_credit_that_expired_since(api, customer, post):
    expires_at = timezone.now() + datetime.timedelta(seconds=1)
    post(customer, 100)
    grant = post(customer, 50, expires_at=expires_at).entry
    debit = post(customer, 80, credit=False).entry  # 50 from the grant, 30 from money that never expires
    while timezone.now() <= expires_at:  # the grant must be past its expiry for real, not in a sweep's "now"
        time.sleep(0.05)
    ledger.sweep_due()  # nothing of the grant is left to expire
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 70

    response = reverse(api, customer.id, debit.id)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["amount"] == 80
    assert body["is_credit"] is True
    # What went back to the expired grant expires again at once: 30 stays.
    assert body["wallet"]["balance"] == 100
    assert body["wallet"]["expiring"] == []
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 100
    expired = api.get(f"/customers/{customer.id}/wallets/ledger-entries/{grant.id}").json()
    assert expired["expired_amount"] == 50
    assert ledger_drift() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite serializes every writer: no row locks to race")
def test_concurrent_reversals_never_exceed_the_original(live_server, api, customer, post):
    entry = post(customer, 100).entry
    post(customer, 1000)
    path = reversals_path(customer.id, entry.id)
    barrier = threading.Barrier(8)
    responses: list = [None] * 8

    def send(i):
        with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {api.raw_key}"},
                          timeout=60) as client:
            barrier.wait(timeout=30)
            responses[i] = client.post(path, json={"amount": 30})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({200: 3, 422: 5}), [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"REVERSAL_EXCEEDS_ORIGINAL"}
    assert sum(LedgerEntry.objects.filter(reversal_of=entry).values_list("amount", flat=True)) == 90
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 1100 - 90
    assert ledger_drift() == []
