"""Reads of a customer's holds, scoped to a business (another business's hold is unknown here)."""

from django.db.models import QuerySet

from wallets.exceptions import HoldNotFound
from wallets.models import Hold


def hold_list(*, business_id: str, customer_id: str) -> QuerySet[Hold]:
    """Newest first, with the id as a stable tiebreak (the ``hold_customer_recent`` index)."""
    return Hold.objects.filter(business_id=business_id, customer_id=customer_id).order_by("-created_at", "-id")


def hold_get(*, business_id: str, customer_id: str, hold_id: str) -> Hold:
    hold = Hold.objects.filter(business_id=business_id, customer_id=customer_id, pk=hold_id).first()
    if hold is None:
        raise HoldNotFound()
    return hold
