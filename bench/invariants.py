"""The ledger's invariants, checked by the harness's own SQL after every run (a run that breaks
them is void). Deliberately independent of the product's reconciliation code: the subject of a
benchmark does not grade itself.

1. every wallet's balance equals the signed sum of its entries, and its entry_count the number
   of entries, numbered 1..n without gaps;
2. every entry's before_balance is the previous entry's after_balance (0 for the first);
3. no balance is negative;
4. no idempotency key is used twice by one customer.

``since`` limits the check to the wallets touched after that instant (an index scan, so the
check after a short run is cheap); without it every wallet is checked.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field

_SCOPE_ALL = "SELECT id AS wallet_id FROM wallets_wallet"
_SCOPE_SINCE = """
    SELECT DISTINCT wallet_id FROM wallets_ledgerentry WHERE business_id = %(bid)s AND created_at >= %(since)s
    UNION SELECT id FROM wallets_wallet WHERE updated_at >= %(since)s
"""

_BALANCES = """
WITH scope AS ({scope})
SELECT count(*) FROM wallets_wallet w
JOIN scope ON scope.wallet_id = w.id
LEFT JOIN LATERAL (
    SELECT coalesce(sum(CASE WHEN e.is_credit THEN e.amount ELSE -e.amount END), 0) AS total,
           count(*) AS n, coalesce(max(e.sequence), 0) AS last
    FROM wallets_ledgerentry e WHERE e.business_id = w.business_id AND e.wallet_id = w.id
) s ON true
WHERE w.balance <> s.total OR w.entry_count <> s.n OR s.last <> s.n OR w.balance < 0
"""

_CHAIN = """
WITH scope AS ({scope})
SELECT count(*) FROM (
    SELECT e.before_balance, e.sequence,
           lag(e.after_balance, 1, 0::bigint) OVER (PARTITION BY e.wallet_id ORDER BY e.sequence) AS previous_after,
           lag(e.sequence, 1, 0::bigint) OVER (PARTITION BY e.wallet_id ORDER BY e.sequence) AS previous_sequence
    FROM wallets_ledgerentry e JOIN scope ON scope.wallet_id = e.wallet_id
) x
WHERE before_balance <> previous_after OR sequence <> previous_sequence + 1
"""

_IDEMPOTENCY = """
SELECT count(*) FROM (
    SELECT 1 FROM wallets_ledgerentry WHERE idempotency_key IS NOT NULL {since}
    GROUP BY business_id, customer_id, idempotency_key HAVING count(*) > 1
) d
"""


@dataclass
class InvariantReport:
    ok: bool
    wallets_checked: str
    seconds: float
    problems: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "scope": self.wallets_checked, "seconds": round(self.seconds, 3),
                "problems": self.problems}


def check(conn, *, business_id: str, since: datetime.datetime | None = None) -> InvariantReport:
    started = time.perf_counter()
    scope = _SCOPE_SINCE if since is not None else _SCOPE_ALL
    params = {"bid": business_id, "since": since}
    problems = {}
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '256MB'")
        problems["wallets whose balance or entry count disagrees with their entries"] = conn.execute(
            _BALANCES.format(scope=scope), params).fetchone()[0]
        problems["entries whose before_balance is not the previous after_balance"] = conn.execute(
            _CHAIN.format(scope=scope), params).fetchone()[0]
        problems["idempotency keys used twice"] = conn.execute(
            _IDEMPOTENCY.format(since="AND created_at >= %(since)s" if since else ""), params).fetchone()[0]
    bad = {k: v for k, v in problems.items() if v}
    return InvariantReport(
        ok=not bad, wallets_checked="touched since run start" if since else "all wallets",
        seconds=time.perf_counter() - started, problems=bad,
    )


def totals(conn, *, business_id: str) -> tuple[int, int]:
    """(number of entries, sum of balances) of the business: before/after a run they tell how many
    entries the run wrote, to compare with what its clients were told."""
    entries = conn.execute(
        "SELECT count(*) FROM wallets_ledgerentry WHERE business_id = %s", [business_id]).fetchone()[0]
    balance = conn.execute(
        "SELECT coalesce(sum(balance), 0) FROM wallets_wallet WHERE business_id = %s", [business_id]).fetchone()[0]
    return entries, int(balance)
