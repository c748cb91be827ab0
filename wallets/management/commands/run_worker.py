"""``run_worker``: the background worker, django-tasks-db's worker (``db_worker``) plus the sweep's schedule.

Nothing here polls or runs tasks: django-tasks-db's ``Worker`` does (one task at a time per process;
run several processes for more). This command adds the schedule of ``wallets.tasks.sweep_expiries``:
at start it enqueues a sweep unless one is waiting, and each sweep enqueues the next
(``wallets/tasks.py`` states the invariant: at most one waiting).

Signals: SIGTERM or SIGINT while idle exits at once (status 0); during a task, the task finishes and
the worker then exits; a second signal aborts the task (it is recorded FAILED) and exits with status 1.

SIGKILL at any moment is safe, by the queue's own semantics: a worker takes a task by committing, in
one short transaction with the row locked (``SKIP LOCKED`` on PostgreSQL, an exclusive transaction on
SQLite), its status READY → RUNNING and its worker id; the result (SUCCESSFUL or FAILED) is a second
commit. So a kill before the claim commits leaves the task READY, and the next worker (this one
restarted, or another) runs it; a kill while a task runs leaves it RUNNING with the dead worker's id,
and django-tasks-db never runs it again: each task runs at most once. The sweep needs no more: it is
idempotent and its successor was enqueued before it started, so the next sweep does its work. A task
that must not be lost when killed mid-run keeps its own state in the database and is written to be
re-run (as the sweep is).
"""

from __future__ import annotations

import logging
import signal
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from wallets.ledger import sql
from wallets.management.base import WalletsCommand
from wallets.tasks import sweep_ensure_scheduled


class Command(WalletsCommand, DbWorkerCommand):
    help = """\
Run the background worker: it runs the tasks enqueued in the database task queue (Django's
django.tasks, the django-tasks-db backend), one at a time, polling every --interval seconds when
the queue is empty. Run one or more beside the web server (gunicorn); in production a separate
process, e.g. a systemd unit.

It also keeps the expiry sweep (wallets.tasks.sweep_expiries) running: every WALLETS_SWEEP_INTERVAL
seconds (default 30) the sweep expires the grants and holds that are due and that no posting has
expired yet. At start the worker enqueues a sweep unless one is waiting; each sweep enqueues the
next, so at most one is ever waiting, whatever the number of workers.

It delivers the webhooks (wallets.tasks.deliver_webhooks, woken by each posting that wrote events
and by each sweep): the signed requests to the merchants' endpoints, retried on WEBHOOK_RETRY_SCHEDULE.
A worker killed mid-delivery loses nothing: the delivery's lease lapses (WEBHOOK_TIMEOUT_S + 5 s) and
it is sent again under the same webhook-id. While the database is unreachable the worker waits for it
(retrying every second) instead of exiting.

SIGTERM or Ctrl-C: exits at once when idle, else after the running task (twice: now, the task
recorded as failed). SIGKILL is safe at any moment: a task not yet taken stays queued for the next
worker; a task killed mid-run is not run again (at most once), which the sweep, idempotent and
already followed by its successor, does not need.

Examples:
  python manage.py run_worker
  python manage.py run_worker --interval 0.5 -v 0    # poll twice a second; log warnings and failures only
  WALLETS_SWEEP_INTERVAL=60 python manage.py run_worker
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        for action in parser._actions:
            if action.dest == "reload":
                # A reloader restarts the worker mid-task: never the default, even with DEBUG on.
                action.default = False
                action.help = "Restart the worker on code changes (development only; default: off)."
            elif action.dest == "interval":
                action.help = ("Seconds between two looks at an empty queue (default: %(default)r); the sweep's "
                               "own interval is WALLETS_SWEEP_INTERVAL.")

    def configure_logging(self, verbosity: int) -> None:
        super().configure_logging(verbosity)
        if verbosity == 0:
            # Quiet, not silent: warnings and failed tasks still show (django-tasks-db's 0 hides them).
            for name in ("django.tasks", "django_tasks_db", "wallets.tasks"):
                logging.getLogger(name).setLevel(logging.WARNING)

    def handle(self, *args: Any, **options: Any) -> None:
        enqueued = sweep_ensure_scheduled()
        if options["verbosity"] > 0:
            if enqueued:
                self.stdout.write("Enqueued an expiry sweep (none was waiting).")
            self.stdout.write(f"Worker running: tasks of the database queue; the expiry sweep every "
                              f"{settings.WALLETS_SWEEP_INTERVAL:g}s. Stop with SIGTERM or Ctrl-C.")
        while True:
            try:
                super().handle(*args, **options)
                return
            except (OperationalError, InterfaceError) as exc:
                self._wait_for_database(exc)

    def _wait_for_database(self, exc: Exception) -> None:
        """The database went away (a restart, a failover): wait until it answers, then work again.
        Meanwhile no task runs, so SIGTERM or Ctrl-C exit at once."""
        logging.getLogger("wallets.tasks").warning("Database unavailable (%s); waiting for it", exc)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        while True:
            close_old_connections()
            for connection in connections.all():
                connection.close()
            try:
                with connections["default"].cursor() as cursor:
                    cursor.execute(sql.PING)
                return
            except (OperationalError, InterfaceError):
                time.sleep(1)
