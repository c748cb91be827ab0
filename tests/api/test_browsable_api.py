"""Dashboard users in the browsable API: their session, their business only, CSRF on writes, and
the role decides whether they may write."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, unchanged
from wallets.models import LedgerEntry, Membership

pytestmark = pytest.mark.django_db

CUSTOMER_BODY = {"email": "walk-in@example.com", "name": "Walk In"}


def session_client(business, role, username=None) -> APIClient:
    user = get_user_model().objects.create_user(username or f"{role}-user")  # no password: no slow hashing
    if business is not None:
        Membership.objects.create(user=user, business=business, role=role)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.user = user
    return client


def csrf_token(client) -> str:
    """Visit a page as a browser does; the page hands out the CSRF cookie."""
    assert client.get("/customers", HTTP_ACCEPT="text/html").status_code == 200
    return client.cookies["csrftoken"].value


@pytest.fixture
def theirs(make_customer, other_business):
    return make_customer(email="theirs@example.com", name="Their Customer", business_id=other_business.id)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_member_browses_customers_of_their_business_only(business, customer, theirs, role):
    client = session_client(business, role)

    page = client.get("/customers", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert customer.email in html
    assert customer.id in html
    assert theirs.email not in html

    data = client.get("/customers", HTTP_ACCEPT="application/json")
    assert [c["customer_id"] for c in data.json()["items"]] == [customer.id]
    assert_error(client.get(f"/customers/{theirs.id}"), 404, "NOT_FOUND")
    assert client.get(f"/customers/{customer.id}/wallets/ledger-entries", HTTP_ACCEPT="text/html").status_code == 200


def test_viewer_may_not_write_even_with_a_csrf_token(business, customer):
    client = session_client(business, "viewer")
    token = csrf_token(client)
    with unchanged():
        created = client.post("/customers", CUSTOMER_BODY, format="json", HTTP_X_CSRFTOKEN=token)
        patched = client.patch(f"/customers/{customer.id}", {"name": "X"}, format="json", HTTP_X_CSRFTOKEN=token)
        posted = client.post(
            f"/customers/{customer.id}/wallets/ledger-entries",
            {"amount": 5, "currency": "USD", "entry_type": "credit"},
            format="json",
            HTTP_X_CSRFTOKEN=token,
        )
    for response in (created, patched, posted):
        body = assert_error(response, 403, "FORBIDDEN")
        assert "role" in body["message"]


def test_viewer_sees_no_write_form(business, customer):
    client = session_client(business, "viewer")
    html = client.get(f"/customers/{customer.id}/wallets/ledger-entries", HTTP_ACCEPT="text/html").content.decode()
    assert 'name="_content"' not in html


def test_operator_sees_the_request_body_in_the_write_form(business, customer):
    client = session_client(business, "operator")
    html = client.get(f"/customers/{customer.id}/wallets/ledger-entries", HTTP_ACCEPT="text/html").content.decode()
    assert 'name="_content"' in html
    assert "entry_type" in html
    assert "idempotency_key" in html


def test_operator_writes_need_the_csrf_token(business, customer):
    client = session_client(business, "operator")
    with unchanged():
        response = client.post("/customers", CUSTOMER_BODY, format="json")
    body = assert_error(response, 403, "FORBIDDEN")
    assert "CSRF" in body["message"]

    token = csrf_token(client)
    with unchanged():
        wrong = client.post("/customers", CUSTOMER_BODY, format="json", HTTP_X_CSRFTOKEN="x" * 32)
    assert_error(wrong, 403, "FORBIDDEN")

    assert client.post("/customers", CUSTOMER_BODY, format="json", HTTP_X_CSRFTOKEN=token).status_code == 200
    response = client.post(
        f"/customers/{customer.id}/wallets/ledger-entries",
        {"amount": 5, "currency": "USD", "entry_type": "credit", "reason": "Goodwill"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.actor_type, entry.actor_id) == ("user", str(client.user.pk))


def test_user_without_a_business_is_refused(business, customer):
    client = session_client(None, "none", username="drifter")
    assert_error(client.get("/customers", HTTP_ACCEPT="application/json"), 403, "FORBIDDEN")
    assert client.get("/customers", HTTP_ACCEPT="text/html").status_code == 403


def test_anonymous_browser_gets_401_page():
    response = APIClient().get("/customers", HTTP_ACCEPT="text/html")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")


def test_api_key_wins_over_a_session_of_another_business(api, customer, theirs, other_business):
    client = session_client(other_business, "operator")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.raw_key}")
    # The key is checked first and names the business; no CSRF is needed for a key.
    assert [c["customer_id"] for c in client.get("/customers").json()["items"]] == [customer.id]
    assert client.post("/customers", CUSTOMER_BODY, format="json").status_code == 200


# --- A session's money-moving POST obeys the dashboard's adjustment rules (issue 15 item 1) ------


@pytest.fixture
def threshold(business):
    """Adjustments above USD 5,000.00 need a second person's approval."""
    from wallets.models import CurrencyPolicy

    return CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=500_000)


