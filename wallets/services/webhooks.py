"""Webhook endpoints and deliveries: what the API (Dodo's ``/webhooks`` routes) and the dashboard
change. Each function is one short transaction, scoped to one business (another business's endpoint
or delivery is ``WebhookNotFound``, which the API answers ``404``). Input that breaks a rule raises
``InvalidInput`` with per-field messages, and changes nothing.

Sending is the worker's (``wallets.webhooks.delivery``): a replay or a test only makes a delivery
due now and wakes the worker after the commit.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from wallets.exceptions import IdempotencyKeyReused, InvalidInput, WebhookNotFound
from wallets.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from wallets.services.pinned import save_pinned
from wallets.webhooks import signing
from wallets.webhooks.outbox import TYPES, Type

#: Headers an endpoint may not set: the signature's, and those HTTP itself decides.
RESERVED_HEADERS = frozenset({
    "webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length", "host",
    "transfer-encoding", "connection", "user-agent",
})
#: Header names whose values are shown redacted (Dodo's ``sensitive``).
SENSITIVE_WORDS = ("authorization", "token", "secret", "key", "password", "cookie", "signature", "auth")
MAX_HEADERS = 20
MAX_METADATA = 50
UNSET: Any = object()


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def _endpoint(business_id: str, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint:
    found = WebhookEndpoint.objects.filter(business_id=business_id, pk=endpoint_id)
    if lock:
        found = found.select_for_update(no_key=True)
    endpoint = found.first()
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint


def clean_url(url: str) -> str:
    """An absolute ``https`` URL (``http`` too when private targets are allowed: local development).
    A literal private, loopback or link-local address is refused now; a name is resolved and checked
    at every delivery (``webhooks.targets``), since what it resolves to may change."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidInput("Invalid webhook URL.", {"url": ["Enter a valid URL."]}) from None
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    schemes = ("https", "http") if allow_private else ("https",)
    if (parts.scheme not in schemes or not host or len(url) > 2048
            or any(ord(c) < 32 or ord(c) == 127 for c in url)):  # a control character cannot be sent
        need = "an http or https" if allow_private else "an https"
        raise InvalidInput("Invalid webhook URL.", {"url": [f"Enter {need} URL (at most 2048 characters)."]})
    if parts.username or parts.password:
        raise InvalidInput("Invalid webhook URL.", {"url": ["Put credentials in a header, not in the URL."]})
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not allow_private and not address.is_global:
        raise InvalidInput("Invalid webhook URL.",
                           {"url": ["This address is private, loopback or link-local; webhooks go to public hosts."]})
    return url


def clean_filter_types(types: Iterable[str] | None) -> list[str]:
    types = list(types or [])
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise InvalidInput("Unknown event type.", {"filter_types": [
            f"Unknown event type {unknown[0]!r}; the types are: {', '.join(TYPES)}."]})
    return sorted(set(types), key=TYPES.index)


def clean_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    headers = dict(headers or {})
    problems = []
    for name, value in headers.items():
        if (not isinstance(name, str) or not name or not name.isascii()
                or not all(c.isalnum() or c in "-_" for c in name)):
            problems.append(f"{name!r} is not a header name (ASCII letters, digits, - and _).")
        elif name.lower() in RESERVED_HEADERS:
            problems.append(f"{name} is set by the delivery itself.")
        elif not isinstance(value, str) or not _header_value(value):
            problems.append(f"The value of {name} must be one line of ASCII text (at most 4096 characters).")
    if len(headers) > MAX_HEADERS:
        problems.append(f"At most {MAX_HEADERS} headers.")
    if problems:
        raise InvalidInput("Invalid headers.", {"headers": problems})
    return headers


def _header_value(value: str) -> bool:
    """What HTTP carries as a header value: printable ASCII, spaces and tabs, on one line."""
    return len(value) <= 4096 and value.isascii() and all(c == "\t" or 32 <= ord(c) < 127 for c in value)


def clean_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    metadata = dict(metadata or {})
    if len(metadata) > MAX_METADATA or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InvalidInput("Invalid metadata.", {"metadata": [f"At most {MAX_METADATA} keys, string values."]})
    return metadata


