"""The multi-node rehearsal's layout (issue 14, part 4; docs/partitions.md): after the migrations,
``wallets_wallet`` and ``wallets_ledgerentry`` become ``PARTITION BY HASH (business_id)`` tables of
``MODULUS`` partitions. Remainders ``LOCAL`` stay ordinary tables in the coordinator's database;
the others are ``postgres_fdw`` foreign tables, each on its own database (a "shard") of a second
PostgreSQL cluster, where the tables carry the same columns, constraints, indexes and triggers.

Everything is read from the catalog of the migrated database (columns, ``CHECK`` constraints,
indexes, foreign keys, trigger functions), so a later migration's index or constraint follows. The
rows already in the two tables (none in a fresh test database) are copied into the new ones.

Invariants kept, and how (each an obstacle met; docs/partitions.md):
- A unique index on a partitioned table must include the partition key, and none at all can exist
  on one with foreign partitions: every unique index (the primary key on ``id`` included) is made
  per partition, on the coordinator for local partitions and on the shard for foreign ones. Every
  unique key of the two tables but the ``id`` includes ``business_id``, so per partition is global;
  ``id`` is 125 random bits (``wallets/ids.py``).
- A foreign key cannot reference a partitioned table without such an index: the keys referencing
  the two tables from elsewhere are dropped. The two tables' keys between themselves are colocated
  (a wallet and its entries share ``business_id``, hence a partition): they are made per partition
  pair, on each node. Keys to the coordinator's other tables (business, customer, hold) are kept on
  local partitions only (a shard cannot see them).
- Row triggers run where the row is stored: per local partition, and on the shard's tables, whose
  functions get ``search_path = public`` (postgres_fdw's sessions run with ``pg_catalog`` only).
- The chain guard (migration 0009) is a statement trigger with a transition table. PostgreSQL
  refuses one on a partitioned table with foreign partitions ("cannot collect transition tuples
  from child foreign tables"), and a partition's own statement triggers do not fire for an insert
  through the parent. The shards run the migration's function (each remote ``INSERT`` is a
  statement there); the local partitions run ``ROW_CHAIN_GUARD``, the same check row by row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

MODULUS = 4
LOCAL = (0, 1)
TABLES = ("wallets_wallet", "wallets_ledgerentry")
#: Migration 0009's statement trigger (with a transition table), which local partitions run row by row.
CHAIN_GUARD_TRIGGER = "ledger_entry_follows_wallet"


def shard_database(remainder: int) -> str:
    return f"wallets_shard_{remainder}"


def server_name(remainder: int) -> str:
    return f"shard_{remainder}"


def partition_name(table: str, remainder: int) -> str:
    return f"{table}_p{remainder}"


@dataclass
class Table:
    """What the catalog says about one of the two tables before the conversion."""

    name: str
    columns: list[str] = field(default_factory=list)  # "name type [NOT NULL] [DEFAULT …]"
    checks: list[tuple[str, str]] = field(default_factory=list)  # (name, definition)
    primary_key: tuple[str, str] | None = None  # (name, definition)
    unique_constraints: list[tuple[str, str]] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)  # CREATE INDEX … (not backing a constraint)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # (name, definition, referenced table)
    triggers: list[tuple[str, str]] = field(default_factory=list)  # (name, CREATE TRIGGER …)
    #: Unique indexes (constraints included) without ``business_id``, the primary key excepted.
    unique_without_partition_key: list[str] = field(default_factory=list)


@dataclass
class Referencing:
    """A foreign key from another table to one of the two (dropped by the conversion)."""

    table: str
    name: str
    definition: str


def read_table(cur: psycopg.Cursor, name: str) -> Table:
    table = Table(name)
    for column, type_, not_null, default in cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", [name]
    ).fetchall():
        table.columns.append(f'"{column}" {type_}' + (" NOT NULL" if not_null else "")
                             + (f" DEFAULT {default}" if default is not None else ""))
    for conname, contype, definition, referenced, index in cur.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid), confrelid::regclass::text, conindid "
        "FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY conname", [name]
    ).fetchall():
        if contype == "c":
            table.checks.append((conname, definition))
        elif contype == "p":
            table.primary_key = (conname, definition)
        elif contype == "u":
            table.unique_constraints.append((conname, definition))
        elif contype == "f":
            table.foreign_keys.append((conname, definition, referenced))
    table.indexes = [row[0] for row in cur.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY i.indexrelid::regclass::text", [name]
    ).fetchall()]
    table.unique_without_partition_key = [row[0] for row in cur.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = %s::regclass AND i.indisunique "
        "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid "
        "AND a.attname = 'business_id' AND a.attnum = ANY(i.indkey)) ORDER BY 1", [name]
    ).fetchall()]
    table.triggers = [(tgname, definition) for tgname, definition in cur.execute(
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
        "ORDER BY tgname", [name]
    ).fetchall()]
    return table


class UnshardableKey(Exception):
    """A unique key that the layout (and Citus) could only keep per partition."""


def check_unique_keys(tables: Iterable[Table]) -> None:
    """Refuse a unique key without ``business_id``: made per partition it would no longer be
    unique (Citus refuses one on a distributed table). The primary key on ``id`` is the one
    exception (obstacle 1 of docs/partitions.md)."""
    found = [f"{t.name}: {index}" for t in tables for index in t.unique_without_partition_key]
    if found:
        raise UnshardableKey("unique keys without business_id: " + ", ".join(found))


def referencing(cur: psycopg.Cursor, names: Iterable[str]) -> list[Referencing]:
    names = list(names)
    return [Referencing(table, conname, definition) for table, conname, definition in cur.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = ANY(%s::regclass[]) AND NOT (conrelid = ANY(%s::regclass[])) "
        "ORDER BY 1, 2", [names, names]
    ).fetchall()]


def trigger_functions(cur: psycopg.Cursor, tables: Iterable[str]) -> dict[str, str]:
    """``CREATE OR REPLACE FUNCTION`` text of every function the tables' triggers call."""
    return dict(cur.execute(
        "SELECT DISTINCT p.proname, pg_get_functiondef(p.oid) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = ANY(%s::regclass[]) AND NOT t.tgisinternal", [list(tables)]
    ).fetchall())


