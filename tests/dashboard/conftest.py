"""Dashboard fixtures: users with each role, logged-in clients, and a query counter."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from wallets.models import Membership

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(role=None, business=None, superuser=False, staff=False, username=None):
        counter["n"] += 1
        user = get_user_model().objects.create_user(
            username=username or f"user{counter['n']}", password=PASSWORD, email=f"user{counter['n']}@acme.test",
            is_superuser=superuser, is_staff=staff or superuser,
        )
        if role is not None:
            Membership.objects.create(user=user, business=business, role=role)
        return user

    return make


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def viewer(make_user, business):
    return make_user(Membership.Role.VIEWER, business, username="victor")


@pytest.fixture
def operator(make_user, business):
    return make_user(Membership.Role.OPERATOR, business, username="olivia")


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def superuser_client(make_user):
    return _client_for(make_user(superuser=True, username="root"))


@pytest.fixture
def client_for():
    return _client_for


@pytest.fixture
def count_queries():
    """Number of queries one GET makes (after a warm-up GET: session and caches)."""

    def count(client, url) -> int:
        assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    return count


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Password hashing is deliberately slow; these tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