def clean_rate_limit(rate_limit: int | None) -> int | None:
    if rate_limit is not None and (isinstance(rate_limit, bool) or not isinstance(rate_limit, int)
                                   or not 1 <= rate_limit <= 100_000):
        message = "Give a whole number of deliveries per second, 1 to 100000, or null for no limit."
        raise InvalidInput("Invalid rate limit.", {"rate_limit": [message]})
    return rate_limit


def endpoint_create(
    *,
    business_id: str,
    url: str,
    description: str | None = None,
    disabled: bool | None = None,
    filter_types: Iterable[str] | None = None,
    headers: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    rate_limit: int | None = None,
    idempotency_key: str | None = None,
) -> WebhookEndpoint:
    """A new endpoint with a new secret. With an ``idempotency_key``: the same key and the same
    request answer the endpoint it created; the key with another request is ``IdempotencyKeyReused``."""
    now = timezone.now()
    endpoint = WebhookEndpoint(
        business_id=business_id,
        url=clean_url(url),
        description=(description or "")[:500],
        filter_types=clean_filter_types(filter_types),
        headers=clean_headers(headers),
        metadata=clean_metadata(metadata),
        rate_limit=clean_rate_limit(rate_limit),
        secret=signing.new_secret(),
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
    )
    if disabled:
        endpoint.disabled, endpoint.disabled_at = True, now
        endpoint.disabled_reason = WebhookEndpoint.DisabledReason.MANUAL
    if idempotency_key is not None:
        endpoint.request_digest = _request_digest(endpoint)
        prior = _created_with(business_id, idempotency_key, endpoint.request_digest)
        if prior is not None:
            return prior
    try:
        with transaction.atomic(durable=True):
            endpoint.save(force_insert=True)
    except IntegrityError:
        # A concurrent request with the same key won the unique index: answer what it created.
        prior = _created_with(business_id, idempotency_key, endpoint.request_digest) if idempotency_key else None
        if prior is None:
            raise
        return prior
    return endpoint


def _request_digest(endpoint: WebhookEndpoint) -> str:
    request = [endpoint.url, endpoint.description, endpoint.disabled, endpoint.filter_types, endpoint.headers,
               endpoint.metadata, endpoint.rate_limit]
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _created_with(business_id: str, idempotency_key: str, digest: str) -> WebhookEndpoint | None:
    prior = WebhookEndpoint.objects.filter(business_id=business_id, idempotency_key=idempotency_key).first()
    if prior is not None and prior.request_digest != digest:
        raise IdempotencyKeyReused()
    return prior


def endpoint_update(
    *,
    business_id: str,
    endpoint_id: str,
    url: str | None = UNSET,
    description: str | None = UNSET,
    disabled: bool | None = UNSET,
    filter_types: Iterable[str] | None = UNSET,
    metadata: Mapping[str, Any] | None = UNSET,
    rate_limit: int | None = UNSET,
) -> WebhookEndpoint:
    """Change what is given (``UNSET``: unchanged; ``None``: unchanged too, as Dodo's nullable
    fields, but for ``rate_limit``, where ``None`` removes the limit). Enabling an endpoint clears
    why it was disabled and its run of failures; its pending deliveries go out again."""
    changes: dict[str, Any] = {}
    if url not in (UNSET, None):
        changes["url"] = clean_url(url)
    if description not in (UNSET, None):
        changes["description"] = description[:500]
    if filter_types not in (UNSET, None):
        changes["filter_types"] = clean_filter_types(filter_types)
    if metadata not in (UNSET, None):
        changes["metadata"] = clean_metadata(metadata)
    if rate_limit is not UNSET:
        changes["rate_limit"] = clean_rate_limit(rate_limit)
    with transaction.atomic(durable=True):
        endpoint = _endpoint(business_id, endpoint_id, lock=True)
        now = timezone.now()
        if disabled not in (UNSET, None) and disabled != endpoint.disabled:
            if disabled:
                changes.update(disabled=True, disabled_reason=WebhookEndpoint.DisabledReason.MANUAL, disabled_at=now)
            else:
                changes.update(disabled=False, disabled_reason="", disabled_at=None, failing_since=None)
        for name, value in changes.items():
            setattr(endpoint, name, value)
        endpoint.updated_at = now
        save_pinned(endpoint, [*changes, "updated_at"])
    if changes.get("disabled") is False:
        _wake_after_commit()
    return endpoint


