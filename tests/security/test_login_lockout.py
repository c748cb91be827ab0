"""Brute-force limit on the dashboard and admin logins (issue 15 item 5, django-axes): after the
limit of wrong passwords for one user name from one address even the right password is refused,
each lockout is in the security log, and other people and other addresses are not locked."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from wallets.models import Membership, SecurityEvent

PASSWORD = "correct-horse-battery-1"
LIMIT = 5
LOGINS = {"dashboard": "/accounts/login/", "admin": "/admin/login/?next=/admin/"}


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def member(business):
    user = get_user_model().objects.create_user(username="olivia", password=PASSWORD)
    Membership.objects.create(user=user, business=business, role=Membership.Role.OPERATOR)
    return user


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser(username="root", password=PASSWORD)


def login(client, where, username, password, ip="203.0.113.7"):
    data = {"username": username, "password": password}
    if where == "admin":
        data["next"] = "/admin/"
    return client.post(LOGINS[where], data, REMOTE_ADDR=ip)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("where", ["dashboard", "admin"])
def test_wrong_passwords_then_the_right_one_is_refused(member, root, where):
    username = "olivia" if where == "dashboard" else "root"
    client = Client()
    for _ in range(LIMIT - 1):
        assert login(client, where, username, "wrong-password").status_code == 200
    assert login(client, where, username, "wrong-password").status_code == 429  # the limit is reached
    response = login(client, where, username, PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    assert "Too many sign-in attempts" in response.content.decode()


def test_under_the_limit_the_right_password_works_and_resets_the_count(member):
    client = Client()
    for _ in range(LIMIT - 1):
        login(client, "dashboard", "olivia", "wrong-password")
    assert login(client, "dashboard", "olivia", PASSWORD).status_code == 302
    assert logged_in(client)
    client = Client()
    for _ in range(LIMIT - 1):  # counting from zero again
        login(client, "dashboard", "olivia", "wrong-password")
    assert login(client, "dashboard", "olivia", PASSWORD).status_code == 302
    assert logged_in(client)


def test_a_lockout_locks_that_name_from_that_address_only(member, business):
    other = get_user_model().objects.create_user(username="victor", password=PASSWORD)
    Membership.objects.create(user=other, business=business, role=Membership.Role.VIEWER)
    for _ in range(LIMIT):
        login(Client(), "dashboard", "olivia", "wrong-password")
    assert login(Client(), "dashboard", "olivia", PASSWORD).status_code == 429
    assert login(Client(), "dashboard", "victor", PASSWORD).status_code == 302  # another user
    assert login(Client(), "dashboard", "olivia", PASSWORD, ip="198.51.100.9").status_code == 302  # elsewhere


def test_lockouts_are_in_the_security_log(member, business):
    for _ in range(LIMIT):
        login(Client(), "dashboard", "olivia", "wrong-password")
    login(Client(), "dashboard", "olivia", PASSWORD)
    events = list(SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOGIN_LOCKED_OUT).order_by("id"))
    assert len(events) == 2  # when the lockout starts, and the refused attempt during it
    first = events[0]
    assert (first.actor_type, first.actor_id, first.actor_name, first.business_id, first.ip) == (
        "user", str(member.pk), "olivia", business.id, "203.0.113.7")
    assert first.details["username"] == "olivia"
    assert first.details["failures"] == LIMIT
    assert PASSWORD not in str(first.details)
    assert "wrong-password" not in str(first.details)
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOGIN).exists()


def test_a_lockout_of_an_unknown_name_is_logged_without_a_business(db):
    for _ in range(LIMIT):
        login(Client(), "dashboard", "nobody", "guess-1234")
    [event] = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOGIN_LOCKED_OUT)
    assert event.business_id is None
    assert event.actor_type == "system"
    assert event.details["known_user"] is False


def test_force_login_and_session_logins_of_tests_still_work(member, root):
    """Test setups log in with ``force_login`` (no password, no authenticate): unaffected."""
    client = Client()
    client.force_login(member)
    assert client.get("/dashboard/").status_code == 200
    admin = Client()
    admin.force_login(root)
    assert admin.get("/admin/").status_code == 200


def test_a_session_naming_the_first_backend_is_a_logged_in_session(member, settings):
    """Code that builds a session by hand takes AUTHENTICATION_BACKENDS[0] (bench does): that
    backend must be able to load the user, so the brute-force check cannot be a standalone one."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(member.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = member.get_session_auth_hash()
    session.create()
    client = Client()
    client.cookies["sessionid"] = session.session_key
    assert client.get("/dashboard/").status_code == 200
