"""Businesses, for the people who may see more than one (superusers)."""

from wallets.models import Business


def business_list() -> list[Business]:
    """Every business by name, with only what a picker needs."""
    return list(Business.objects.order_by("name").only("id", "name"))


def business_find(*, business_id: str) -> Business | None:
    return Business.objects.filter(pk=business_id).first()


def business_first() -> Business | None:
    """The first business by name (a superuser's default view)."""
    return Business.objects.order_by("name").first()
