"""Reading API keys: the active key for a presented secret."""

import hmac

from wallets.models import ApiKey


def api_key_find_active(*, prefix: str, digest: str) -> ApiKey | None:
    """The unrevoked key with this display prefix whose stored digest equals ``digest``, or None.

    The prefix narrows the search through its index; digests are compared in constant time."""
    candidates = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).only(
        "id", "business_id", "key_hash", "read_only"
    )
    for candidate in candidates:
        if hmac.compare_digest(candidate.key_hash, digest):
            return candidate
    return None


def api_key_find_by_id(*, key_id: str) -> ApiKey | None:
    """The key with this id if it is still active (``read_only`` as it is now)."""
    return ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True).only("id", "business_id", "read_only").first()


def api_key_list(*, business_id: str):
    """The business's keys, newest first (active and revoked); never the digest."""
    return (ApiKey.objects.filter(business_id=business_id).defer("key_hash")
            .order_by("revoked_at", "-created_at", "-id"))


def api_key_get(*, business_id: str, key_id: str) -> ApiKey | None:
    return ApiKey.objects.filter(business_id=business_id, pk=key_id).defer("key_hash").first()