def endpoint_delete(*, business_id: str, endpoint_id: str) -> None:
    """Delete the endpoint with its deliveries and their attempts (the events stay)."""
    with transaction.atomic(durable=True):
        endpoint = _endpoint(business_id, endpoint_id, lock=True)
        endpoint.delete()


def endpoint_rotate_secret(*, business_id: str, endpoint_id: str) -> WebhookEndpoint:
    """A new secret; the previous one still signs (beside it) for 24 hours."""
    with transaction.atomic(durable=True):
        endpoint = _endpoint(business_id, endpoint_id, lock=True)
        now = timezone.now()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + signing.ROTATION_OVERLAP
        endpoint.secret = signing.new_secret()
        endpoint.updated_at = now
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint


def endpoint_headers_update(*, business_id: str, endpoint_id: str, headers: Mapping[str, Any]) -> WebhookEndpoint:
    """Add or change these headers (Dodo's ``PATCH /webhooks/{id}/headers``); an empty value removes one."""
    given = clean_headers({k: v for k, v in headers.items() if v != ""})
    removed = {k for k, v in headers.items() if v == ""}
    with transaction.atomic(durable=True):
        endpoint = _endpoint(business_id, endpoint_id, lock=True)
        merged = {k: v for k, v in endpoint.headers.items() if k not in removed and k not in given}
        merged.update(given)
        endpoint.headers = clean_headers(merged)
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=["headers", "updated_at"])
    return endpoint


def endpoint_send_test(*, business_id: str, endpoint_id: str) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint alone (whatever its filter), due now."""
    with transaction.atomic(durable=True):
        endpoint = _endpoint(business_id, endpoint_id)
        now = timezone.now()
        event = WebhookEvent.objects.create(business_id=business_id, type=Type.TEST.value, created_at=now,
                                            data={"endpoint_id": endpoint.id}, dispatched_at=now)
        delivery = WebhookDelivery.objects.create(business_id=business_id, event=event, endpoint=endpoint,
                                                  next_attempt_at=now, created_at=now, updated_at=now)
        _wake_after_commit()
    return delivery


def delivery_replay(*, business_id: str, delivery_id: str) -> WebhookDelivery:
    """Send this delivery once more, now (same ``webhook-id`` and body); its schedule is not restarted."""
    with transaction.atomic(durable=True):
        delivery = (WebhookDelivery.objects.select_for_update(no_key=True)
                    .filter(business_id=business_id, pk=delivery_id).first())
        if delivery is None:
            raise WebhookNotFound("Delivery not found.")
        _make_due(delivery, timezone.now())
        _wake_after_commit()
    return delivery


def deliveries_replay_failed(
    *,
    business_id: str,
    since: datetime.datetime,
    until: datetime.datetime,
    endpoint_id: str | None = None,
) -> int:
    """Send again, now, every failed delivery whose event happened in ``[since, until)`` (of one
    endpoint, or all); returns how many."""
    if since >= until:
        raise InvalidInput("Invalid time range.", {"until": ["The end must be after the start."]})
    with transaction.atomic(durable=True):
        failed = WebhookDelivery.objects.filter(
            Q(business_id=business_id, status=WebhookDelivery.Status.FAILED,
              event__created_at__gte=since, event__created_at__lt=until))
        if endpoint_id is not None:
            _endpoint(business_id, endpoint_id)
            failed = failed.filter(endpoint_id=endpoint_id)
        now = timezone.now()
        count = failed.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now, lease_until=None,
                              replay=True, updated_at=now)
        if count:
            _wake_after_commit()
    return count


def _make_due(delivery: WebhookDelivery, now: datetime.datetime) -> None:
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = now
    delivery.lease_until = None
    delivery.replay = True
    delivery.updated_at = now
    delivery.save(update_fields=["status", "next_attempt_at", "lease_until", "replay", "updated_at"])


def _wake_after_commit() -> None:
    from wallets.webhooks.outbox import wake_worker

    transaction.on_commit(wake_worker, robust=True)
