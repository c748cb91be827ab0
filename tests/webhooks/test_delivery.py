"""Deliveries to a real receiver on loopback (``tests/webhooks/receiver.py``), by the worker's pass
(``wallets.webhooks.pump.run``) run in-process: signed (verified with ``standardwebhooks`` and with
Dodo's ``client.webhooks.unwrap``), in Dodo's envelope, on the (short) retry schedule, with a stable
``webhook-id``; ``410`` disables; timeouts fail; a spent schedule fails (and disables a failing
endpoint); replay; secret rotation; rate limits; a lapsed lease.

``transaction=True``: the engine's events and the worker's transactions commit as in production.
"""

from __future__ import annotations

import datetime
import itertools
import json
import threading

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from tests.webhooks.conftest import verify
from wallets import ledger
from wallets.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from wallets.services import webhooks as endpoints
from wallets.services.actors import Actor
from wallets.webhooks import delivery, dispatch

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("short_schedule"),
]


@pytest.fixture
def short_schedule():
    with override_settings(WEBHOOK_RETRY_SCHEDULE=[0.3, 0.6], WEBHOOK_TIMEOUT_S=1.0):
        yield


def credit(customer, amount=1000, **kwargs):
    return ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=amount,
                       is_credit=True, actor=Actor.command("test"), **kwargs)


def the_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


def test_an_entry_is_delivered_signed_in_dodos_envelope_with_the_apis_rendering(
        endpoint, receiver, customer, api, drain):
    result = credit(customer, 1500, reason="top-up", metadata={"order": "o-1"})
    drain(lambda: receiver.requests)
    [request] = receiver.wait_for(1)
    body = verify(endpoint.secret, request)
    event = WebhookEvent.objects.get(entry_id=result.entry.id, type="wallet.ledger_entry.created")
    assert request.method == "POST"
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event.id
    assert set(body) == {"business_id", "type", "timestamp", "data"}
    assert body["business_id"] == customer.business_id
    assert body["type"] == "wallet.ledger_entry.created"
    assert datetime.datetime.fromisoformat(body["timestamp"]) == event.created_at
    assert body["timestamp"].endswith("Z")
    data = dict(body["data"])
    assert data.pop("payload_type") == "CustomerWalletTransaction"
    shown = api.get(f"/customers/{customer.id}/wallets/ledger-entries/{result.entry.id}")
    assert shown.status_code == 200, shown.content
    assert data == shown.json()
    assert data["reversed_amount"] == 0
    assert data["expired_amount"] is None
    # Compact JSON, exactly the stored payload.
    assert request.text == event.payload == json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    delivered = the_delivery()
    assert delivered.status == "delivered"
    assert delivered.attempts == 1
    assert delivered.last_status_code == 200
    [attempt] = WebhookAttempt.objects.all()
    assert attempt.status_code == 200
    assert attempt.response_excerpt == "ok"
    assert attempt.trigger == "schedule"
    assert attempt.error == ""


def test_endpoint_headers_are_sent_and_filters_are_respected(business, receiver, customer, drain):
    wanted = endpoints.endpoint_create(business_id=business.id, url=receiver.url, headers={"X-Team": "billing"},
                                       filter_types=["wallet.hold.created"])
    credit(customer, 500)
    ledger.create_hold(business_id=business.id, customer_id=customer.id, currency="USD", amount=200,
                       actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(days=1))
    drain(lambda: WebhookEvent.objects.filter(dispatched_at__isnull=True).count() == 0
          and not WebhookDelivery.objects.filter(status="pending").exists())
    [request] = receiver.requests
    body = verify(wanted.secret, request)
    assert body["type"] == "wallet.hold.created"
    assert request.headers["x-team"] == "billing"
    assert body["data"]["payload_type"] == "WalletHold"
    assert body["data"]["status"] == "active"
    assert body["data"]["amount"] == 200


def test_hold_events_carry_the_status_they_had_then(business, receiver, customer, drain, api):
    endpoint = endpoints.endpoint_create(business_id=business.id, url=receiver.url,
                                         filter_types=["wallet.hold.created", "wallet.hold.captured"])
    credit(customer, 1000)
    held = ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=300,
                              actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(days=1))
    hold_id = held.hold.id
    ledger.capture_hold(business_id=customer.business_id, customer_id=customer.id, hold_id=hold_id,
                        actor=Actor.command("test"), amount=120)
    requests = drain(lambda: len(receiver.requests) >= 2 and receiver.requests)
    bodies = {verify(endpoint.secret, r)["type"]: json.loads(r.body) for r in requests}
    created, captured = bodies["wallet.hold.created"]["data"], bodies["wallet.hold.captured"]["data"]
    assert created["status"] == "active"
    assert created["captured_amount"] == 0
    assert captured["status"] == "captured"
    assert captured["captured_amount"] == 120
    now_shown = api.get(f"/customers/{customer.id}/wallets/holds/{hold_id}").json()
    for key in ("id", "customer_id", "currency", "amount", "expires_at", "created_at"):
        assert created[key] == now_shown[key]


