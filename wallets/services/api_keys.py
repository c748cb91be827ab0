"""API keys: 256-bit random bearer secrets, stored as a SHA-256 digest only.

The full key is returned once, by ``api_key_create``; nothing can show it again.

Authentication is on every API request, so a found key is kept in the process for
``WALLETS_API_KEY_CACHE_SECONDS`` (keyed by the secret's digest; unknown secrets are never kept, so a new
key works at once). A kept key says who the secret names, not that it is still good: every use is
confirmed against the database, by a primary-key lookup (``api_key_confirm``) or, on the posting path,
inside the posting's own lock statement (``ledger.post(confirm_api_key=…)``), which costs no round
trip at all. A revoked key therefore fails on its very next request in every process and host, with or
without a shared cache, and no cache outage can delay a revocation.
"""

import hashlib
import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from wallets.ids import random_token
from wallets.models import ApiKey, Business, SecurityEvent
from wallets.selectors.api_keys import api_key_find_active, api_key_find_by_id
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record

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


_cached: dict[str, tuple[float, ApiKey]] = {}  # digest -> (expires at, key)
_cached_lock = threading.Lock()
#: A process never keeps more keys than this (a flood of distinct valid keys cannot grow it forever).
_CACHE_MAX = 10_000


def _cache_seconds() -> float:
    return float(getattr(settings, "WALLETS_API_KEY_CACHE_SECONDS", 0))


def api_keys_changed() -> None:
    """Forget every key this process cached (a change made here; other processes confirm each use)."""
    with _cached_lock:
        _cached.clear()


@receiver(post_save, sender=ApiKey, dispatch_uid="api_key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="api_key_deleted")
def _api_key_changed(sender, **kwargs) -> None:
    api_keys_changed()


def api_key_identify(raw_key: str) -> tuple[ApiKey, bool] | None:
    """The key a secret names and whether that was just read from the database (``True``), or
    ``None`` for no such active key. A key from this process's cache (``False``) is who the secret
    names, but whether it is still active and writable must be confirmed before it is honoured:
    ``api_key_confirm``, or a posting's own lock statement (``ledger.post(confirm_api_key=…)``), so a
    revocation takes effect on the very next request in every process, with no shared cache."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) != len(KEY_PREFIX) + KEY_RANDOM_LENGTH:
        return None
    digest = hash_key(raw_key)
    ttl = _cache_seconds()
    now = time.monotonic()
    hit = _cached.get(digest) if ttl > 0 else None
    if hit is not None and hit[0] > now:
        return hit[1], False
    api_key = _lookup(raw_key, digest)
    if api_key is not None and ttl > 0:
        with _cached_lock:
            if len(_cached) >= _CACHE_MAX:
                _cached.clear()
            _cached[digest] = (now + ttl, api_key)
    return None if api_key is None else (api_key, True)


def api_key_confirm(key_id: str) -> ApiKey | None:
    """The key as it is now (``read_only`` may have changed), or ``None`` when it was revoked or
    deleted: one primary-key lookup."""
    return api_key_find_by_id(key_id=key_id)


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, confirmed now, or None. Compares digests in constant time."""
    found = api_key_identify(raw_key)
    if found is None:
        return None
    api_key, fresh = found
    return api_key if fresh else api_key_confirm(api_key.id)


def _lookup(raw_key: str, digest: str) -> ApiKey | None:
    return api_key_find_active(prefix=raw_key[: ApiKey.PREFIX_LENGTH], digest=digest)
