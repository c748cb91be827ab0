"""A business's per-currency rules (``CurrencyPolicy``): the low-balance threshold.

``None`` means "use the default" (``WALLET_LOW_BALANCE_DEFAULT``); 0 means "never low".
"""

from django.db import transaction

from wallets.models import CurrencyPolicy
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
