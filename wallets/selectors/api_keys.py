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