def _rename(definition: str, old: str, new: str) -> str:
    """A catalog definition (index, trigger) of ``old`` made for ``new``."""
    return re.sub(rf"\b(public\.)?{re.escape(old)}\b", new, definition)


def _index_for(definition: str, table: str, target: str, suffix: str) -> str:
    """``CREATE [UNIQUE] INDEX name ON public.table …`` for ``target`` (index names get ``suffix``:
    they are unique per schema)."""
    definition = re.sub(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)", lambda m: f"{m.group(1)}{m.group(2)}{suffix}",
                        definition)
    return _rename(definition, table, target)


#: The chain guard for the coordinator's local partitions: migration 0009's statement trigger, row by
#: row. PostgreSQL refuses a transition table on a partitioned table with a foreign partition
#: ("cannot collect transition tuples from child foreign tables"), and a partition's own statement
#: triggers do not fire for an insert through its parent; a row trigger on the partition does. The
#: rows of one statement are applied in the order inserted (every posting writes a wallet's entries
#: in sequence order), each checked as the statement trigger checks the first of a wallet's.
ROW_CHAIN_GUARD = """
CREATE FUNCTION wallets_ledger_entry_follows_wallet_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE wallets_wallet w
       SET balance = NEW.after_balance, entry_count = NEW.sequence, updated_at = NEW.created_at
     WHERE w.id = NEW.wallet_id AND w.business_id = NEW.business_id AND w.customer_id = NEW.customer_id
       AND w.currency = NEW.currency AND w.entry_count = NEW.sequence - 1 AND w.balance = NEW.before_balance;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger_entry_follows_wallet: entry % (sequence %, before_balance %) does not follow wallet %',
            NEW.id, NEW.sequence, NEW.before_balance, NEW.wallet_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_follows_wallet';
    END IF;
    RETURN NULL;
END;
$$"""


