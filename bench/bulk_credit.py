"""Measure bulk_credit on PostgreSQL: 100,000 rows over 10,000 customers (prints figures only).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wallets_cmd_bench .venv/bin/python bench/bulk_credit.py
    ... --rows 100000 --customers 10000 --batch-size 2000 [--rounds 2] [--million]

Builds a scratch database ``<name>_template`` (migrated; one business; the customers with their
default wallets), then for each measurement copies it to ``<name>`` so every run starts equal:
1. ``bulk_credit`` in-process (``call_command``) and as a fresh ``manage.py`` process (what an
   operator waits for, Python start-up included);
2. the same file again (every row already done);
3. a raw baseline: read the CSV, resolve the customers in one query, compute the balances in
   memory, ``COPY`` the entries, update the wallets from a ``COPY``-filled temporary table, one
   transaction, no checks and no locks: the floor a bulk path cannot beat;
4. ``ledger_drift`` (reconcile_wallets) over the result; with --million, over a million entries
   (nine more files posted first).
The scratch databases are dropped at the end unless --keep.
"""

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gen_bulk_csv  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/wallets_cmd_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--million", action="store_true", help="also time reconciliation over 1M entries")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of product and baseline")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://…/wallets_cmd_bench")
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    template = f"{name}_template"
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{template}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "walletproject.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    admin = _admin_connection(parts)
    workdir = Path(tempfile.mkdtemp(prefix="bench_bulk_"))
    csv_path = workdir / "bulk.csv"

    print(f"== setup: {args.rows:,} rows over {args.customers:,} customers, batch {args.batch_size}; "
          f"load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    _recreate(admin, template)
    call_command("migrate", verbosity=0)
    business_id = _make_customers(args.customers)
    connection.close()
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        gen_bulk_csv.write(handle, args.rows, args.customers, seed=42)
    print(f"   template ready in {time.perf_counter() - started:.1f}s; file {csv_path.stat().st_size / 1e6:.1f} MB")

    def use_copy() -> None:
        connection.close()
        _recreate(admin, name, template=template)
        connection.settings_dict["NAME"] = name

    results: dict[str, list[float]] = {}

    def timed(label: str, work) -> None:
        started = time.perf_counter()
        work()
        results.setdefault(label, []).append(time.perf_counter() - started)

    def product() -> None:
        call_command("bulk_credit", str(csv_path), business=business_id, batch_size=args.batch_size, verbosity=0,
                     stdout=io.StringIO())

    for _ in range(args.rounds):  # interleaved, so a busy machine slows both alike
        use_copy()
        timed("bulk_credit (in-process)", product)
        _check_books(args.rows)
        timed("same file again (all already done)", product)
        _check_books(args.rows)
        use_copy()
        timed("raw COPY baseline (no checks, no locks)", lambda: _copy_baseline(csv_path, business_id))
        _check_books(args.rows)

    use_copy()
    env = {**os.environ, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}
    timed("bulk_credit (manage.py process, start-up included)", lambda: subprocess.run(
        [sys.executable, "manage.py", "bulk_credit", str(csv_path), "--business", business_id,
         "--batch-size", str(args.batch_size), "-v", "0"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    ))
    _check_books(args.rows)

    from wallets.services.reconcile import ledger_drift

    problems: list = []
    timed(f"reconcile {args.rows:,} entries", lambda: problems.extend(ledger_drift()))
    assert not problems, problems[:5]

    if args.million:
        use_copy()
        for seed in range(10):
            path = workdir / f"bulk_{seed}.csv"
            with open(path, "w", newline="", encoding="utf-8") as handle:
                gen_bulk_csv.write(handle, 100_000, args.customers, seed=seed)
            call_command("bulk_credit", str(path), business=business_id, batch_size=args.batch_size, verbosity=0,
                         stdout=io.StringIO())
        _check_books(1_000_000)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE wallets_ledgerentry")
        timed("reconcile 1,000,000 entries", lambda: problems.extend(ledger_drift()))
        assert not problems, problems[:5]

    print(f"== results (median of {args.rounds} interleaved rounds where repeated; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for label, runs in results.items():
        seconds = statistics.median(runs)
        rate = f"{args.rows / seconds:>10,.0f} rows/s" if "reconcile" not in label else ""
        each = " / ".join(f"{r:.2f}" for r in runs)
        print(f"   {label:55} {seconds:7.2f}s {rate}   [{each}]")
    bulk = statistics.median(results["bulk_credit (in-process)"])
    baseline = statistics.median(results["raw COPY baseline (no checks, no locks)"])
    print(f"   bulk_credit throughput / baseline throughput = {baseline / bulk:.2f}x")

    connection.close()
    if not args.keep:
        for db in (name, template):
            admin.execute(f'DROP DATABASE IF EXISTS "{db}"')


def _admin_connection(parts):
    import psycopg

    return psycopg.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", password=parts.password,
        dbname="postgres", autocommit=True,
    )


def _recreate(admin, db: str, template: str | None = None) -> None:
    admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else ""))


