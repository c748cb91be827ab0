"""The project's raw SQL, all of it: the posting path's statements, and the few reads the ORM cannot
say well (the reconciliation's passes, a loose index scan, the health check's ping). Every statement
is built once (per database vendor where they differ), from the models' metadata.

Why raw SQL here: the ORM compiles a statement on every call, and on the posting path that time is
spent holding a wallet's row lock, which every other posting to a hot wallet queues behind. The
texts are made once (``functools.cache``); identifiers come from the models (quoted) and every value
is a parameter.

Round trips: a single posting is ``lock`` (the wallet row, the idempotency key's earlier entry and the
posting API key's state in the same statement) and ``insert`` (the entry; the database's trigger
applies it to the wallet, see migration 0009). A batch is ``lock_many``, ``used_keys`` and one ``COPY``
(PostgreSQL) or one multi-row ``INSERT`` (SQLite) per chunk.

Locking rule (docs/architecture.md): every row lock on a wallet is ``FOR NO KEY UPDATE``: postings
never change a key, and the weaker lock does not block the ``FOR KEY SHARE`` that inserting an entry
(a foreign key to the wallet) takes. Several wallets are locked in ascending id order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from wallets.models import ApiKey, CurrencyPolicy, LedgerEntry, Wallet, WebhookEndpoint, WebhookEvent

#: Columns of the idempotency key's earlier entry that the lock statement reads.
#: (In the model's field order: ``Model.from_db`` reads a partial row in that order.)
PRIOR_COLUMNS = (
    "id", "currency", "amount", "is_credit", "event_type", "reason", "reference_object_id", "after_balance",
    "created_at", "expires_at",
)
WALLET_COLUMNS = (
    "id",
    "balance",
    "entry_count",
    "created_at",
    "held_balance",
    "granted_balance",
    "next_grant_expiry_at",
    "next_hold_expiry_at",
    "updated_at",
)
#: After the wallet's columns, every lock statement reads what its events need, in the same round
#: trip: whether the business has an enabled webhook endpoint (no endpoint: no events are written),
#: and its low-balance threshold for the wallet's currency (``NULL``: the default).
ALERT_COLUMNS = ("webhooks", "low_balance_below")
#: The single-wallet lock statements then read the posting API key's state (``KEY_STATE_OK``,
#: ``KEY_STATE_READ_ONLY``, ``KEY_STATE_REVOKED``; ``NULL`` for no key or a deleted one): the
#: per-process key cache of ``wallets.services.api_keys`` is confirmed in the posting's own statement,
#: so a revoked key is refused at once with no round trip of its own. Its parameter comes first.
KEY_STATE_OK, KEY_STATE_READ_ONLY, KEY_STATE_REVOKED = "ok", "read_only", "revoked"


def connection() -> BaseDatabaseWrapper:
    return connections[router.db_for_write(LedgerEntry)]


@dataclass(frozen=True, slots=True)
class Statements:
    vendor: str
    lock: str
    lock_with_key: str
    insert: str
    insert_fields: tuple[Any, ...]
    lock_many: str
    used_keys: str
    copy: str
    #: A key's state alone, for a wallet's first posting (no wallet row to lock yet). Parameters: the
    #: key's id and business.
    key_state: str


@functools.cache
def statements(vendor: str) -> Statements:
    postgres = vendor == "postgresql"
    q = connection().ops.quote_name
    w, e = Wallet._meta, LedgerEntry._meta
    wt, et = q(w.db_table), q(e.db_table)

    def wc(name: str) -> str:
        return "w." + q(column(Wallet, name))

    def ec(name: str, alias: str = "p") -> str:
        return f"{alias}." + q(column(LedgerEntry, name))

    lock_clause = " FOR NO KEY UPDATE OF w" if postgres else ""
    h, cp = WebhookEndpoint._meta, CurrencyPolicy._meta
    hc = functools.partial(column, WebhookEndpoint)
    pc = functools.partial(column, CurrencyPolicy)
    alerts = (
        f"EXISTS (SELECT 1 FROM {q(h.db_table)} h WHERE h.{q(hc('business'))} = {wc('business')} "  # noqa: S608
        f"AND h.{q(hc('disabled'))} = {'false' if postgres else '0'}), "
        f"(SELECT c.{q(pc('low_balance_below'))} FROM {q(cp.db_table)} c "
        f"WHERE c.{q(pc('business'))} = {wc('business')} AND c.{q(pc('currency'))} = {wc('currency')})"
    )
    wallet_select = ", ".join(wc(name) for name in WALLET_COLUMNS) + ", " + alerts
    k = ApiKey._meta
    kc = functools.partial(column, ApiKey)
    state_of_key = (f"CASE WHEN k.{q(kc('revoked_at'))} IS NOT NULL THEN '{KEY_STATE_REVOKED}' "
                    f"WHEN k.{q(kc('read_only'))} THEN '{KEY_STATE_READ_ONLY}' ELSE '{KEY_STATE_OK}' END")
    key_state = (f"(SELECT {state_of_key} FROM {q(k.db_table)} k WHERE k.{q(kc('id'))} = %s "  # noqa: S608
                 f"AND k.{q(kc('business'))} = {wc('business')})")
    single_select = f"{wallet_select}, {key_state}"
    where_wallet = f"{wc('business')} = %s AND {wc('customer')} = %s AND {wc('currency')} = %s"
    lock = f"SELECT {single_select} FROM {wt} w WHERE {where_wallet}{lock_clause}"  # noqa: S608
    # The key is unique per (business, customer): the join finds at most one earlier entry, in
    # any of the customer's wallets.
    lock_with_key = (
        f"SELECT {single_select}, {', '.join(ec(name) for name in PRIOR_COLUMNS)} "  # noqa: S608
        f"FROM {wt} w LEFT JOIN {et} p ON {ec('business')} = {wc('business')} "
        f"AND {ec('customer')} = {wc('customer')} AND {ec('idempotency_key')} = %s "
        f"AND {ec('reversal_of')} IS NULL "
        f"WHERE {where_wallet}{lock_clause}"
    )
    fields = tuple(e.concrete_fields)
    insert = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        et, ", ".join(q(db_column(f)) for f in fields), ", ".join(["%s"] * len(fields))
    )
    if postgres:
        pairs = "unnest(%s::text[], %s::text[]) AS k(customer_id, value)"
        lock_many = (
            f"SELECT {wc('customer')}, {wc('currency')}, {wallet_select} FROM {wt} w "  # noqa: S608
            f"JOIN {pairs} ON {wc('customer')} = k.customer_id AND {wc('currency')} = k.value "
            f"WHERE {wc('business')} = %s ORDER BY {wc('id')}{lock_clause}"
        )
        used_keys = (
            f"SELECT {ec('customer')}, {ec('idempotency_key')}, {ec('currency')}, {ec('amount')}, "  # noqa: S608
            f"{ec('is_credit')}, {ec('reason')}, {ec('event_type')}, {ec('reference_object_id')}, "
            f"{ec('expires_at')} FROM {et} p "
            f"JOIN {pairs} ON {ec('customer')} = k.customer_id AND {ec('idempotency_key')} = k.value "
            f"WHERE {ec('business')} = %s AND {ec('idempotency_key')} IS NOT NULL AND {ec('reversal_of')} IS NULL"
        )
    else:
        # SQLite has no arrays: the pairs travel as one JSON text, ``[[customer_id, value], …]``.
        pairs = "json_each(%s) AS k"
        first, second = "json_extract(k.value, '$[0]')", "json_extract(k.value, '$[1]')"
        lock_many = (
            f"SELECT {wc('customer')}, {wc('currency')}, {wallet_select} FROM {pairs} "  # noqa: S608
            f"JOIN {wt} w ON {wc('customer')} = {first} AND {wc('currency')} = {second} "
            f"WHERE {wc('business')} = %s ORDER BY {wc('id')}"
        )
        used_keys = (
            f"SELECT {ec('customer')}, {ec('idempotency_key')}, {ec('currency')}, {ec('amount')}, "  # noqa: S608
            f"{ec('is_credit')}, {ec('reason')}, {ec('event_type')}, {ec('reference_object_id')}, "
            f"{ec('expires_at')} FROM {pairs} "
            f"JOIN {et} p ON {ec('customer')} = {first} AND {ec('idempotency_key')} = {second} "
            f"WHERE {ec('business')} = %s AND {ec('idempotency_key')} IS NOT NULL AND {ec('reversal_of')} IS NULL"
        )
    copy = f"COPY {et} ({', '.join(q(db_column(f)) for f in fields)}) FROM STDIN"
    key_state_alone = (f"SELECT {state_of_key} FROM {q(k.db_table)} k "  # noqa: S608
                       f"WHERE k.{q(kc('id'))} = %s AND k.{q(kc('business'))} = %s")
    return Statements(vendor, lock, lock_with_key, insert, fields, lock_many, used_keys, copy, key_state_alone)


def column(model: type[Model], name: str) -> str:
    """The database column of a model's field (``customer`` -> ``customer_id``)."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    return db_column(field)


