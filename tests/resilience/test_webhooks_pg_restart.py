"""PostgreSQL restarted under load with webhooks on: nothing is lost.

A private PostgreSQL cluster (``tests/support/postgres.py``), gunicorn and a real ``run_worker`` on
it, a real receiver on loopback. Clients post credits through the API (retrying a 503 or a cut
connection with the same idempotency key) while the database is crashed twice (immediate shutdown:
no checkpoint, connections cut) and started again; neither the web server nor the worker is
restarted (the worker waits for the database instead of exiting). Afterwards every committed entry
has exactly one event, and the receiver got every one of them, signed.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.support.postgres import PrivatePostgres
from tests.support.servers import TaskWorker, manage
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.slow

WORKER_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_RETRY_SCHEDULE": "0.5,1,1,1,1,1,1,1",
    "WEBHOOK_TIMEOUT_S": "2",
    "WALLETS_SWEEP_INTERVAL": "1",
    "WALLETS_DB_CONNECT_TIMEOUT_S": "2",
}

MAKE_ENDPOINT = """
from wallets.models import Business
from wallets.services import webhooks
business = Business.objects.get()
endpoint = webhooks.endpoint_create(business_id=business.id, url={url!r},
                                    filter_types=["wallet.ledger_entry.created"])
print(endpoint.secret)
"""


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres().init()
    cluster.start()
    yield cluster
    cluster.destroy()


def wait_until(predicate, *, timeout: float, what: str, worker: TaskWorker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout}s\n{worker.log_tail(400)}")


def test_postgres_restarts_under_load_lose_no_webhook(gunicorn_server, private_postgres):
    began = time.monotonic()
    pg = private_postgres
    pg.psql("CREATE DATABASE wallets")
    url = pg.url("wallets")
    manage("migrate", "--no-input", "-v", "0", database_url=url)
    raw_key = manage("create_api_key", "Outage", database_url=url).strip().splitlines()[-1]
    print(f"setup {time.monotonic() - began:.1f}s")
    server = gunicorn_server(database_url=url, workers=3, threads=2, env={"WALLETS_DB_CONNECT_TIMEOUT_S": "2"})
    headers = {"Authorization": f"Bearer {raw_key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        customers = [client.post("/customers", json={"email": f"w{i}@example.com", "name": "W"}).json()["customer_id"]
                     for i in range(3)]

    with Receiver(delay=0.02) as receiver:
        secret = manage("shell", "-c", MAKE_ENDPOINT.format(url=receiver.url), database_url=url,
                        env=WORKER_ENV).strip().splitlines()[-1]
        worker = TaskWorker(database_url=url, args=("--interval", "0.1"), env=WORKER_ENV).start()
        try:
            stop = threading.Event()
            answers: collections.Counter[str] = collections.Counter()
            counter = itertools.count()

            def client_loop() -> None:
                with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
                    while not stop.is_set():
                        n = next(counter)
                        body = {"amount": 1 + n % 50, "currency": "USD", "entry_type": "credit",
                                "idempotency_key": f"pg-{n}", "reason": f"pg-{n}"}
                        for _ in range(100):  # the same request until it is answered
                            try:
                                response = client.post(f"/customers/{customers[n % 3]}/wallets/ledger-entries",
                                                       json=body)
                            except httpx.TransportError:
                                answers["cut"] += 1
                                time.sleep(0.1)
                                continue
                            answers[str(response.status_code)] += 1
                            if response.status_code != 503:
                                break
                            time.sleep(0.1)

            clients = [threading.Thread(target=client_loop) for _ in range(4)]
            for thread in clients:
                thread.start()
            try:
                for _ in range(2):
                    time.sleep(1.5)
                    pg.stop_immediate()
                    time.sleep(2.0)
                    pg.start()
                time.sleep(1.5)
            finally:
                stop.set()
                for thread in clients:
                    thread.join()

            def committed() -> tuple[set[str], dict[str, int]]:
                with psycopg.connect(url, autocommit=True) as conn:
                    entries = {row[0] for row in conn.execute("SELECT id FROM wallets_ledgerentry")}
                    events = dict(conn.execute(
                        "SELECT entry_id, count(*) FROM wallets_webhookevent "
                        "WHERE type = 'wallet.ledger_entry.created' GROUP BY entry_id").fetchall())
                    return entries, events

            entries, per_entry = committed()
            assert set(per_entry) == entries
            assert set(per_entry.values()) == {1}
            with psycopg.connect(url, autocommit=True) as conn:
                expected = {row[0] for row in conn.execute(
                    "SELECT id FROM wallets_webhookevent WHERE type = 'wallet.ledger_entry.created'")}
            load_over = time.monotonic()
            wait_until(lambda: expected <= {r.headers["webhook-id"] for r in receiver.requests}, timeout=60,
                       what="every committed entry's delivery", worker=worker)
            caught_up = time.monotonic() - load_over
            assert worker.process.poll() is None, f"the worker exited during an outage:\n{worker.log_tail()}"
        finally:
            worker.remove()
    assert answers["200"] == len(entries), answers  # every request answered once it could be
    assert answers["503"] + answers["cut"] > 0, "the outages were not felt"
    received = {r.headers["webhook-id"] for r in receiver.requests}
    assert received == expected
    for request in receiver.requests:
        Webhook(secret).verify(request.text, {k: v for k, v in request.headers.items() if k.startswith("webhook-")})
    print(f"webhooks pg restart: {len(entries)} entries committed under 2 database crashes, "
          f"{len(expected)} events delivered ({len(receiver.requests)} requests) {caught_up:.1f}s after the load, "
          f"answers {dict(answers)}")
