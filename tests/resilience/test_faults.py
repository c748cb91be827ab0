"""Faults under load: gunicorn workers killed with SIGKILL mid-request, PostgreSQL stopped hard
(``pg_ctl stop -m immediate``) and restarted, rows locked by a stuck client, statements that run
too long. In every case no acknowledged request is lost, no partial entry or stuck lock is left,
a retry with the same idempotency key posts exactly once, and clients get a clear error (503 JSON
with Retry-After) instead of a hang.

Rounds scale with ``WALLETS_RESILIENCE_SCALE`` (default 1: a short run for CI).
"""

import os
import random
import subprocess
import sys
import threading
import time

import httpx
import psycopg
import pytest
from django.db import connection

from tests.resilience import bank
from tests.resilience.conftest import live_database_url
from tests.resilience.harness import scaled
from tests.resilience.test_bank import http_post, make_wallets
from tests.support import oracle
from tests.support.postgres import PrivatePostgres
from tests.support.servers import REPO_ROOT, manage
from wallets.services.api_keys import api_key_create, business_get_or_create

CLIENTS = 8


def post_until_definite(client: httpx.Client, body: bank.Body, deadline: float) -> list[bank.Outcome]:
    """Post, and on an unknown outcome (connection cut, 503) retry with the same idempotency key."""
    outcomes = []
    pause = 0.05
    while True:
        outcome = http_post(client, body)
        outcomes.append(outcome)
        if outcome.kind != bank.UNKNOWN or time.monotonic() > deadline:
            return outcomes
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def run_load(url: str, headers: dict, workload: bank.BankWorkload, *, ops: int, stop: threading.Event,
             deadline_s: float = 90) -> tuple[list[bank.Outcome], list[float]]:
    """CLIENTS threads post until each has sent ``ops`` bodies and ``stop`` is set."""
    deadline = time.monotonic() + deadline_s
    outcomes: list[bank.Outcome] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        client = httpx.Client(base_url=url, headers=headers, timeout=30)
        mine, times = [], []
        bodies = workload.bodies(worker, 10**6)
        sent = 0
        try:
            while (sent < ops or not stop.is_set()) and time.monotonic() < deadline:
                body = next(bodies)
                started = time.monotonic()
                mine.extend(post_until_definite(client, body, deadline))
                times.append(time.monotonic() - started)
                sent += 1
        finally:
            client.close()
            with lock:
                outcomes.extend(mine)
                latencies.extend(times)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes, latencies


def unresolved(outcomes: list[bank.Outcome]) -> list[str]:
    """Bodies whose last answer was not definite (the client never learnt what happened)."""
    last = {}
    for outcome in outcomes:
        last[outcome.body.reason] = outcome
    return [f"{r}: {o.detail}" for r, o in last.items() if o.kind not in bank.DEFINITE]


