"""The sharding plan as data, and the checks of it (used by ``test_shard_ready`` and ``test_sql_capture``).

Distribution column: ``business_id``. Every table of the ``wallets`` app is one of three kinds:

- distributed (hash by ``business_id``, colocated with ``wallets_customer``): the business's data;
- reference (a full copy on every node): small, read on every request, or looked up before the
  business is known;
- local (stays on the coordinator): rows that may belong to no business.

Tables of other apps (Django's auth, sessions, admin log, content types, axes' login log, the task
queue) hold no business data; they stay local to the coordinator, and ``auth_user`` becomes a
reference table because business tables point at it. ``docs/sharding.md`` has the commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import models

SHARD_KEY = "business_id"

#: table -> why it is a reference table, not distributed.
REFERENCE_TABLES = {
    "wallets_business": "the tenant list itself (its id is the distribution value); business names are unique "
                        "across businesses; tiny; every distributed table points at it",
    "wallets_exchangerate": "reference data: one rate per currency and day, shared by every business",
    "wallets_apikey": "authentication looks a key up by its hash before the business is known; few rows, "
                      "written on create and revoke only",
    "wallets_membership": "login finds a dashboard user's business by user id before the business is known; "
                          "one row per dashboard user",
}

#: table -> why it stays on the coordinator.
LOCAL_TABLES = {
    "wallets_securityevent": "the security log: business_id is NULL for events of no business (a failed login by "
                             "an unknown user), and a distribution column cannot be NULL",
}

#: Tables of other apps, by prefix: none holds business data.
OTHER_APPS = {
    "auth_": "Django's users, groups and permissions (auth_user becomes a reference table: business tables "
             "point at it)",
    "django_session": "sessions (a cache-backed store in production; keyed by a random session key)",
    "django_admin_log": "the admin's change log (the project's own record is wallets_securityevent)",
    "django_content_type": "Django's model registry",
    "django_migrations": "Django's migration history",
    "axes_": "django-axes' login-attempt log (keyed by user name and IP, before any business is known)",
    "django_tasks_database_": "the task queue: workers claim tasks across businesses (a queue scan)",
}

#: Unique keys on distributed tables that do not include business_id today, each on one random id
#: (``wallets/ids.py``: 125 random bits, no sequence), so unique across every business in practice.
#: At distribution time each becomes ``(business_id, <column>)``: docs/sharding.md, "Migration".
#: (table, columns) -> why it is not composite today.
UNIQUE_REWRITTEN_AT_DISTRIBUTION = {
    **{
        (table, ("id",)): "primary key on a random id; FKs point at it, and Django's ForeignKey cannot point at a "
                          "CompositePrimaryKey, so it becomes (business_id, id) in the distribution migration"
        for table in (
            "wallets_adjustmentrequest", "wallets_bulkcreditrun", "wallets_currencypolicy", "wallets_customer",
            "wallets_grantdraw", "wallets_hold", "wallets_ledgerentry", "wallets_ledgerrollup",
            "wallets_wallet", "wallets_walletpayment", "wallets_webhookattempt", "wallets_webhookdelivery",
            "wallets_webhookendpoint", "wallets_webhookevent",
        )
    },
    ("wallets_creditgrant", ("entry_id",)): "primary key = the one-to-one ledger entry (a random id)",
    ("wallets_walletrunway", ("wallet_id",)): "primary key = the one-to-one wallet (a random id)",
    ("wallets_adjustmentrequest", ("ledger_entry_id",)): "one-to-one to the entry that carried out the request",
    ("wallets_adjustmentrequest", ("hold_id",)): "one-to-one to the reserving hold",
    ("wallets_walletpayment", ("entry_id",)): "one-to-one to the payment's debit entry",
}


def wallets_models() -> list[type[models.Model]]:
    return [m for m in apps.get_app_config("wallets").get_models() if not m._meta.proxy]


def distributed_tables() -> set[str]:
    return {m._meta.db_table for m in wallets_models()} - set(REFERENCE_TABLES) - set(LOCAL_TABLES)


def business_tables() -> set[str]:
    """Every table whose rows belong to one business: the ones a statement must filter by business_id."""
    return distributed_tables() | {"wallets_apikey", "wallets_membership", "wallets_securityevent"}


@dataclass(frozen=True)
class UniqueKey:
    table: str
    name: str
    columns: tuple[str, ...]  # "<expr>" for an expression column


def model_unique_keys(model: type[models.Model]) -> list[UniqueKey]:
    """Every unique key Django declares on ``model``: primary key, unique fields, UniqueConstraints."""
    opts = model._meta
    keys = [UniqueKey(opts.db_table, "primary key", tuple(f.column for f in opts.pk_fields))]
    keys += [UniqueKey(opts.db_table, f"{f.name} (unique=True)", (f.column,))
             for f in opts.local_fields if f.unique and not f.primary_key]
    keys += [UniqueKey(opts.db_table, f"unique_together {fields}", tuple(opts.get_field(n).column for n in fields))
             for fields in opts.unique_together]
    for c in opts.constraints:
        if isinstance(c, models.UniqueConstraint):
            columns = tuple(opts.get_field(n).column for n in c.fields) + ("<expr>",) * len(c.expressions)
            if c.expressions:  # an expression may still name business_id, as a plain column
                columns += tuple(opts.get_field(n).column for n in _expression_field_names(c.expressions))
            keys.append(UniqueKey(opts.db_table, c.name, columns))
    return keys


def _expression_field_names(expressions) -> list[str]:
    names = []
    for e in expressions:
        if isinstance(e, models.F):
            names.append(e.name)
        elif hasattr(e, "get_source_expressions"):
            names += _expression_field_names(e.get_source_expressions())
    return names


def catalog_unique_keys(cursor, tables: set[str]) -> list[UniqueKey]:
    """Every unique index PostgreSQL has on ``tables`` (constraints, primary keys, partial indexes)."""
    cursor.execute(
        """
        SELECT c.relname, i.relname,
               array(SELECT coalesce(a.attname, '<expr>') FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                     LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.n)
        FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indisunique AND c.relname = ANY(%s)
        """,
        [sorted(tables)],
    )
    return [UniqueKey(t, name, tuple(cols)) for t, name, cols in cursor.fetchall()]


def unique_keys_without_shard_key(keys: list[UniqueKey]) -> list[UniqueKey]:
    return [k for k in keys if SHARD_KEY not in k.columns]


@dataclass(frozen=True)
class ForeignKey:
    table: str
    name: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


def catalog_foreign_keys(cursor, tables: set[str]) -> list[ForeignKey]:
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, c.confrelid::regclass::text,
               array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
               array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
        FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)
        """,
        [sorted(tables)],
    )
    rows = cursor.fetchall()
    return [ForeignKey(t, name, tuple(cols), target, tuple(tcols)) for t, name, target, cols, tcols in rows]


