"""Debits on wallets with many active grants, against debits on plain wallets (figures, never
pass/fail).

Each grant wallet gets ``GRANTS_PER_WALLET`` active grants (credits with ``expires_at``, posted by
``wallets.ledger.post_many``); each plain wallet one plain credit of the same total. Then rounds of
``DEBITS_PER_ROUND`` small debits through ``wallets.ledger.post``, plain and grant wallets
interleaved (plain, grants, raw, plain, grants, raw …), one client, in-process: the cost the engine
adds for reading the grants, updating the one a debit draws from and recording the draw.

``raw`` is the baseline of the grant wallets: the same debits on wallets with the same grants, in
raw psycopg 3 on its own connection, doing the engine's work in the same statements (lock the
wallet, read its active grants soonest-expiring first, update the wallet's granted balance, insert
the entry, update each grant drawn from, insert each draw, commit), so ``grants / raw`` is the
engine's overhead on such wallets as ``B2 / B1`` is on plain ones. Statements are Django's executed
queries per posting (``CaptureQueriesContext``, BEGIN and COMMIT included), and the baseline's own
count.
"""

from __future__ import annotations

import datetime
import statistics
import time

GRANTS_PER_WALLET = 100
GRANT_AMOUNT = 10_000
DEBIT_AMOUNT = 50
CURRENCY = "USD"


def grants(run, *, wallets: int = 10, rounds: int = 3, debits_per_round: int = 100) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench import data
    from wallets import ledger
    from wallets.models import CreditGrant
    from wallets.services.actors import Actor
    from wallets.services.customers import customer_create

    actor = Actor.command("bench")
    business_id = data.BUSINESS_ID
    now = timezone.now()
    kinds: dict[str, list[str]] = {"plain": [], "grants": [], "raw": []}
    setup_started = time.perf_counter()
    for kind, customer_ids in kinds.items():
        for n in range(wallets):
            customer, _ = customer_create(business_id=business_id, email=f"bench-{kind}-{n}@example.com",
                                          name=f"bench {kind} {n}")
            customer_ids.append(customer.id)
            if kind == "plain":  # "raw" wallets get the same grants as "grants"
                postings = [ledger.Posting(customer.id, ledger.Request(CURRENCY, GRANT_AMOUNT * GRANTS_PER_WALLET,
                                                                       True, "bench plain"))]
            else:
                postings = [
                    ledger.Posting(customer.id, ledger.Request(CURRENCY, GRANT_AMOUNT, True, f"bench grant {g}"),
                                   expires_at=now + datetime.timedelta(days=30, minutes=g))
                    for g in range(GRANTS_PER_WALLET)
                ]
            ledger.post_many(business_id=business_id, postings=postings, actor=actor)
    setup_s = time.perf_counter() - setup_started
    per_round: dict[str, list[float]] = {kind: [] for kind in kinds}
    statements: dict[str, list[int]] = {kind: [] for kind in kinds}
    raw = RawGrantDebit(run.url, business_id)
    try:
        for _ in range(rounds):
            for kind, customer_ids in kinds.items():
                started = time.perf_counter()
                for i in range(debits_per_round):
                    customer_id = customer_ids[i % len(customer_ids)]
                    if kind == "raw":
                        statements[kind].append(raw.debit(customer_id, DEBIT_AMOUNT))
                        continue
                    with CaptureQueriesContext(connection) as queries:
                        ledger.post(business_id=business_id, customer_id=customer_id, currency=CURRENCY,
                                    amount=DEBIT_AMOUNT, is_credit=False, actor=actor, reason="bench debit")
                    statements[kind].append(len(queries.captured_queries))
                per_round[kind].append((time.perf_counter() - started) / debits_per_round * 1000)
    finally:
        raw.close()
    active = CreditGrant.objects.filter(customer_id__in=kinds["grants"], remaining__gt=0).count()
    plain_ms = statistics.median(per_round["plain"])
    grants_ms = statistics.median(per_round["grants"])
    raw_ms = statistics.median(per_round["raw"])
    result = {
        "wallets_per_kind": wallets,
        "grants_per_wallet": GRANTS_PER_WALLET,
        "active_grants_after": active,
        "setup_s": round(setup_s, 2),
        "ms_per_debit_rounds": {k: [round(v, 3) for v in vs] for k, vs in per_round.items()},
        "ms_per_debit": {"plain": round(plain_ms, 3), "grants": round(grants_ms, 3), "raw": round(raw_ms, 3)},
        "statements_per_debit": {k: round(statistics.mean(v), 2) for k, v in statements.items()},
        "ratio_grants_to_plain": round(grants_ms / plain_ms, 2) if plain_ms else None,
        "ratio_raw_to_grants": round(raw_ms / grants_ms, 2) if grants_ms else None,
    }
    result["summary"] = (
        f"debit on a wallet with {GRANTS_PER_WALLET} grants {grants_ms:.2f} ms (raw SQL {raw_ms:.2f} ms, "
        f"engine/raw throughput {result['ratio_raw_to_grants']} x) vs plain {plain_ms:.2f} ms; statements "
        f"{result['statements_per_debit']['grants']} (raw {result['statements_per_debit']['raw']}) vs "
        f"{result['statements_per_debit']['plain']}"
    )
    return result


