"""The fan-out: new outbox events become deliveries, one per enabled endpoint of their business that
wants their type.

``dispatch_batch`` is one short transaction: it takes the oldest undispatched events (``SKIP
LOCKED`` on PostgreSQL, so workers side by side take different ones; SQLite serialises writers),
renders each body once (``WebhookEvent.payload``: the exact bytes of every attempt), creates the
deliveries and marks the events dispatched. The unique (event, endpoint) makes a re-run after a kill
harmless, and a kill before the commit leaves the events undispatched for the next pass. Test events
(``webhook.test``) come with their one delivery already made and already dispatched.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from wallets.ledger import sql
from wallets.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from wallets.webhooks import render

BATCH = 500


def dispatch_batch(*, limit: int = BATCH, now: datetime.datetime | None = None) -> int:
    """Fan out up to ``limit`` events; returns how many were dispatched."""
    with transaction.atomic(durable=True):
        pending = WebhookEvent.objects.filter(dispatched_at__isnull=True).order_by("created_at", "id")
        if connection.vendor == "postgresql":
            pending = pending.select_for_update(no_key=True, skip_locked=True)
        events = list(pending[:limit])
        if not events:
            return 0
        now = now or timezone.now()
        endpoints: dict[str, list[WebhookEndpoint]] = defaultdict(list)
        for endpoint in WebhookEndpoint.objects.filter(business_id__in={e.business_id for e in events},
                                                       disabled=False):
            endpoints[endpoint.business_id].append(endpoint)
        bodies = render.render_many(events)
        deliveries: list[WebhookDelivery] = []
        for event in events:
            event.payload = bodies[event.id]
            event.dispatched_at = now
            deliveries.extend(
                WebhookDelivery(business_id=event.business_id, event=event, endpoint=endpoint,
                                next_attempt_at=now, created_at=now, updated_at=now)
                for endpoint in endpoints[event.business_id] if endpoint.wants(event.type)
            )
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        # One statement for every payload (``bulk_update``'s CASE cost more than the rest of the fan-out).
        sql.store_event_payloads(connection, [(event.id, event.payload or "") for event in events], now)
        return len(events)


def ensure_payloads(events: list[WebhookEvent]) -> None:
    """Render the body of events that have none yet (a test event, made with its delivery) and
    store it: rendered once, the same on every attempt."""
    missing = [e for e in events if e.payload is None]
    if not missing:
        return
    bodies = render.render_many(missing)
    for event in missing:
        event.payload = bodies[event.id]
        WebhookEvent.objects.filter(pk=event.id, payload__isnull=True).update(payload=event.payload)
