"""Fixtures of the resilience suite: a gunicorn server on the pytest test database.

``gunicorn_server`` is a ``live_server`` of our own (``tests/support/servers.py``): it runs
``gunicorn walletproject.wsgi`` with several worker processes against the test database that
pytest-django created (migrations applied), so the workers and the test see the same rows. It needs
``transactional_db``: the server's writes are committed, and the database is flushed after the
test; ``reference_data`` (tests/conftest.py) reloads the exchange-rate snapshot the flush removed.
"""

import logging

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import reference_data  # noqa: F401 - still importable from here (tests/security/conftest.py)
from tests.support.servers import Gunicorn, database_url


def live_database_url() -> str:
    """DATABASE_URL of the database pytest-django created for this run (test_…, per xdist worker)."""
    settings = connection.settings_dict
    return database_url(name=settings["NAME"], host=settings["HOST"] or "127.0.0.1",
                        port=int(settings["PORT"] or 5432), user=settings["USER"] or "postgres")


def assert_migrated() -> None:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    assert plan == [], f"the test database lacks migrations: {plan}"


@pytest.fixture
def gunicorn_server(reference_data):  # noqa: F811 - the fixture re-exported above
    """Start servers with ``gunicorn_server(workers=3, env={...})``; all stop after the test."""
    if connection.vendor != "postgresql":
        pytest.fail("the resilience suite runs on PostgreSQL: set DATABASE_URL=postgres://...")
    assert_migrated()
    started: list[Gunicorn] = []

    def start(**kwargs) -> Gunicorn:
        server = Gunicorn(database_url=kwargs.pop("database_url", None) or live_database_url(), **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request drowns the report
logging.getLogger("httpcore").setLevel(logging.WARNING)
