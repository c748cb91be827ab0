"""The per-process API key cache: a hit costs no query, and any change to a key drops it at once."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wallets.models import ApiKey
from wallets.services import api_keys
from wallets.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke


@pytest.fixture(autouse=True)
def key_cache_on(settings):
    # On by default only with a shared cache (CACHE_URL=redis://…); the version logic is the same.
    settings.WALLETS_API_KEY_CACHE_SECONDS = 2


@pytest.fixture
def key(business):
    return api_key_create(business=business)


def _queries(raw):
    with CaptureQueriesContext(connection) as ctx:
        found = api_key_authenticate(raw)
    return found, len(ctx.captured_queries)


def test_a_known_key_is_looked_up_once(key):
    api_key, raw = key
    assert _queries(raw) == (api_key, 1)
    assert _queries(raw) == (api_key, 0)


def test_a_revoked_key_fails_at_once_although_cached(key):
    api_key, raw = key
    assert api_key_authenticate(raw) == api_key
    api_key_revoke(key_id=api_key.id)
    assert _queries(raw) == (None, 1)


def test_a_change_in_another_process_is_seen_through_the_shared_version(key):
    api_key, raw = key
    assert api_key_authenticate(raw) == api_key
    # Another process revokes: the row changes and the shared version moves; our dict is untouched.
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at="2030-01-01T00:00:00Z")
    cache.set(api_keys.VERSION_CACHE_KEY, (cache.get(api_keys.VERSION_CACHE_KEY) or 0) + 1000, None)
    assert _queries(raw) == (None, 1)


def test_making_a_key_read_only_is_seen_at_once(key):
    api_key, raw = key
    assert api_key_authenticate(raw).read_only is False
    api_key.read_only = True
    api_key.save(update_fields=["read_only"])
    assert api_key_authenticate(raw).read_only is True


def test_unknown_keys_are_not_cached_and_the_cache_can_be_turned_off(key, settings):
    api_key, raw = key
    wrong = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert _queries(wrong) == (None, 1)
    assert _queries(wrong) == (None, 1)
    settings.WALLETS_API_KEY_CACHE_SECONDS = 0
    assert _queries(raw) == (api_key, 1)
    assert _queries(raw) == (api_key, 1)
