"""A cache (Redis) outage degrades speed, never availability (issue 15 item 2).

A private ``redis-server`` is started on a free port, the API is pointed at it with the per-process
key cache on (as production runs), and then the server is stopped: every API request still answers
from the database, and ``/healthz`` says ``"cache": "down"`` with a 200."""

import shutil
import socket
import subprocess
import time

import pytest
from django.core.cache import caches

from tests.api.helpers import ledger_post
from wallets.services.api_keys import api_key_revoke

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    """A private Redis: ``url``, and ``stop()`` to take it down mid-test."""
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)

    class Server:
        url = f"redis://127.0.0.1:{port}/0"

        @staticmethod
        def stop():
            process.terminate()
            process.wait(timeout=10)

    yield Server
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def redis_cache(settings, redis_server):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server.url,
        "KEY_PREFIX": "wallets-test", "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5},
    }}
    settings.WALLETS_API_KEY_CACHE_SECONDS = 30.0
    yield redis_server
    caches["default"].close()


def test_every_api_request_answers_from_the_database_while_redis_is_down(api, customer, redis_cache, client):
    assert api.get("/customers").status_code == 200  # the key is now cached, under the cache's version
    assert client.get("/healthz").json()["cache"] == "ok"

    redis_cache.stop()

    started = time.monotonic()
    assert api.get("/customers").status_code == 200
    assert api.get(f"/customers/{customer.id}").status_code == 200
    assert api.get(f"/customers/{customer.id}/wallets").status_code == 200
    assert api.get(f"/customers/{customer.id}/wallets/ledger-entries").status_code == 200
    response = ledger_post(api, customer.id, amount=500, idempotency_key="outage-1")
    assert response.status_code == 200
    assert response.json()["balance"] == 500
    assert api.post("/customers", {"email": "new@example.com", "name": "N"}, format="json").status_code == 200
    assert api.patch(f"/customers/{customer.id}", {"name": "Renamed"}, format="json").status_code == 200
    assert time.monotonic() - started < 20  # quick answers, not hangs on the dead cache

    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": health.json()["database"], "cache": "down"}


def test_a_key_revoked_while_redis_is_down_fails_at_once(api, business, redis_cache):
    from wallets.models import ApiKey

    assert api.get("/customers").status_code == 200  # cached in this process
    redis_cache.stop()
    key = ApiKey.objects.get(business=business)
    api_key_revoke(key_id=key.id)  # the version bump is lost with the cache: must not fail the revoke
    assert api.get("/customers").status_code == 401


def test_the_rate_limit_fails_open_while_redis_is_down(api, redis_cache, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    redis_cache.stop()
    assert [api.get("/customers").status_code for _ in range(4)] == [200, 200, 200, 200]


def test_the_admin_lists_answer_while_redis_is_down(redis_cache, client, customer):
    """The admin's currency filter caches its list: with the cache down it asks the database."""
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123"))
    redis_cache.stop()
    for path in ("/admin/wallets/wallet/", "/admin/wallets/ledgerentry/", "/admin/wallets/adjustmentrequest/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "USD" in response.content.decode(), path  # the filter's currencies, from the database
