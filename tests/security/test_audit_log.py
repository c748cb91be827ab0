"""The security audit log: logins, failed logins, logouts, API keys created and revoked, approvals
and rejections are recorded with who, from where and for which business; the log never holds a
secret, cannot be changed or deleted (database trigger), and is read-only in the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client

from wallets import services
from wallets.models import CurrencyPolicy, Membership, SecurityEvent
from wallets.services.api_keys import business_get_or_create
from wallets.services.approvals import adjustment_approve, adjustment_reject, adjustment_submit

PASSWORD = "correct-horse-battery-1"


@pytest.fixture
def member(business):
    user = get_user_model().objects.create_user(username="olivia", password=PASSWORD)
    Membership.objects.create(user=user, business=business, role=Membership.Role.APPROVER)
    return user


def events(kind):
    return list(SecurityEvent.objects.filter(kind=kind).order_by("id"))


def every_value(event: SecurityEvent) -> str:
    return " ".join(str(getattr(event, f.attname)) for f in SecurityEvent._meta.fields)


def test_login_failed_login_and_logout_are_recorded(member, business):
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = client.post("/accounts/login/", {"username": "olivia", "password": "wrong-password"})
    assert response.status_code == 200  # the form again
    client.post("/accounts/login/", {"username": "nobody", "password": "guess-1234"})
    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    client.post("/accounts/logout/")

    failed = events(SecurityEvent.Kind.LOGIN_FAILED)
    assert [(e.actor_name, e.business_id, e.details["known_user"], e.ip) for e in failed] == [
        ("olivia", business.id, True, "203.0.113.7"),
        ("nobody", None, False, "203.0.113.7"),
    ]
    [login] = events(SecurityEvent.Kind.LOGIN)
    assert (login.actor_type, login.actor_id, login.actor_name, login.business_id, login.ip) == (
        "user", str(member.pk), "olivia", business.id, "203.0.113.7"
    )
    [logout] = events(SecurityEvent.Kind.LOGOUT)
    assert logout.actor_id == str(member.pk)
    for event in SecurityEvent.objects.all():
        assert "wrong-password" not in every_value(event)
        assert PASSWORD not in every_value(event)
        assert "guess-1234" not in every_value(event)


@pytest.mark.parametrize(("header", "expected"), [("198.51.100.1, 192.0.2.9", "192.0.2.9"), ("junk", "10.0.0.5")])
def test_behind_the_proxy_the_last_forwarded_address_counts(member, settings, header, expected):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=header)
    client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert events(SecurityEvent.Kind.LOGIN)[0].ip == expected


def test_api_keys_created_and_revoked_by_command_are_recorded_without_the_key(business, capsys):
    call_command("create_api_key", business.name, "--name", "ci")
    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    [created] = events(SecurityEvent.Kind.API_KEY_CREATED)
    assert (created.business_id, created.actor_type, created.actor_id) == (business.id, "command", "create_api_key")
    assert created.details["prefix"] == raw_key[:12]
    assert created.details["name"] == "ci"
    call_command("revoke_api_key", created.details["api_key_id"])
    call_command("revoke_api_key", created.details["api_key_id"])  # again: nothing changes, nothing recorded
    [revoked] = events(SecurityEvent.Kind.API_KEY_REVOKED)
    assert (revoked.business_id, revoked.actor_id, revoked.details["api_key_id"]) == (
        business.id, "revoke_api_key", created.details["api_key_id"]
    )
    for event in SecurityEvent.objects.all():
        assert raw_key not in every_value(event)
        assert raw_key[12:] not in every_value(event)


def test_api_keys_created_and_revoked_in_the_admin_name_the_user(business):
    admin_user = get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    client = Client(REMOTE_ADDR="192.0.2.44")
    client.force_login(admin_user)
    response = client.post("/admin/wallets/apikey/add/", {"business": business.id, "name": "from admin"})
    assert response.status_code == 200
    [created] = events(SecurityEvent.Kind.API_KEY_CREATED)
    assert (created.actor_type, created.actor_id, created.actor_name, created.ip) == (
        "user", str(admin_user.pk), "root", "192.0.2.44"
    )
    client.post("/admin/wallets/apikey/", {"action": "revoke", "_selected_action": [created.details["api_key_id"]]})
    [revoked] = events(SecurityEvent.Kind.API_KEY_REVOKED)
    assert (revoked.actor_name, revoked.details["api_key_id"]) == ("root", created.details["api_key_id"])


def test_approvals_and_rejections_are_recorded(business, member, customer):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=100)
    maker = get_user_model().objects.create_user(username="maker", password=PASSWORD)
    Membership.objects.create(user=maker, business=business, role=Membership.Role.OPERATOR)
    held = [adjustment_submit(business_id=business.id, customer_id=customer.id, currency="USD", amount=500,
                              is_credit=True, reason=f"goodwill {n}", idempotency_key=f"k{n}", user=maker).request
            for n in range(2)]
    adjustment_approve(business_id=business.id, request_id=held[0].id, approver=member, note="ok")
    adjustment_reject(business_id=business.id, request_id=held[1].id, approver=member, note="no")
    [approved] = events(SecurityEvent.Kind.ADJUSTMENT_APPROVED)
    [rejected] = events(SecurityEvent.Kind.ADJUSTMENT_REJECTED)
    assert (approved.actor_name, approved.details["adjustment_request_id"], approved.details["amount"]) == (
        "olivia", held[0].id, 500
    )
    assert approved.details["requested_by_id"] == maker.pk
    assert rejected.details["note"] == "no"


def test_a_refused_change_records_nothing(business):
    with pytest.raises(Exception):  # noqa: PT011 - any refusal; the point is what it leaves behind
        services.api_key_revoke(key_id="key_doesnotexist")
    assert not SecurityEvent.objects.exists()


def test_events_cannot_be_changed_or_deleted(business):
    business_get_or_create(name="Other")
    services.api_key_create(business=business)
    event = SecurityEvent.objects.get()
    for statement in (lambda: SecurityEvent.objects.update(actor_name="someone else"),
                      lambda: SecurityEvent.objects.all().delete(),
                      lambda: connection.cursor().execute("DELETE FROM wallets_securityevent")):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            statement()
    assert SecurityEvent.objects.get() == event
    assert event.actor_name == ""


def test_the_admin_shows_the_log_read_only(business):
    services.api_key_create(business=business)
    event = SecurityEvent.objects.get()
    root = get_user_model().objects.create_superuser(username="root", password=PASSWORD)
    client = Client()
    client.force_login(root)
    assert client.get("/admin/wallets/securityevent/").status_code == 200
    page = client.get(f"/admin/wallets/securityevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # view only
    assert client.get("/admin/wallets/securityevent/add/").status_code == 403
    assert client.post(f"/admin/wallets/securityevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.API_KEY_CREATED).count() == 1
