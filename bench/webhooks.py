"""Webhooks: what one subscribed endpoint costs API posting, and how fast the worker delivers.

1. Posting through the API (B3) with webhooks off (no enabled endpoint: no event is written), on (one
   endpoint subscribed to everything: the posting writes its events, the worker is stopped), and
   on+delivering (the same, with ``run_worker`` delivering to a local receiver meanwhile, on the same
   cores), interleaved in rounds with the raw-SQL baseline (B1) of the same workload, so all are
   measured under the same machine load. "on" is the posting path's own cost; "on+delivering" adds
   the worker's CPU on this machine (in production the worker runs on other cores or hosts). Each
   committed entry must have exactly one ``wallet.ledger_entry.created`` event when on, none when off.
2. Delivery: a burst of events committed at once (one batch posting), then the time until the
   worker has delivered all of them to the receiver: events per second, one worker process.

Figures only: nothing here passes or fails on time.
"""

from __future__ import annotations

import datetime
import statistics
import time

from bench import data, posting
from tests.support.servers import TaskWorker
from tests.webhooks.receiver import Receiver

PRIVATE_OK = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}


def _endpoint(url: str) -> str:
    from django.conf import settings

    from wallets.models import WebhookEndpoint
    from wallets.services.webhooks import endpoint_create

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver is on loopback
    WebhookEndpoint.objects.filter(business_id=data.BUSINESS_ID).delete()
    return endpoint_create(business_id=data.BUSINESS_ID, url=url, description="bench receiver").id


def _set_enabled(conn, endpoint_id: str, enabled: bool) -> None:
    conn.execute("UPDATE wallets_webhookendpoint SET disabled = %s, disabled_reason = %s WHERE id = %s",
                 [not enabled, "" if enabled else "manual", endpoint_id])


def _wait_delivered(conn, *, since: datetime.datetime, timeout: float) -> tuple[int, int, float]:
    """Wait until every event since ``since`` is dispatched and delivered; (events, delivered, seconds)."""
    started = time.perf_counter()
    while True:
        events, undispatched, undelivered = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE dispatched_at IS NULL), "
            "(SELECT count(*) FROM wallets_webhookdelivery d JOIN wallets_webhookevent e ON e.id = d.event_id "
            " WHERE e.created_at >= %s AND d.status <> 'delivered') "
            "FROM wallets_webhookevent WHERE created_at >= %s", [since, since]).fetchone()
        elapsed = time.perf_counter() - started
        if (undispatched == 0 and undelivered == 0) or elapsed > timeout:
            return events, events - undispatched - undelivered, elapsed
        time.sleep(0.05)


class Subscription:
    """The posting phase's webhooks-on variants (B3W, B3WL): the business's one endpoint, pointed at a
    receiver of ours, enabled and with the worker delivering only while such a variant's clients run
    (``on``/``off``); disabled, with no worker, for every other variant. ``check`` holds each API run to
    one ``wallet.ledger_entry.created`` event per committed entry when on, none when off; ``drain``
    delivers what is left at the end of the phase and counts it."""

    def __init__(self, run):
        self.run = run
        self.receiver = Receiver()
        self.worker = TaskWorker(database_url=run.url, args=("--interval", "0.2"), env=PRIVATE_OK)
        self.events = 0
        self.active = False

    def __enter__(self) -> Subscription:
        from django.db import connections

        self.receiver.__enter__()
        self.started = datetime.datetime.now(datetime.UTC)
        self.endpoint_id = _endpoint(f"http://127.0.0.1:{self.receiver.port}/hooks")
        connections.close_all()
        self.conn = self.run.cluster.connect(self.run.url.rsplit("/", 1)[-1], autocommit=True)
        _set_enabled(self.conn, self.endpoint_id, False)
        return self

    def on(self) -> None:
        if not self.active:
            _set_enabled(self.conn, self.endpoint_id, True)
            self.worker.start()
            self.active = True

    def off(self) -> None:
        if self.active:
            self.worker.stop()
            _set_enabled(self.conn, self.endpoint_id, False)
            self.active = False

    def check(self, result: dict, conn, *, since: datetime.datetime, enabled: bool) -> None:
        events = conn.execute(
            "SELECT count(*) FROM wallets_webhookevent WHERE created_at >= %s AND type = 'wallet.ledger_entry.created'",
            [since]).fetchone()[0]
        expected = result["entries_in_db"] if enabled else 0
        result["webhook_events"] = events
        self.events += events
        if events != expected:
            result["invariants"]["ok"] = False
            self.run.void.append(f"{result['variant']} {result['workload']} x{result['clients']} round "
                                 f"{result['round']}: {events} webhook events for {result['entries_in_db']} entries "
                                 f"(webhooks {'on' if enabled else 'off'})")

    def drain(self, conn) -> dict:
        """Deliver every event of the phase (the worker, once more) and count them."""
        self.on()
        try:
            events, delivered, seconds = _wait_delivered(conn, since=self.started, timeout=120)
        finally:
            self.off()
        # Every event of the phase: the entries' (counted run by run) and the others they caused
        # (a low balance after a debit …).
        if events != delivered or events < self.events:
            self.run.void.append(f"posting webhooks: {delivered} of {events} events delivered "
                                 f"({self.events} ledger-entry events counted after the runs)")
        return {"events": events, "delivered": delivered, "ledger_entry_events": self.events,
                "drain_s": round(seconds, 2), "receiver_requests": len(self.receiver.requests)}

    def __exit__(self, *exc) -> None:
        self.worker.remove()
        self.conn.close()
        self.receiver.__exit__(*exc)


