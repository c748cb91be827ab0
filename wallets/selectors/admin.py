"""Reads of the admin, which (for superusers) looks across every business."""

from wallets.models import Customer, Wallet


def customer_find_any_business(*, customer_id: str) -> Customer | None:
    """A customer by id whatever its business, with the business joined (the admin only)."""
    return Customer.objects.select_related("business").filter(pk=customer_id).first()


def customer_business_id(*, customer_id: str) -> str | None:
    return Customer.objects.filter(pk=customer_id).values_list("business_id", flat=True).first()


def wallet_currencies_in_use() -> list[str]:
    """Every currency some wallet of any business is in, sorted."""
    return list(Wallet.objects.order_by("currency").values_list("currency", flat=True).distinct())
