"""The ledger's invariants as SQL, checkable on any DB-API cursor (Django's or psycopg's).

Run inside one REPEATABLE READ transaction (``snapshot_violations``) every query sees the same
snapshot, so a reader running it concurrently with writers checks the books *at that read*.
"""

from __future__ import annotations

# Each query returns the offending rows; an empty result means the invariant holds.
INVARIANT_QUERIES: dict[str, str] = {
    "balance equals the sum of its entries, entry_count their number, never negative": """
        SELECT w.id, w.balance, w.entry_count,
               COALESCE(SUM(CASE WHEN e.is_credit THEN e.amount ELSE -e.amount END), 0) AS total,
               COUNT(e.id) AS entries
        FROM wallets_wallet w LEFT JOIN wallets_ledgerentry e ON e.wallet_id = w.id
        GROUP BY w.id, w.balance, w.entry_count
        HAVING w.balance <> COALESCE(SUM(CASE WHEN e.is_credit THEN e.amount ELSE -e.amount END), 0)
            OR w.entry_count <> COUNT(e.id) OR w.balance < 0
    """,
    "each entry starts where the previous one ended, sequences 1..n without gaps": """
        SELECT id, wallet_id, sequence, before_balance, prev_after, prev_sequence FROM (
            SELECT e.id, e.wallet_id, e.sequence, e.before_balance, e.after_balance,
                   LAG(e.after_balance) OVER (PARTITION BY e.wallet_id ORDER BY e.sequence) AS prev_after,
                   LAG(e.sequence) OVER (PARTITION BY e.wallet_id ORDER BY e.sequence) AS prev_sequence
            FROM wallets_ledgerentry e
        ) chain
        WHERE before_balance <> COALESCE(prev_after, 0) OR sequence <> COALESCE(prev_sequence, 0) + 1
           OR after_balance < 0 OR before_balance < 0
    """,
    "amounts positive and balances agree with them": """
        SELECT id FROM wallets_ledgerentry
        WHERE amount <= 0
           OR after_balance <> before_balance + CASE WHEN is_credit THEN amount ELSE -amount END
    """,
    "an entry belongs to its wallet's business, customer and currency": """
        SELECT e.id FROM wallets_ledgerentry e JOIN wallets_wallet w ON w.id = e.wallet_id
        WHERE e.business_id <> w.business_id OR e.customer_id <> w.customer_id OR e.currency <> w.currency
    """,
    "an idempotency key is applied at most once per customer": """
        SELECT business_id, customer_id, idempotency_key, COUNT(*) FROM wallets_ledgerentry
        WHERE idempotency_key IS NOT NULL
        GROUP BY business_id, customer_id, idempotency_key HAVING COUNT(*) > 1
    """,
}


def violations(cursor) -> list[str]:
    """Every broken invariant with up to five offending rows; [] when the books are sound."""
    found = []
    for name, sql in INVARIANT_QUERIES.items():
        cursor.execute(sql)
        rows = cursor.fetchmany(5)
        if rows:
            found.append(f"{name}: {rows}")
    return found


def snapshot_violations(cursor) -> list[str]:
    """``violations`` within one REPEATABLE READ snapshot (the caller's cursor must be in autocommit
    mode, outside any transaction)."""
    cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        return violations(cursor)
    finally:
        cursor.execute("COMMIT")


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
