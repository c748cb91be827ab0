"""The broker-backed queue by configuration alone: ``WALLETS_TASKS_BACKEND=django_tasks_celery.CeleryBackend``
(the optional ``celery`` extra) sends ``django.tasks`` tasks through RabbitMQ to a real
``celery -A walletproject worker`` process, and ``celery -A walletproject beat`` runs the expiry sweep.

Everything with the Celery backend runs in subprocesses with production settings (the worker, beat, and
``manage.py shell -c`` scripts that enqueue and read back); the pytest process keeps the database queue.
They share a real database: on PostgreSQL the run's test database (migrated by pytest-django), on SQLite
a migrated file (the test database is in memory, out of a subprocess' reach). The module's tests share
one worker on a RabbitMQ queue of their own (``WALLETS_CELERY_QUEUE``), deleted after them, so parallel
runs never share one.
Skipped only when RabbitMQ is not reachable (``WALLETS_TEST_CELERY_BROKER_URL``, default the local one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from kombu import Connection

from tests.resilience.conftest import assert_migrated, live_database_url
from tests.support.servers import REPO_ROOT, manage, production_env

BROKER_URL = os.environ.get("WALLETS_TEST_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_BACKEND = "django_tasks_celery.CeleryBackend"


def broker_error() -> str | None:
    try:
        with Connection(BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


_unreachable = broker_error()
pytestmark = [
    pytest.mark.skipif(_unreachable is not None, reason=f"RabbitMQ is not reachable at {BROKER_URL}: {_unreachable}"),
    pytest.mark.django_db(transaction=True),
]


def wait_until(predicate, *, timeout: float, what: str, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    pytest.fail(f"{what} did not happen within {timeout}s" + (f"\n{log()}" if log else ""))


class Celery:
    """A ``celery -A walletproject <command>`` process with the Celery backend's environment, in its
    own process group, its output in a log file."""

    def __init__(self, command: list[str], *, env: dict[str, str], directory: Path, name: str):
        self.log_path = directory / f"{name}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "walletproject", *command],
                                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, text: str, *, timeout: float = 20.0, offset: int = 0) -> str:
        """Until ``text`` is in the log after ``offset``; returns that part of the log."""
        def seen():
            if self.process.poll() is not None:
                pytest.fail(f"celery exited with {self.process.returncode}:\n{self.log()}")
            return text in self.log()[offset:]
        wait_until(seen, timeout=timeout, what=f"{text!r} in the celery log", log=self.log)
        return self.log()[offset:]

    def kill(self) -> None:
        """SIGKILL (the test is over; an unacknowledged message would go back to the queue, deleted next)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Side:
    """The Celery side of this module's tests: ``env`` (production settings, the Celery backend, a queue
    of its own, the shared database), one worker for all of them, ``beat()``, and ``shell(code)``
    (``manage.py shell -c`` with that environment; returns the JSON its last line prints)."""

    def __init__(self, database_url: str, directory: Path):
        self.directory = directory
        self.queue = f"wallets-test-{uuid.uuid4().hex[:12]}"
        self.env = production_env(database_url, WALLETS_TASKS_BACKEND=CELERY_BACKEND,
                                  WALLETS_CELERY_BROKER_URL=BROKER_URL, WALLETS_CELERY_QUEUE=self.queue,
                                  WEBHOOK_ALLOW_PRIVATE_TARGETS="true", DJANGO_LOG_LEVEL="INFO")
        self.started: list[Celery] = []
        self.worker = Celery(["worker", "--pool", "solo", "-c", "1", "--without-heartbeat", "--without-gossip",
                              "--without-mingle", "-Q", self.queue, "--hostname", f"{self.queue}@%h", "-l", "info",
                              "--include", "tests.worker.tasks"],
                             env=self.env, directory=directory, name="worker")
        self.started.append(self.worker)

    def beat(self, *, env_extra: dict[str, str]) -> Celery:
        beat = Celery(["beat", "-l", "info", "-s", str(self.directory / "beat-schedule")],
                      env={**self.env, **env_extra}, directory=self.directory, name="beat")
        self.started.append(beat)
        return beat

    def shell(self, code: str) -> dict:
        result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=REPO_ROOT,
                                env=self.env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        for process in self.started:
            process.kill()
        with Connection(BROKER_URL, connect_timeout=2) as conn:
            channel = conn.default_channel
            channel.queue_delete(self.queue)
            channel.exchange_delete(self.queue)