class RawGrantDebit:
    """The baseline: a debit drawing from a wallet's grants, soonest-expiring first, in raw SQL."""

    LOCK = (
        'SELECT w."id", w."balance", w."entry_count", w."granted_balance" FROM "wallets_wallet" w '
        'WHERE w."business_id" = %s AND w."customer_id" = %s AND w."currency" = %s FOR NO KEY UPDATE OF w'
    )
    GRANTS = (
        'SELECT "entry_id", "remaining" FROM "wallets_creditgrant" WHERE "remaining" > 0 AND "wallet_id" = %s '
        'ORDER BY "expires_at", "entry_id"'
    )
    WALLET = 'UPDATE "wallets_wallet" SET "granted_balance" = %s WHERE "id" = %s'
    INSERT = (
        'INSERT INTO "wallets_ledgerentry" ("id", "business_id", "customer_id", "wallet_id", "currency", '
        '"sequence", "amount", "is_credit", "event_type", "reason", "before_balance", "after_balance", '
        '"actor_type", "actor_id", "created_at") VALUES (%s, %s, %s, %s, %s, %s, %s, false, '
        "'merchant_adjustment', 'bench debit', %s, %s, 'command', 'bench', %s)"
    )
    GRANT = 'UPDATE "wallets_creditgrant" SET "remaining" = %s, "updated_at" = %s WHERE "entry_id" = %s'
    DRAW = (
        'INSERT INTO "wallets_grantdraw" ("business_id", "grant_id", "entry_id", "amount", "created_at") '
        "VALUES (%s, %s, %s, %s, %s)"
    )

    def __init__(self, url: str, business_id: str):
        import psycopg

        from wallets.ids import ledger_entry_id

        self.conn = psycopg.connect(url)
        self.business_id = business_id
        self.new_id = ledger_entry_id

    def debit(self, customer_id: str, amount: int) -> int:
        """Post one debit; returns the statements sent (BEGIN and COMMIT included)."""
        cur = self.conn.cursor()
        try:
            cur.execute(self.LOCK, (self.business_id, customer_id, CURRENCY))
            wallet_id, before, count, granted = cur.fetchone()
            if amount > before:  # the bench's debits always fit
                raise RuntimeError("raw baseline: insufficient funds")
            cur.execute(self.GRANTS, (wallet_id,))
            draws, left = [], amount
            for grant_id, remaining in cur.fetchall():
                if left == 0:
                    break
                take = min(left, remaining)
                draws.append((grant_id, remaining - take, take))
                left -= take
            now = datetime.datetime.now(datetime.UTC)
            entry_id = self.new_id()
            sent = 4  # BEGIN, lock, grants, COMMIT
            if draws:
                cur.execute(self.WALLET, (granted - (amount - left), wallet_id))
                sent += 1
            cur.execute(self.INSERT, (entry_id, self.business_id, customer_id, wallet_id, CURRENCY, count + 1,
                                      amount, before, before - amount, now))
            sent += 1
            for grant_id, remaining, take in draws:
                cur.execute(self.GRANT, (remaining, now, grant_id))
                cur.execute(self.DRAW, (self.business_id, grant_id, entry_id, take, now))
                sent += 2
            self.conn.commit()
            return sent
        except Exception:
            self.conn.rollback()
            raise

    def close(self) -> None:
        self.conn.close()
