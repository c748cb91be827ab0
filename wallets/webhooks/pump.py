"""One pass of the webhook worker (the ``deliver_webhooks`` task): fan out the outbox's new events
and send what is due, until nothing is due now or the pass's time budget is spent.

- Budget spent with work left: it wakes itself again (``webhooks_wake()``), so another pass follows
  and other tasks (the sweep) get their turn between passes.
- Done: when deliveries are pending later (a retry, a lease that has yet to lapse), it wakes itself
  for the earliest of them (``webhooks_wake(at=…)``).

Deliveries whose lease lapsed (a worker killed mid-attempt) are due again, and the claim takes them
like any other. No row lock is held while sending (``delivery``). Several passes may run side by
side (several workers): the fan-out and the claims skip what another holds.
"""

from __future__ import annotations

import datetime
import time

import httpx
from django.db.models import Min
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from wallets.models import WebhookDelivery
from wallets.webhooks import delivery, dispatch

#: Seconds a pass works before it hands over to a new one.
BUDGET_S = 10.0
#: A round that moved fewer events and attempts than this ends the pass (see ``run``).
SMALL = 20


def run(*, budget_s: float = BUDGET_S) -> dict[str, int]:
    """Returns the counts of the pass: events dispatched, attempts made."""
    from wallets.tasks import webhooks_wake

    deadline = time.monotonic() + budget_s
    counts = {"dispatched": 0, "attempted": 0}
    client: httpx.Client | None = None
    try:
        while True:
            dispatched = dispatch.dispatch_batch()
            counts["dispatched"] += dispatched
            client = client or delivery.new_client()
            attempted = delivery.deliver_batch(client=client)
            counts["attempted"] += attempted
            if dispatched < SMALL and attempted < SMALL:
                # Little came in while this round ran: leave it to the follow-up pass (half a second
                # on, ``wallets.tasks.deliver_webhooks``), which then takes it in one batch, rather
                # than paying a round's fixed statements for a handful of events, again and again.
                break
            if time.monotonic() >= deadline:
                webhooks_wake()
                return counts
    finally:
        if client is not None:
            client.close()
    later = next_due()
    if later is not None:
        webhooks_wake(at=max(later, timezone.now()))
    return counts


def next_due() -> datetime.datetime | None:
    """When the earliest pending delivery of an enabled endpoint is due (its lease, if any, lapsed)."""
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, endpoint__disabled=False)
    return pending.aggregate(at=Min(Greatest("next_attempt_at", Coalesce("lease_until", "next_attempt_at"))))["at"]