def session_post(client, customer, token, **body):
    return client.post(f"/customers/{customer.id}/wallets/ledger-entries",
                       {"currency": "USD", "entry_type": "credit", **body}, format="json", HTTP_X_CSRFTOKEN=token)


def test_a_session_post_above_the_threshold_is_held_and_posts_nothing(business, customer, threshold):
    """The attack: 5,000.00 is held in the dashboard, yet 5,000,000.00 posted at once through the
    browsable API with the same session and CSRF token."""
    from wallets.models import AdjustmentRequest

    client = session_client(business, "operator")
    token = csrf_token(client)
    before = LedgerEntry.objects.count()
    response = session_post(client, customer, token, amount=500_000_000, reason="Big goodwill")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending_approval"
    assert body["adjustment_request_id"].startswith("adj_")
    assert LedgerEntry.objects.count() == before
    held = AdjustmentRequest.objects.get(pk=body["adjustment_request_id"])
    assert (held.status, held.amount, held.requested_by_id, held.customer_id) == (
        "pending", 500_000_000, client.user.pk, customer.id)
    assert customer.wallets.get(currency="USD").balance == 0


def test_a_held_session_post_is_not_posted_twice_on_retry(business, customer, threshold):
    from wallets.models import AdjustmentRequest

    client = session_client(business, "operator")
    token = csrf_token(client)
    first = session_post(client, customer, token, amount=600_000, reason="R", idempotency_key="once")
    again = session_post(client, customer, token, amount=600_000, reason="R", idempotency_key="once")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert AdjustmentRequest.objects.count() == 1
    assert not LedgerEntry.objects.exists()


def test_the_held_request_posts_once_a_different_approver_approves(business, customer, threshold):
    from wallets.services.approvals import adjustment_approve

    client = session_client(business, "operator")
    request_id = session_post(client, customer, csrf_token(client), amount=600_000,
                              reason="R").json()["adjustment_request_id"]
    approver = session_client(business, "approver", username="checker").user
    adjustment_approve(business_id=business.id, request_id=request_id, approver=approver)
    assert customer.wallets.get(currency="USD").balance == 600_000


def test_a_session_post_within_the_threshold_posts_at_once(business, customer, threshold):
    client = session_client(business, "operator")
    response = session_post(client, customer, csrf_token(client), amount=500_000, reason="Within")
    assert response.status_code == 200
    assert response.json()["balance"] == 500_000
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.actor_type, entry.reason) == ("user", "Within")


@pytest.mark.parametrize("reason", [None, "", "   "], ids=["null", "blank", "spaces"])
def test_a_session_post_needs_a_reason(business, customer, reason):
    client = session_client(business, "operator")
    token = csrf_token(client)
    body = {"amount": 5} if reason is None else {"amount": 5, "reason": reason}
    with unchanged():
        response = session_post(client, customer, token, **body)
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert "reason" in error["errors"]


def test_a_viewer_session_post_is_403_even_above_the_threshold(business, customer, threshold):
    client = session_client(business, "viewer")
    with unchanged():
        response = session_post(client, customer, csrf_token(client), amount=600_000, reason="R")
    assert_error(response, 403, "FORBIDDEN")


def test_api_keys_are_not_subject_to_maker_checker(api, customer, threshold):
    response = api.post(f"/customers/{customer.id}/wallets/ledger-entries",
                        {"amount": 500_000_000, "currency": "USD", "entry_type": "credit"}, format="json")
    assert response.status_code == 200
    assert response.json()["balance"] == 500_000_000
