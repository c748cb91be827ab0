"""The expiry sweep's schedule (``wallets.tasks``) on the real database queue: one sweep waiting at
most, a successor enqueued before each sweep's work, the result logged and kept."""

import datetime
import logging
import os
import subprocess
import sys
import time

import pytest
from django.tasks import TaskResultStatus, task_backends
from django.utils import timezone
from django_tasks_db import DatabaseBackend

from tests.support.servers import REPO_ROOT
from wallets import ledger
from wallets.models import Wallet
from wallets.services.actors import Actor
from wallets.tasks import sweep_ensure_scheduled, sweep_expiries, sweep_pending

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_default_backend_is_the_database_queue():
    assert isinstance(task_backends["default"], DatabaseBackend)
    assert sweep_expiries.backend == "default"


def test_wallets_tasks_backend_replaces_the_backend():
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.TASKS['default']['BACKEND'])")
    env = {**os.environ, "WALLETS_TASKS_BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "django.tasks.backends.immediate.ImmediateBackend"


def test_at_most_one_sweep_waits():
    assert sweep_ensure_scheduled() is True
    assert sweep_ensure_scheduled() is False
    assert sweep_ensure_scheduled(delay=datetime.timedelta(seconds=5)) is False
    assert sweep_pending().count() == 1


def test_a_sweep_left_running_by_a_killed_worker_does_not_stop_the_chain():
    sweep_ensure_scheduled()
    sweep_pending().update(status=TaskResultStatus.RUNNING, worker_ids=["killed"])  # as a SIGKILL leaves it
    assert sweep_ensure_scheduled() is True
    assert sweep_pending().count() == 1


def test_a_sweep_enqueues_its_successor_then_expires_what_is_due(settings, caplog, customer):
    settings.WALLETS_SWEEP_INTERVAL = 30
    soon = timezone.now() + datetime.timedelta(milliseconds=200)
    ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=70,
                is_credit=True, actor=Actor.command("test"), expires_at=soon)
    ledger.create_hold(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=20,
                       actor=Actor.command("test"), expires_at=soon)
    time.sleep(0.3)
    before = timezone.now()
    with caplog.at_level(logging.INFO, logger="wallets.tasks"):
        counts = sweep_expiries.call()
    assert counts == {"grants_expired": 1, "holds_expired": 1, "wallets": 1, "runway_checked": 0, "runway_low": 0,
                      "task_results_pruned": 0, "webhook_events_pruned": 0, "bulk_runs_resumed": 0}
    assert "Expiry sweep: 1 grants and 1 holds expired in 1 wallets" in caplog.messages
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 0
    successor = sweep_pending().get()
    assert before + datetime.timedelta(seconds=30) <= successor.run_after <= timezone.now() + datetime.timedelta(
        seconds=30)


def test_a_failing_sweep_has_already_enqueued_its_successor(monkeypatch):
    def sweep_due(*, now=None, limit=500):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ledger, "sweep_due", sweep_due, raising=False)
    with pytest.raises(RuntimeError):
        sweep_expiries.call()
    assert sweep_pending().count() == 1
