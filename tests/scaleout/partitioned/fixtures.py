"""Fixtures that run tests on the partitioned layout (``layout.py``, docs/partitions.md).

``partitioned_database`` copies the migrated test database (``CREATE DATABASE … TEMPLATE``), converts
the copy, and points every connection Django makes (this thread's and the ones test threads open)
at it until the fixture ends; then the test database is the plain one again, for the tests that
follow in the same run. The shards live in ``shard_cluster``, a private PostgreSQL cluster
(``tests/support/postgres.py``) started once per test session.

``business`` is stored on a foreign partition (a shard) and ``other_business`` on a local one, so
each test that uses both crosses nodes; ``business_on`` places any other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections
from psycopg import sql

from tests.scaleout.partitioned import layout
from tests.support.postgres import PrivatePostgres
from wallets import ids
from wallets.models import Business

#: Where ``business`` and ``other_business`` are stored: a shard's partition, and a local one.
REMOTE_REMAINDER = next(r for r in range(layout.MODULUS) if r not in layout.LOCAL)
LOCAL_REMAINDER = layout.LOCAL[0]


def _connect(dbname: str, settings: dict) -> psycopg.Connection:
    return psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=int(settings["PORT"] or 5432),
                           user=settings["USER"] or "postgres", dbname=dbname, autocommit=True)


@contextlib.contextmanager
def partitioned_copy(cluster: PrivatePostgres) -> Iterator[layout.Layout]:
    if connection.vendor != "postgresql":
        pytest.fail("the partitioned layout is PostgreSQL's: set DATABASE_URL=postgres://...")
    settings = connection.settings_dict
    source = settings["NAME"]
    target = f"{source}_partitioned"
    connections.close_all()
    with _connect("postgres", settings) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(target), sql.Identifier(source)))
    with _connect(target, settings) as conn:
        converted = layout.apply(conn, cluster.connect, host="127.0.0.1", port=cluster.port)
    aliases = [alias for alias in connections if connections.settings[alias]["NAME"] == source]
    for alias in aliases:
        connections.settings[alias]["NAME"] = target
    try:
        yield converted
    finally:
        connections.close_all()
        for alias in aliases:
            connections.settings[alias]["NAME"] = source
        with _connect("postgres", settings) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))


@pytest.fixture(scope="session")
def shard_cluster() -> Iterator[PrivatePostgres]:
    """The second PostgreSQL cluster: the shards' databases."""
    with PrivatePostgres(prefix="wallets-shards-") as cluster:
        yield cluster


def remainder_of(business_id: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r FROM generate_series(0, %s - 1) AS r "
            "WHERE satisfies_hash_partition('wallets_wallet'::regclass, %s, r, %s::varchar)",
            [layout.MODULUS, layout.MODULUS, business_id],
        )
        return cursor.fetchone()[0]


def business_on(remainder: int, *, name: str) -> Business:
    """A new business whose rows the layout stores in partition ``remainder``."""
    while True:
        candidate = ids.business_id()
        if remainder_of(candidate) == remainder:
            return Business.objects.create(id=candidate, name=name)


@pytest.fixture
def business(db):
    return business_on(REMOTE_REMAINDER, name="Acme")


@pytest.fixture
def other_business(db):
    return business_on(LOCAL_REMAINDER, name="Globex")


@pytest.fixture(scope="session")
def partitioned_session(django_db_setup, django_db_blocker, shard_cluster) -> Iterator[layout.Layout]:
    """Every test of the session on the layout (``WALLETS_TEST_PARTITIONED=1``, tests/conftest.py)."""
    with django_db_blocker.unblock(), partitioned_copy(shard_cluster) as converted:
        yield converted


@pytest.fixture(scope="module")
def partitioned_module(django_db_setup, django_db_blocker, shard_cluster) -> Iterator[layout.Layout]:
    """Every test of a module on the layout (tests/scaleout/partitioned/conftest.py)."""
    with django_db_blocker.unblock(), partitioned_copy(shard_cluster) as converted:
        yield converted