def db_column(field: Field) -> str:
    name = field.get_attname_column()[1]
    assert name is not None  # every concrete field has a column
    return name


def pair_params(vendor: str, pairs: Sequence[tuple[str, str]], business_id: str) -> list[Any]:
    """The parameters of ``lock_many`` / ``used_keys`` for ``(customer_id, value)`` pairs."""
    if vendor == "postgresql":
        return [[c for c, _ in pairs], [v for _, v in pairs], business_id]
    return [json.dumps(list(pairs)), business_id]


@functools.cache
def entry_defaults() -> dict[str, Any]:
    """The model's defaults for the entry columns a posting does not set (none callable but the id,
    which every posting sets)."""
    return {f.attname: f.get_default() for f in LedgerEntry._meta.concrete_fields if f.attname != "id"}


def insert_entry(conn: BaseDatabaseWrapper, entry: LedgerEntry, events: Sequence[WebhookEvent] = ()) -> None:
    """Insert one entry; the trigger applies it to its wallet. Its webhook ``events`` go in the
    same statement on PostgreSQL (a data-modifying ``WITH``: no extra round trip inside the lock);
    SQLite, in-process, takes a second one."""
    fields = statements(conn.vendor).insert_fields
    params = [f.get_db_prep_save(getattr(entry, f.attname), conn) for f in fields]
    with conn.cursor() as cursor:
        if events and conn.vendor == "postgresql":
            cursor.execute(_insert_entry_and_events(conn.vendor, len(events)), params + _event_params(conn, events))
        else:
            cursor.execute(statements(conn.vendor).insert, params)
            if events:
                cursor.execute(_insert_events(conn.vendor, len(events)), _event_params(conn, events))
    entry._state.adding = False
    entry._state.db = conn.alias


