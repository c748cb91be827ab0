"""A gunicorn worker SIGKILLed in the middle of a coalesced batch (``wallets/ledger/coalesce.py``).

gunicorn gthread, one worker of 8 threads, coalescing on; 8 clients post to one wallet at once. A
test-only trigger makes a batch's insert slow (``pg_sleep`` when one statement inserts more than one
entry), and the worker is killed while PostgreSQL sleeps in it: the batch's transaction never
commits. Afterwards no entry of the unfinished batch exists; every request that got a 200 is in the
ledger exactly once; the ones cut off, retried with their keys, post now (fresh, not replays:
nothing of theirs was written); and the oracle holds.
"""

from __future__ import annotations

import threading
from collections import Counter

import httpx
from django.db import connection

from tests.resilience import bank
from tests.resilience.test_bank import http_post
from tests.support import oracle
from tests.support.servers import wait_until
from wallets.models import LedgerEntry, Wallet
from wallets.services import customer_create
from wallets.services.api_keys import api_key_create, business_get_or_create

CLIENTS = 8
SLOW_BATCH = """
CREATE FUNCTION wallets_test_slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM new_rows) > 1 THEN
        PERFORM pg_sleep(2);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER wallets_test_slow_batch AFTER INSERT ON wallets_ledgerentry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wallets_test_slow_batch();
"""
DROP_SLOW_BATCH = """
DROP TRIGGER IF EXISTS wallets_test_slow_batch ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_test_slow_batch();
"""


def sleeping_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0]


def open_transactions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")
        return cursor.fetchone()[0]


def body(n: int, customer_id: str) -> bank.Body:
    return bank.Body(reason=f"crash:{n}", customer_id=customer_id, currency="USD", amount=100 + n, is_credit=True,
                     key=f"crash-{n}")


def test_sigkill_mid_batch_leaves_nothing_of_the_batch(gunicorn_server):
    business = business_get_or_create(name="Coalesce kill")[0]
    _, raw_key = api_key_create(business=business, name="kill")
    customer = customer_create(business_id=business.id, email="hot@example.com", name="Hot")[0]
    server = gunicorn_server(workers=1, threads=CLIENTS, env={"WALLETS_COALESCE_POSTINGS": "true"})
    headers = {"Authorization": f"Bearer {raw_key}"}
    clients = [httpx.Client(base_url=server.url, headers=headers, timeout=30) for _ in range(CLIENTS)]
    bodies = [body(n, customer.id) for n in range(CLIENTS)]
    assert http_post(clients[0], body(100, customer.id)).kind == bank.OK  # warm: the worker's first request
    outcomes: dict[int, bank.Outcome] = {}

    def send(n: int) -> None:
        outcomes[n] = http_post(clients[n], bodies[n])

    with connection.cursor() as cursor:
        cursor.execute(SLOW_BATCH)
    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        wait_until(lambda: sleeping_backends() > 0, timeout=20, what="a batch inside its insert")
        (worker,) = server.worker_pids()
        server.kill_worker(worker)
        for thread in threads:
            thread.join(30)
        # The killed worker's backend ends its sleep, finds its client gone and rolls back.
        wait_until(lambda: sleeping_backends() == 0 and open_transactions() == 0, timeout=20,
                   what="the dead batch's transaction to end")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(DROP_SLOW_BATCH)

    kinds = Counter(o.kind for o in outcomes.values())
    cut = [n for n, o in outcomes.items() if o.kind == bank.UNKNOWN]
    assert len(cut) >= 2, f"the kill was not mid-batch: {kinds}"
    assert set(kinds) <= {bank.OK, bank.UNKNOWN}, outcomes
    entries = LedgerEntry.objects.filter(business=business)
    reasons = Counter(entries.values_list("reason", flat=True))
    # Nothing of the unfinished batch; every 200 exactly once.
    assert not [n for n in cut if reasons[f"crash:{n}"]], reasons
    assert all(reasons[f"crash:{n}"] == 1 for n, o in outcomes.items() if o.kind == bank.OK)
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []

    # The new worker (gunicorn starts one) posts the cut-off requests, retried with their keys.
    wait_until(lambda: len(server.worker_pids()) == 1 and worker not in server.worker_pids(), timeout=30,
               what="a new worker")
    retried = {n: http_post(clients[n], bodies[n]) for n in cut}
    for client in clients:
        client.close()
    assert {o.kind for o in retried.values()} == {bank.OK}, retried  # fresh postings: none was a replay
    reasons = Counter(entries.values_list("reason", flat=True))
    assert all(reasons[b.reason] == 1 for b in bodies)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert wallet.balance == 200 + sum(b.amount for b in bodies)
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []
    print(f"coalesce kill: {CLIENTS} clients on one wallet, SIGKILL mid-batch: {kinds[bank.OK]} answered, "
          f"{len(cut)} cut off and none of theirs written; retried with their keys, each posted once")
