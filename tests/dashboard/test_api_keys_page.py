"""Settings → API keys: list, create (secret shown once, never again), revoke after a
confirmation step, the activity log, roles, tenant isolation and a flat query budget."""

import re

import pytest

from wallets.models import ApiKey, Membership, SecurityEvent
from wallets.services.api_keys import api_key_authenticate, api_key_create

KEYS = "/dashboard/settings/api-keys/"


@pytest.fixture
def approver_client(client_for, make_user, business):
    return client_for(make_user(Membership.Role.APPROVER, business, username="alice"))


def test_only_managers_reach_the_keys(viewer_client, operator_client, approver_client):
    for client in (viewer_client, operator_client):
        assert client.get(KEYS).status_code == 403
        assert client.post(f"{KEYS}new/", {"name": "x"}).status_code == 403
        assert "API keys" not in client.get("/dashboard/settings/").content.decode()
    assert approver_client.get(KEYS).status_code == 200
    assert not ApiKey.objects.exists()


def test_create_shows_the_secret_once_and_it_works(approver_client, business):
    response = approver_client.post(f"{KEYS}new/", {"name": "Checkout server", "read_only": "on"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    secret = re.search(r'id="new-secret" class="secret-value" value="(wsk_[A-Za-z0-9]+)"', body).group(1)
    assert "shown only this once" in body
    key = api_key_authenticate(secret)
    assert key is not None
    assert key.business_id == business.id
    assert key.read_only
    listing = approver_client.get(KEYS).content.decode()
    assert secret not in listing
    assert f"{secret[:12]}…" in listing
    assert "Checkout server" in listing
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.API_KEY_CREATED)
    assert event.actor_name == "alice"
    assert secret not in str(event.details)


def test_revoke_needs_confirmation(approver_client, business):
    key, raw = api_key_create(business=business, name="Old server")
    url = f"{KEYS}{key.pk}/revoke/"
    page = approver_client.get(url)
    assert page.status_code == 200
    assert "Revoke this key?" in page.content.decode()
    approver_client.post(url, {})
    assert api_key_authenticate(raw) is not None  # not confirmed: still works
    assert approver_client.post(url, {"confirm": "1"}).status_code == 302
    assert api_key_authenticate(raw) is None
    assert approver_client.post(url, {"confirm": "1"}).status_code == 302  # twice: one event
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.API_KEY_REVOKED).count() == 1
    assert "revoked" in approver_client.get(KEYS).content.decode()


def test_another_business_key_is_a_404(approver_client, other_business):
    theirs, raw = api_key_create(business=other_business, name="Globex secret key")
    assert approver_client.get(f"{KEYS}{theirs.pk}/revoke/").status_code == 404
    assert approver_client.post(f"{KEYS}{theirs.pk}/revoke/", {"confirm": "1"}).status_code == 404
    assert approver_client.post(f"{KEYS}{theirs.prefix}/revoke/", {"confirm": "1"}).status_code == 404
    assert api_key_authenticate(raw) is not None
    body = approver_client.get(KEYS).content.decode()
    assert theirs.prefix not in body
    assert "Globex secret key" not in body


def test_empty_state(approver_client):
    assert "No API keys yet" in approver_client.get(KEYS).content.decode()


@pytest.mark.parametrize("rows", [2, 30])
def test_query_budget_is_flat(approver_client, business, count_queries, rows):
    for i in range(rows):
        api_key_create(business=business, name=f"key {i}")
    assert count_queries(approver_client, KEYS) <= 5  # session, user, membership, count, page