def insert_events(conn: BaseDatabaseWrapper, events: Sequence[WebhookEvent], chunk: int = 500) -> None:
    """Insert webhook events (the outbox), ``chunk`` rows a statement."""
    with conn.cursor() as cursor:
        for first in range(0, len(events), chunk):
            part = events[first : first + chunk]
            cursor.execute(_insert_events(conn.vendor, len(part)), _event_params(conn, part))


def _event_fields() -> tuple[Any, ...]:
    return tuple(WebhookEvent._meta.concrete_fields)


def _event_params(conn: BaseDatabaseWrapper, events: Sequence[WebhookEvent]) -> list[Any]:
    return [f.get_db_prep_save(getattr(event, f.attname), conn) for event in events for f in _event_fields()]


@functools.cache
def _insert_events(vendor: str, count: int) -> str:
    q = connection().ops.quote_name
    fields = _event_fields()
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return "INSERT INTO {} ({}) VALUES {}".format(  # noqa: S608
        q(WebhookEvent._meta.db_table), ", ".join(q(db_column(f)) for f in fields), ", ".join([row] * count))


@functools.cache
def _insert_entry_and_events(vendor: str, count: int) -> str:
    return f"WITH entry AS ({statements(vendor).insert}) {_insert_events(vendor, count)}"


def insert_rows(conn: BaseDatabaseWrapper, rows: Sequence[dict[str, Any]]) -> None:
    """Insert entries given as column values (attribute names), in their order; PostgreSQL's
    statement trigger checks and applies them as a set, SQLite's row trigger one by one in order."""
    sql = statements(conn.vendor)
    fields = sql.insert_fields
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            # COPY is the fastest insert PostgreSQL has; constraints and triggers apply as usual.
            # Plain values go as they are; JSON is adapted by its field.
            prepared = [(f.attname, f if f.get_internal_type() == "JSONField" else None) for f in fields]
            with conn.wrap_database_errors, cursor.cursor.copy(sql.copy) as copy:  # psycopg's errors -> Django's
                for row in rows:
                    copy.write_row(
                        [row[name] if f is None else f.get_db_prep_save(row[name], conn) for name, f in prepared]
                    )
        else:
            cursor.executemany(
                sql.insert, [[f.get_db_prep_save(row[f.attname], conn) for f in sql.insert_fields] for row in rows]
            )


