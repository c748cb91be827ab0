"""Conservation under concurrency ("bank" test), through the service layer and through the HTTP API.

16 writers with their own database connections (threads) or HTTP connections (to gunicorn with
several worker processes) post random credits and debits over a few wallets, one of them hot,
with overdrafts, replayed keys and keys reused with other bodies, while readers check the books
at every read. Afterwards ``bank.check`` compares every answer with the ledger.
"""

import itertools
import threading
from collections import Counter

import httpx
import pytest
from django.db import connection

from tests.resilience import bank
from tests.resilience.harness import scaled
from tests.support import oracle
from wallets import ledger, services
from wallets.exceptions import IdempotencyKeyReused, InsufficientFunds
from wallets.ledger import coalesce
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, business_get_or_create

WORKERS = 16
READERS = 3


def make_wallets(business):
    customers = [
        services.customer_create(business_id=business.id, email=f"bank{i}@example.com", name=f"Bank {i}")[0]
        for i in range(4)
    ]
    hot = (customers[0].id, "USD")
    # EUR has no wallet yet: its first credits create it while others race to do the same.
    wallets = [hot, (customers[0].id, "INR"), (customers[1].id, "USD"), (customers[2].id, "USD"),
               (customers[3].id, "EUR")]
    return wallets, hot


def reader_loop(stop: threading.Event, read, problems: list, counter: list) -> None:
    try:
        while not stop.is_set():
            found = read()
            counter.append(1)
            if found:
                problems.extend(found)
                return
            stop.wait(0.01)  # leave the two cores to the writers
    finally:
        connection.close()


def db_snapshot_read() -> list[str]:
    with connection.cursor() as cursor:
        return oracle.snapshot_violations(cursor)


def start_readers(read, count=READERS):
    stop, problems, reads = threading.Event(), [], []
    threads = [threading.Thread(target=reader_loop, args=(stop, read, problems, reads)) for _ in range(count)]
    for t in threads:
        t.start()

    def finish():
        stop.set()
        for t in threads:
            t.join()
        return problems, len(reads)

    return finish


def final_check(outcomes, wallets, **kwargs) -> list[str]:
    with connection.cursor() as cursor:
        problems = oracle.violations(cursor)
        problems += bank.check(outcomes, oracle.ledger_rows(cursor), oracle.wallet_balances(cursor),
                               wallets, **kwargs)
    return problems


def post_through_services(business_id, *, retry_if=None, attempts: int = 1):
    """The service client: one ``ledger.post`` per body. ``retry_if(exc)``: an error the client retries
    with the same key, up to ``attempts`` in all (the partitioned layout's serialization failures)."""
    actor = Actor.command("bank")

    def post(worker, body: bank.Body) -> bank.Outcome:
        for attempt in range(1, attempts + 1):
            try:
                result = ledger.post(
                    business_id=business_id, customer_id=body.customer_id, currency=body.currency,
                    amount=body.amount, is_credit=body.is_credit, actor=actor, reason=body.reason,
                    idempotency_key=body.key,
                )
            except InsufficientFunds as exc:
                return bank.Outcome(body, bank.INSUFFICIENT, detail=str(exc))
            except IdempotencyKeyReused as exc:
                return bank.Outcome(body, bank.REUSED, detail=str(exc))
            except Exception as exc:  # every other exception is a finding
                if retry_if is not None and retry_if(exc) and attempt < attempts:
                    continue
                return bank.Outcome(body, bank.ERROR, detail=repr(exc))
            return bank.Outcome(body, bank.REPLAYED if result.replayed else bank.OK, balance=result.balance)
        raise AssertionError("unreachable")  # pragma: no cover

    return post


def http_outcome(body: bank.Body, response: httpx.Response) -> bank.Outcome:
    code = ""
    if response.headers.get("content-type", "").startswith("application/json"):
        code = response.json().get("code", "")
    if response.status_code == 200:
        kind = bank.REPLAYED if response.headers.get("Idempotent-Replayed") == "true" else bank.OK
        return bank.Outcome(body, kind, balance=response.json()["balance"])
    if response.status_code == 400 and code == "INSUFFICIENT_WALLET_FUNDS":
        return bank.Outcome(body, bank.INSUFFICIENT)
    if response.status_code == 422 and code == "IDEMPOTENCY_KEY_REUSED":
        return bank.Outcome(body, bank.REUSED)
    if response.status_code == 503:
        return bank.Outcome(body, bank.UNKNOWN, detail=f"503 {response.text[:200]}")
    return bank.Outcome(body, bank.ERROR, detail=f"{response.status_code} {response.text[:300]}")


