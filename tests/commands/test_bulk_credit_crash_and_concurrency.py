"""bulk_credit against real failures: a batch refused by the database, a process killed halfway,
and API/service postings (or a second run of the same file) on the same wallets at the same time.
Committed data (``transaction=True``): every batch really commits, as in production."""

import contextlib
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from tests.commands.helpers import assert_books_right, balance, entry_count, run_command, start_manage
from wallets import ledger
from wallets.exceptions import InsufficientFunds
from wallets.models import LedgerEntry, Wallet
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
ENTRY_COLUMNS = ("customer_id", "amount", "currency", "reason", "idempotency_key", "entry_type")


def bulk(path, business, *args):
    return run_command("bulk_credit", path, "--business", business.id, *args)


def summary(ran) -> dict[str, int]:
    found = re.search(r"posted ([\d,]+), already done ([\d,]+), rejected ([\d,]+)", ran.out)
    assert found, ran.text
    posted, done, rejected = (int(n.replace(",", "")) for n in found.groups())
    return {"posted": posted, "already_done": done, "rejected": rejected}


def execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def expected_balances(rows) -> Counter:
    totals: Counter = Counter()
    for customer_id, amount, currency, *_ in rows:
        totals[(customer_id, currency)] += amount
    return totals


def test_a_batch_refused_by_the_database_stops_the_run_and_a_rerun_posts_the_rest_once(
    business, customers, write_csv
):
    # Batches hold whole customers: 8 rows each here, so with --batch-size 10 a batch is a customer.
    rows = [[customers[i % 5].id, 100 + i, "USD", f"row {i}"] for i in range(40)]
    rows[27][3] = "poison"  # line 29, of the third customer: the third batch
    path = write_csv(rows)
    execute("""
        CREATE FUNCTION test_poison() RETURNS trigger AS $$
        BEGIN
            IF NEW.reason = 'poison' THEN RAISE EXCEPTION 'injected fault on insert'; END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER test_poison BEFORE INSERT ON wallets_ledgerentry
            FOR EACH ROW EXECUTE FUNCTION test_poison();
    """)
    try:
        ran = bulk(path, business, "--batch-size", "10")
        assert ran.code == 3
        assert "a batch of 8 row(s) (lines 4, 9, 14, 19, 24, …) failed in the database: injected fault on insert" \
            in ran.error
        assert "run the same file again" in ran.error
        assert "Stopped by a database error" in ran.out
        assert "posted 16" in ran.out
        assert "Every row" not in ran.out
        assert entry_count() == 16  # the two batches before it, whole
        assert_books_right()
        assert bulk(path, business, "--batch-size", "10").code == 3  # still failing: nothing doubled
        assert entry_count() == 16
    finally:
        execute("DROP TRIGGER test_poison ON wallets_ledgerentry; DROP FUNCTION test_poison();")

    rerun = bulk(path, business, "--batch-size", "10")

    assert rerun.code == 0, rerun.text
    assert summary(rerun) == {"posted": 24, "already_done": 16, "rejected": 0}
    assert entry_count() == 40
    keys = list(LedgerEntry.objects.values_list("idempotency_key", flat=True))
    assert len(set(keys)) == 40
    for customer in customers:
        assert balance(customer) == sum(r[1] for r in rows if r[0] == customer.id)
    assert_books_right()


@contextlib.contextmanager
def slow_inserts():
    """Slow each insert statement down (not each row) so a signal lands in the middle of a run."""
    execute("""
        CREATE FUNCTION test_slow() RETURNS trigger AS $$
        BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER test_slow AFTER INSERT ON wallets_ledgerentry
            FOR EACH STATEMENT EXECUTE FUNCTION test_slow();
    """)
    try:
        yield
    finally:
        execute("DROP TRIGGER test_slow ON wallets_ledgerentry; DROP FUNCTION test_slow();")