def store_event_payloads(
    conn: BaseDatabaseWrapper, payloads: Sequence[tuple[str, str]], dispatched_at: Any
) -> None:
    """The webhook fan-out's write: each event's rendered payload, and its dispatch time, in one
    statement (``bulk_update``'s CASE over hundreds of rows cost more than the rest of the fan-out)."""
    if not payloads:
        return
    table = conn.ops.quote_name(WebhookEvent._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(payloads))
    statement = (f"WITH v(id, payload) AS (VALUES {values}) "  # noqa: S608 - placeholders and the model's table
                 f"UPDATE {table} SET payload = (SELECT v.payload FROM v WHERE v.id = {table}.id), "
                 f"dispatched_at = %s WHERE id IN (SELECT v.id FROM v)")
    with conn.cursor() as cursor:
        cursor.execute(statement, [value for pair in payloads for value in pair] + [dispatched_at])


# --- Reads the ORM cannot say well ----------------------------------------------------------------

#: The health check's round trip.
PING = "SELECT 1"


def _signed(alias: str) -> str:
    return f"CASE WHEN {alias}.is_credit THEN {alias}.amount ELSE -{alias}.amount END"


@dataclass(frozen=True, slots=True)
class ReconcileStatements:
    """The three passes of ``wallets.selectors.reconcile.ledger_drift``, each one pass over the tables
    (window functions; PostgreSQL and SQLite). Parameters: the business id where ``scoped`` (twice
    for ``wallet_totals``), then the row limit."""

    wallet_totals: str
    entry_chain: str
    duplicate_keys: str
    #: Holds, grants, draws and reversals; the business id once per ``%s`` before the limit
    #: (``holds_and_grants_scopes`` of them).
    holds_and_grants: str
    holds_and_grants_scopes: int


@functools.cache
def reconcile_statements(*, scoped: bool) -> ReconcileStatements:
    w, e = Wallet._meta.db_table, LedgerEntry._meta.db_table
    entry_scope = " AND e.business_id = %s" if scoped else ""
    wallet_scope = " AND w.business_id = %s" if scoped else ""
    wallet_totals = f"""
        SELECT w.id, w.balance, w.entry_count, COALESCE(s.total, 0), COALESCE(s.n, 0)
        FROM {w} w
        LEFT JOIN (
            SELECT e.wallet_id, SUM({_signed("e")}) AS total, COUNT(*) AS n
            FROM {e} e WHERE 1 = 1{entry_scope}
            GROUP BY e.wallet_id
        ) s ON s.wallet_id = w.id
        WHERE (w.balance <> COALESCE(s.total, 0) OR w.entry_count <> COALESCE(s.n, 0) OR w.balance < 0)
              {wallet_scope}
        ORDER BY w.id
        LIMIT %s
        """  # noqa: S608 - table names from the models; values are parameters
    entry_chain = f"""
        SELECT c.wallet_id, c.id, c.sequence, c.rn, c.n, c.amount, c.before_balance, c.after_balance,
               c.signed, c.prev_after, w.balance,
               CASE WHEN c.business_id = w.business_id AND c.customer_id = w.customer_id
                         AND c.currency = w.currency THEN 1 ELSE 0 END
        FROM (
            SELECT e.id, e.wallet_id, e.business_id, e.customer_id, e.currency, e.sequence, e.amount,
                   e.before_balance, e.after_balance, {_signed("e")} AS signed,
                   LAG(e.after_balance) OVER ordered AS prev_after,
                   ROW_NUMBER() OVER ordered AS rn,
                   COUNT(*) OVER (PARTITION BY e.business_id, e.wallet_id) AS n
            FROM {e} e WHERE 1 = 1{entry_scope}
            WINDOW ordered AS (PARTITION BY e.business_id, e.wallet_id ORDER BY e.sequence, e.id)
        ) c
        JOIN {w} w ON w.id = c.wallet_id
        WHERE c.sequence <> c.rn
           OR (c.rn = 1 AND c.before_balance <> 0)
           OR (c.rn > 1 AND c.before_balance <> c.prev_after)
           OR c.after_balance - c.before_balance <> c.signed
           OR c.amount <= 0 OR c.before_balance < 0 OR c.after_balance < 0
           OR (c.rn = c.n AND c.after_balance <> w.balance)
           OR c.business_id <> w.business_id OR c.customer_id <> w.customer_id OR c.currency <> w.currency
        ORDER BY c.wallet_id, c.rn
        LIMIT %s
        """  # noqa: S608 - table names from the models; values are parameters
    # Keys are scoped per customer and per kind of write (entries, reversals).
    duplicate_keys = f"""
        SELECT e.business_id, e.customer_id, e.idempotency_key, COUNT(*)
        FROM {e} e
        WHERE e.idempotency_key IS NOT NULL{entry_scope}
        GROUP BY e.business_id, e.customer_id, e.idempotency_key, e.reversal_of_id IS NULL
        HAVING COUNT(*) > 1
        ORDER BY e.business_id, e.customer_id, e.idempotency_key
        LIMIT %s
        """  # noqa: S608 - table names from the models; values are parameters
    holds_and_grants, scopes = _holds_and_grants(scoped)
    return ReconcileStatements(wallet_totals, entry_chain, duplicate_keys, holds_and_grants, scopes)


