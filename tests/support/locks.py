"""Seeing, from a test, that another session of the test database waits on a lock (PostgreSQL)."""

import time

from django.db import connection


def sessions_waiting_on_a_lock(statement_like: str = "%") -> int:
    """Other sessions of this database waiting on a lock, whose statement matches ``statement_like``
    (ILIKE). Read afresh: within a transaction pg_stat_activity is otherwise a snapshot."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid() AND query ILIKE %s",
            [statement_like],
        )
        return cursor.fetchone()[0]


def wait_for_a_lock_wait(statement_like: str = "%", *, what: str, timeout: float = 20) -> None:
    """Until some other session waits on a lock (see ``sessions_waiting_on_a_lock``)."""
    deadline = time.monotonic() + timeout
    while not sessions_waiting_on_a_lock(statement_like):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never waited on a lock")
        time.sleep(0.02)
