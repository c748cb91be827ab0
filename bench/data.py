"""The benchmark's data: schema from the product's migrations, rows loaded set-based.

Rows are generated with ``generate_series`` in one statement per table (never through the API),
and they respect every invariant the product keeps:

- customer ``n`` (1..C) of one business has a USD and an INR wallet, each with 9 entries
  (customer 1's USD wallet, "the whale", carries what makes the total exactly ``entries``);
- entry ``s`` of a wallet is a credit of ``c_n`` (1000..5999 minor units), except every third,
  a debit of 500; 5% of customers ("low" wallets) get only credits of 10, so they stay under the
  default low-balance threshold (10.00);
- ``after_balance`` is the closed form of the running sum, ``before_balance = after - signed
  amount``, the wallet's balance is the last ``after_balance`` and its ``entry_count`` the last
  sequence: balances equal the sum of entries and the chain is unbroken by construction (and
  checked by the invariant oracle, ``tests.support.oracle``, after loading anyway).

Ids are deterministic (``'cus_' || md5('c' || n)``) so pgbench can compute them, and look as
random to the B-trees as the product's own ids.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

BUSINESS_ID = "bus_benchmark0000000000"
BUSINESS_NAME = "Benchmark Ltd"
CURRENCIES = ("USD", "INR")
ENTRIES_PER_WALLET = 9


def customer_id(n: int) -> str:
    return "cus_" + hashlib.md5(f"c{n}".encode()).hexdigest()[:21]


def wallet_id(n: int, currency: str) -> str:
    return "wal_" + hashlib.md5(f"w{n}{currency}".encode()).hexdigest()[:21]


@dataclass(frozen=True)
class Sizes:
    customers: int  # wallets = 2 x customers
    entries: int  # ledger entries in the table before any benchmark posts
    posting_wallets: int  # "many wallets": uniform over this many USD wallets
    bulk_rows: int
    bulk_customers: int

    @property
    def wallets(self) -> int:
        return 2 * self.customers

    @property
    def whale_entries(self) -> int:
        return self.entries - (self.wallets - 1) * ENTRIES_PER_WALLET


FULL = Sizes(customers=50_000, entries=1_000_000, posting_wallets=10_000, bulk_rows=100_000, bulk_customers=10_000)
MID = Sizes(customers=10_000, entries=200_000, posting_wallets=9_000, bulk_rows=20_000, bulk_customers=2_000)
SMOKE = Sizes(customers=300, entries=8_000, posting_wallets=200, bulk_rows=1_000, bulk_customers=100)


def setup_django(database_url: str) -> None:
    """Point the product at the benchmark database (before anything imports settings)."""
    from bench.servers import RUN_SECRET_KEY

    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SECRET_KEY"] = RUN_SECRET_KEY
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "walletproject.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def migrate() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    return time.perf_counter() - started


SEED_SQL = [
    # the business
    """INSERT INTO wallets_business (id, name, created_at) VALUES (%(bid)s, %(bname)s, now())
       ON CONFLICT DO NOTHING""",
    # customers
    """INSERT INTO wallets_customer (id, business_id, email, name, phone_number, metadata, created_at, updated_at)
       SELECT 'cus_' || substr(md5('c' || n), 1, 21), %(bid)s, 'customer' || n || '@bench.example',
              'Customer ' || n, NULL, '{}'::jsonb, %(t0)s::timestamptz + n * interval '1 millisecond',
              %(t0)s::timestamptz + n * interval '1 millisecond'
       FROM generate_series(1, %(customers)s) AS n""",
    # a work table: one row per wallet with its entry count and credit amount
    """CREATE TEMP TABLE bench_seed_wallet AS
       SELECT n, ccy AS currency, 'wal_' || substr(md5('w' || n || ccy), 1, 21) AS id,
              'cus_' || substr(md5('c' || n), 1, 21) AS customer_id,
              CASE WHEN n = 1 AND ccy = 'USD' THEN %(whale)s ELSE %(per_wallet)s END AS k,
              (n %% 20 = 0) AS low,
              1000 + (n * 7919) %% 5000 AS c
       FROM generate_series(1, %(customers)s) AS n, unnest(ARRAY['USD', 'INR']) AS ccy""",
    # wallets, with the balance the entries below add up to
    """INSERT INTO wallets_wallet (id, business_id, customer_id, currency, balance, entry_count, created_at, updated_at)
       SELECT id, %(bid)s, customer_id, currency,
              CASE WHEN low THEN 10 * k ELSE c * (k - k / 3) - 500 * (k / 3) END, k,
              %(t0)s::timestamptz, %(t0)s::timestamptz + k * interval '1 second'
       FROM bench_seed_wallet""",
    # ledger entries: closed-form running balances (see the module docstring)
    """INSERT INTO wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, sequence, amount,
              is_credit, event_type, reason, reference_object_id, idempotency_key, before_balance, after_balance,
              actor_type, actor_id, created_at)
       SELECT 'wle_' || substr(md5('e' || w.n || w.currency || s), 1, 21), %(bid)s, w.customer_id, w.id,
              w.currency, s, e.amount, e.is_credit, 'merchant_adjustment', 'seed', NULL, NULL,
              e.after_balance - CASE WHEN e.is_credit THEN e.amount ELSE -e.amount END, e.after_balance,
              'system', 'bench-seed', %(t0)s::timestamptz + s * interval '1 second'
       FROM bench_seed_wallet w, generate_series(1, w.k) AS s,
            LATERAL (SELECT w.low OR s %% 3 <> 0 AS is_credit,
                            CASE WHEN w.low THEN 10 WHEN s %% 3 = 0 THEN 500 ELSE w.c END AS amount,
                            CASE WHEN w.low THEN 10 * s ELSE w.c * (s - s / 3) - 500 * (s / 3) END AS after_balance
                    ) AS e""",
    "DROP TABLE bench_seed_wallet",
]


def seed(conn, sizes: Sizes) -> dict[str, float]:
    """Load ``sizes`` into an empty, migrated database. Returns seconds per step.

    The history is generated set-based, wallets with their final balances, so the chain guard's
    triggers (migration 0009) are off for this transaction (``session_replication_role``, on the
    private cluster's superuser); the invariant oracle checks the loaded books afterwards."""
    params = {
        "bid": BUSINESS_ID, "bname": BUSINESS_NAME, "customers": sizes.customers, "whale": sizes.whale_entries,
        "per_wallet": ENTRIES_PER_WALLET, "t0": "2025-01-01T00:00:00Z",
    }
    timings: dict[str, float] = {}
    names = ["business", "customers", "work table", "wallets", "entries", "cleanup"]
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for name, sql in zip(names, SEED_SQL, strict=True):
            started = time.perf_counter()
            conn.execute(sql, params)
            timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) wallets_customer, wallets_wallet, wallets_ledgerentry")
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def create_api_key() -> str:
    """A write key of the benchmark business, made by the product's own service."""
    from wallets.models import Business
    from wallets.services.api_keys import api_key_create

    business = Business.objects.get(id=BUSINESS_ID)
    _, raw = api_key_create(business=business, name="benchmark")
    return raw


def create_dashboard_session() -> str:
    """A logged-in dashboard user (approver of the benchmark business: every page, the settings that only
    approvers manage included); returns the session cookie."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from wallets.models import Membership

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username="bench-operator", defaults={"email": "ops@bench.example"})
    Membership.objects.get_or_create(user=user, defaults={"business_id": BUSINESS_ID, "role": "approver"})
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key
