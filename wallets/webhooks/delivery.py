"""The attempts: due deliveries sent as signed HTTP requests, on Dodo's retry schedule.

``deliver_batch`` is three steps, and no row lock is held while sending:
1. ``claim``, one short transaction: take due deliveries (pending, ``next_attempt_at <= now``, no
   live lease, endpoint enabled), lease them (``lease_until = now + WEBHOOK_TIMEOUT_S + margin``),
   commit. An endpoint's ``rate_limit`` (per second) caps what is claimed for it; the rest waits a
   second.
2. ``send``, outside any transaction: concurrently (a thread pool, one ``httpx.Client``), each to the
   address the SSRF rule checked (``webhooks.targets``), timeout ``WEBHOOK_TIMEOUT_S``, no redirect
   followed, body = the stored payload, headers = the endpoint's + ``Content-Type`` + the Standard
   Webhooks headers (``webhook-id`` = the event id, on every attempt; signed with every secret valid
   at the attempt).
3. ``record``, one short transaction: a ``WebhookAttempt`` each; 2xx → delivered (the endpoint's
   run of failures ends); ``410`` → failed and the endpoint disabled ("gone"); anything else
   (another status, a timeout, a refused address, a connection error) → the next attempt after
   ``WEBHOOK_RETRY_SCHEDULE[n-1]`` seconds (n: the scheduled attempts so far), or failed when the
   schedule is spent (and the endpoint disabled, "failing", when it has failed without a success for
   at least the schedule's whole duration).

A replay (``replay=True``, a person's "send again") is one attempt, trigger "replay", that does not
restart the schedule: when it fails, the delivery goes back to where its schedule was.

A worker killed between 1 and 3 leaves a lease that lapses: the delivery is due again and is sent
again with the same ``webhook-id`` (a receiver may see an id twice, never a new id for an event).
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from wallets.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from wallets.webhooks import dispatch, signing, targets

BATCH = 200
THREADS = 32
#: Added to the timeout for the lease: the time to record the result.
LEASE_MARGIN = datetime.timedelta(seconds=5)
EXCERPT_BYTES = 1024
USER_AGENT = "Wallets-Webhooks/1"


@dataclasses.dataclass
class Outcome:
    delivery: WebhookDelivery
    started_at: datetime.datetime
    duration_ms: int = 0
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def schedule() -> list[float]:
    return [float(s) for s in settings.WEBHOOK_RETRY_SCHEDULE]


def lease_length() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(settings.WEBHOOK_TIMEOUT_S)) + LEASE_MARGIN


def due(now: datetime.datetime) -> Q:
    return (Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, endpoint__disabled=False)
            & (Q(lease_until__isnull=True) | Q(lease_until__lte=now)))


def claim(*, limit: int = BATCH, now: datetime.datetime | None = None) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due deliveries (oldest due first) and commit."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        found = WebhookDelivery.objects.filter(due(now)).order_by("next_attempt_at", "id")
        if connection.vendor == "postgresql":
            found = found.select_for_update(no_key=True, skip_locked=True, of=("self",))
        candidates = list(found.select_related("event", "endpoint")[:limit])
        if not candidates:
            return []
        claimed, deferred = _within_rate_limits(candidates, now)
        lease = now + lease_length()
        if claimed:
            WebhookDelivery.objects.filter(pk__in=[d.id for d in claimed]).update(lease_until=lease, updated_at=now)
        if deferred:
            WebhookDelivery.objects.filter(pk__in=[d.id for d in deferred]).update(
                next_attempt_at=now + datetime.timedelta(seconds=1), updated_at=now)
        dispatch.ensure_payloads([d.event for d in claimed])
    for delivery in claimed:
        delivery.lease_until = lease
    return claimed


def _within_rate_limits(candidates: list[WebhookDelivery], now: datetime.datetime
                        ) -> tuple[list[WebhookDelivery], list[WebhookDelivery]]:
    """The candidates an endpoint's ``rate_limit`` lets go now (attempts started in the last second
    and leases in flight count), and those that must wait."""
    limited = {d.endpoint_id: d.endpoint.rate_limit for d in candidates if d.endpoint.rate_limit}
    if not limited:
        return candidates, []
    second_ago = now - datetime.timedelta(seconds=1)
    used: Counter[str] = Counter()
    for row in (WebhookAttempt.objects.filter(delivery__endpoint_id__in=limited, started_at__gt=second_ago)
                .values("delivery__endpoint_id").annotate(n=Count("id"))):
        used[row["delivery__endpoint_id"]] += row["n"]
    for endpoint_id, n in (WebhookDelivery.objects.filter(endpoint_id__in=limited, lease_until__gt=now,
                                                           status=WebhookDelivery.Status.PENDING)
                           .values("endpoint_id").annotate(n=Count("id")).values_list("endpoint_id", "n")):
        used[endpoint_id] += n
    claimed, deferred = [], []
    for delivery in candidates:
        limit = limited.get(delivery.endpoint_id)
        if limit is not None and used[delivery.endpoint_id] >= limit:
            deferred.append(delivery)
            continue
        used[delivery.endpoint_id] += 1
        claimed.append(delivery)
    return claimed, deferred


def new_client() -> httpx.Client:
    return httpx.Client(
        timeout=float(settings.WEBHOOK_TIMEOUT_S), follow_redirects=False, trust_env=False,
        limits=httpx.Limits(max_connections=THREADS * 2, max_keepalive_connections=THREADS),
    )


def send_one(client: httpx.Client, delivery: WebhookDelivery) -> Outcome:
    """One attempt (no database access: the delivery came with its event and endpoint)."""
    endpoint, event = delivery.endpoint, delivery.event
    started = timezone.now()
    clock = time.monotonic()
    outcome = Outcome(delivery=delivery, started_at=started)
    body = event.payload or ""
    try:
        target = targets.resolve_target(endpoint.url)
    except targets.Refused as exc:
        outcome.error = str(exc)[:500]
        return outcome
    url, host_header, extensions = target.request_args()
    headers = {
        **{str(k): str(v) for k, v in (endpoint.headers or {}).items()},
        **host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.headers(endpoint.signing_secrets(started), msg_id=event.id, timestamp=started, body=body),
    }
    try:
        with client.stream("POST", url, content=body.encode("utf-8"), headers=headers,
                           extensions=extensions) as response:
            outcome.status_code = response.status_code
            excerpt = b""
            for chunk in response.iter_bytes():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            outcome.excerpt = excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    except httpx.TimeoutException:
        outcome.error = f"timeout after {settings.WEBHOOK_TIMEOUT_S:g} s"
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    finally:
        outcome.duration_ms = int((time.monotonic() - clock) * 1000)
    return outcome


def send(deliveries: Sequence[WebhookDelivery], *, client: httpx.Client | None = None) -> list[Outcome]:
    """Send concurrently; never inside a transaction (no lock is held meanwhile)."""
    own = client is None
    client = client or new_client()
    try:
        if len(deliveries) == 1:
            return [send_one(client, deliveries[0])]
        with ThreadPoolExecutor(max_workers=min(THREADS, len(deliveries))) as pool:
            return list(pool.map(lambda d: send_one(client, d), deliveries))
    finally:
        if own:
            client.close()


def record(outcomes: Sequence[Outcome], *, now: datetime.datetime | None = None) -> None:
    """Write the attempts and their consequences, in one short transaction."""
    if not outcomes:
        return
    now = now or timezone.now()
    plan = schedule()
    ids = sorted({o.delivery.id for o in outcomes})
    with transaction.atomic(durable=True):
        current = {d.id: d for d in WebhookDelivery.objects.select_for_update(no_key=True).filter(pk__in=ids)
                   .order_by("id")}
        endpoint_ids = sorted({d.endpoint_id for d in current.values()})
        endpoints = {e.id: e for e in WebhookEndpoint.objects.select_for_update(no_key=True)
                     .filter(pk__in=endpoint_ids).order_by("id")}
        scheduled = defaultdict(int, {
            row["delivery_id"]: row["n"] for row in
            WebhookAttempt.objects.filter(delivery_id__in=ids, trigger=WebhookAttempt.Trigger.SCHEDULE)
            .values("delivery_id").annotate(n=Count("id"))})
        attempts, changed_endpoints = [], set()
        for outcome in sorted(outcomes, key=lambda o: o.started_at):
            delivery = current.get(outcome.delivery.id)
            if delivery is None:  # its endpoint was deleted meanwhile
                continue
            endpoint = endpoints[delivery.endpoint_id]
            replay = outcome.delivery.replay
            trigger = WebhookAttempt.Trigger.REPLAY if replay else WebhookAttempt.Trigger.SCHEDULE
            if not replay:
                scheduled[delivery.id] += 1
            delivery.attempts += 1
            attempts.append(WebhookAttempt(
                business_id=delivery.business_id, delivery_id=delivery.id, number=delivery.attempts,
                trigger=trigger, started_at=outcome.started_at, duration_ms=outcome.duration_ms,
                status_code=outcome.status_code, error=outcome.error, response_excerpt=outcome.excerpt,
            ))
            delivery.last_status_code = outcome.status_code
            delivery.lease_until = None
            delivery.updated_at = now
            if delivery.status == WebhookDelivery.Status.DELIVERED:
                continue  # sent twice (a lapsed lease): the first success stands
            if delivery.replay and not replay:
                continue  # a replay was asked meanwhile: it goes out next
            delivery.replay = False
            if outcome.succeeded:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                    WebhookDelivery.Status.DELIVERED, now, None)
                if endpoint.failing_since is not None:
                    endpoint.failing_since = None
                    changed_endpoints.add(endpoint.id)
                continue
            if endpoint.failing_since is None:
                endpoint.failing_since = outcome.started_at
                changed_endpoints.add(endpoint.id)
            if outcome.status_code == 410:
                delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
                if not endpoint.disabled:
                    _disable(endpoint, WebhookEndpoint.DisabledReason.GONE, now)
                    changed_endpoints.add(endpoint.id)
                continue
            done = max(scheduled[delivery.id], 1)
            if done - 1 < len(plan):
                delivery.next_attempt_at = now + datetime.timedelta(seconds=plan[done - 1])
                delivery.status = WebhookDelivery.Status.PENDING
                continue
            delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
            if (not endpoint.disabled
                    and now - endpoint.failing_since >= datetime.timedelta(seconds=sum(plan))):
                _disable(endpoint, WebhookEndpoint.DisabledReason.FAILING, now)
                changed_endpoints.add(endpoint.id)
        WebhookAttempt.objects.bulk_create(attempts)
        # One UPDATE per kind of result (delivered; retried at one time; …), not one per row.
        groups: dict[tuple, list[str]] = defaultdict(list)
        for d in current.values():
            groups[(d.status, d.next_attempt_at, d.last_status_code, d.replay, d.delivered_at)].append(d.id)
        for (status, next_at, code, replay_, delivered_at), group in groups.items():
            WebhookDelivery.objects.filter(pk__in=group).update(
                status=status, attempts=F("attempts") + 1, next_attempt_at=next_at, lease_until=None,
                last_status_code=code, replay=replay_, delivered_at=delivered_at, updated_at=now)
        for endpoint_id in changed_endpoints:
            endpoint = endpoints[endpoint_id]
            endpoint.updated_at = now
            endpoint.save(update_fields=["failing_since", "disabled", "disabled_reason", "disabled_at", "updated_at"])


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime.datetime) -> None:
    endpoint.disabled, endpoint.disabled_reason, endpoint.disabled_at = True, reason, now


def deliver_batch(*, limit: int = BATCH, client: httpx.Client | None = None) -> int:
    """Claim, send, record one batch; returns how many were attempted."""
    claimed = claim(limit=limit)
    if not claimed:
        return 0
    record(send(claimed, client=client))
    return len(claimed)