def test_retries_follow_the_schedule_with_the_same_webhook_id(endpoint, receiver, customer, drain):
    receiver.script(500, (503, "busy"), 200)
    credit(customer)
    drain(lambda: the_delivery().status == "delivered")
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for request in requests:
        verify(endpoint.secret, request)
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(requests)]
    assert 0.3 <= gaps[0] < 0.3 + 1.5
    assert 0.6 <= gaps[1] < 0.6 + 1.5
    attempts = list(WebhookAttempt.objects.order_by("number"))
    assert [(a.number, a.status_code, a.trigger) for a in attempts] == [
        (1, 500, "schedule"), (2, 503, "schedule"), (3, 200, "schedule")]
    assert attempts[1].response_excerpt == "busy"
    assert the_delivery().attempts == 3
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # cleared by the success


def test_a_410_disables_the_endpoint_and_fails_the_delivery(endpoint, receiver, customer, drain):
    receiver.script(410)
    credit(customer)
    drain(lambda: the_delivery().status == "failed")
    endpoint.refresh_from_db()
    assert endpoint.disabled
    assert endpoint.disabled_reason == "gone"
    assert endpoint.disabled_at is not None
    credit(customer)  # the endpoint is disabled: no new event at all, nothing sent
    drain()
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.count() == 1


def test_a_timeout_is_a_failed_attempt_and_is_retried(endpoint, receiver, customer, drain):
    receiver.script((200, "late", 1.5))
    credit(customer)
    drain(lambda: the_delivery().status == "delivered")
    first, second = WebhookAttempt.objects.order_by("number")
    assert first.status_code is None
    assert first.error.startswith("timeout")
    assert 900 <= first.duration_ms < 1500
    assert second.status_code == 200


def test_a_spent_schedule_fails_the_delivery_and_disables_a_failing_endpoint(endpoint, receiver, customer, drain):
    receiver.default = 500
    credit(customer)
    drain(lambda: the_delivery().status == "failed")
    assert len(receiver.requests) == 3  # the first attempt and the two of the schedule
    delivered = the_delivery()
    assert delivered.attempts == 3
    assert delivered.next_attempt_at is None
    assert delivered.last_status_code == 500
    endpoint.refresh_from_db()
    assert endpoint.disabled
    assert endpoint.disabled_reason == "failing"


def test_a_recent_success_keeps_a_failing_endpoint_enabled(endpoint, receiver, customer, other_business, drain):
    """One message fails its whole schedule, but another succeeded meanwhile: the endpoint has not
    failed without a success for the schedule's duration, so it stays enabled."""
    first = credit(customer)
    failing_id = WebhookEvent.objects.get(entry_id=first.entry.id, type="wallet.ledger_entry.created").id

    def answer(request):
        return 500 if request.headers["webhook-id"] == failing_id else 200

    receiver.answer = answer
    drain(lambda: the_delivery().attempts == 2)  # the second attempt failed
    credit(customer)  # delivered at once: the run of failures ends
    drain(lambda: WebhookDelivery.objects.filter(status="pending").count() == 0, timeout=20)
    assert WebhookDelivery.objects.get(event_id=failing_id).status == "failed"
    endpoint.refresh_from_db()
    assert not endpoint.disabled
    assert endpoint.disabled_reason == ""
    assert endpoint.failing_since is not None  # the last failure began a new run


def test_replay_is_one_attempt_that_does_not_restart_the_schedule(endpoint, receiver, customer, drain):
    with override_settings(WEBHOOK_RETRY_SCHEDULE=[0.1]):
        receiver.script(500, 500)
        credit(customer)
        drain(lambda: the_delivery().status == "failed")
        endpoint.refresh_from_db()
        assert endpoint.disabled_reason == "failing"
        endpoints.endpoint_update(business_id=endpoint.business_id, endpoint_id=endpoint.id, disabled=False)
        failed = the_delivery()
        receiver.script(500)
        endpoints.delivery_replay(business_id=endpoint.business_id, delivery_id=failed.id)
        drain(lambda: the_delivery().status == "failed" and not the_delivery().replay)
        assert len(receiver.requests) == 3  # one replay attempt, no new schedule
        replayed = WebhookAttempt.objects.get(number=3)
        assert replayed.trigger == "replay"
        assert replayed.status_code == 500
        endpoint.refresh_from_db()
        assert not endpoint.disabled  # re-enabling began a new run of failures: one failure is not enough
        endpoints.delivery_replay(business_id=endpoint.business_id, delivery_id=failed.id)
        drain(lambda: the_delivery().status == "delivered")
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 4
    assert len(ids) == 1
    assert WebhookAttempt.objects.get(number=4).trigger == "replay"


