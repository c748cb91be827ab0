"""A business's team, for the settings pages: members with their user (one query)."""

from django.db.models import QuerySet

from wallets.models import Membership


def member_list(*, business_id: str) -> QuerySet[Membership]:
    return (Membership.objects.filter(business_id=business_id).select_related("user")
            .order_by("user__username", "pk"))


def member_get(*, business_id: str, membership_id) -> Membership | None:
    try:
        membership_id = int(membership_id)
    except (TypeError, ValueError):
        return None
    if not 0 < membership_id < 2**63:  # beyond the bigint column: no such member (not a database error)
        return None
    return member_list(business_id=business_id).filter(pk=membership_id).first()
