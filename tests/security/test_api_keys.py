"""API keys: stored as a digest only, never logged, compared in constant time, dead at once when
revoked, and rate-limited per key with 429 + Retry-After, also across gunicorn workers (Redis)."""

import hashlib
import logging
import os
import threading
import uuid

import httpx
import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from tests.resilience.conftest import live_database_url
from tests.support.servers import REPO_ROOT, manage
from wallets import services
from wallets.models import LedgerEntry
from wallets.selectors import api_keys as api_key_selectors
from wallets.services.api_keys import api_key_authenticate, api_key_create

REDIS_URL = os.environ.get("WALLETS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def client_with(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_only_a_digest_is_stored(business):
    api_key, raw_key = api_key_create(business=business, name="digest")
    assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM wallets_apikey t")
        stored = " ".join(row[0] for row in cursor.fetchall())
    secret = raw_key[len(api_key.prefix):]  # what the stored prefix does not reveal
    assert raw_key not in stored
    assert secret not in stored
    assert secret[:16] not in stored


def test_keys_never_reach_the_logs(business, customer, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    call_command("create_api_key", business.name)
    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    read_only_raw = api_key_create(business=business, read_only=True)[1]
    wrong_tail = raw_key[:-4] + ("aaaa" if not raw_key.endswith("aaaa") else "bbbb")
    path = f"/customers/{customer.id}/wallets/ledger-entries"
    body = {"amount": 5, "currency": "USD", "entry_type": "debit"}
    statuses = [
        client_with(raw_key).get("/customers").status_code,
        client_with(raw_key).post(path, body, format="json").status_code,  # 400: insufficient funds
        client_with(raw_key).post(path, {"amount": "x"}, format="json").status_code,
        client_with(raw_key).get("/customers/cus_missing").status_code,
        client_with(wrong_tail).get("/customers").status_code,
        client_with(read_only_raw).post(path, body, format="json").status_code,
        APIClient().get("/customers", HTTP_AUTHORIZATION=f"Token {raw_key}").status_code,
    ]
    call_command("revoke_api_key", raw_key[:12])
    statuses.append(client_with(raw_key).get("/customers").status_code)
    assert statuses == [200, 400, 422, 404, 401, 403, 401, 401]
    logged = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    assert caplog.records, "the cycle logged nothing at all: the check would be vacuous"
    for secret in (raw_key, raw_key[12:], wrong_tail, read_only_raw, read_only_raw[12:]):
        assert secret not in logged


def test_digests_are_compared_in_constant_time(business, monkeypatch, settings):
    settings.WALLETS_API_KEY_CACHE_SECONDS = 0  # every call goes to the comparison
    compared = []
    real = api_key_selectors.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_key_selectors.hmac, "compare_digest", spy)  # the lookup is a selector
    api_key, raw_key = api_key_create(business=business)
    forged = raw_key[:-1] + ("A" if raw_key[-1] != "A" else "B")  # same prefix: the row is found
    assert api_key_authenticate(raw_key).id == api_key.id
    assert api_key_authenticate(forged) is None
    assert [len(a) == len(b) == 64 for a, b in compared] == [True, True]
    assert compared[0] == (api_key.key_hash, api_key.key_hash)
    assert compared[1][0] == api_key.key_hash
    assert compared[1][1] == hashlib.sha256(forged.encode()).hexdigest()


def test_a_revoked_key_fails_on_the_next_request(business):
    api_key, raw_key = api_key_create(business=business)
    client = client_with(raw_key)
    assert client.get("/customers").status_code == 200
    services.api_key_revoke(key_id=api_key.id)
    response = client.get("/customers")
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


@pytest.fixture
def redis_cache_env():
    """gunicorn's workers share a Redis cache, as in production; a fresh key prefix per test."""
    import redis

    prefix = f"wallets-test-{uuid.uuid4().hex[:12]}"
    yield {"CACHE_URL": REDIS_URL, "WALLETS_CACHE_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.mark.parametrize("cache", ["local memory", "redis"])
def test_a_revoked_key_fails_at_once_in_every_gunicorn_worker(gunicorn_server, business, redis_cache_env, cache):
    """Every worker has the key in its own cache; the revocation reaches none of them, yet the very next
    read and the very next posting fail in each (confirmed by primary key, and in the posting's lock)."""
    env = redis_cache_env if cache == "redis" else {}
    api_key, raw_key = api_key_create(business=business)
    customer_id = services.customer_create(business_id=business.id, email="k@example.com", name="K")[0].id
    path = f"/customers/{customer_id}/wallets/ledger-entries"
    body = {"amount": 5, "currency": "USD", "entry_type": "credit"}
    server = gunicorn_server(workers=3, env=env)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=10) as client:
        assert all(client.get("/customers").status_code == 200 for _ in range(12))  # every worker knows the key
        assert all(client.post(path, json=body).status_code == 200 for _ in range(12))
        manage("revoke_api_key", api_key.id, database_url=live_database_url(), env=env)
        statuses = [client.get("/customers").status_code for _ in range(12)]
        statuses += [client.post(path, json=body).status_code for _ in range(12)]
    assert statuses == [401] * 24
    assert LedgerEntry.objects.filter(customer_id=customer_id).count() == 12


def test_rate_limit_is_shared_by_gunicorn_workers(gunicorn_server, business, redis_cache_env):
    """20 requests a minute per key, 3 worker processes, 30 concurrent requests: exactly 20 pass."""
    _, raw_key = api_key_create(business=business)
    _, other_key = api_key_create(business=business)
    server = gunicorn_server(workers=3, threads=2, env={**redis_cache_env, "WALLETS_API_RATE_LIMIT": "20/min"})
    results = []
    lock = threading.Lock()

    def fire(n: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=30) as c:
            for _ in range(n):
                response = c.get("/customers")
                with lock:
                    results.append(response)

    threads = [threading.Thread(target=fire, args=(5,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 20 + [429] * 10, server.log_tail()
    for refused in (r for r in results if r.status_code == 429):
        assert refused.json()["code"] == "TOO_MANY_REQUESTS"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The limit is per key: another key of the same business is not affected.
    assert httpx.get(f"{server.url}/customers", headers={"Authorization": f"Bearer {other_key}"}).status_code == 200
    # The server's own log never shows a key either.
    assert raw_key not in server.log_tail(10_000)
    assert raw_key[12:] not in server.log_tail(10_000)


def test_production_cache_is_redis_when_configured():
    """CACHE_URL=redis://… selects Django's own Redis backend (the pinned ``redis`` package)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", ("import django; django.setup(); from django.conf import settings; "
                                "c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'], c['KEY_PREFIX'])")],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "walletproject.settings", "CACHE_URL": REDIS_URL,
             "WALLETS_CACHE_KEY_PREFIX": "prod"},
    ).stdout.split()
    assert out == ["django.core.cache.backends.redis.RedisCache", REDIS_URL, "prod"]