def test_after_a_rotation_deliveries_verify_with_the_old_and_the_new_secret(endpoint, receiver, customer, drain):
    old = endpoint.secret
    rotated = endpoints.endpoint_rotate_secret(business_id=endpoint.business_id, endpoint_id=endpoint.id)
    assert rotated.secret != old
    credit(customer)
    drain(lambda: receiver.requests)
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split()) == 2
    verify(old, request)
    verify(rotated.secret, request)
    # Once the overlap is over, only the new secret signs.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    credit(customer)
    drain(lambda: len(receiver.requests) == 2)
    latest = receiver.requests[1]
    verify(rotated.secret, latest)
    with pytest.raises(Exception, match=r"(?i)signature"):
        verify(old, latest)


def test_a_test_event_is_sent_to_its_endpoint_alone(business, endpoint, receiver, drain):
    other = endpoints.endpoint_create(business_id=business.id, url=receiver.url + "/other")
    sent = endpoints.endpoint_send_test(business_id=business.id, endpoint_id=endpoint.id)
    drain(lambda: WebhookDelivery.objects.get(pk=sent.pk).status == "delivered")
    [request] = receiver.requests
    body = verify(endpoint.secret, request)
    assert request.path == "/hooks"
    assert body["type"] == "webhook.test"
    assert body["data"]["payload_type"] == "WebhookTest"
    assert body["data"]["endpoint_id"] == endpoint.id
    assert other.deliveries.count() == 0
    assert WebhookEvent.objects.get(type="webhook.test").payload == request.text


def test_the_rate_limit_spreads_deliveries_over_seconds(business, receiver, customer, drain):
    endpoints.endpoint_create(business_id=business.id, url=receiver.url, rate_limit=2)
    for _ in range(5):
        credit(customer, 10)
    drain(lambda: WebhookDelivery.objects.filter(status="delivered").count() == 5, timeout=10)
    times = sorted(r.received_at for r in receiver.requests)
    for i in range(len(times) - 2):  # never 3 within one second
        assert times[i + 2] - times[i] >= 0.9, times


def test_a_lapsed_lease_is_sent_again_with_the_same_id(endpoint, receiver, customer, drain, monkeypatch):
    """A worker that claimed a delivery and died: its lease lapses and the delivery goes out, same id."""
    credit(customer)
    dispatch.dispatch_batch()
    monkeypatch.setattr(delivery, "LEASE_MARGIN", datetime.timedelta(seconds=-0.7))  # lease: 0.3 s
    [claimed] = delivery.claim()  # ... and the worker is killed here
    assert delivery.claim() == []  # leased: no one else takes it
    drain(lambda: receiver.requests)
    assert receiver.requests[0].headers["webhook-id"] == claimed.event_id
    assert the_delivery().status == "delivered"


def test_the_pass_schedules_itself_for_the_next_retry(endpoint, receiver, customer):
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from wallets.webhooks import pump

    receiver.script(500)
    credit(customer)
    DBTaskResult.objects.all().delete()
    counts = pump.run()
    assert counts["attempted"] == 1
    waiting = DBTaskResult.objects.get(status=TaskResultStatus.READY, task_path="wallets.tasks.deliver_webhooks")
    assert waiting.run_after == the_delivery().next_attempt_at


@pytest.mark.skipif(connection.vendor == "sqlite",
                    reason="SQLite's in-memory test database is one connection: two passes cannot overlap there")
def test_two_passes_side_by_side_send_each_delivery_once(endpoint, receiver, customer):
    """Two workers' passes at once: the fan-out and the claims skip what the other holds (SKIP LOCKED),
    so each event is dispatched once and each delivery attempted once."""
    from wallets.webhooks import pump

    receiver.delay = 0.01
    for _ in range(60):
        credit(customer, 10)
    errors: list[BaseException] = []

    def one_pass() -> None:
        try:
            pump.run(budget_s=10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert WebhookDelivery.objects.filter(status="delivered").count() == 60
    assert WebhookAttempt.objects.count() == 60
    assert len(receiver.requests) == 60
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 60
