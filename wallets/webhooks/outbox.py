"""The events of a ledger step, written in the step's own transaction (the transactional outbox).

The engine calls ``events_for`` while it writes a locked wallet's entries: an event exists if and
only if its cause committed, and its id (the ``webhook-id`` receivers see) is made once, here. Nothing
here reads the database or does anything slow: the lock statement already said whether the business
has an enabled endpoint and what its low-balance threshold is (``locking.Alerts``); a business
without an endpoint gets no events at all. The engine inserts them with its entries (on PostgreSQL in
the entry's own statement: no extra round trip under the lock). After the commit, ``wake_worker`` asks
the worker to send them (and when that is lost, the worker's periodic catch-up finds them in the
outbox).

Events (``Type``):
- one ``wallet.ledger_entry.created`` per entry;
- ``wallet.balance_low`` when an entry takes the balance from at or above the threshold to below it,
  ``wallet.balance_recovered`` for the way back: once per crossing, computed from the entry's own
  ``before_balance`` / ``after_balance``, which the wallet lock orders, so concurrent postings cannot
  make two for one crossing (a new wallet's first credit is no recovery: it was never above);
- ``wallet.credit.expired`` for each expiry entry (the grant's unspent remainder leaving);
- ``wallet.hold.created`` / ``captured`` / ``voided`` / ``expired`` when a step creates or resolves a hold.

``wallet.runway_low`` is the worker's (``webhooks.runway``): it needs a 14-day read, never done under
the lock.
"""

from __future__ import annotations

import datetime
import enum
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction

from wallets.models import WebhookEvent

if TYPE_CHECKING:
    from wallets.ledger import machine

logger = logging.getLogger(__name__)


class Type(enum.StrEnum):
    LEDGER_ENTRY_CREATED = "wallet.ledger_entry.created"
    BALANCE_LOW = "wallet.balance_low"
    BALANCE_RECOVERED = "wallet.balance_recovered"
    RUNWAY_LOW = "wallet.runway_low"
    CREDIT_EXPIRED = "wallet.credit.expired"
    HOLD_CREATED = "wallet.hold.created"
    HOLD_CAPTURED = "wallet.hold.captured"
    HOLD_VOIDED = "wallet.hold.voided"
    HOLD_EXPIRED = "wallet.hold.expired"
    #: Sent by the dashboard's "send a test event", to one endpoint.
    TEST = "webhook.test"


#: Every type an endpoint may filter on (``filter_types``), in the order the docs list them.
TYPES: tuple[str, ...] = tuple(t.value for t in Type)

_HOLD_TYPES = {
    "captured": Type.HOLD_CAPTURED,
    "voided": Type.HOLD_VOIDED,
    "expired": Type.HOLD_EXPIRED,
}


def events_for(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    low_balance_below: int,
    rows: Sequence[dict[str, Any]],
    holds: Iterable[machine.Hold],
    new_hold_ids: Iterable[str],
    now: datetime.datetime,
) -> list[WebhookEvent]:
    """The events of one wallet's written entries (``rows``, in order, as ``effects.entry_row``
    makes them) and of its holds created or changed (as they are after the steps)."""

    def event(type_: Type, **fields: Any) -> WebhookEvent:
        return WebhookEvent(business_id=business_id, type=type_.value, customer_id=customer_id, currency=currency,
                            created_at=now, **fields)

    out: list[WebhookEvent] = []
    threshold = low_balance_below
    for row in rows:
        entry_id = row["id"]
        out.append(event(Type.LEDGER_ENTRY_CREATED, entry_id=entry_id))
        if row["expired_grant_id"] is not None:
            out.append(event(Type.CREDIT_EXPIRED, entry_id=entry_id,
                             data={"credit_entry_id": row["expired_grant_id"], "amount": row["amount"]}))
        before, after = row["before_balance"], row["after_balance"]
        crossing = {"balance": after, "threshold": threshold}
        if before >= threshold > after:
            out.append(event(Type.BALANCE_LOW, entry_id=entry_id, data=crossing))
        elif before < threshold <= after and row["sequence"] > 1:
            out.append(event(Type.BALANCE_RECOVERED, entry_id=entry_id, data=crossing))
    created = set(new_hold_ids)
    for hold in holds:
        type_ = Type.HOLD_CREATED if hold.id in created else _HOLD_TYPES.get(hold.status)
        if type_ is None:  # still active: a draw given back, no event of its own
            continue
        out.append(event(type_, hold_id=hold.id, data={"status": hold.status, "captured_amount": hold.captured}))
    return out


def write(events: list[WebhookEvent]) -> None:
    """Insert events written outside the engine's own statements (the runway checks), and wake the
    worker after the commit."""
    if not events:
        return
    WebhookEvent.objects.bulk_create(events)
    written()


def written() -> None:
    """Events were written in the current transaction: wake the worker once it commits."""
    transaction.on_commit(wake_worker, robust=True)


#: A process wakes the worker at most this often (seconds): a burst of postings costs a task every
#: half second, not a query or a task each. Nothing waits longer for it: every pump run that follows a
#: wake runs once more this long after it (``wallets.tasks.deliver_webhooks``), and so sees the events
#: committed in between.
WAKE_EVERY = 0.5
_last_wake = [float("-inf")]


def wake_worker() -> None:
    """Ask the worker to fan out and send what the outbox holds (``wallets.tasks``). Runs after the
    commit; a failure here loses nothing (the events wait in the outbox for the worker's catch-up)."""
    from wallets.tasks import webhooks_wake  # the tasks import the engine

    now = time.monotonic()
    if now - _last_wake[0] < WAKE_EVERY:
        return
    _last_wake[0] = now
    webhooks_wake(check=False)
