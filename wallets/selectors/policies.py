"""A business's per-currency policies, for the approval-policies page."""

from wallets.models import CurrencyPolicy, Wallet


def currency_policy_rows(*, business_id: str) -> list[dict]:
    """Each currency the business has wallets or a policy in: its low-balance threshold (own or
    None), the default, and its approval threshold (None: no approval needed). Two queries."""
    from wallets.selectors import low_balance_default

    in_use = set(
        Wallet.objects.filter(business_id=business_id).order_by().values_list("currency", flat=True).distinct()
    )
    policies = {p.currency: p for p in CurrencyPolicy.objects.filter(business_id=business_id)}
    currencies = sorted(in_use | set(policies))
    return [{"currency": c,
             "low_balance_below": getattr(policies.get(c), "low_balance_below", None),
             "low_balance_default": low_balance_default(c),
             "approval_above": getattr(policies.get(c), "approval_above", None),
             "in_use": c in in_use} for c in currencies]