def _holds_and_grants(scoped: bool) -> tuple[str, int]:
    """Each row: (check, wallet id, object id, found, expected)."""
    from wallets.models import CreditGrant, GrantDraw, Hold

    w, e = Wallet._meta.db_table, LedgerEntry._meta.db_table
    h, g, d = Hold._meta.db_table, CreditGrant._meta.db_table, GrantDraw._meta.db_table

    def scope(alias: str) -> str:
        return f" AND {alias}.business_id = %s" if scoped else ""

    parts = [
        # the wallet's held counter is the sum of its active holds
        f"""SELECT 'held', w.id, NULL, w.held_balance, COALESCE(t.total, 0) FROM {w} w
            LEFT JOIN (SELECT x.wallet_id, SUM(x.amount) AS total FROM {h} x WHERE x.status = 'active'
                       GROUP BY x.wallet_id) t ON t.wallet_id = w.id
            WHERE w.held_balance <> COALESCE(t.total, 0){scope("w")}""",  # noqa: S608
        # the granted counter is the sum of the grants' remainders
        f"""SELECT 'granted', w.id, NULL, w.granted_balance, COALESCE(t.total, 0) FROM {w} w
            LEFT JOIN (SELECT x.wallet_id, SUM(x.remaining) AS total FROM {g} x GROUP BY x.wallet_id) t
                   ON t.wallet_id = w.id
            WHERE w.granted_balance <> COALESCE(t.total, 0){scope("w")}""",  # noqa: S608
        # a grant's remainder is its amount less its draws
        f"""SELECT 'grant_remaining', x.wallet_id, x.entry_id, x.remaining, x.amount - COALESCE(t.total, 0)
            FROM {g} x LEFT JOIN (SELECT y.grant_id, SUM(y.amount) AS total FROM {d} y GROUP BY y.grant_id) t
                   ON t.grant_id = x.entry_id
            WHERE x.remaining <> x.amount - COALESCE(t.total, 0){scope("x")}""",  # noqa: S608
        # a grant's expired amount is what its expiry entries took
        f"""SELECT 'grant_expired', x.wallet_id, x.entry_id, x.expired_amount, COALESCE(t.total, 0) FROM {g} x
            LEFT JOIN (SELECT y.expired_grant_id, SUM(y.amount) AS total FROM {e} y
                       WHERE y.expired_grant_id IS NOT NULL GROUP BY y.expired_grant_id) t
                   ON t.expired_grant_id = x.entry_id
            WHERE x.expired_amount <> COALESCE(t.total, 0){scope("x")}""",  # noqa: S608
        # a grant's reversed amount is what its reversals took
        f"""SELECT 'grant_reversed', x.wallet_id, x.entry_id, x.reversed_amount, COALESCE(t.total, 0) FROM {g} x
            LEFT JOIN (SELECT y.reversal_of_id, SUM(y.amount) AS total FROM {e} y
                       WHERE y.reversal_of_id IS NOT NULL GROUP BY y.reversal_of_id) t
                   ON t.reversal_of_id = x.entry_id
            WHERE x.reversed_amount <> COALESCE(t.total, 0){scope("x")}""",  # noqa: S608
        # an active hold holds at most its amount of grant money; a resolved one holds none
        f"""SELECT 'hold_draws', x.wallet_id, x.id, COALESCE(t.total, 0), x.amount FROM {h} x
            LEFT JOIN (SELECT y.hold_id, SUM(y.amount) AS total FROM {d} y WHERE y.hold_id IS NOT NULL
                       GROUP BY y.hold_id) t ON t.hold_id = x.id
            WHERE (COALESCE(t.total, 0) < 0 OR COALESCE(t.total, 0) > x.amount
                   OR (x.status <> 'active' AND COALESCE(t.total, 0) <> 0)){scope("x")}""",  # noqa: S608
        # a captured hold has one capture entry of its captured amount
        f"""SELECT 'hold_capture', x.wallet_id, x.id, COALESCE(t.total, 0), x.captured_amount FROM {h} x
            LEFT JOIN (SELECT y.hold_id, SUM(y.amount) AS total FROM {e} y WHERE y.hold_id IS NOT NULL
                       GROUP BY y.hold_id) t ON t.hold_id = x.id
            WHERE COALESCE(t.total, 0) <> x.captured_amount{scope("x")}""",  # noqa: S608
        # an entry's reversals never exceed it
        f"""SELECT 'reversals', x.wallet_id, x.id, t.total, x.amount FROM {e} x
            JOIN (SELECT y.reversal_of_id, SUM(y.amount) AS total FROM {e} y WHERE y.reversal_of_id IS NOT NULL
                  GROUP BY y.reversal_of_id) t ON t.reversal_of_id = x.id
            WHERE t.total > x.amount{scope("x")}""",  # noqa: S608
        # the expiry hint is never later than the soonest active grant's expiry
        f"""SELECT 'grant_hint', w.id, NULL, 0, 0 FROM {w} w
            WHERE EXISTS (SELECT 1 FROM {g} x WHERE x.wallet_id = w.id AND x.remaining > 0
                          AND (w.next_grant_expiry_at IS NULL OR x.expires_at < w.next_grant_expiry_at)){scope("w")}""",  # noqa: S608
        f"""SELECT 'hold_hint', w.id, NULL, 0, 0 FROM {w} w
            WHERE EXISTS (SELECT 1 FROM {h} x WHERE x.wallet_id = w.id AND x.status = 'active'
                          AND (w.next_hold_expiry_at IS NULL OR x.expires_at < w.next_hold_expiry_at)){scope("w")}""",  # noqa: S608
    ]
    statement = " UNION ALL ".join(f"SELECT * FROM ({part}) p{i}" for i, part in enumerate(parts))  # noqa: S608
    return f"{statement} LIMIT %s", len(parts) if scoped else 0