@pytest.fixture(scope="module")
def celery_side(django_db_setup, django_db_blocker, tmp_path_factory):
    directory = tmp_path_factory.mktemp("celery")
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            assert_migrated()
        database_url = live_database_url()
    else:
        database_url = f"sqlite:///{directory / 'wallets.sqlite3'}"
        manage("migrate", "--no-input", "-v", "0", database_url=database_url)
    side = Side(database_url, directory)
    try:
        side.worker.wait_for(" ready.", timeout=30)
        yield side
    finally:
        side.close()


def wait_for_quiet_database(*, quiet_for: float = 0.3, timeout: float = 15.0) -> None:
    """Until no other session of this database has been in a statement or a transaction for
    ``quiet_for`` seconds: the worker may still run a task a test's work enqueued (a sweep's follow-up),
    and pytest-django's flush after a transactional test (one TRUNCATE of every table, its locks taken
    table by table) would deadlock with it."""
    quiet_since: list[float] = []  # when the sessions were last seen busy-free

    def quiet() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                           "AND state IS DISTINCT FROM 'idle'")
            busy = cursor.fetchone()[0]
        if busy:
            quiet_since.clear()
        elif not quiet_since:
            quiet_since.append(time.monotonic())
        return bool(quiet_since) and time.monotonic() - quiet_since[0] >= quiet_for

    wait_until(quiet, timeout=timeout, what="the worker's database sessions going quiet")


@pytest.fixture
def celery(celery_side):
    """The module's Celery side, a beat started by the test stopped after it; on PostgreSQL, the
    worker's sessions quiet before the test's database flush."""
    before = len(celery_side.started)
    yield celery_side
    for process in celery_side.started[before:]:
        process.kill()
    del celery_side.started[before:]
    if connection.vendor == "postgresql":
        wait_for_quiet_database()


def test_a_task_enqueued_through_django_tasks_runs_once_on_the_celery_worker(celery, tmp_path):
    trace = tmp_path / "trace.txt"
    worker = celery.worker
    count = 50
    out = celery.shell(f"""
import json, time
from django.tasks import task_backends
from tests.worker.tasks import append_line
backend = type(task_backends["default"]).__module__ + "." + type(task_backends["default"]).__name__
times, ids = [], []
for i in range({count}):
    started = time.perf_counter()
    ids.append(append_line.enqueue({str(trace)!r}, f"ran {{i}}").id)
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps({{"backend": backend, "ids": ids, "ms": times, "at": time.time()}}))
""")
    assert out["backend"] == "django_tasks_celery.backend.CeleryBackend"
    wait_until(lambda: trace.exists() and len(trace.read_text().splitlines()) >= count, timeout=15,
               what=f"{count} runs of append_line", log=worker.log)
    drained_s = time.time() - out["at"]
    time.sleep(0.3)  # a second run of any of them, if there were one, would have happened by now
    assert trace.read_text().splitlines() == [f"ran {i}" for i in range(count)]
    log = worker.log()
    for result_id in out["ids"]:
        assert log.count(f"tests.worker.tasks.append_line[{result_id}] succeeded") == 1
    ms = sorted(out["ms"])
    print(f"enqueue (publish confirmed by RabbitMQ): first {out['ms'][0]:.1f} ms (connecting), then p50 "  # noqa: T201 - the figures, shown with -s
          f"{ms[len(ms) // 2]:.2f} ms, max {max(out['ms'][1:]):.1f} ms; all {count} had run at most "
          f"{drained_s * 1000:.0f} ms after the last enqueue returned (a subprocess exit included)")


GRANT_DUE_SOON = """
import datetime, json, time
from django.utils import timezone
from wallets import ledger, services
from wallets.services.actors import Actor
from wallets.services.api_keys import business_get_or_create
business = business_get_or_create(name="Celery Co")[0]
customer, _ = services.customer_create(business_id=business.id, email="cel@example.com", name="Cel")
ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=70, is_credit=True,
            actor=Actor.command("test"), expires_at=timezone.now() + datetime.timedelta(milliseconds=300))
time.sleep(0.4)
"""