def http_post(client: httpx.Client, body: bank.Body) -> bank.Outcome:
    try:
        response = client.post(f"/customers/{body.customer_id}/wallets/ledger-entries", json=body.json())
    except httpx.TransportError as exc:
        return bank.Outcome(body, bank.UNKNOWN, detail=repr(exc))
    return http_outcome(body, response)


@pytest.mark.slow
def test_bank_through_services(reference_data):
    business = business_get_or_create(name="Bank services")[0]
    wallets, hot = make_wallets(business)
    workload = bank.BankWorkload(wallets=wallets, hot=hot, seed=1)
    finish_readers = start_readers(db_snapshot_read)

    outcomes = bank.run_workers(workload, workers=WORKERS, ops_per_worker=scaled(150),
                                post=post_through_services(business.id), on_exit=lambda: connection.close())  # noqa: PLW0108 - each worker closes its own thread's connection
    reader_problems, reads = finish_readers()

    assert reader_problems == []
    assert reads > 0
    stats = bank.summary(outcomes)
    print(f"bank/services: {WORKERS} workers, {stats}, {reads} consistent snapshot reads")
    assert stats["requests"] == WORKERS * scaled(150)
    assert stats.get(bank.OK, 0) > 0
    assert stats.get(bank.INSUFFICIENT, 0) > 0
    assert stats.get(bank.REPLAYED, 0) > 0
    assert stats.get(bank.REUSED, 0) > 0
    assert final_check(outcomes, wallets) == []


def http_reader(base_url: str, headers: dict, customer_id: str):
    client = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def read() -> list[str]:
        problems = []
        wallets = client.get(f"/customers/{customer_id}/wallets")
        if wallets.status_code != 200:
            return [f"GET wallets: {wallets.status_code} {wallets.text[:200]}"]
        problems += [f"negative balance {w}" for w in wallets.json()["items"] if w["balance"] < 0]
        page = client.get(f"/customers/{customer_id}/wallets/ledger-entries",
                          params={"currency": "USD", "page_size": 100})
        if page.status_code != 200:
            return [f"GET ledger: {page.status_code} {page.text[:200]}"]
        items = page.json()["items"]  # newest first
        for newer, older in itertools.pairwise(items):
            if newer["before_balance"] != older["after_balance"]:
                problems.append(f"chain broken between {older['id']} and {newer['id']}")
        problems += [f"negative entry {e['id']}" for e in items if e["after_balance"] < 0]
        return problems

    return read


@pytest.mark.slow
def test_bank_through_http_api(gunicorn_server):
    business = business_get_or_create(name="Bank HTTP")[0]
    _, raw_key = api_key_create(business=business, name="bank")
    wallets, hot = make_wallets(business)
    server = gunicorn_server(workers=4)
    headers = {"Authorization": f"Bearer {raw_key}"}
    workload = bank.BankWorkload(wallets=wallets, hot=hot, seed=2)

    clients = [httpx.Client(base_url=server.url, headers=headers, timeout=60) for _ in range(WORKERS)]
    finish_db_readers = start_readers(db_snapshot_read, count=1)
    finish_http_readers = start_readers(http_reader(server.url, headers, hot[0]), count=2)

    outcomes = bank.run_workers(workload, workers=WORKERS, ops_per_worker=scaled(60),
                                post=lambda worker, body: http_post(clients[worker], body))
    http_problems, http_reads = finish_http_readers()
    db_problems, db_reads = finish_db_readers()
    for client in clients:
        client.close()

    assert http_problems == []
    assert db_problems == []
    stats = bank.summary(outcomes)
    print(f"bank/http: {WORKERS} clients, gunicorn 4 workers, {stats}, {http_reads} API reads, {db_reads} snapshots")
    assert stats.get(bank.OK, 0) > 0
    assert stats.get(bank.INSUFFICIENT, 0) > 0
    assert stats.get(bank.REPLAYED, 0) > 0
    problems = final_check(outcomes, wallets)
    assert problems == [], server.log_tail()


