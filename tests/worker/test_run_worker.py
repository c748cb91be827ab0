"""``manage.py run_worker`` as deployed: a real subprocess (production settings) against the test
database, running real tasks from the database queue (django-tasks-db's table), killed and restarted.

The tests on the pytest test database are PostgreSQL's: on SQLite that database is in memory, out of
a subprocess' reach, so the SQLite test migrates a database file of its own.
"""

import time
from pathlib import Path

import pytest
from django.core.management import load_command_class
from django.db import connection
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tests.resilience.conftest import assert_migrated, live_database_url
from tests.support.servers import TaskWorker, manage, wait_until
from tests.worker.tasks import append_line
from wallets.tasks import sweep_expiries

on_postgres = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the worker subprocess needs the test database on a server (SQLite's is in memory): "
           "test_the_worker_runs_a_task_on_an_sqlite_file covers SQLite",
)


def status_of(result_id) -> str:
    return DBTaskResult.objects.get(id=result_id).status


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def worker(transactional_db):
    """Start workers with ``worker(args=(...), env={...})`` on the test database; all are killed after."""
    assert_migrated()
    started: list[TaskWorker] = []

    def start(**kwargs) -> TaskWorker:
        process = TaskWorker(database_url=live_database_url(), **kwargs)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.remove()


def test_help_says_what_runs_the_sweep_and_how_to_stop():
    text = load_command_class("wallets", "run_worker").create_parser("manage.py", "run_worker").format_help()
    assert "wallets.tasks.sweep_expiries" in text
    assert "every WALLETS_SWEEP_INTERVAL\nseconds (default 30)" in text
    assert "at most one is ever waiting" in text
    assert "SIGKILL is safe at any moment" in text
    assert "Examples:" in text.splitlines()
    assert "  python manage.py run_worker" in text.splitlines()


@on_postgres
def test_the_worker_runs_an_enqueued_task(worker, tmp_path):
    trace = tmp_path / "trace.txt"
    running = worker(args=("--interval", "0.1"))
    result = append_line.enqueue(str(trace), "ran")
    wait_until(lambda: status_of(result.id) == TaskResultStatus.SUCCESSFUL, what="the task's success",
               workers=[running])
    done = DBTaskResult.objects.get(id=result.id)
    assert done.return_value == "ran"
    assert len(done.worker_ids) == 1
    assert lines(trace) == ["ran"]


@on_postgres
def test_a_task_enqueued_while_the_worker_was_killed_runs_once_after_the_restart(worker, tmp_path):
    trace = tmp_path / "trace.txt"
    first = worker(args=("--interval", "0.1"))
    before = append_line.enqueue(str(trace), "before")
    wait_until(lambda: status_of(before.id) == TaskResultStatus.SUCCESSFUL, what="the first task", workers=[first])

    first.kill()  # idle: SIGKILL between two looks at the queue
    assert first.process.returncode == -9
    meanwhile = append_line.enqueue(str(trace), "meanwhile")
    time.sleep(0.5)
    assert status_of(meanwhile.id) == TaskResultStatus.READY  # nobody runs it while the worker is dead

    second = worker(args=("--interval", "0.1"))
    wait_until(lambda: status_of(meanwhile.id) == TaskResultStatus.SUCCESSFUL, what="the task after the restart",
               workers=[second])
    time.sleep(0.5)  # a second run, if there were one, would have happened by now
    assert lines(trace) == ["before", "meanwhile"]
    assert len(DBTaskResult.objects.get(id=meanwhile.id).worker_ids) == 1


@on_postgres
def test_sigterm_stops_an_idle_worker_at_once_and_cleanly(worker):
    running = worker()
    started = time.monotonic()
    assert running.stop(graceful=10) == 0, running.log_tail()
    assert time.monotonic() - started < 5
    assert "shutting down gracefully" in running.log_tail()


@on_postgres
def test_two_workers_keep_the_sweep_going_with_never_more_than_one_waiting(worker):
    sweeps = DBTaskResult.objects.filter(task_path=sweep_expiries.module_path)
    env = {"WALLETS_SWEEP_INTERVAL": "0.3"}
    first = worker(args=("--interval", "0.05"), env=env)
    second = worker(args=("--interval", "0.05"), env=env)
    waiting_seen = set()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        waiting_seen.add(sweeps.filter(status=TaskResultStatus.READY).count())
        time.sleep(0.02)
    assert max(waiting_seen) == 1, waiting_seen
    finished = sweeps.filter(status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED])
    assert finished.count() >= 3, f"{first.log_tail()}\n{second.log_tail()}"
    # Each sweep ran on one worker, once.
    assert all(len(ids) == 1 for ids in finished.values_list("worker_ids", flat=True))


def test_the_worker_runs_a_task_on_an_sqlite_file(tmp_path):
    """The embedded default (``.ci/serve``): a worker and a client process share one SQLite file."""
    database_url = f"sqlite:///{tmp_path / 'wallets.sqlite3'}"
    trace = tmp_path / "trace.txt"
    manage("migrate", "--no-input", "-v", "0", database_url=database_url)
    enqueue = f"from tests.worker.tasks import append_line; print(append_line.enqueue({str(trace)!r}, 'ran').id)"
    result_id = manage("shell", "-v", "0", "-c", enqueue, database_url=database_url).strip().splitlines()[-1]
    with TaskWorker(database_url=database_url, args=("--interval", "0.1")) as running:
        wait_until(lambda: lines(trace), what="the task's run", workers=[running])
        show = ("from django_tasks_db.models import DBTaskResult; "
                f"print(DBTaskResult.objects.get(id={result_id!r}).status)")
        wait_until(lambda: manage("shell", "-v", "0", "-c", show, database_url=database_url).split()[-1]
                   == TaskResultStatus.SUCCESSFUL, what="SUCCESSFUL in the result table", workers=[running])
    assert lines(trace) == ["ran"]
