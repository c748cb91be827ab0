"""A dashboard bulk credit run whose worker is SIGKILLed mid-file: a real ``python manage.py
run_worker`` (production settings, the test database on PostgreSQL) posting a confirmed upload in
small batches, killed while rows are still to post, then a second worker started.

The killed task stays RUNNING in the queue (django-tasks-db runs a task at most once); the run's
heartbeat stops, and the new worker's sweep (``WALLETS_SWEEP_INTERVAL`` = 1 s) queues the run again
once it has been still for ``WALLETS_BULK_STALL_SECONDS`` (2 s here). The new attempt runs the whole
file: the rows the killed one committed are replays of their derived keys (file hash + line).
Afterwards every row is in the ledger exactly once, the balances are the file's sums, and the run's
counts say so (posted = rows, replayed 0: every entry was made by this run, in one attempt or the
other).
"""

from __future__ import annotations

import collections
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.resilience.conftest import assert_migrated, live_database_url
from tests.support.servers import TaskWorker, wait_until
from wallets.models import BulkCreditRun, LedgerEntry, Membership, SecurityEvent, Wallet
from wallets.services import bulk_runs

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 1500
CUSTOMERS = 30
WORKER_ENV = {"WALLETS_BULK_BATCH_SIZE": "5", "WALLETS_BULK_STALL_SECONDS": "2", "WALLETS_SWEEP_INTERVAL": "1"}


def _settled(entries, quiet: float = 0.5, timeout: float = 10) -> int:
    count, since, deadline = entries.count(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = entries.count()
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return count
    pytest.fail("the ledger kept growing after the worker was killed")


def test_sigkill_mid_file_then_a_new_worker_posts_each_row_exactly_once(business, make_customer):
    assert connection.vendor == "postgresql", "the worker subprocess needs the test database on PostgreSQL"
    assert_migrated()
    customers = [make_customer(email=f"bulk{i}@example.com") for i in range(CUSTOMERS)]
    user = get_user_model().objects.create_user(username="olivia", password="x-kill-test-1")
    Membership.objects.create(user=user, business=business, role=Membership.Role.OPERATOR)
    lines = [f"{customers[i % CUSTOMERS].id},{100 + i},USD,row {i}" for i in range(ROWS)]
    data = ("customer_id,amount,currency,reason\n" + "\n".join(lines) + "\n").encode()
    expected = collections.Counter()
    for i in range(ROWS):
        expected[customers[i % CUSTOMERS].id] += 100 + i

    run, created = bulk_runs.bulk_run_upload(business_id=business.id, file_name="kill.csv", data=data, user=user)
    assert created
    assert run.preview["to_post"] == ROWS
    started: list[TaskWorker] = []

    def start() -> TaskWorker:
        worker = TaskWorker(database_url=live_database_url(), args=("--interval", "0.1"), env=WORKER_ENV)
        started.append(worker)
        return worker.start()

    entries = LedgerEntry.objects.filter(business=business)
    try:
        first = start()
        bulk_runs.bulk_run_confirm(business_id=business.id, run_id=run.pk, user=user)
        # Mid-file: some batches committed, most of the file still to post.
        wait_until(lambda: entries.count() >= ROWS // 10, timeout=60, what="a tenth of the rows", workers=started)
        first.kill()
        # A COMMIT the server had already received when the worker died still completes: the count
        # settles first (the backend ends with its client), then nothing may move it.
        at_kill = _settled(entries)
        assert 0 < at_kill < ROWS, f"the kill was not mid-file ({at_kill} of {ROWS} rows posted)"
        killed = BulkCreditRun.objects.get(pk=run.pk)
        assert killed.status == BulkCreditRun.Status.RUNNING
        assert killed.attempts == 1
        time.sleep(1)
        assert entries.count() == at_kill, "the killed worker still posts"
        start()
        wait_until(lambda: BulkCreditRun.objects.filter(pk=run.pk, status=BulkCreditRun.Status.FINISHED).exists(),
                   timeout=120, what="the resumed run's end", workers=started)
    finally:
        for worker in started:
            worker.remove()

    run.refresh_from_db()
    # Exactly once: one entry per line, each under its derived key; the balances are the file's sums.
    keys = collections.Counter(entries.values_list("idempotency_key", flat=True))
    assert len(keys) == ROWS
    assert set(keys.values()) == {1}
    assert keys == collections.Counter(f"bulk:{run.digest[:16]}:{line}" for line in range(2, ROWS + 2))
    balances = dict(Wallet.objects.filter(business=business, currency="USD").values_list("customer_id", "balance"))
    assert balances == dict(expected)
    # The run tells the truth about it: resumed once, every row posted by it, none twice.
    assert run.attempts == 2
    assert (run.posted, run.replayed, run.refused, run.rows_done) == (ROWS, 0, 0, ROWS)
    assert run.result["credited"] == {"USD": sum(expected.values())}
    finished = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.BULK_CREDIT_FINISHED, business=business)
    assert finished.count() == 1
    print(f"bulk kill: {ROWS} rows, SIGKILL after {at_kill} posted, resumed by the sweep; every row once")