# --- Coalescing on (wallets/ledger/coalesce.py) ----------------------------------------------------


def coalesced_batches(business_id: str) -> Counter:
    """Batches that wrote more than one entry, by size: a batch's entries share one time on one wallet
    (single postings never do: each reads the clock after its own lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallets_ledgerentry WHERE business_id = %s "
                       "GROUP BY wallet_id, created_at HAVING count(*) > 1", [business_id])
        return Counter(n for (n,) in cursor.fetchall())


@pytest.mark.slow
def test_bank_through_services_coalescing(reference_data, settings):
    """The services bank with coalescing on: 16 threads of one process, half of them on the hot
    wallet, so its postings queue and go in batches."""
    settings.WALLETS_COALESCE_POSTINGS = True
    business = business_get_or_create(name="Bank coalesced")[0]
    wallets, hot = make_wallets(business)
    workload = bank.BankWorkload(wallets=wallets, hot=hot, seed=3)
    before = Counter(coalesce.batch_sizes)
    finish_readers = start_readers(db_snapshot_read)

    outcomes = bank.run_workers(workload, workers=WORKERS, ops_per_worker=scaled(80),
                                post=post_through_services(business.id), on_exit=lambda: connection.close())  # noqa: PLW0108 - each worker closes its own thread's connection
    reader_problems, _ = finish_readers()

    assert reader_problems == []
    stats = bank.summary(outcomes)
    batches = +(coalesce.batch_sizes - before)
    print(f"bank/services coalesced: {WORKERS} workers, {stats}, batches by size {dict(sorted(batches.items()))}")
    assert stats["requests"] == WORKERS * scaled(80)
    assert stats.get(bank.ERROR, 0) == 0
    assert stats.get(bank.INSUFFICIENT, 0) > 0
    assert stats.get(bank.REPLAYED, 0) > 0
    assert stats.get(bank.REUSED, 0) > 0
    assert sum(n for size, n in batches.items() if size > 1) > 0, "nothing was coalesced"
    assert sum(coalesced_batches(business.id).values()) > 0
    assert final_check(outcomes, wallets) == []


@pytest.mark.slow
def test_bank_through_http_api_coalescing(gunicorn_server):
    """The HTTP bank against gunicorn gthread, 2 workers of 8 threads, coalescing on."""
    business = business_get_or_create(name="Bank HTTP coalesced")[0]
    _, raw_key = api_key_create(business=business, name="bank")
    wallets, hot = make_wallets(business)
    server = gunicorn_server(workers=2, threads=8, env={"WALLETS_COALESCE_POSTINGS": "true"})
    headers = {"Authorization": f"Bearer {raw_key}"}
    workload = bank.BankWorkload(wallets=wallets, hot=hot, seed=4)

    clients = [httpx.Client(base_url=server.url, headers=headers, timeout=60) for _ in range(WORKERS)]
    finish_db_readers = start_readers(db_snapshot_read, count=1)
    outcomes = bank.run_workers(workload, workers=WORKERS, ops_per_worker=scaled(30),
                                post=lambda worker, body: http_post(clients[worker], body))
    db_problems, _ = finish_db_readers()
    for client in clients:
        client.close()

    assert db_problems == []
    stats = bank.summary(outcomes)
    batches = coalesced_batches(business.id)
    print(f"bank/http coalesced: {WORKERS} clients, gunicorn 2x8 threads, {stats}, "
          f"batches of 2+ entries by size {dict(sorted(batches.items()))}")
    assert stats.get(bank.OK, 0) > 0
    assert stats.get(bank.INSUFFICIENT, 0) > 0
    assert stats.get(bank.REPLAYED, 0) > 0
    assert sum(batches.values()) > 0, "nothing was coalesced"
    problems = final_check(outcomes, wallets)
    assert problems == [], server.log_tail()
