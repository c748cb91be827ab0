"""API keys: 256-bit random bearer secrets, stored as a SHA-256 digest only.

The full key is returned once, by ``api_key_create``; nothing can show it again.
"""

import hashlib
import hmac

from django.db import transaction
from django.utils import timezone

from wallets.ids import random_token
from wallets.models import ApiKey, Business

KEY_PREFIX = "wsk_"
KEY_RANDOM_LENGTH = 43  # 43 base62 characters ~ 256 bits


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def business_get_or_create(*, name: str) -> tuple[Business, bool]:
    with transaction.atomic():
        return Business.objects.get_or_create(name=name)


def api_key_create(*, business: Business, name: str = "", read_only: bool = False) -> tuple[ApiKey, str]:
    """Create a key for ``business``. Returns ``(api_key, raw_key)``; show ``raw_key`` once."""
    raw_key = KEY_PREFIX + random_token(KEY_RANDOM_LENGTH)
    with transaction.atomic(durable=True):
        api_key = ApiKey.objects.create(
            business=business, name=name, prefix=raw_key[: ApiKey.PREFIX_LENGTH], key_hash=hash_key(raw_key),
            read_only=read_only,
        )
    return api_key, raw_key


def api_key_revoke(*, key_id: str) -> ApiKey:
    """Revoke a key by id or prefix; it fails authentication from the next request on."""
    with transaction.atomic(durable=True):
        api_key = ApiKey.objects.select_for_update().filter(id=key_id).first()
        if api_key is None:
            matches = list(ApiKey.objects.select_for_update().filter(prefix=key_id)[:2])
            if len(matches) != 1:
                raise ApiKey.DoesNotExist(f"No single API key has the id or prefix {key_id!r}.")
            api_key = matches[0]
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Compares digests in constant time."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) != len(KEY_PREFIX) + KEY_RANDOM_LENGTH:
        return None
    digest = hash_key(raw_key)
    candidates = ApiKey.objects.filter(prefix=raw_key[: ApiKey.PREFIX_LENGTH], revoked_at__isnull=True).only(
        "id", "business_id", "key_hash", "read_only"
    )
    for candidate in candidates:
        if hmac.compare_digest(candidate.key_hash, digest):
            return candidate
    return None
