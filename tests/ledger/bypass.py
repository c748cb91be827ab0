"""Writing "behind the ledger's back", for tests of what the database refuses and of the drift check.

The chain guard (migration 0009) refuses any change to a wallet's balance that comes without its
entry, so a test that must produce drift (as a bug, a restore or a manual edit with triggers off
would) switches the guard off for the statements it runs:
- PostgreSQL: ``session_replication_role = replica`` (triggers do not fire; needs a superuser, as
  the test database owner is);
- SQLite: the guard's triggers are dropped and created again from the migration's own text.
"""

import contextlib
import importlib

from django.db import connection, transaction

_guard = importlib.import_module("wallets.migrations.0009_ledger_chain_guard")


@contextlib.contextmanager
def guard_off():
    """Inside one savepoint: the guard off, the caller's statements, the guard on again. If a
    statement fails, rolling the savepoint back restores the guard as well (PostgreSQL's
    ``SET LOCAL`` and SQLite's DDL are transactional)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            yield cursor
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            for statement in _guard.SQLITE_REVERSE:
                cursor.execute(statement)
            yield cursor
            for statement in _guard.SQLITE_FORWARD:
                cursor.execute(statement)


def execute_behind_the_ledger(sql: str, params=()) -> None:
    with guard_off() as cursor:
        cursor.execute(sql, params)
