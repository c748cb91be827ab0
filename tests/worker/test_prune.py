"""The sweep forgets old history: finished task results after a day, webhook events (with their
deliveries and attempts) after WEBHOOK_RETENTION_DAYS, never one still pending."""

import datetime

from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from wallets.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from wallets.services.webhooks import endpoint_create
from wallets.tasks import deliver_webhooks, prune

DAY = datetime.timedelta(days=1)


def test_prune_keeps_what_is_recent_or_pending(business, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    settings.WALLETS_TASK_RESULT_RETENTION_HOURS = 24
    now = timezone.now()
    old_task = deliver_webhooks.enqueue()
    recent_task = deliver_webhooks.enqueue()
    waiting_task = deliver_webhooks.enqueue()
    DBTaskResult.objects.filter(id=old_task.id).update(status=TaskResultStatus.SUCCESSFUL, finished_at=now - 2 * DAY)
    DBTaskResult.objects.filter(id=recent_task.id).update(status=TaskResultStatus.FAILED, finished_at=now - DAY / 2)
    endpoint = endpoint_create(business_id=business.id, url="https://hooks.example.com/x")

    def event(age, status):
        e = WebhookEvent.objects.create(business=business, type="wallet.ledger_entry.created", created_at=now - age,
                                        dispatched_at=now - age, payload="{}")
        d = WebhookDelivery.objects.create(business=business, event=e, endpoint=endpoint, status=status,
                                           next_attempt_at=now if status == "pending" else None)
        WebhookAttempt.objects.create(business=business, delivery=d, number=1, started_at=now - age, status_code=500)
        return e

    old_done = event(40 * DAY, "delivered")
    old_pending = event(40 * DAY, "pending")
    recent = event(5 * DAY, "failed")

    assert prune(now=now) == {"task_results_pruned": 1, "webhook_events_pruned": 1}
    assert {str(i) for i in DBTaskResult.objects.values_list("id", flat=True)} == {recent_task.id, waiting_task.id}
    assert set(WebhookEvent.objects.values_list("id", flat=True)) == {old_pending.id, recent.id}
    assert not WebhookDelivery.objects.filter(event_id=old_done.id).exists()
    assert WebhookAttempt.objects.count() == 2
