"""Background tasks (Django's ``django.tasks``), run by ``python manage.py run_worker``.

``sweep_expiries`` expires what is due and that no posting has expired yet: grants past their
``expires_at`` and holds past theirs (``wallets.ledger.sweep_due``, one short transaction per wallet,
idempotent and safe to run beside itself). It runs every ``WALLETS_SWEEP_INTERVAL`` seconds.

The schedule is a chain in the task queue itself, not a loop of our own: each sweep first enqueues
its successor (``run_after`` = now + the interval), then sweeps; ``run_worker`` calls
``sweep_ensure_scheduled`` at start, which enqueues one when none is waiting. Invariant: at most one
sweep is waiting (status READY) in the queue at any time. Both enqueue under one lock, the row lock
(``FOR NO KEY UPDATE``) on the content type of the queue's table, a row that always exists, so two
workers or a worker and a sweep never both add one (on SQLite the write transaction, taken at
``BEGIN IMMEDIATE``, serializes them anyway). A sweep that is RUNNING does not count: one orphaned by
a killed worker stays RUNNING for ever in django-tasks-db, and must not stop the chain.

Because the successor is enqueued before the sweep's work, a sweep that fails or whose worker is
killed mid-run never breaks the chain; the next sweep does the work the lost one did not (the sweep
is idempotent).

Webhooks: ``deliver_webhooks`` fans out the outbox's new events and sends the deliveries that are
due (``wallets.webhooks.pump``). A posting that wrote events wakes it after its commit
(``outbox.wake_worker``: at most every ``WAKE_EVERY`` seconds per process, with no query), and each
run that a wake started runs once more that long after (a follow-up, enqueued unless one is already
waiting), which sees whatever was committed since the wake: so a burst of postings costs a task per
process every half second, and no event waits for more than about that. A wake that is lost (the web
process killed right after its commit, a worker killed mid-run) loses nothing: each sweep wakes the
pump too, and the pump finds every undispatched event in the outbox. Retries are tasks with
``run_after`` at the delivery's next attempt.

Bulk credit: ``bulk_credit_run`` runs one confirmed dashboard upload (``wallets.services.bulk_runs``).
A worker killed mid-file leaves its run without a heartbeat; each sweep queues such runs again
(``bulk_runs_resume_stalled``), and the new attempt posts only the rows not yet in the ledger.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.tasks import TaskResultStatus, task, task_backends
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from wallets import ledger
from wallets.models import WebhookDelivery, WebhookEvent
from wallets.services import bulk_runs
from wallets.webhooks import runway

logger = logging.getLogger(__name__)


@task
def sweep_expiries() -> dict[str, int]:
    """Expire due grants and holds in every wallet; returns the counts (kept as the task's result)."""
    sweep_ensure_scheduled(delay=datetime.timedelta(seconds=settings.WALLETS_SWEEP_INTERVAL))
    result = ledger.sweep_due(now=None)
    runway_checks = runway.check_due()
    webhooks_wake()  # the catch-up: events whose wake was lost
    pruned = prune()
    bulk_resumed = bulk_runs.bulk_runs_resume_stalled()
    counts = {"grants_expired": result.grants_expired, "holds_expired": result.holds_expired,
              "wallets": result.wallets, "runway_checked": runway_checks.checked,
              "runway_low": runway_checks.episodes_started, **pruned,
              "bulk_runs_resumed": bulk_resumed}
    logger.info("Expiry sweep: %(grants_expired)d grants and %(holds_expired)d holds expired in %(wallets)d wallets",
                counts)
    return counts


@task
def deliver_webhooks(follow_up: bool = False) -> dict[str, int]:
    """Fan out the outbox's new events, then send the due deliveries: one bounded pass. A pass that
    a wake started, or that found work, runs once more ``WAKE_EVERY`` seconds later (a follow-up): a
    process wakes the worker at most that often, so events committed just after a wake are seen then."""
    from wallets.webhooks import pump
    from wallets.webhooks.outbox import WAKE_EVERY

    result = pump.run()
    if not follow_up or any(result.values()):
        webhooks_wake(at=timezone.now() + datetime.timedelta(seconds=WAKE_EVERY), follow_up=True)
    return result


@task
def bulk_credit_run(run_id: str) -> dict[str, int]:
    """Post a confirmed bulk credit upload (``wallets.services.bulk_runs.bulk_run_execute``)."""
    return bulk_runs.bulk_run_execute(run_id=run_id)


def webhooks_wake(*, at: datetime.datetime | None = None, check: bool = True, follow_up: bool = False) -> bool:
    """Make sure a ``deliver_webhooks`` runs (at ``at``, or as soon as a worker is free); returns
    whether it enqueued one. With ``check`` and the database queue, one already waiting and due by
    then is enough; otherwise (a wake from a posting, throttled per process; another backend) it
    enqueues (the pump is safe to run beside itself)."""
    if check and isinstance(task_backends[deliver_webhooks.backend], DatabaseBackend):
        waiting = DBTaskResult.objects.filter(
            status=TaskResultStatus.READY, task_path=deliver_webhooks.module_path,
            backend_name=deliver_webhooks.backend,
        )
        if at is None:
            due = Q(run_after=get_date_max()) | Q(run_after__lte=timezone.now())
        elif follow_up:
            # A follow-up must run after ``at`` (it is there for what commits until then), and soon after.
            due = Q(run_after__gte=at, run_after__lte=at + datetime.timedelta(seconds=1))
        else:
            due = Q(run_after=get_date_max()) | Q(run_after__lte=at)
        if waiting.filter(due).exists():
            return False
    deliver_webhooks.using(run_after=at).enqueue(follow_up=follow_up)
    return True


def prune(*, now: datetime.datetime | None = None, limit: int = 5000) -> dict[str, int]:
    """Forget old history (at most ``limit`` rows of each per sweep): the results of finished tasks
    after ``WALLETS_TASK_RESULT_RETENTION_HOURS``, and webhook events, with their deliveries and
    attempts, after ``WEBHOOK_RETENTION_DAYS`` once none of their deliveries is pending."""
    now = now or timezone.now()
    results_before = now - datetime.timedelta(hours=settings.WALLETS_TASK_RESULT_RETENTION_HOURS)
    old_results = list(DBTaskResult.objects.finished().filter(finished_at__lt=results_before)
                       .values_list("id", flat=True)[:limit])
    tasks_deleted = DBTaskResult.objects.filter(id__in=old_results).delete()[0] if old_results else 0
    events_before = now - datetime.timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    pending = WebhookDelivery.objects.filter(event=OuterRef("pk"), status=WebhookDelivery.Status.PENDING)
    old_events = list(WebhookEvent.objects.filter(created_at__lt=events_before, dispatched_at__isnull=False)
                      .exclude(Exists(pending)).values_list("id", flat=True)[:limit])
    events_deleted = 0
    if old_events:
        with transaction.atomic():
            events_deleted = WebhookEvent.objects.filter(id__in=old_events).delete()[1].get(
                WebhookEvent._meta.label, 0)
    return {"task_results_pruned": tasks_deleted, "webhook_events_pruned": events_deleted}


def sweep_pending() -> QuerySet[DBTaskResult]:
    """The sweeps waiting in the database queue (READY, whatever their ``run_after``)."""
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=sweep_expiries.module_path, backend_name=sweep_expiries.backend,
    )


def sweep_ensure_scheduled(*, delay: datetime.timedelta | None = None) -> bool:
    """Enqueue a sweep to run after ``delay`` (``None``: as soon as a worker is free) unless one is
    already waiting; returns whether it enqueued one.

    Only with the database backend: a backend swapped in by ``WALLETS_TASKS_BACKEND`` schedules with its
    own tools (this returns ``False``)."""
    if not isinstance(task_backends[sweep_expiries.backend], DatabaseBackend):
        return False
    with transaction.atomic(durable=True):
        ContentType.objects.get_for_model(DBTaskResult)  # creates the lock's row if it is missing
        meta = DBTaskResult._meta
        ContentType.objects.select_for_update(no_key=True).filter(app_label=meta.app_label,
                                                                  model=meta.model_name).first()
        if sweep_pending().exists():
            return False
        run_after = None if delay is None else timezone.now() + delay
        sweep_expiries.using(run_after=run_after).enqueue()
        return True
