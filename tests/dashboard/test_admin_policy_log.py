"""Bug 12 (rest) in the admin: a policy saved or deleted there goes through
``wallets.services.policies`` and leaves its trace (POLICY_CHANGED with before and after,
POLICY_DELETED with what it held); runway days are read-only there. Bug 7 (admin part): every
admin page shows times in UTC and says so."""

import datetime
import re

import pytest

from wallets.models import CurrencyPolicy, SecurityEvent

Kind = SecurityEvent.Kind
BASE = "/admin/wallets/currencypolicy/"


@pytest.fixture
def admin_client(client_for, make_user):
    return client_for(make_user(superuser=True, username="support"))


def test_add_and_change_are_logged(admin_client, business):
    response = admin_client.post(f"{BASE}add/", {"business": business.pk, "currency": "USD",
                                                 "low_balance_major": "25.00", "approval_above_major": "500"})
    assert response.status_code == 302
    policy = CurrencyPolicy.objects.get(business=business, currency="USD")
    assert (policy.low_balance_below, policy.approval_above) == (2500, 50_000)
    response = admin_client.post(f"{BASE}{policy.pk}/change/", {"low_balance_major": "25.00",
                                                                 "approval_above_major": "1000"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.approval_above == 100_000
    first, second = SecurityEvent.objects.filter(kind=Kind.POLICY_CHANGED).order_by("id")
    assert first.details["changes"] == {"low_balance_below": {"before": None, "after": 2500},
                                        "approval_above": {"before": None, "after": 50_000}}
    assert second.details["changes"] == {"approval_above": {"before": 50_000, "after": 100_000}}
    assert second.actor_name == "support"
    assert second.business_id == business.id


def test_bad_amount_changes_nothing(admin_client, business):
    policy = CurrencyPolicy.objects.create(business=business, currency="JPY", approval_above=5000)
    response = admin_client.post(f"{BASE}{policy.pk}/change/", {"approval_above_major": "1.5"})
    assert response.status_code == 200  # the form again, with its error
    policy.refresh_from_db()
    assert policy.approval_above == 5000
    assert not SecurityEvent.objects.filter(kind=Kind.POLICY_CHANGED).exists()


def test_delete_leaves_a_trace(admin_client, business):
    policy = CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=50_000,
                                           low_balance_below=100)
    assert admin_client.post(f"{BASE}{policy.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not CurrencyPolicy.objects.filter(pk=policy.pk).exists()
    (event,) = SecurityEvent.objects.filter(kind=Kind.POLICY_DELETED)
    assert event.details == {"currency": "USD", "low_balance_below": 100, "approval_above": 50_000}
    other = CurrencyPolicy.objects.create(business=business, currency="EUR", approval_above=1)
    admin_client.post(BASE, {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"})
    assert not CurrencyPolicy.objects.filter(pk=other.pk).exists()
    assert SecurityEvent.objects.filter(kind=Kind.POLICY_DELETED).count() == 2


def test_runway_days_are_read_only_in_the_admin(admin_client, business):
    body = admin_client.get(f"/admin/wallets/business/{business.pk}/change/").content.decode()
    assert 'name="runway_days"' not in body


def test_admin_times_are_utc_and_labelled(admin_client, business):
    session = admin_client.session
    session["django_timezone"] = "Asia/Kolkata"  # the dashboard's zone does not apply here
    session.save()
    body = admin_client.get("/admin/wallets/business/").content.decode()
    assert "Created at (UTC)" in body
    assert "Times in UTC" in body
    created = business.created_at.astimezone(datetime.UTC)
    hour = created.strftime("%-I")
    assert re.search(rf"{created:%b}\.? {created.day}, {created.year}, {hour}[:\d]* [ap]\.m\.", body)
    page = admin_client.get(f"/admin/wallets/business/{business.pk}/change/").content.decode()
    assert "Times in UTC" in page