def open_transactions(cursor, dbname: str, wait: float = 10.0) -> list[tuple]:
    """Sessions still inside a transaction, after giving the server ``wait`` seconds to notice
    dead clients."""
    deadline = time.monotonic() + wait
    while True:
        rows = oracle.stuck_transactions(cursor, dbname)
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_workers_lose_nothing_and_retries_post_once(gunicorn_server):
    business = business_get_or_create(name="Kill -9")[0]
    _, raw_key = api_key_create(business=business, name="kill")
    wallets, hot = make_wallets(business)
    server = gunicorn_server(workers=3, threads=2)
    headers = {"Authorization": f"Bearer {raw_key}"}
    workload = bank.BankWorkload(wallets=wallets, hot=hot, seed=3, all_keyed=True)
    kills = scaled(6)
    stop = threading.Event()
    killed = []

    def killer() -> None:
        rng = random.Random(3)
        try:
            for _ in range(kills):
                time.sleep(rng.uniform(0.3, 0.8))
                pids = server.worker_pids()
                while not pids:  # every worker is being replaced right now
                    time.sleep(0.05)
                    pids = server.worker_pids()
                victim = rng.choice(pids)
                server.kill_worker(victim)
                killed.append(victim)
        finally:
            stop.set()

    thread = threading.Thread(target=killer)
    thread.start()
    outcomes, _ = run_load(server.url, headers, workload, ops=scaled(40), stop=stop)
    thread.join()

    stats = bank.summary(outcomes)
    cut = sum(1 for o in outcomes if o.kind == bank.UNKNOWN)
    print(f"kill -9: {len(killed)} workers killed, {stats}, {cut} requests cut off and retried")
    assert len(killed) == kills
    assert unresolved(outcomes) == []
    with connection.cursor() as cursor:
        assert open_transactions(cursor, connection.settings_dict["NAME"]) == []
        assert oracle.violations(cursor) == []
        problems = bank.check(outcomes, oracle.ledger_rows(cursor), oracle.wallet_balances(cursor),
                              wallets, allow_unknown=True)
    assert problems == [], server.log_tail()
    # No lock outlived its worker: every wallet takes a posting at once (lock_timeout would say 503).
    server.wait_ready()
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        for customer_id, currency in wallets:
            response = client.post(f"/customers/{customer_id}/wallets/ledger-entries",
                                   json={"amount": 1, "currency": currency, "entry_type": "credit"})
            assert response.status_code == 200, response.text


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres().init()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.mark.slow
def test_postgres_crash_and_restart_under_load(gunicorn_server, private_postgres):
    """The database dies (immediate shutdown: no checkpoint, connections cut) and comes back, twice,
    while clients post; the app is not restarted."""
    pg = private_postgres
    pg.psql("CREATE DATABASE wallets")
    url = pg.url("wallets")
    manage("migrate", "--no-input", "-v", "0", database_url=url)
    raw_key = manage("create_api_key", "Outage", database_url=url).strip().splitlines()[-1]
    server = gunicorn_server(database_url=url, workers=3, threads=2, env={"WALLETS_DB_CONNECT_TIMEOUT_S": "2"})
    headers = {"Authorization": f"Bearer {raw_key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        customers = [client.post("/customers", json={"email": f"o{i}@example.com", "name": "O"}).json()["customer_id"]
                     for i in range(3)]
    wallets = [(customers[0], "USD"), (customers[0], "INR"), (customers[1], "USD"), (customers[2], "USD")]
    workload = bank.BankWorkload(wallets=wallets, hot=wallets[0], seed=4, all_keyed=True)
    rounds = scaled(2)
    stop = threading.Event()
    outage_answers: list[tuple[int, float, str]] = []

    def probe_during_outage(until: float) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            while time.monotonic() < until:
                started = time.monotonic()
                try:
                    response = client.post(f"/customers/{customers[1]}/wallets/ledger-entries",
                                           json={"amount": 1, "currency": "USD", "entry_type": "credit",
                                                 "idempotency_key": f"probe-{started}", "reason": "bank:probe"})
                    outage_answers.append((response.status_code, time.monotonic() - started, response.text))
                except httpx.TransportError as exc:
                    outage_answers.append((0, time.monotonic() - started, repr(exc)))
                time.sleep(0.2)

    def crasher() -> None:
        try:
            for _ in range(rounds):
                time.sleep(1.5)
                pg.stop_immediate()
                probe_during_outage(time.monotonic() + 2.0)
                pg.start()
        finally:
            stop.set()

    thread = threading.Thread(target=crasher)
    thread.start()
    outcomes, latencies = run_load(server.url, headers, workload, ops=scaled(20), stop=stop)
    thread.join()

    # While it was down: quick, clear answers (503 JSON with Retry-After), not hangs.
    assert outage_answers, "the probe got no answer during the outage"
    statuses = {status for status, _, _ in outage_answers}
    assert statuses <= {503}, outage_answers[:5]
    assert all('"SERVICE_UNAVAILABLE"' in text for _, _, text in outage_answers)
    slowest = max(elapsed for _, elapsed, _ in outage_answers)
    assert slowest < 10, f"a request took {slowest:.1f}s while the database was down"
    # It came back by itself.
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    stats = bank.summary(outcomes)
    print(f"postgres crash: {rounds} immediate stops, {stats}, {len(outage_answers)} probes answered 503 "
          f"in at most {slowest:.2f}s, slowest client op (with retries) {max(latencies):.1f}s")
    assert unresolved(outcomes) == []
    assert stats.get(bank.OK, 0) > 0
    assert stats.get(bank.UNKNOWN, 0) > 0
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        assert oracle.violations(cursor) == []
        problems = bank.check(outcomes, oracle.ledger_rows(cursor), oracle.wallet_balances(cursor),
                              wallets, allow_unknown=True)
        cursor.execute("SELECT count(*) FROM wallets_ledgerentry WHERE reason = 'bank:probe'")
        assert cursor.fetchone()[0] == 0, "a request answered 503 during the outage left an entry"
    assert problems == [], server.log_tail()