def start_bulk_and_wait_for(path, business, entries: int) -> subprocess.Popen:
    """``manage.py bulk_credit`` in a child process (batches of 15), returned once ``entries`` are posted."""
    process = start_manage("bulk_credit", path, "--business", business.id, "--batch-size", "15")
    first_line = process.stdout.readline()  # printed after the first batch committed
    assert "rows/s" in first_line, first_line + process.stderr.read()
    deadline = time.monotonic() + 60
    while entry_count() < entries and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_a_run_killed_halfway_posts_whole_batches_and_the_rerun_posts_the_rest_once(
    business, customers, write_csv
):
    rows = [[customers[i % 5].id, 1 + i % 97, "USD" if i % 4 else "EUR", f"row {i}"] for i in range(1500)]
    path = write_csv(rows)
    with slow_inserts():
        process = start_bulk_and_wait_for(path, business, 150)
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -9

    posted_before = entry_count()
    assert 150 <= posted_before < 1500
    assert posted_before % 15 == 0  # only whole batches: the one in flight was rolled back
    assert_books_right()

    rerun = bulk(path, business, "--batch-size", "15")

    assert rerun.code == 0, rerun.text
    assert summary(rerun) == {"posted": 1500 - posted_before, "already_done": posted_before, "rejected": 0}
    assert entry_count() == 1500
    for (customer_id, currency), total in expected_balances(rows).items():
        assert balance(next(c for c in customers if c.id == customer_id), currency) == total
    assert_books_right()


def interrupted_run(business, customers, write_csv, *, presses: int):
    """A run of 1,500 rows (batches of 15, inserts slowed) given Ctrl-C ``presses`` times once 150
    rows are in, each press after the one before was handled (two at once would merge into one).
    Returns the file, the exit status, stderr and the summary's "posted" figure."""
    rows = [[customers[i % 5].id, 1 + i % 97, "USD", f"row {i}"] for i in range(1500)]
    path = write_csv(rows)
    with slow_inserts():
        process = start_bulk_and_wait_for(path, business, 150)
        err = ""
        for press in range(presses):
            process.send_signal(signal.SIGINT)
            if press < presses - 1:
                err += process.stderr.readline()  # "Stopping after the batch under way…"
        out, rest = process.communicate(timeout=60)
    err += rest
    assert "Traceback" not in err, err
    found = re.search(r"posted ([\d,]+), already done", out)
    assert found, out + err
    return path, process.returncode, err, int(found.group(1).replace(",", ""))


def assert_the_rerun_posts_the_rest_once(path, business, posted_before: int) -> None:
    assert posted_before % 15 == 0  # whole batches only
    assert_books_right()
    rerun = bulk(path, business, "--batch-size", "15")
    assert rerun.code == 0, rerun.text
    assert summary(rerun) == {"posted": 1500 - posted_before, "already_done": posted_before, "rejected": 0}
    assert entry_count() == 1500
    assert_books_right()


def test_ctrl_c_prints_what_was_posted_and_the_rerun_posts_the_rest_once(business, customers, write_csv):
    path, code, err, counted = interrupted_run(business, customers, write_csv, presses=1)

    assert code == 130, err
    assert "Stopping after the batch under way" in err, err
    assert "Interrupted" in err, err
    assert "may or may not" not in err, err
    posted_before = entry_count()
    assert 150 <= posted_before < 1500
    # The summary tells the truth: the run stopped after the batch under way, so even a Ctrl-C
    # landing during its commit cannot leave a posted batch out of the count.
    assert counted == posted_before
    assert_the_rerun_posts_the_rest_once(path, business, posted_before)


def test_a_second_ctrl_c_stops_mid_batch_and_says_that_batch_may_be_posted(business, customers, write_csv):
    path, code, err, counted = interrupted_run(business, customers, write_csv, presses=2)

    assert code == 130, err
    posted_before = entry_count()
    if "may or may not be posted" in err:  # cut short mid-batch (nearly always: a batch takes 50 ms+)
        assert posted_before in (counted, counted + 15), (counted, posted_before)
    else:  # the second press landed after the batch's end
        assert posted_before == counted
    assert_the_rerun_posts_the_rest_once(path, business, posted_before)


def run_in_threads(*works) -> list:
    """Start every ``work()`` at once in its own thread (own DB connection); return results or exceptions."""
    barrier = threading.Barrier(len(works))
    results: list = [None] * len(works)

    def target(i, work):
        try:
            barrier.wait(timeout=30)
            results[i] = work()
        except Exception as exc:  # the test inspects what each thread saw
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i, w)) for i, w in enumerate(works)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a thread hung"
    return results


