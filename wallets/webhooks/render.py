"""An event's body: Dodo's envelope ``{"business_id", "type", "timestamp", "data": {"payload_type", …}}``,
as compact JSON text (API-NOTES, "Webhooks").

``timestamp`` is the event's ``created_at`` (ISO 8601, UTC, as the API writes times). ``data``:
- ``wallet.ledger_entry.created``: the entry exactly as the API renders it (``LedgerEntryResponse``,
  the actor named), as of its creation: nothing reversed or expired yet;
- ``wallet.hold.*``: the hold as the API renders it, with ``status`` and ``captured_amount`` as they
  were then (the event's ``data``);
- the alerts, the credit expiry and the test: their facts (``_FACTS``).

``render_many`` renders a batch with a handful of queries whatever its size: the entries, the holds
and the actor labels are each read once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from wallets.api.serializers import LedgerEntryResponse
from wallets.api.serializers_holds import HoldResponse
from wallets.models import Hold, LedgerEntry, WebhookEvent
from wallets.selectors.actors import actor_labels_for_entries
from wallets.webhooks.outbox import Type

_TIME = serializers.DateTimeField()


def _balance_alert(event: WebhookEvent) -> dict[str, Any]:
    return {"payload_type": "WalletBalanceAlert", "customer_id": event.customer_id, "currency": event.currency,
            "balance": event.data.get("balance"), "threshold": event.data.get("threshold"),
            "ledger_entry_id": event.entry_id}


def _runway(event: WebhookEvent) -> dict[str, Any]:
    return {"payload_type": "WalletRunwayAlert", "customer_id": event.customer_id, "currency": event.currency,
            "balance": event.data.get("balance"), "days_left": event.data.get("days_left"),
            "burn_per_day": event.data.get("burn_per_day")}


def _expiry(event: WebhookEvent) -> dict[str, Any]:
    return {"payload_type": "CreditExpiry", "customer_id": event.customer_id, "currency": event.currency,
            "amount": event.data.get("amount"), "credit_entry_id": event.data.get("credit_entry_id"),
            "ledger_entry_id": event.entry_id}


def _test(event: WebhookEvent) -> dict[str, Any]:
    return {"payload_type": "WebhookTest", "endpoint_id": event.data.get("endpoint_id"),
            "message": "A test event from Wallets: your endpoint receives and verifies webhooks."}


#: The types whose data are the event's own facts (no subject to read).
_FACTS: dict[str, Callable[[WebhookEvent], dict[str, Any]]] = {
    Type.BALANCE_LOW: _balance_alert,
    Type.BALANCE_RECOVERED: _balance_alert,
    Type.RUNWAY_LOW: _runway,
    Type.CREDIT_EXPIRED: _expiry,
    Type.TEST: _test,
}


def envelope(event: WebhookEvent, data: dict[str, Any]) -> str:
    body = {"business_id": event.business_id, "type": event.type,
            "timestamp": _TIME.to_representation(event.created_at), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def render_many(events: Sequence[WebhookEvent]) -> dict[str, str]:
    """The body of each event, by event id."""
    entry_ids = {e.entry_id for e in events if e.type == Type.LEDGER_ENTRY_CREATED and e.entry_id}
    hold_ids = {e.hold_id for e in events if e.type.startswith("wallet.hold.") and e.hold_id}
    entries = {e.id: e for e in LedgerEntry.objects.filter(pk__in=entry_ids)} if entry_ids else {}
    holds = {h.id: h for h in Hold.objects.filter(pk__in=hold_ids)} if hold_ids else {}
    by_business: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries.values():
        by_business[entry.business_id].append(entry)
    labels = {business_id: actor_labels_for_entries(business_id=business_id, entries=found)
              for business_id, found in by_business.items()}
    # One list serializer per business: its fields are built once, not once per entry.
    rendered_entries: dict[str, dict[str, Any]] = {}
    for business_id, found in by_business.items():
        many = LedgerEntryResponse(found, many=True, context={"actor_labels": labels[business_id]}).data
        rendered_entries.update((entry.id, dict(data)) for entry, data in zip(found, many, strict=True))
    hold_view = HoldResponse()
    return {event.id: envelope(event, _data(event, rendered_entries, holds, hold_view)) for event in events}


def render(event: WebhookEvent) -> str:
    return render_many([event])[event.id]


def _data(event: WebhookEvent, entries: dict[str, dict[str, Any]], holds: dict[str, Hold],
          hold_view: HoldResponse) -> dict[str, Any]:
    facts = _FACTS.get(event.type)
    if facts is not None:
        return facts(event)
    if event.type == Type.LEDGER_ENTRY_CREATED:
        # As of its creation: nothing of it reversed or expired yet (read without the annotations:
        # 0, or null for a credit that never expires).
        entry = entries.get(event.entry_id or "")
        if entry is None:  # cannot happen: entries are never deleted
            return {"payload_type": "CustomerWalletTransaction", "id": event.entry_id}
        return {"payload_type": "CustomerWalletTransaction", **entry}
    if event.type.startswith("wallet.hold."):
        hold = holds.get(event.hold_id or "")
        if hold is None:
            return {"payload_type": "WalletHold", "id": event.hold_id}
        rendered: dict[str, Any] = dict(hold_view.to_representation(hold))
        rendered["status"] = event.data.get("status", rendered["status"])
        rendered["captured_amount"] = event.data.get("captured_amount", rendered["captured_amount"])
        return {"payload_type": "WalletHold", **rendered}
    return {"payload_type": "Unknown"}
