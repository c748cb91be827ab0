"""Delivery throughput of one worker: ``python manage.py run_worker`` (production settings) sending
a backlog of events to a real receiver on loopback, each signed; the figure is printed (the issue's
target: at least 200 events/s on the development machine)."""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection

from tests.resilience.conftest import assert_migrated, live_database_url
from tests.support.servers import TaskWorker
from tests.webhooks.receiver import Receiver
from wallets import ledger
from wallets.models import WebhookDelivery, WebhookEvent
from wallets.services import webhooks as endpoints
from wallets.services.actors import Actor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite",
                       reason="the worker subprocess needs the test database on a server (SQLite's is in memory)"),
]

EVENTS = int(os.environ.get("WEBHOOK_THROUGHPUT_EVENTS", "600"))
#: Far under the target, so a loaded CI machine (2 cores shared with the rest of the suite) passes;
#: the printed figure is the measure.
FLOOR = 50


def test_one_worker_delivers_a_backlog_quickly(business, make_customer):
    assert_migrated()
    customers = [make_customer(email=f"t{i}@example.com") for i in range(10)]
    with Receiver() as receiver:
        endpoints.endpoint_create(business_id=business.id, url=receiver.url,
                                  filter_types=["wallet.ledger_entry.created"])
        for i in range(EVENTS):
            customer = customers[i % len(customers)]
            ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=1 + i,
                        is_credit=True, actor=Actor.command("throughput"))
        assert WebhookEvent.objects.filter(type="wallet.ledger_entry.created").count() == EVENTS
        worker = TaskWorker(database_url=live_database_url(), args=("--interval", "0.05"),
                            env={"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "DJANGO_LOG_LEVEL": "WARNING"})
        try:
            worker.start()
            began = time.monotonic()
            receiver.wait_for(EVENTS, timeout=120)
            elapsed = time.monotonic() - began
            deadline = time.monotonic() + 20
            while WebhookDelivery.objects.filter(status="pending").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            worker.remove()
    rate = EVENTS / elapsed
    times = sorted(r.received_at for r in receiver.requests)
    steady = (EVENTS - 1) / max(times[-1] - times[0], 1e-6)
    print(f"webhooks throughput: one worker delivered {EVENTS} events in {elapsed:.2f}s from its start: "
          f"{rate:.0f} events/s ({steady:.0f} events/s from the first request to the last)")
    assert WebhookDelivery.objects.filter(status="delivered").count() == EVENTS
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == EVENTS
    assert rate >= FLOOR
