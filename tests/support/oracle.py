"""The ledger's invariants, checked with the oracle's own SQL: the one check every resilience test
and every bench run makes of the books. Deliberately independent of the application's code (no
ORM, no reconciliation service): the subject of a test or a benchmark does not grade itself.

1. every wallet's balance equals the signed sum of its entries and its ``entry_count`` their
   number; no balance is negative;
2. a wallet's entries are numbered 1..n without gaps, and each entry's ``before_balance`` is the
   previous entry's ``after_balance`` (0 for the first); no entry's balances are negative;
3. every amount is positive and ``after_balance = before_balance ± amount``;
4. an entry belongs to its wallet's business, customer and currency;
5. no idempotency key is applied twice for one customer;
6. held and granted money: ``held_balance`` is the sum of the active holds, ``granted_balance`` the sum
   of the grants' remainders, both non-negative and together at most the balance;
7. a grant's remainder plus everything drawn from it (debits, holds, captures, reversals, its expiry)
   is its amount, and its ``expired_amount`` is what its expiry entries took;
8. expired money funds nothing: no draw on a grant at or after its ``expires_at`` but its own expiry
   (and a capture, which spends what its hold reserved before), and no expiry before it;
9. an entry's reversals go the other way and never exceed it; reversals and expiries are never reversed;
10. a hold resolves once: a captured one has exactly one capture entry, of ``captured_amount`` (at most
   the hold), any other none; its draws on grants are returned in full once it is not active.

``check`` runs on any DB-API cursor (Django's or psycopg's) or a psycopg connection. ``snapshot=True``
runs every query in one REPEATABLE READ, READ ONLY transaction (the connection must be in autocommit
mode), so a reader running concurrently with writers checks the books *at that read*. Scope: every
wallet, or one business's (``business_id``), or the wallets touched since an instant (``since``, an
index scan: cheap after a short benchmark run).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field


def _scope(business_id: str | None, since: datetime.datetime | None) -> str:
    """The wallets to check, as ``SELECT wallet_id``."""
    business = "business_id = %(bid)s" if business_id is not None else "true"
    if since is None:
        return f"SELECT id AS wallet_id FROM wallets_wallet WHERE {business}"
    return (f"SELECT wallet_id FROM wallets_ledgerentry WHERE {business} AND created_at >= %(since)s "
            f"UNION SELECT id FROM wallets_wallet WHERE {business} AND updated_at >= %(since)s")


# Each query selects the offending rows (at most five are kept) and how many there are.
INVARIANTS: dict[str, str] = {
    "balance equals the sum of its entries, entry_count their number, never negative": """
        SELECT w.id, w.balance, w.entry_count, s.total, s.n FROM wallets_wallet w
        JOIN scope ON scope.wallet_id = w.id
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(CASE WHEN e.is_credit THEN e.amount ELSE -e.amount END), 0) AS total,
                   count(*) AS n
            FROM wallets_ledgerentry e WHERE e.business_id = w.business_id AND e.wallet_id = w.id
        ) s ON true
        WHERE w.balance <> s.total OR w.entry_count <> s.n OR w.balance < 0
    """,
    "each entry starts where the previous one ended, sequences 1..n without gaps": """
        SELECT id, wallet_id, sequence, before_balance, previous_after, previous_sequence FROM (
            SELECT e.id, e.wallet_id, e.sequence, e.before_balance, e.after_balance,
                   lag(e.after_balance, 1, 0::bigint) OVER w AS previous_after,
                   lag(e.sequence, 1, 0::bigint) OVER w AS previous_sequence
            FROM wallets_ledgerentry e JOIN scope ON scope.wallet_id = e.wallet_id
            WINDOW w AS (PARTITION BY e.wallet_id ORDER BY e.sequence)
        ) chain
        WHERE before_balance <> previous_after OR sequence <> previous_sequence + 1
           OR after_balance < 0 OR before_balance < 0
    """,
    "amounts positive and balances agree with them": """
        SELECT e.id, e.amount, e.is_credit, e.before_balance, e.after_balance
        FROM wallets_ledgerentry e JOIN scope ON scope.wallet_id = e.wallet_id
        WHERE e.amount <= 0
           OR e.after_balance <> e.before_balance + CASE WHEN e.is_credit THEN e.amount ELSE -e.amount END
    """,
    "an entry belongs to its wallet's business, customer and currency": """
        SELECT e.id FROM wallets_ledgerentry e
        JOIN scope ON scope.wallet_id = e.wallet_id JOIN wallets_wallet w ON w.id = e.wallet_id
        WHERE e.business_id <> w.business_id OR e.customer_id <> w.customer_id OR e.currency <> w.currency
    """,
    "an idempotency key is applied at most once per customer": """
        SELECT business_id, customer_id, idempotency_key, count(*) FROM wallets_ledgerentry
        WHERE idempotency_key IS NOT NULL
          AND customer_id IN (SELECT w.customer_id FROM wallets_wallet w JOIN scope ON scope.wallet_id = w.id)
        GROUP BY business_id, customer_id, idempotency_key HAVING count(*) > 1
    """,
    "held is the active holds, granted the grants' remainders, held + granted <= balance": """
        SELECT w.id, w.balance, w.held_balance, h.total, w.granted_balance, g.total FROM wallets_wallet w
        JOIN scope ON scope.wallet_id = w.id
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(amount), 0) AS total FROM wallets_hold WHERE wallet_id = w.id AND status = 'active'
        ) h ON true
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(remaining), 0) AS total FROM wallets_creditgrant WHERE wallet_id = w.id
        ) g ON true
        WHERE w.held_balance < 0 OR w.granted_balance < 0 OR w.held_balance <> h.total
           OR w.granted_balance <> g.total OR w.held_balance + w.granted_balance > w.balance
    """,
    "a grant's remainder and draws add up to its amount, its expired amount to its expiry entries": """
        SELECT g.entry_id, g.amount, g.remaining, g.expired_amount, d.total, x.total FROM wallets_creditgrant g
        JOIN scope ON scope.wallet_id = g.wallet_id
        JOIN wallets_ledgerentry e ON e.id = g.entry_id
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(amount), 0) AS total FROM wallets_grantdraw WHERE grant_id = g.entry_id
        ) d ON true
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(amount), 0) AS total FROM wallets_ledgerentry WHERE expired_grant_id = g.entry_id
        ) x ON true
        WHERE g.remaining < 0 OR g.expired_amount < 0 OR g.amount <> e.amount OR NOT e.is_credit
           OR g.remaining + d.total <> g.amount OR g.expired_amount <> x.total
           OR e.expires_at IS DISTINCT FROM g.expires_at
    """,
    "expired money funds nothing, and nothing expires early": """
        SELECT d.id, d.grant_id, d.entry_id, d.hold_id, d.amount, d.created_at, g.expires_at
        FROM wallets_grantdraw d JOIN wallets_creditgrant g ON g.entry_id = d.grant_id
        JOIN scope ON scope.wallet_id = g.wallet_id
        LEFT JOIN wallets_ledgerentry e ON e.id = d.entry_id
        WHERE (d.amount > 0 AND d.created_at >= g.expires_at
               AND (e.id IS NULL OR (e.hold_id IS NULL AND e.expired_grant_id IS DISTINCT FROM d.grant_id)))
           OR (e.expired_grant_id = d.grant_id AND d.created_at < g.expires_at)
    """,
    "reversals go the other way, never exceed their entry, and are never reversed": """
        SELECT o.id, o.amount, sum(r.amount) FROM wallets_ledgerentry r
        JOIN scope ON scope.wallet_id = r.wallet_id
        JOIN wallets_ledgerentry o ON o.id = r.reversal_of_id
        WHERE r.reversal_of_id IS NOT NULL
        GROUP BY o.id, o.amount, o.is_credit, o.reversal_of_id, o.expired_grant_id, o.wallet_id, r.wallet_id
        HAVING sum(r.amount) > o.amount OR bool_or(r.is_credit = o.is_credit)
            OR o.reversal_of_id IS NOT NULL OR o.expired_grant_id IS NOT NULL OR o.wallet_id <> r.wallet_id
    """,
    "a hold resolves once: one capture entry if captured, none otherwise, its draws returned": """
        SELECT h.id, h.status, h.amount, h.captured_amount, c.n, c.total, d.total FROM wallets_hold h
        JOIN scope ON scope.wallet_id = h.wallet_id
        LEFT JOIN LATERAL (
            SELECT count(*) AS n, coalesce(sum(amount), 0) AS total FROM wallets_ledgerentry WHERE hold_id = h.id
        ) c ON true
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(amount), 0) AS total FROM wallets_grantdraw WHERE hold_id = h.id
        ) d ON true
        WHERE h.amount <= 0 OR h.captured_amount < 0 OR h.captured_amount > h.amount
           OR (h.status = 'captured' AND (c.n <> 1 OR c.total <> h.captured_amount))
           OR (h.status <> 'captured' AND c.n <> 0)
           OR d.total < 0 OR d.total > h.amount OR (h.status <> 'active' AND d.total <> 0)
    """,
}


@dataclass
class Report:
    """What ``check`` found: ``problems`` names each broken invariant with up to five offending rows,
    ``counts`` how many rows broke it."""

    scope: str
    seconds: float = 0.0
    problems: dict[str, list[tuple]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    ok: bool = True

    def messages(self) -> list[str]:
        return [f"{name}: {rows}" for name, rows in self.problems.items()]

    def as_dict(self) -> dict:
        return {"ok": self.ok, "scope": self.scope, "seconds": round(self.seconds, 3), "problems": self.counts}


def check(db, *, business_id: str | None = None, since: datetime.datetime | None = None,
          snapshot: bool = False) -> Report:
    """Every invariant over the scope; ``Report.ok`` when the books are sound."""
    started = time.perf_counter()
    cursor = db if hasattr(db, "fetchmany") else db.cursor()
    scope = _scope(business_id, since)
    params = {k: v for k, v in {"bid": business_id, "since": since}.items() if v is not None}
    report = Report(scope=("wallets touched since " + since.isoformat()) if since else
                    (f"every wallet of {business_id}" if business_id else "every wallet"))
    if snapshot:
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        if snapshot:
            cursor.execute("SET LOCAL work_mem = '256MB'")  # the chain's sort over a million entries
        for name, sql in INVARIANTS.items():
            cursor.execute(
                f"WITH scope AS ({scope}) SELECT *, count(*) OVER () FROM ({sql}) bad LIMIT 5", params)
            rows = cursor.fetchall()
            if rows:
                report.problems[name] = [tuple(row[:-1]) for row in rows]
                report.counts[name] = int(rows[0][-1])
    finally:
        if snapshot:
            cursor.execute("COMMIT")
    report.ok = not report.problems
    report.seconds = time.perf_counter() - started
    return report


def violations(cursor) -> list[str]:
    """Every broken invariant over every wallet, with up to five offending rows; [] when sound."""
    return check(cursor).messages()


def snapshot_violations(cursor) -> list[str]:
    """``violations`` within one REPEATABLE READ snapshot (the cursor's connection in autocommit)."""
    return check(cursor, snapshot=True).messages()


# --- Reads the resilience tests compare with what their clients were told ----------------------


def ledger_rows(cursor) -> list[dict]:
    """Every entry, with what the bank checks need."""
    cursor.execute(
        "SELECT e.reason, e.idempotency_key, e.customer_id, e.currency, e.amount, e.is_credit, e.after_balance "
        "FROM wallets_ledgerentry e"
    )
    names = ["reason", "idempotency_key", "customer_id", "currency", "amount", "is_credit", "after_balance"]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def wallet_balances(cursor) -> dict[tuple[str, str], int]:
    cursor.execute("SELECT customer_id, currency, balance FROM wallets_wallet")
    return {(customer, currency): balance for customer, currency, balance in cursor.fetchall()}


def stuck_transactions(cursor, dbname: str) -> list[tuple]:
    """Sessions of the database holding a transaction open (a stuck lock would show here)."""
    cursor.execute(
        "SELECT pid, state, now() - xact_start, query FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
        "AND state <> 'idle'",
        [dbname],
    )
    return cursor.fetchall()
