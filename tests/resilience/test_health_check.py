"""The connection health check (``walletproject/db/postgresql``): a quiet, healthy connection is known
usable without a statement; one that PostgreSQL ended is known unusable, and Django reconnects."""

import time

import pytest
from django.db import connection, connections

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's connections"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def own():
    """A connection of its own, outside any transaction (as a gunicorn thread's between requests)."""
    conn = connections.create_connection("default")
    conn.ensure_connection()
    yield conn
    conn.close()


def _pid(conn) -> int:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() /* marker */")
        return cursor.fetchone()[0]


def _last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def test_a_quiet_connection_is_usable_without_a_round_trip(own):
    pid = _pid(own)
    assert own.is_usable() is True
    assert own.is_usable() is True
    assert _last_statement(pid) == "SELECT pg_backend_pid() /* marker */"  # no SELECT 1 reached the server


def test_a_connection_the_server_ended_is_unusable_and_replaced(own):
    pid = _pid(own)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone() == (True,)
    deadline = time.monotonic() + 2  # the server's notice and FIN arrive asynchronously
    while own.is_usable() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert own.is_usable() is False
    own.health_check_enabled, own.health_check_done = True, False
    own.close_if_health_check_failed()  # what Django does at a request's first query
    assert _pid(own) != pid