@functools.cache
def wallet_currencies_statement() -> str:
    """A business's wallet currencies by a loose index scan: one probe of the (business, currency,
    balance) index per currency (parameters: the business id, twice)."""
    table = connection().ops.quote_name(Wallet._meta.db_table)
    return (
        f"WITH RECURSIVE currencies(code) AS ("  # noqa: S608 - the table name is the model's, quoted
        f" SELECT min(currency) FROM {table} WHERE business_id = %s"
        f" UNION ALL"
        f" SELECT (SELECT min(currency) FROM {table} WHERE business_id = %s AND currency > code)"
        f" FROM currencies WHERE code IS NOT NULL"
        f") SELECT code FROM currencies WHERE code IS NOT NULL"
    )


def business_currencies_statement() -> str:
    """The currencies a business uses: its wallets' (``wallet_currencies_statement``) and its
    currency policies' (parameters: the business id, three times)."""
    policies = connection().ops.quote_name(CurrencyPolicy._meta.db_table)
    return (f"{wallet_currencies_statement()} UNION "  # noqa: S608 - the table name is the model's, quoted
            f"SELECT currency FROM {policies} WHERE business_id = %s")


def analyze_ledger_rollup() -> None:
    """Refresh the planner's statistics of analytics' rollup after a build added many rows at once
    (before autovacuum gets to it, the planner takes the new table for empty: its grouped read of a
    year then sorted 64,000 rows on disk, 276 ms, instead of hashing them, 37 ms). PostgreSQL only."""
    from wallets.models import LedgerRollup

    conn = connection()
    with conn.cursor() as cursor:
        cursor.execute(f"ANALYZE {conn.ops.quote_name(LedgerRollup._meta.db_table)}")
