"""The business's activity log: its security events, newest first, filtered by kind and time."""

import datetime

from django.db.models import QuerySet

from wallets.models import SecurityEvent


def security_event_list(
    *, business_id: str, kind: str | None = None, since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[SecurityEvent]:
    """``since`` inclusive, ``until`` exclusive. Served by the ``(business, -created_at)`` index."""
    events = SecurityEvent.objects.filter(business_id=business_id)
    if kind:
        events = events.filter(kind=kind)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")