def test_a_bulk_run_alongside_api_and_service_postings_on_the_same_wallets_keeps_every_invariant(
    business, customers, write_csv, api
):
    for customer in customers:
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD", amount=5000,
                                   is_credit=True, actor=Actor.command("test"))
    rng = random.Random(7)
    rows = []
    for i in range(600):
        is_debit = rng.random() < 0.4
        rows.append([rng.choice(customers).id, rng.randint(1, 60 if is_debit else 100), "USD", f"bulk {i}", "",
                     "debit" if is_debit else "credit"])
    path = write_csv(rows, header=ENTRY_COLUMNS)

    def bulk_run():
        return bulk(path, business, "--batch-size", "10")

    def service_postings(seed):
        def work():
            r = random.Random(seed)
            posted = 0
            for n in range(80):
                customer = r.choice(customers)
                try:
                    ledger.post(
                        business_id=business.id, customer_id=customer.id, currency="USD", amount=r.randint(1, 80),
                        is_credit=r.random() < 0.45, actor=Actor.command("test"), reason=f"service {seed} {n}",
                    )
                    posted += 1
                except InsufficientFunds:
                    pass
            return posted
        return work

    def api_postings():
        r = random.Random(99)
        statuses = Counter()
        for n in range(60):
            customer = r.choice(customers)
            response = api.post(
                f"/customers/{customer.id}/wallets/ledger-entries",
                {"amount": r.randint(1, 80), "currency": "USD", "entry_type": r.choice(["credit", "debit"]),
                 "reason": f"api {n}", "idempotency_key": f"api-{n}"},
                format="json",
            )
            statuses[response.status_code] += 1
        return statuses

    ran, posted_a, posted_b, statuses = run_in_threads(bulk_run, service_postings(1), service_postings(2),
                                                       api_postings)

    assert not isinstance(ran, Exception), ran
    assert set(statuses) <= {200, 400}, statuses  # a debit may find too little money; nothing else
    counts = summary(ran)
    assert counts["posted"] + counts["rejected"] == 600
    assert counts["already_done"] == 0
    assert ran.code == (1 if counts["rejected"] else 0)
    # every refused bulk row is a debit the balance could not cover at that moment
    refusals = [line for line in ran.err.splitlines() if line.startswith("line ")]
    assert len(refusals) == counts["rejected"]
    assert all("insufficient funds" in line for line in refusals)
    assert LedgerEntry.objects.filter(actor_id="bulk_credit").count() == counts["posted"]
    assert LedgerEntry.objects.filter(actor_type="api_key").count() == statuses[200]
    assert LedgerEntry.objects.filter(actor_id="test").count() == 5 + posted_a + posted_b
    assert_books_right()


def test_two_runs_of_the_same_file_at_once_post_each_row_exactly_once(business, customers, write_csv):
    rows = [[customers[i % 5].id, 10 + i, ("USD", "EUR", "JPY")[i % 3], f"row {i}"] for i in range(300)]
    path = write_csv(rows)

    first, second = run_in_threads(lambda: bulk(path, business, "--batch-size", "7"),
                                   lambda: bulk(path, business, "--batch-size", "11"))

    for ran in (first, second):
        assert not isinstance(ran, Exception), ran
        assert ran.code == 0, ran.text
    one, two = summary(first), summary(second)
    assert one["posted"] + two["posted"] == 300
    assert one["posted"] + one["already_done"] == 300 == two["posted"] + two["already_done"]
    assert entry_count() == 300
    for (customer_id, currency), total in expected_balances(rows).items():
        assert balance(next(c for c in customers if c.id == customer_id), currency) == total
    assert_books_right()


def test_a_rerun_of_a_posted_file_settles_without_locking_wallets(business, customers, write_csv):
    rows = [[customers[i % 5].id, 5 + i, "USD", f"row {i}"] for i in range(50)]
    path = write_csv(rows)
    assert bulk(path, business, "--batch-size", "10").code == 0
    locked, release = threading.Event(), threading.Event()

    def hold_a_wallet_lock():
        try:
            with transaction.atomic():
                Wallet.objects.select_for_update().get(customer=customers[0], currency="USD")
                locked.set()
                release.wait(timeout=60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_a_wallet_lock)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        # Taking that lock would wait out the lock timeout twice and stop the run (exit 3).
        rerun = bulk(path, business, "--batch-size", "10")
    finally:
        release.set()
        holder.join(timeout=60)
    assert rerun.code == 0, rerun.text
    assert summary(rerun) == {"posted": 0, "already_done": 50, "rejected": 0}
