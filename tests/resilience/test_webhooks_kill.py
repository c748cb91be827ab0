"""The webhook worker SIGKILLed mid-delivery and restarted: a real ``python manage.py run_worker``
(production settings, the test database) delivering to a slow real receiver on loopback.

Postings keep coming (in this process, through the engine) while the worker is killed twice with
requests in flight and restarted. Afterwards: every committed entry has exactly one event and one
event id; the receiver got each of them (maybe twice, always under the same ``webhook-id``, with the
same signed body); a refused request (insufficient funds) has no entry and no event.

The worker's killed pass stays RUNNING in the queue (django-tasks-db runs a task at most once); its
leased deliveries lapse and the next pass, woken by a posting or by the sweep's catch-up
(``WALLETS_SWEEP_INTERVAL`` = 1 s here), sends them again.
"""

from __future__ import annotations

import collections

import pytest
from django.db import connection
from standardwebhooks.webhooks import Webhook

from tests.resilience.conftest import assert_migrated, live_database_url
from tests.support.servers import TaskWorker, wait_until
from tests.webhooks.receiver import Receiver
from wallets import ledger
from wallets.exceptions import InsufficientFunds
from wallets.models import LedgerEntry, WebhookDelivery, WebhookEvent
from wallets.services import webhooks as endpoints
from wallets.services.actors import Actor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite",
                       reason="the worker subprocess needs the test database on a server (SQLite's is in memory); "
                              "tests/webhooks/ cover delivery on SQLite in-process"),
]

WORKER_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_RETRY_SCHEDULE": "0.5,1,1,1,1,1",
    "WEBHOOK_TIMEOUT_S": "2",
    "WALLETS_SWEEP_INTERVAL": "1",
}


def test_sigkill_mid_delivery_loses_no_event_and_makes_no_second_id(business, make_customer):
    assert_migrated()
    customers = [make_customer(email=f"k{i}@example.com") for i in range(3)]
    refused = 0

    def post_some(n: int, tag: str) -> None:
        nonlocal refused
        for i in range(n):
            customer = customers[i % len(customers)]
            ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=100 + i,
                        is_credit=True, actor=Actor.command("kill-test"), reason=f"{tag}-{i}")
            if i % 4 == 0:
                with pytest.raises(InsufficientFunds):
                    ledger.post(business_id=business.id, customer_id=customer.id, currency="USD",
                                amount=10**12, is_credit=False, actor=Actor.command("kill-test"),
                                reason=f"refused-{tag}-{i}")
                refused += 1

    with Receiver() as receiver:
        # Slow and uneven (0.2 to 1.1 s): a pass's requests finish over about a second.
        receiver.answer = lambda request: (200, "ok", 0.2 + 0.1 * (hash(request.headers["webhook-id"]) % 10))
        endpoint = endpoints.endpoint_create(business_id=business.id, url=receiver.url,
                                             filter_types=["wallet.ledger_entry.created"])
        started: list[TaskWorker] = []

        def start() -> TaskWorker:
            worker = TaskWorker(database_url=live_database_url(), args=("--interval", "0.1"), env=WORKER_ENV)
            started.append(worker)
            return worker.start()

        try:
            post_some(20, "before")
            for round_ in range(2):
                worker = start()
                seen = len(receiver.requests)
                # Mid-delivery: some requests have arrived, more are in flight (the receiver is slow).
                wait_until(lambda seen=seen: len(receiver.requests) >= seen + 3 and receiver.in_flight >= 3,
                           timeout=30, what="deliveries with more in flight", workers=started)
                worker.kill()
                leased = WebhookDelivery.objects.filter(status="pending", lease_until__isnull=False).count()
                assert leased > 0, "the kill was not mid-delivery"
                post_some(10, f"down-{round_}")  # while no worker runs
            final = start()
            events = WebhookEvent.objects.filter(business=business, type="wallet.ledger_entry.created")
            expected = set(events.values_list("id", flat=True))
            wait_until(lambda: expected <= {r.headers["webhook-id"] for r in receiver.requests}, timeout=60,
                       what="every event's delivery", workers=started)
            wait_until(lambda: not WebhookDelivery.objects.filter(status="pending").exists(), timeout=30,
                       what="no pending delivery", workers=started)
        finally:
            for worker in started:
                worker.remove()
        assert final.process is not None

    entries = LedgerEntry.objects.filter(business=business)
    assert entries.count() == 40
    # Every committed entry: exactly one event, so one id.
    per_entry = collections.Counter(events.values_list("entry_id", flat=True))
    assert set(per_entry) == set(entries.values_list("id", flat=True))
    assert set(per_entry.values()) == {1}
    # Refused requests: no entry, no event.
    assert refused == 11
    assert not entries.filter(reason__startswith="refused").exists()
    assert WebhookEvent.objects.filter(business=business).exclude(entry_id__in=entries.values("id")).filter(
        entry_id__isnull=False).count() == 0
    # The receiver: only known ids, every one delivered, a repeat is the same id with the same body.
    bodies: dict[str, set[str]] = collections.defaultdict(set)
    for request in receiver.requests:
        headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
        Webhook(endpoint.secret).verify(request.text, headers)
        bodies[headers["webhook-id"]].add(request.text)
    assert set(bodies) == expected
    assert all(len(texts) == 1 for texts in bodies.values())
    repeats = len(receiver.requests) - len(expected)
    assert WebhookDelivery.objects.filter(status="delivered").count() == len(expected)
    print(f"webhooks kill: {len(expected)} events, 2 SIGKILLs mid-delivery, {len(receiver.requests)} requests "
          f"({repeats} repeats, same ids), {refused} refused requests without an event")