def primary_key_columns(cursor, table: str) -> tuple[str, ...]:
    cursor.execute(
        """
        SELECT array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o)
        FROM pg_index x WHERE x.indisprimary AND x.indrelid = %s::regclass
        """,
        [table],
    )
    row = cursor.fetchone()
    return tuple(row[0]) if row else ()


def has_not_null_shard_key(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
        [table, SHARD_KEY],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def foreign_key_problems(cursor, fks: list[ForeignKey], distributed: set[str], reference: set[str]) -> list[str]:
    """Why each FK could not be colocated under Citus (empty: every FK can be).

    Citus allows an FK from a distributed table to a reference table, and between two colocated
    distributed tables only when it includes the distribution column on both sides. A single-column
    FK ``x_id -> t(id)`` qualifies when both tables have a NOT NULL business_id and ``id`` is t's
    primary key (which becomes ``(business_id, id)``): the FK becomes
    ``(business_id, x_id) -> t(business_id, id)``.
    """
    problems = []
    for fk in fks:
        if fk.table not in distributed:
            continue
        if fk.target in reference:
            continue
        if fk.target not in distributed:
            problems.append(f"{fk.table}.{fk.name}: points at {fk.target}, neither distributed nor a reference table")
            continue
        if SHARD_KEY in fk.columns:
            i = fk.columns.index(SHARD_KEY)
            if fk.target_columns[i] != SHARD_KEY:
                problems.append(f"{fk.table}.{fk.name}: business_id does not point at {fk.target}.business_id")
            continue
        if not (has_not_null_shard_key(cursor, fk.table) and has_not_null_shard_key(cursor, fk.target)):
            problems.append(f"{fk.table}.{fk.name}: a side has no NOT NULL business_id")
        elif fk.target_columns != primary_key_columns(cursor, fk.target):
            problems.append(f"{fk.table}.{fk.name}: points at {fk.target}{fk.target_columns}, not its primary key")
    return problems


def colocated_fk_mismatches_sql(fk: ForeignKey) -> str:
    """Rows whose FK target belongs to another business (must be 0: the data is colocatable)."""
    on = " AND ".join(f'c."{a}" = t."{b}"' for a, b in zip(fk.columns, fk.target_columns, strict=True))
    return (f'SELECT count(*) FROM "{fk.table}" c JOIN "{fk.target}" t ON {on} '
            f"WHERE c.{SHARD_KEY} IS DISTINCT FROM t.{SHARD_KEY}")
