"""A business's per-currency rules (``CurrencyPolicy``): the low-balance threshold; and its
runway days (``Business.runway_days``: ``wallet.runway_low`` fires when a wallet empties sooner).

``None`` means "use the default" (``WALLET_LOW_BALANCE_DEFAULT``); 0 means "never low".
"""

from django.db import transaction

from wallets.exceptions import InvalidInput
from wallets.models import Business, CurrencyPolicy
from wallets.money import is_supported_currency


def currency_policy_set_low_balance(
    *, business_id: str, currency: str, low_balance_below: int | None
) -> CurrencyPolicy:
    """Set (or clear, with ``None``) the business's low-balance threshold for ``currency``."""
    if not is_supported_currency(currency):
        raise ValueError(f"unsupported currency {currency!r}")
    if low_balance_below is not None and low_balance_below < 0:
        raise ValueError("a threshold cannot be negative")
    with transaction.atomic(durable=True):
        policy, _ = CurrencyPolicy.objects.select_for_update(no_key=True).get_or_create(
            business_id=business_id, currency=currency
        )
        if policy.low_balance_below != low_balance_below:
            policy.low_balance_below = low_balance_below
            policy.save(update_fields=["low_balance_below"])
    return policy


RUNWAY_DAYS_MIN, RUNWAY_DAYS_MAX = 1, 365


def business_set_runway_days(*, business_id: str, runway_days: int) -> int:
    """Set how many days ahead a wallet's runway is "low" (1 to 365); returns the value."""
    if isinstance(runway_days, bool) or not isinstance(runway_days, int) \
            or not RUNWAY_DAYS_MIN <= runway_days <= RUNWAY_DAYS_MAX:
        raise InvalidInput("Invalid runway days.", {"runway_days": [
            f"Give a whole number of days, {RUNWAY_DAYS_MIN} to {RUNWAY_DAYS_MAX}."]})
    with transaction.atomic(durable=True):
        Business.objects.filter(pk=business_id).update(runway_days=runway_days)
    return runway_days