def webhooks(run, *, db: str, raw_db: str, rounds: int, seconds: float, clients: int = 8, burst: int = 2000) -> dict:
    workload = posting.Workload("many")
    out: dict = {"clients": clients, "seconds": seconds, "rounds": rounds, "workload": workload.name}
    runs: list[dict] = []
    worker = TaskWorker(database_url=run.url, args=("--interval", "0.2"), env=PRIVATE_OK)
    variants = (("off", "B3", False, False), ("on", "B3", True, False), ("raw", "B1", False, False),
                ("on+delivering", "B3", True, True))
    with Receiver() as receiver, run.cluster.connect(raw_db, autocommit=True) as raw_conn, \
            run.cluster.connect(db, autocommit=True) as conn:
        # The posting phase's B3 server (started once per run; WEBHOOK_ALLOW_PRIVATE_TARGETS is set on it).
        key = ("gthread", run.plan.caches[0], ())  # AppVariant("gthread", cache).server_key
        server = run.app_servers([key])[key]
        from bench.pg import StatementCounter

        endpoint_id = _endpoint(f"http://127.0.0.1:{receiver.port}/hooks")
        counter = StatementCounter(run.cluster, db)
        counter_raw = StatementCounter(run.cluster, raw_db)
        try:
            for round_no in range(1, rounds + 1):
                for name, variant, enabled, delivering in variants:
                    _set_enabled(conn, endpoint_id, enabled)
                    if delivering:
                        worker.start()
                    since = datetime.datetime.now(datetime.UTC)
                    result = run._measure(variant, workload, clients=clients, seconds=seconds, round_no=round_no,
                                          server=server, counter=counter, counter_raw=counter_raw, conn=conn,
                                          raw_conn=raw_conn)
                    if delivering and round_no < rounds:  # after the last round it delivers the backlog
                        worker.stop()
                    events = conn.execute(
                        "SELECT count(*) FROM wallets_webhookevent WHERE created_at >= %s "
                        "AND type = 'wallet.ledger_entry.created'", [since]).fetchone()[0]
                    one_each = events == (result["entries_in_db"] if enabled else 0)
                    if variant == "B3" and not one_each:
                        run.void.append(f"webhooks {name} round {round_no}: {events} events for "
                                        f"{result['entries_in_db']} entries")
                    runs.append({"name": name, "round": round_no, "throughput": result["throughput"],
                                 "statements_per_op": result.get("statements_per_op"), "events": events,
                                 "entries": result.get("entries_in_db"), "one_event_per_entry": one_each,
                                 "pg_cpu_ms_per_op": result.get("pg_cpu_ms_per_op"),
                                 "app_cpu_ms_per_op": result.get("app_cpu_ms_per_op")})
            _set_enabled(conn, endpoint_id, True)
            if worker.process is None or worker.process.poll() is not None:
                worker.start()
            drained = _wait_delivered(conn, since=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1),
                                      timeout=300)
            out["backlog_after_posting"] = {"events": drained[0], "delivered": drained[1],
                                            "drain_s": round(drained[2], 2)}
            out["delivery"] = _burst(run, conn, burst)
            out["worker_log_tail"] = worker.log_tail(5)
        finally:
            worker.remove()
            counter.close()
            counter_raw.close()
    out["receiver_requests"] = len(receiver.requests)
    out["runs"] = runs
    names = [name for name, *_ in variants]
    med = {name: statistics.median([r["throughput"] for r in runs if r["name"] == name]) for name in names}
    statements = {name: statistics.median([r["statements_per_op"] or 0 for r in runs if r["name"] == name])
                  for name in names if name != "raw"}
    out["median_throughput"] = {k: round(v, 1) for k, v in med.items()}
    out["statements_per_op"] = statements
    out["on_vs_off"] = round(med["on"] / med["off"], 3) if med["off"] else None
    out["off_vs_raw"] = round(med["off"] / med["raw"], 3) if med["raw"] else None
    out["on_vs_raw"] = round(med["on"] / med["raw"], 3) if med["raw"] else None
    out["delivering_vs_off"] = round(med["on+delivering"] / med["off"], 3) if med["off"] else None
    out["summary"] = (f"API posting x{clients}: off {med['off']:.0f}/s, on {med['on']:.0f}/s "
                      f"(on/off {out['on_vs_off']}), on while the worker delivers {med['on+delivering']:.0f}/s "
                      f"({out['delivering_vs_off']}), raw SQL {med['raw']:.0f}/s; "
                      f"delivery {out['delivery']['events_per_s']} events/s")
    return out


def _burst(run, conn, count: int) -> dict:
    """``count`` credits in one batch (``count`` events at one commit), then the time to deliver them."""
    from django.db import connections

    from wallets import ledger
    from wallets.ledger.posting import Posting
    from wallets.services.actors import Actor

    postings = [Posting(customer_id=data.customer_id(2 + i % run.plan.sizes.posting_wallets),
                        request=ledger.Request("USD", 1 + i % 100, True)) for i in range(count)]
    since = datetime.datetime.now(datetime.UTC)
    committed = time.perf_counter()
    ledger.post_many(business_id=data.BUSINESS_ID, postings=postings, actor=Actor.command("bench"))
    committed = time.perf_counter() - committed
    connections.close_all()
    events, delivered, seconds = _wait_delivered(conn, since=since, timeout=300)
    return {"events": events, "delivered": delivered, "post_s": round(committed, 2), "deliver_s": round(seconds, 2),
            "events_per_s": round(delivered / seconds, 1) if seconds else None}