@dataclass
class Layout:
    """The SQL of the conversion, for the coordinator and for each shard, as run (docs/partitions.md)."""

    coordinator: list[str] = field(default_factory=list)
    shards: dict[int, list[str]] = field(default_factory=dict)
    #: Run on each shard after the coordinator's transaction has copied the rows (postgres_fdw does
    #: not carry ``session_replication_role`` over: the shard's triggers would re-apply them).
    shard_triggers: list[str] = field(default_factory=list)


def plan(cur: psycopg.Cursor, *, host: str, port: int, remote_user: str = "postgres") -> Layout:
    """The statements that convert the migrated database that ``cur`` is connected to."""
    tables = {name: read_table(cur, name) for name in TABLES}
    check_unique_keys(tables.values())
    refs = referencing(cur, TABLES)
    functions = trigger_functions(cur, TABLES)
    remotes = [r for r in range(MODULUS) if r not in LOCAL]
    layout = Layout(shards={r: [] for r in remotes})
    c = layout.coordinator

    # The shards: plain tables with the migration's names, so the trigger functions run verbatim.
    for r in remotes:
        s = layout.shards[r]
        for t in tables.values():
            s.append(_create_table(t, t.name))
        for t in tables.values():
            s += _per_partition(t, t.name, tables, suffix="", colocated_only=True, triggers=False)
    layout.shard_triggers += list(functions.values())
    # postgres_fdw's remote sessions run with search_path = pg_catalog: the functions name their
    # tables unqualified, as the migrations wrote them.
    layout.shard_triggers += [f"ALTER FUNCTION {name}() SET search_path = public" for name in functions]
    layout.shard_triggers += [definition for t in tables.values() for _, definition in t.triggers]

    c.append("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
    for r in remotes:
        c.append(f"CREATE SERVER {server_name(r)} FOREIGN DATA WRAPPER postgres_fdw OPTIONS "
                 f"(host '{host}', port '{port}', dbname '{shard_database(r)}', batch_size '100')")
        c.append(f"CREATE USER MAPPING FOR CURRENT_USER SERVER {server_name(r)} OPTIONS (user '{remote_user}')")
    for ref in refs:
        c.append(f'ALTER TABLE {ref.table} DROP CONSTRAINT "{ref.name}"')
    for t in tables.values():
        c.append(f"ALTER TABLE {t.name} RENAME TO {t.name}_unpartitioned")
    for t in tables.values():
        old = f"{t.name}_unpartitioned"
        for name, _ in t.triggers:
            c.append(f'DROP TRIGGER "{name}" ON {old}')
        # CHECK constraints on the parent: every partition has them (enforced by the shard for a
        # foreign one, where the same constraint is defined).
        columns = ",\n  ".join(t.columns + [f'CONSTRAINT "{n}" CHECK {d[len("CHECK "):]}' for n, d in t.checks])
        c.append(f"CREATE TABLE {t.name} (\n  {columns}\n) PARTITION BY HASH (business_id)")
        for r in range(MODULUS):
            bound = f"FOR VALUES WITH (MODULUS {MODULUS}, REMAINDER {r})"
            part = partition_name(t.name, r)
            if r in LOCAL:
                c.append(f"CREATE TABLE {part} PARTITION OF {t.name} {bound}")
            else:
                c.append(f"CREATE FOREIGN TABLE {part} PARTITION OF {t.name} {bound} SERVER {server_name(r)} "
                         f"OPTIONS (schema_name 'public', table_name '{t.name}')")
    c.append(ROW_CHAIN_GUARD)
    for t in tables.values():
        for r in LOCAL:
            c += _per_partition(t, partition_name(t.name, r), tables, suffix=f"_p{r}", colocated_only=False,
                                remainder=r)
    # The rows (none in a fresh test database), wallets first. Entries already applied must not be
    # applied again: no trigger runs here (replica role), nor on the shards (theirs come after).
    c.append("SET LOCAL session_replication_role = replica")
    for t in tables.values():
        c.append(f"INSERT INTO {t.name} SELECT * FROM {t.name}_unpartitioned")
    c.append("SET LOCAL session_replication_role = origin")
    for t in reversed(tables.values()):
        c.append(f"DROP TABLE {t.name}_unpartitioned")
    return layout


def _create_table(t: Table, name: str) -> str:
    parts = list(t.columns)
    if t.primary_key:
        parts.append(f'CONSTRAINT "{t.primary_key[0]}" {t.primary_key[1]}')
    parts += [f'CONSTRAINT "{n}" {d}' for n, d in t.unique_constraints + t.checks]
    return f"CREATE TABLE {name} (\n  " + ",\n  ".join(parts) + "\n)"


def _per_partition(t: Table, target: str, tables: dict[str, Table], *, suffix: str, colocated_only: bool,
                   remainder: int | None = None, triggers: bool = True) -> list[str]:
    """Indexes, keys and row triggers of ``t`` on ``target`` (a local partition, or a shard's table)."""
    out: list[str] = []
    if target != t.name:  # a local partition: its own primary key and unique constraints
        if t.primary_key:
            out.append(f'ALTER TABLE {target} ADD CONSTRAINT "{t.primary_key[0]}{suffix}" {t.primary_key[1]}')
        out += [f'ALTER TABLE {target} ADD CONSTRAINT "{n}{suffix}" {d}' for n, d in t.unique_constraints]
    out += [_index_for(d, t.name, target, suffix) for d in t.indexes]
    for name, definition, referenced in t.foreign_keys:
        key = definition
        if referenced in tables:  # colocated: the partition of the same remainder (or the shard's table)
            key = _rename(definition, referenced, referenced if remainder is None else partition_name(referenced,
                                                                                                     remainder))
        elif colocated_only:
            continue
        out.append(f'ALTER TABLE {target} ADD CONSTRAINT "{name}{suffix}" {key}')
    for name, definition in t.triggers if triggers else ():
        if "REFERENCING" in definition and target != t.name:  # a local partition: the row version
            assert name == CHAIN_GUARD_TRIGGER, f"{name}: a statement trigger the layout does not know"
            out.append(f"CREATE TRIGGER {name} AFTER INSERT ON {target} FOR EACH ROW "
                       "EXECUTE FUNCTION wallets_ledger_entry_follows_wallet_row()")
            continue
        out.append(_rename(definition, t.name, target))
    return out


def apply(conn: psycopg.Connection, shard_connect: Any, *, host: str, port: int) -> Layout:
    """Convert the database of ``conn`` (one transaction); ``shard_connect(dbname)`` connects to the
    second cluster, whose shard databases are created here. ``conn`` is in autocommit mode."""
    assert conn.autocommit, "the conversion is one transaction of its own"
    with conn.cursor() as cur:
        layout = plan(cur, host=host, port=port)
    for r, statements in layout.shards.items():
        with shard_connect("postgres") as admin:
            admin.autocommit = True
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(shard_database(r))))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(shard_database(r))))
        with shard_connect(shard_database(r)) as shard, shard.transaction():
            for statement in statements:
                shard.execute(statement)
    with conn.transaction():
        for statement in layout.coordinator:
            conn.execute(statement)
    for r in layout.shards:
        with shard_connect(shard_database(r)) as shard, shard.transaction():
            for statement in layout.shard_triggers:
                shard.execute(statement)
    return layout


def main(argv: list[str]) -> None:
    """``python -m tests.scaleout.partitioned.layout postgres://…/db [shard-port]`` prints the SQL that
    would convert that migrated database (read only: nothing is changed)."""
    url, port = argv[0], int(argv[1]) if len(argv) > 1 else 5433
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        converted = plan(cur, host="127.0.0.1", port=port)
    for title, statements in [(f"shard {r}", s) for r, s in converted.shards.items()] + [
        ("coordinator (one transaction)", converted.coordinator),
        ("every shard, after the coordinator's transaction", converted.shard_triggers),
    ]:
        print(f"-- {title}")  # noqa: T201 - the command's output
        print(";\n".join(statements) + ";\n")  # noqa: T201


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
