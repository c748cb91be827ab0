"""Reads of the maker–checker flow: thresholds, who may post, what a form key already made."""

from wallets.models import AdjustmentRequest, CurrencyPolicy, LedgerEntry, Membership


def approval_threshold(*, business_id: str, currency: str) -> int | None:
    """Minor units above which a manual adjustment is held for approval (None: never held)."""
    return (
        CurrencyPolicy.objects.filter(business_id=business_id, currency=currency)
        .values_list("approval_above", flat=True)
        .first()
    )


def membership_for_user(*, user_id) -> Membership | None:
    """A user's one membership (a user belongs to at most one business) with its business, or None."""
    return Membership.objects.select_related("business").filter(user_id=user_id).first()


def adjustment_request_for_key(*, business_id: str, idempotency_key: str) -> AdjustmentRequest | None:
    """The held (or decided) request a form key made, if any."""
    return AdjustmentRequest.objects.filter(business_id=business_id, idempotency_key=idempotency_key).first()


def ledger_entry_key_used(*, business_id: str, customer_id: str, idempotency_key: str) -> bool:
    return LedgerEntry.objects.filter(
        business_id=business_id, customer_id=customer_id, idempotency_key=idempotency_key
    ).exists()