def _make_customers(count: int) -> str:
    """Setup only (not measured): the customers and their default wallets, inserted in bulk."""
    from django.conf import settings

    from wallets.models import Customer, Wallet
    from wallets.services.api_keys import business_get_or_create

    business, _ = business_get_or_create(name="Bench")
    customers = [
        Customer(business=business, email=gen_bulk_csv.email(i), name=f"Bench customer {i}") for i in range(count)
    ]
    Customer.objects.bulk_create(customers, batch_size=5000)
    Wallet.objects.bulk_create(
        [Wallet(business=business, customer=c, currency=cur) for c in customers
         for cur in settings.WALLET_DEFAULT_CURRENCIES],
        batch_size=5000,
    )
    return business.id


def _check_books(expected_entries: int) -> None:
    from wallets.models import LedgerEntry

    count = LedgerEntry.objects.count()
    assert count == expected_entries, f"{count} entries, expected {expected_entries}"


def _copy_baseline(csv_path: Path, business_id: str) -> None:
    """The least work that produces the same ledger: no validation, no locks, no idempotency."""
    from django.db import connection, transaction
    from django.utils import timezone

    from wallets import ids

    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT lower(email), id FROM wallets_customer WHERE business_id = %s AND lower(email) = ANY(%s)",
            [business_id, list({r["email"].lower() for r in rows})],
        )
        customers = dict(cursor.fetchall())
        cursor.execute("SELECT customer_id, currency, id, balance, entry_count FROM wallets_wallet "
                       "WHERE business_id = %s", [business_id])
        wallets = {(c, cur): [wid, bal, n] for c, cur, wid, bal, n in cursor.fetchall()}
        now = timezone.now()
        new_wallets = []
        entries = io.StringIO()
        writer = csv.writer(entries)
        for line, row in enumerate(rows, start=2):
            customer_id = customers[row["email"].lower()]
            key = (customer_id, row["currency"])
            if key not in wallets:
                wallets[key] = [ids.wallet_id(), 0, 0]
                new_wallets.append((wallets[key][0], customer_id, row["currency"]))
            wallet = wallets[key]
            amount = int(row["amount"])
            is_credit = row["entry_type"] != "debit"
            before = wallet[1]
            wallet[1] = before + amount if is_credit else before - amount
            wallet[2] += 1
            writer.writerow([
                ids.ledger_entry_id(), business_id, customer_id, wallet[0], row["currency"], wallet[2], amount,
                "t" if is_credit else "f", "merchant_adjustment", row["reason"], None,
                f"bulk:baseline:{line}", before, wallet[1], "command", "bulk_credit", now.isoformat(),
            ])
        raw = cursor.cursor
        with raw.copy("COPY wallets_wallet (id, business_id, customer_id, currency, balance, entry_count, "
                      "created_at, updated_at) FROM STDIN") as copy:
            for wallet_id, customer_id, currency in new_wallets:
                copy.write_row([wallet_id, business_id, customer_id, currency, 0, 0, now, now])
        with raw.copy("COPY wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, sequence, "
                      "amount, is_credit, event_type, reason, reference_object_id, idempotency_key, before_balance, "
                      "after_balance, actor_type, actor_id, created_at) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(entries.getvalue())
        cursor.execute("CREATE TEMP TABLE bench_wallet (id text, balance bigint, entry_count bigint) ON COMMIT DROP")
        touched = defaultdict(list)
        for wallet in wallets.values():
            if wallet[2]:
                touched[wallet[0]] = wallet
        with raw.copy("COPY bench_wallet FROM STDIN") as copy:
            for wallet_id, balance, count in touched.values():
                copy.write_row([wallet_id, balance, count])
        cursor.execute("UPDATE wallets_wallet w SET balance = b.balance, entry_count = b.entry_count, "
                       "updated_at = now() FROM bench_wallet b WHERE w.id = b.id")


if __name__ == "__main__":
    main()