def lock_wallet(customer_id: str, currency: str) -> psycopg.Connection:
    """Another client holds the wallet's row lock (a transaction left open)."""
    settings = connection.settings_dict
    conn = psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
                           user=settings["USER"], dbname=settings["NAME"])
    conn.execute("SELECT id FROM wallets_wallet WHERE customer_id = %s AND currency = %s FOR UPDATE",
                 [customer_id, currency])
    return conn


@pytest.mark.parametrize(
    ("env", "waited"),
    [
        ({"WALLETS_DB_LOCK_TIMEOUT_MS": "500"}, "lock_timeout"),
        ({"WALLETS_DB_LOCK_TIMEOUT_MS": "20000", "WALLETS_DB_STATEMENT_TIMEOUT_MS": "500"}, "statement_timeout"),
    ],
)
def test_a_held_lock_is_a_quick_503_then_the_retry_posts_once(gunicorn_server, env, waited):
    business = business_get_or_create(name="Locks")[0]
    _, raw_key = api_key_create(business=business)
    wallets, _ = make_wallets(business)
    customer_id = wallets[0][0]
    server = gunicorn_server(workers=2, env=env)
    body = {"amount": 500, "currency": "USD", "entry_type": "credit", "idempotency_key": "held"}
    path = f"/customers/{customer_id}/wallets/ledger-entries"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=30) as client:
        holder = lock_wallet(customer_id, "USD")
        try:
            started = time.monotonic()
            response = client.post(path, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "SERVICE_UNAVAILABLE"
            assert response.headers["Retry-After"] == "1"
            assert response.headers["X-Request-Id"]
            assert elapsed < 5, f"{waited}: the request waited {elapsed:.1f}s"
            # Reads do not wait for the lock.
            assert client.get(f"/customers/{customer_id}/wallets").status_code == 200
        finally:
            holder.close()
        retried = client.post(path, json=body)
        assert retried.status_code == 200
        assert retried.json()["balance"] == 500
        assert client.post(path, json=body).headers.get("Idempotent-Replayed") == "true"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallets_ledgerentry WHERE idempotency_key = 'held'")
        assert cursor.fetchone()[0] == 1


STUCK_CLIENT = """
import time
from django.db import transaction
from wallets.models import Wallet
with transaction.atomic():
    list(Wallet.objects.select_for_update().filter(customer_id="{customer_id}", currency="USD"))
    print("locked", flush=True)
    time.sleep(60)  # stuck: holds the wallet and sends nothing
"""


def test_a_stuck_client_cannot_hold_a_wallet(gunicorn_server):
    """A process using the project's settings takes a wallet's lock and stalls inside the
    transaction; the server ends its session after idle_in_transaction_session_timeout, and the
    API's posting (waiting under lock_timeout) then goes through."""
    business = business_get_or_create(name="Stuck")[0]
    _, raw_key = api_key_create(business=business)
    wallets, _ = make_wallets(business)
    customer_id = wallets[0][0]
    server = gunicorn_server(workers=1, env={"WALLETS_DB_LOCK_TIMEOUT_MS": "8000"})

    stuck = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", STUCK_CLIENT.format(customer_id=customer_id)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DATABASE_URL": live_database_url(),
             "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS": "1000"},
    )
    try:
        output = []
        while not output or output[-1].strip() != "locked":
            output.append(stuck.stdout.readline())
            assert output[-1], f"the stuck client died: {output}"
        started = time.monotonic()
        response = httpx.post(f"{server.url}/customers/{customer_id}/wallets/ledger-entries",
                              json={"amount": 7, "currency": "USD", "entry_type": "credit"},
                              headers={"Authorization": f"Bearer {raw_key}"}, timeout=30)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert elapsed < 8, f"the posting waited {elapsed:.1f}s"
        with connection.cursor() as cursor:
            assert open_transactions(cursor, connection.settings_dict["NAME"], wait=0) == []
    finally:
        stuck.kill()
        stuck.wait()


def test_database_sessions_carry_the_timeouts(db):
    with connection.cursor() as cursor:
        shown = {}
        for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"):
            cursor.execute(f"SHOW {name}")
            shown[name] = cursor.fetchone()[0]
    assert shown == {"lock_timeout": "5s", "statement_timeout": "30s", "idle_in_transaction_session_timeout": "1min"}