def read_wallet() -> dict:
    """The test customer's USD wallet as the worker left it, and the database queue's row count."""
    from django_tasks_db.models import DBTaskResult

    from wallets.models import LedgerEntry, Wallet

    wallet = Wallet.objects.get(customer__email="cel@example.com", currency="USD")
    entries = LedgerEntry.objects.filter(wallet=wallet).order_by("created_at").values_list("is_credit", "amount")
    return {"balance": wallet.balance, "entries": [list(entry) for entry in entries],
            "database_queue_rows": DBTaskResult.objects.count()}


def wallet_after(celery) -> dict:
    """``read_wallet()`` on the worker's database: here on PostgreSQL (the same database), in a
    subprocess on SQLite (the worker's is a file, this process' is in memory)."""
    if connection.vendor == "postgresql":
        return read_wallet()
    return celery.shell("import json; from tests.worker.test_celery_backend import read_wallet; "
                        "print(json.dumps(read_wallet(), default=str))")


def test_sweep_expiries_enqueued_through_django_tasks_expires_a_due_grant_on_the_celery_worker(celery):
    worker = celery.worker
    out = celery.shell(GRANT_DUE_SOON + """
from wallets.tasks import sweep_ensure_scheduled, sweep_expiries
print(json.dumps({"id": sweep_expiries.enqueue().id, "chain": sweep_ensure_scheduled()}))
""")
    assert out["chain"] is False  # the database queue's self-rescheduling chain is off: beat schedules
    done = f"wallets.tasks.sweep_expiries[{out['id']}] succeeded"
    log = worker.wait_for(done, timeout=15)
    line = next(line for line in log.splitlines() if done in line)
    assert "'grants_expired': 1" in line, line
    after = wallet_after(celery)
    assert after["balance"] in (0, "0")
    (grant, grant_amount), (expiry, expiry_amount) = after["entries"]  # the grant, then its expiry
    assert (grant, expiry) == (True, False)
    assert grant_amount == expiry_amount != 0
    assert after["database_queue_rows"] == 0  # nothing went through the database queue


def test_beat_schedules_the_sweep_every_wallets_sweep_interval(celery):
    offset = len(celery.worker.log())
    celery.beat(env_extra={"WALLETS_SWEEP_INTERVAL": "0.5"})
    celery.shell(GRANT_DUE_SOON + "print(json.dumps({}))")
    log = celery.worker.wait_for("'grants_expired': 1", timeout=15, offset=offset)
    assert log.count("wallets.tasks.sweep_expiries[") >= 2  # beat sent sweeps, nothing enqueued one by hand
    assert wallet_after(celery)["balance"] in (0, "0")


def test_a_webhook_is_delivered_through_the_celery_worker(celery):
    """The posting's wake (after its commit, in the posting process) enqueues ``deliver_webhooks``
    through RabbitMQ; the Celery worker's pump delivers every event to a real receiver, signed."""
    from standardwebhooks import Webhook

    from tests.webhooks.receiver import Receiver

    with Receiver() as receiver:
        out = celery.shell(f"""
import json
from wallets import ledger, services
from wallets.models import WebhookEvent
from wallets.services.actors import Actor
from wallets.services.api_keys import business_get_or_create
from wallets.services.webhooks import endpoint_create
business = business_get_or_create(name="Hook Co")[0]
endpoint = endpoint_create(business_id=business.id, url={receiver.url!r})
customer, _ = services.customer_create(business_id=business.id, email="hook@example.com", name="Hook")
ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=500, is_credit=True,
            actor=Actor.command("test"))
events = list(WebhookEvent.objects.filter(business_id=business.id).values_list("id", "type"))
print(json.dumps({{"secret": endpoint.secret, "events": events}}))
""")
        assert [t for _, t in out["events"] if t == "wallet.ledger_entry.created"] == ["wallet.ledger_entry.created"]
        requests = receiver.wait_for(len(out["events"]), timeout=15)
        time.sleep(0.5)  # a second delivery of any, if there were one, would have arrived by now
        requests = list(receiver.requests)
    verifier = Webhook(out["secret"])
    assert sorted(r.headers["webhook-id"] for r in requests) == sorted(event_id for event_id, _ in out["events"])
    for request in requests:
        assert verifier.verify(request.body, request.headers)["type"] in {t for _, t in out["events"]}
    assert "wallets.tasks.deliver_webhooks[" in celery.worker.log()
