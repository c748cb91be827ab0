"""The per-process API key cache: a hit costs no lookup by secret, every use is confirmed against the
database (a primary-key lookup, or inside the posting's own lock statement), so a change to a key made
anywhere (another process, a raw UPDATE with no signal) is honoured on the very next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.api.helpers import assert_error, ledger_post, unchanged
from wallets.models import ApiKey
from wallets.services.api_keys import api_key_authenticate, api_key_create, api_key_identify, api_key_revoke


@pytest.fixture(autouse=True)
def key_cache_on(settings):
    settings.WALLETS_API_KEY_CACHE_SECONDS = 300


@pytest.fixture
def key(business):
    return api_key_create(business=business)


@pytest.fixture
def keyed(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key[1]}")
    return client


def _queries(call, *args):
    with CaptureQueriesContext(connection) as ctx:
        found = call(*args)
    return found, [q["sql"] for q in ctx.captured_queries]


def _elsewhere(api_key: ApiKey, **change) -> None:
    """A change made by another process: the row changes, this process hears nothing."""
    ApiKey.objects.filter(pk=api_key.pk).update(**change)


def test_a_known_key_is_looked_up_by_its_secret_once(key):
    api_key, raw = key
    (found, fresh), queries = _queries(api_key_identify, raw)
    assert (found, fresh, len(queries)) == (api_key, True, 1)
    (found, fresh), queries = _queries(api_key_identify, raw)
    assert (found, fresh, queries) == (api_key, False, [])
    # Confirming a cached key is one lookup by primary key, never by the secret.
    found, queries = _queries(api_key_authenticate, raw)
    assert found == api_key
    assert len(queries) == 1
    assert "key_hash" not in queries[0]


def test_a_posting_confirms_a_cached_key_in_its_own_lock_statement(keyed, customer):
    assert ledger_post(keyed, customer.id, amount=100).status_code == 200  # the key is now cached
    with CaptureQueriesContext(connection) as ctx:
        response = ledger_post(keyed, customer.id, amount=100)
    assert response.status_code == 200
    assert response.json()["balance"] == 200
    statements = [q["sql"] for q in ctx.captured_queries]
    with_key = [s for s in statements if "wallets_apikey" in s]
    assert len(with_key) == 1, statements  # the key is read once, by the statement that locks the wallet:
    assert '"wallets_wallet"' in with_key[0], with_key


@pytest.mark.parametrize("path", ["posting", "reading", "posting a bad body"])
def test_a_key_revoked_in_another_process_fails_at_once_although_cached(keyed, key, customer, path):
    assert ledger_post(keyed, customer.id, amount=100).status_code == 200
    assert keyed.get("/customers").status_code == 200
    _elsewhere(key[0], revoked_at="2030-01-01T00:00:00Z")
    with unchanged():
        if path == "posting":
            response = ledger_post(keyed, customer.id, amount=100)
        elif path == "reading":
            response = keyed.get(f"/customers/{customer.id}/wallets")
        else:
            response = ledger_post(keyed, customer.id, amount=-5)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_key_revoked_before_a_wallets_first_posting_fails(keyed, key, make_customer):
    assert keyed.get("/customers").status_code == 200
    _elsewhere(key[0], revoked_at="2030-01-01T00:00:00Z")
    fresh = make_customer(email="new@example.com")
    with unchanged():
        assert_error(ledger_post(keyed, fresh.id, amount=100), 401, "UNAUTHORIZED")


def test_a_key_made_read_only_elsewhere_cannot_post_and_one_made_writable_can(keyed, key, customer):
    assert ledger_post(keyed, customer.id, amount=100).status_code == 200
    _elsewhere(key[0], read_only=True)
    with unchanged():
        assert_error(ledger_post(keyed, customer.id, amount=100), 403, "FORBIDDEN")
    assert keyed.get(f"/customers/{customer.id}/wallets").status_code == 200
    _elsewhere(key[0], read_only=False)  # the cached copy still says read-only: confirmed, not trusted
    assert ledger_post(keyed, customer.id, amount=100).json()["balance"] == 200


def test_a_revocation_in_this_process_drops_the_cache(key):
    api_key, raw = key
    assert api_key_authenticate(raw) == api_key
    api_key_revoke(key_id=api_key.id)
    found, queries = _queries(api_key_identify, raw)
    assert found is None
    assert len(queries) == 1


def test_unknown_keys_are_not_cached_and_the_cache_can_be_turned_off(key, settings):
    api_key, raw = key
    wrong = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    for _ in range(2):
        found, queries = _queries(api_key_identify, wrong)
        assert found is None
        assert len(queries) == 1
    settings.WALLETS_API_KEY_CACHE_SECONDS = 0
    assert api_key_identify(raw) == (api_key, True)
    assert api_key_identify(raw) == (api_key, True)
