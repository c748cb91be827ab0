"""API keys: 256-bit random bearer secrets, stored as a SHA-256 digest only.

The full key is returned once, by ``api_key_create``; nothing can show it again.

Authentication is on every API request, so a found key is kept in the process for
``WALLETS_API_KEY_CACHE_SECONDS`` under a *key version* read from the shared Django cache on every
request. Any change to a key (revoke, edit, delete) bumps the version, which drops every cached key
in every process that shares the cache: with a shared cache (``CACHE_URL=redis://…``, as
production needs for the rate limit anyway) a revoked key fails on the very next request
everywhere. With the per-process default cache the setting defaults to 0 (no key cache), because
a bump could not reach the other processes. The version is bumped when the change is made and
again after it commits, so a process that re-reads the key between the two cannot keep the old
state. Unknown keys are never cached (a new key works at once).

A cache outage degrades speed, never availability: while the shared cache cannot be read, every
request looks its key up in the database (and nothing is cached, so a revocation still takes effect
at once).
"""

import hashlib
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from wallets.ids import random_token
from wallets.models import ApiKey, Business, SecurityEvent
from wallets.selectors.api_keys import api_key_find_active
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record

logger = logging.getLogger("wallets.api")

KEY_PREFIX = "wsk_"
KEY_RANDOM_LENGTH = 43  # 43 base62 characters ~ 256 bits


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def business_get_or_create(*, name: str) -> tuple[Business, bool]:
    with transaction.atomic():
        return Business.objects.get_or_create(name=name)


def api_key_create(
    *, business: Business, name: str = "", read_only: bool = False, actor: Actor | None = None,
    actor_name: str = "", ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``business``. Returns ``(api_key, raw_key)``; show ``raw_key`` once.
    The security audit log records who created it (never the key itself)."""
    raw_key = KEY_PREFIX + random_token(KEY_RANDOM_LENGTH)
    with transaction.atomic(durable=True):
        api_key = ApiKey.objects.create(
            business=business, name=name, prefix=raw_key[: ApiKey.PREFIX_LENGTH], key_hash=hash_key(raw_key),
            read_only=read_only,
        )
        security_event_record(
            kind=SecurityEvent.Kind.API_KEY_CREATED, business_id=business.id, actor=actor, actor_name=actor_name,
            ip=ip, details={"api_key_id": api_key.id, "prefix": api_key.prefix, "name": name, "read_only": read_only},
        )
    return api_key, raw_key


def api_key_revoke(*, key_id: str, actor: Actor | None = None, actor_name: str = "", ip: str | None = None) -> ApiKey:
    """Revoke a key by id or prefix; it fails authentication from the next request on.
    The security audit log records who revoked it (once: revoking a revoked key changes nothing)."""
    with transaction.atomic(durable=True):
        api_key = ApiKey.objects.select_for_update(no_key=True).filter(id=key_id).first()
        if api_key is None:
            matches = list(ApiKey.objects.select_for_update(no_key=True).filter(prefix=key_id)[:2])
            if len(matches) != 1:
                raise ApiKey.DoesNotExist(f"No single API key has the id or prefix {key_id!r}.")
            api_key = matches[0]
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            security_event_record(
                kind=SecurityEvent.Kind.API_KEY_REVOKED, business_id=api_key.business_id, actor=actor,
                actor_name=actor_name, ip=ip,
                details={"api_key_id": api_key.id, "prefix": api_key.prefix, "name": api_key.name},
            )
    return api_key


VERSION_CACHE_KEY = "api-keys:version"
_cached: dict[str, tuple[float, object, ApiKey]] = {}  # digest -> (expires at, key version, key)
_cached_lock = threading.Lock()


def _cache_seconds() -> float:
    return float(getattr(settings, "WALLETS_API_KEY_CACHE_SECONDS", 0))


def api_keys_changed() -> None:
    """Forget every cached key, here and (through the shared cache's version) in other processes.

    With the cache down the bump is lost, which is safe: while a process cannot read the version it
    caches nothing (``api_key_authenticate`` asks the database), and a process that reads it again
    later finds a value its cached keys were not stored under only if the bump landed; so the
    per-process entries are also dropped after at most ``WALLETS_API_KEY_CACHE_SECONDS``."""
    with _cached_lock:
        _cached.clear()
    try:
        try:
            cache.incr(VERSION_CACHE_KEY)
        except (ValueError, TypeError):  # not there yet (or evicted): a new value differs from any cached one
            cache.set(VERSION_CACHE_KEY, time.time_ns(), None)
    except Exception:  # the cache is down: a cache error must not fail the change
        logger.warning("API key cache version not bumped: the cache is unavailable", exc_info=True)


@receiver(post_save, sender=ApiKey, dispatch_uid="api_key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="api_key_deleted")
def _api_key_changed(sender, **kwargs) -> None:
    api_keys_changed()
    transaction.on_commit(api_keys_changed)


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Compares digests in constant time."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) != len(KEY_PREFIX) + KEY_RANDOM_LENGTH:
        return None
    digest = hash_key(raw_key)
    ttl = _cache_seconds()
    if ttl <= 0:
        return _lookup(raw_key, digest)
    try:
        version = cache.get(VERSION_CACHE_KEY)
    except Exception:  # the cache is down: ask the database, and cache nothing
        logger.warning("API key cache skipped: the cache is unavailable", exc_info=True)
        return _lookup(raw_key, digest)
    now = time.monotonic()
    hit = _cached.get(digest)
    if hit is not None and hit[0] > now and hit[1] == version:
        return hit[2]
    api_key = _lookup(raw_key, digest)
    if api_key is not None:
        with _cached_lock:
            _cached[digest] = (now + ttl, version, api_key)
    return api_key


def _lookup(raw_key: str, digest: str) -> ApiKey | None:
    return api_key_find_active(prefix=raw_key[: ApiKey.PREFIX_LENGTH], digest=digest)
