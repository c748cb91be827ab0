"""Reads of a business's webhook endpoints, events, deliveries and attempts (the dashboard's).

Every read is scoped to one business; a missing or foreign id is ``None`` (the view answers 404).
Each list is a bounded number of queries whatever its length: counts and "last delivery" come from
annotations (subqueries), never from a query per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery

from wallets.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def endpoint_list(*, business_id: str) -> list[Any]:
    """The business's endpoints, newest first, each with ``failed_count``, ``pending_count``,
    ``last_status`` / ``last_status_code`` / ``last_at`` (its newest delivery). Three queries."""
    endpoints: list[Any] = list(
        WebhookEndpoint.objects.filter(business_id=business_id)
        .annotate(
            failed_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)),
            pending_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.PENDING)),
        )
        .order_by("-created_at", "-id")
    )
    if not endpoints:
        return endpoints
    # The newest delivery of each endpoint, in one query (DISTINCT ON is PostgreSQL's; a subquery
    # per endpoint id works everywhere and stays one statement).
    newest = WebhookDelivery.objects.filter(endpoint_id=OuterRef("endpoint_id")).order_by("-created_at", "-id")
    last: dict[str, Any] = {
        row["endpoint_id"]: row
        for row in WebhookDelivery.objects.filter(
            business_id=business_id, endpoint_id__in=[e.pk for e in endpoints],
            pk=Subquery(newest.values("pk")[:1]),
        ).values("endpoint_id", "status", "last_status_code", "updated_at")
    }
    for endpoint in endpoints:
        row = last.get(endpoint.pk) or {}
        endpoint.last_status = row.get("status")
        endpoint.last_status_code = row.get("last_status_code")
        endpoint.last_at = row.get("updated_at")
    return endpoints


def endpoint_find(*, business_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(business_id=business_id, pk=endpoint_id).first()


def _with_last_attempt(deliveries: QuerySet[WebhookDelivery]) -> QuerySet[WebhookDelivery]:
    last = WebhookAttempt.objects.filter(delivery_id=OuterRef("pk")).order_by("-number", "-id")
    return deliveries.annotate(
        last_duration_ms=Subquery(last.values("duration_ms")[:1], output_field=IntegerField()),
    )


def delivery_list_for_endpoint(
    *, business_id: str, endpoint_id: str, status: str = "", event_type: str = ""
) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first, with their event and the last attempt's duration."""
    deliveries = WebhookDelivery.objects.filter(business_id=business_id, endpoint_id=endpoint_id)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    return _with_last_attempt(deliveries.select_related("event").order_by("-created_at", "-id"))


@dataclass
class DeliveryDetail:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt] = field(default_factory=list)


def delivery_detail(*, business_id: str, endpoint_id: str, delivery_id: str) -> DeliveryDetail | None:
    """One delivery with its event, its endpoint and every attempt (newest first). Two queries."""
    delivery = (WebhookDelivery.objects.filter(business_id=business_id, endpoint_id=endpoint_id, pk=delivery_id)
                .select_related("event", "endpoint").first())
    if delivery is None:
        return None
    attempts = list(WebhookAttempt.objects.filter(business_id=business_id, delivery_id=delivery.pk)
                    .order_by("-number", "-id"))
    return DeliveryDetail(delivery=delivery, attempts=attempts)


@dataclass
class EventDetail:
    event: WebhookEvent
    deliveries: list[WebhookDelivery] = field(default_factory=list)


def event_detail(*, business_id: str, event_id: str) -> EventDetail | None:
    """One event and its delivery to each endpoint (with the endpoint). Two queries."""
    event = WebhookEvent.objects.filter(business_id=business_id, pk=event_id).first()
    if event is None:
        return None
    deliveries = list(_with_last_attempt(
        WebhookDelivery.objects.filter(business_id=business_id, event_id=event.pk).select_related("endpoint")
        .order_by("created_at", "id")
    ))
    return EventDetail(event=event, deliveries=deliveries)


def events_for_entry(*, business_id: str, entry_id: str) -> list[WebhookEvent]:
    """The events a ledger entry caused (its own, a balance crossing, an expiry), oldest first."""
    return list(WebhookEvent.objects.filter(business_id=business_id, entry_id=entry_id).order_by("created_at", "id"))

