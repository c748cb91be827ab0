"""Posting credits and debits four ways, with identical work:

- B0 ``pgbench``: the same transaction as a pgbench script, on a copy of the database;
- B1 raw psycopg 3: the statements the service issues, from Python, one connection per client
  (the denominator of every ratio);
- B2 ``wallets.ledger.post`` called directly (Django ORM, no HTTP);
- B3 ``POST /customers/{id}/wallets/ledger-entries`` over HTTP/1.1 keep-alive against gunicorn; its
  variants (B3L, B3W, B3-granian …, ``bench/runner.py``'s ``AppVariant``) send the same requests to
  another application server, cache or webhook setting.

Each client is its own process (the GIL must not be the bottleneck of a baseline), warms up,
waits on a barrier, then posts for ``duration`` seconds. Requests are drawn from one seeded
generator per client, so B1, B2 and B3 send the same mix.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import re
import shutil
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from bench import data

WARMUP_REQUESTS = 5
CURRENCY = "USD"
REASON = "benchmark"
OVERDRAFT = 10**12  # larger than any balance: always refused, nothing written
HOT_CUSTOMER = 3
SKEW_HOT_WALLETS = 10


@dataclass(frozen=True)
class Workload:
    """Which wallets a client posts to, and whether requests carry idempotency keys.

    ``many``: uniform over the first ``posting_wallets`` USD wallets; ``hot``: every request on
    one wallet; ``skewed``: half the requests on 10 wallets, half uniform. Operations: 60% credits
    (1..5000), 35% debits (1..500, refused when larger than the balance), 5% overdrafts (refused).
    With keys: a fresh key per request and 5% retries of the previous request (same key and body:
    a replay, or the same refusal).
    """

    wallets: str  # many | hot | skewed
    idempotency: bool = False

    @property
    def name(self) -> str:
        return self.wallets + (" +idem" if self.idempotency else "")


@dataclass(frozen=True)
class Request:
    customer_id: str
    amount: int
    is_credit: bool
    idempotency_key: str | None


def request_stream(workload: Workload, *, n_wallets: int, seed: int, tag: str):
    rng = random.Random(seed)
    previous: Request | None = None
    i = 0
    while True:
        i += 1
        if workload.idempotency and previous is not None and rng.random() < 0.05:
            yield previous
            continue
        if workload.wallets == "hot":
            n = HOT_CUSTOMER
        elif workload.wallets == "skewed" and rng.random() < 0.5:
            n = 2 + rng.randrange(SKEW_HOT_WALLETS)
        else:
            n = 2 + rng.randrange(n_wallets)  # customer 1 is the whale, kept for the reads
        r = rng.random()
        if r < 0.05:
            amount, credit = OVERDRAFT, False
        elif r < 0.40:
            amount, credit = rng.randint(1, 500), False
        else:
            amount, credit = rng.randint(1, 5000), True
        key = f"{tag}-{seed}-{i}" if workload.idempotency else None
        previous = Request(data.customer_id(n), amount, credit, key)
        yield previous


# --- B1: raw psycopg, the service's statements ----------------------------------------------

# The engine's own statement texts (``wallets.ledger.sql.statements``, passed in by the harness as
# ``ctx["b1_statements"]``), so B1 can never drift from what the service sends: the lock, which also
# finds a key's earlier entry and reads the posting API key's state, the webhook flag and the currency's
# low-balance threshold, and the insert, which the database's trigger applies to the wallet (migration
# 0009): no UPDATE of the wallet from the client.
def b1_statements() -> tuple[str, str, str]:
    from wallets.ledger import sql

    statements = sql.statements("postgresql")
    return statements.lock, statements.lock_with_key, statements.insert


#: The lock statement's columns before the key's earlier entry (``wallets.ledger.locking.lock_wallet``).
_WALLET_COLUMNS = 12


class B1Client:
    def __init__(self, ctx: dict):
        import psycopg

        from wallets.ids import ledger_entry_id

        self.new_id = ledger_entry_id
        self.conn = psycopg.connect(ctx["database_url"])
        self.business_id = data.BUSINESS_ID
        self.actor_id = ctx["api_key_id"]
        self.lock, self.lock_with_key, self.insert = ctx["b1_statements"]

    def post(self, req: Request) -> str:
        import datetime

        cur = self.conn.cursor()
        try:
            if req.idempotency_key is None:
                cur.execute(self.lock, (self.actor_id, self.business_id, req.customer_id, CURRENCY))
                wallet_id, before, count, *_ = cur.fetchone()
            else:
                cur.execute(self.lock_with_key,
                            (self.actor_id, req.idempotency_key, self.business_id, req.customer_id, CURRENCY))
                row = cur.fetchone()
                wallet_id, before, count = row[:3]
                prior_id, *prior = row[_WALLET_COLUMNS:]
                if prior_id is not None:
                    same = (prior[0], prior[1], prior[2], prior[4]) == (CURRENCY, req.amount, req.is_credit, REASON)
                    self.conn.commit()
                    return "replayed" if same else "error"
            if req.is_credit:
                after = before + req.amount
            elif req.amount > before:
                self.conn.rollback()
                return "refused"
            else:
                after = before - req.amount
            now = datetime.datetime.now(datetime.UTC)
            cur.execute(self.insert, (
                self.new_id(), self.business_id, req.customer_id, wallet_id, CURRENCY, count + 1, req.amount,
                req.is_credit, "merchant_adjustment", REASON, None, req.idempotency_key, before, after,
                "api_key", self.actor_id, now, None, None, None, None, None,
            ))
            self.conn.commit()
            return "ok"
        except Exception:
            self.conn.rollback()
            raise


# --- B2: the service function --------------------------------------------------------------


class B2Client:
    def __init__(self, ctx: dict):
        from wallets.exceptions import InsufficientFunds
        from wallets.ledger import post as ledger_entry_post
        from wallets.services.actors import Actor

        self.post_fn = ledger_entry_post
        self.refused = InsufficientFunds
        self.actor = Actor.api_key(ctx["api_key_id"])

    def post(self, req: Request) -> str:
        try:
            result = self.post_fn(
                business_id=data.BUSINESS_ID, customer_id=req.customer_id, currency=CURRENCY, amount=req.amount,
                is_credit=req.is_credit, actor=self.actor, reason=REASON, idempotency_key=req.idempotency_key,
            )
        except self.refused:
            return "refused"
        return "replayed" if result.replayed else "ok"


# --- B3: HTTP against gunicorn ---------------------------------------------------------------


class B3Client:
    def __init__(self, ctx: dict):
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", ctx["http_port"], timeout=60)
        self.headers = {"Authorization": f"Bearer {ctx['api_key']}", "Content-Type": "application/json",
                        "Host": "127.0.0.1"}

    def post(self, req: Request) -> str:
        body = {"amount": req.amount, "currency": CURRENCY, "entry_type": "credit" if req.is_credit else "debit",
                "reason": REASON}
        if req.idempotency_key is not None:
            body["idempotency_key"] = req.idempotency_key
        self.conn.request("POST", f"/customers/{req.customer_id}/wallets/ledger-entries", json.dumps(body),
                          self.headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status == 200:
            return "replayed" if response.getheader("Idempotent-Replayed") == "true" else "ok"
        if response.status == 400 and b"INSUFFICIENT_WALLET_FUNDS" in payload:
            return "refused"
        raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")


CLIENTS = {"B1": B1Client, "B2": B2Client, "B3": B3Client}
# --- coalescing (``python -m bench run --coalesce``): B3 against a gunicorn of 2 workers x 8 threads,
# coalescing off (B3t) and on (B3c), so the two differ only in WALLETS_COALESCE_POSTINGS.
COALESCE_SERVERS = {
    "B3t": {"WEB_CONCURRENCY": "2", "WALLETS_GUNICORN_THREADS": "8", "WALLETS_COALESCE_POSTINGS": "false"},
    "B3c": {"WEB_CONCURRENCY": "2", "WALLETS_GUNICORN_THREADS": "8", "WALLETS_COALESCE_POSTINGS": "true"},
}
CLIENTS.update(dict.fromkeys(COALESCE_SERVERS, B3Client))


def batch_sizes(conn, business_id: str, since) -> dict[int, int]:
    """Entries per coalesced batch since ``since``: a batch's entries share one wallet and one time (a
    single posting's time is its own), so each group is one commit; {size: commits}."""
    rows = conn.execute(
        "SELECT n, count(*) FROM (SELECT count(*) AS n FROM wallets_ledgerentry WHERE business_id = %s "
        "AND created_at >= %s GROUP BY wallet_id, created_at) g GROUP BY n ORDER BY n", [business_id, since]
    ).fetchall()
    return {int(n): int(c) for n, c in rows}


def _client_main(variant, ctx, workload, seed, duration, *, ready, go, results):
    outcomes = {"ok": 0, "replayed": 0, "refused": 0, "error": 0}
    latencies: list[float] = []
    errors: list[str] = []
    warm_ok = 0
    try:
        kind = variant[:2]  # B3, B3L, B3W-granian …: the same HTTP client, another server
        if kind == "B2":
            data.setup_django(ctx["database_url"])
        client = CLIENTS[kind](ctx)
        stream = request_stream(workload, n_wallets=ctx["n_wallets"], seed=seed, tag=ctx["tag"])
        for _ in range(WARMUP_REQUESTS):
            warm_ok += client.post(next(stream)) == "ok"
    except Exception:
        errors.append(traceback.format_exc(limit=3))
        ready.wait()
        go.wait()
        results.put({"outcomes": outcomes, "latencies": latencies, "errors": errors, "warm_ok": warm_ok,
                     "issued": 0})
        return
    ready.wait()
    go.wait()
    issued = 0
    clock = time.perf_counter
    deadline = clock() + duration
    while True:
        started = clock()
        if started >= deadline:
            break
        issued += 1
        try:
            outcome = client.post(next(stream))
        except Exception as exc:  # counted and reported: an error makes the run void
            outcome = "error"
            if len(errors) < 3:
                errors.append(f"{type(exc).__name__}: {exc}"[:400])
        outcomes[outcome] += 1
        latencies.append((clock() - started) * 1000)
    results.put({"outcomes": outcomes, "latencies": latencies, "errors": errors, "warm_ok": warm_ok,
                 "issued": issued})


def run_clients(variant: str, ctx: dict, workload: Workload, *, clients: int, duration: float, round_no: int,
                on_ready=None) -> dict:
    """Run ``clients`` processes of ``variant`` for ``duration`` s. ``on_ready`` runs after every
    client warmed up and before they start (reset counters there)."""
    mpctx = mp.get_context("fork")
    ready = mpctx.Barrier(clients + 1)
    go = mpctx.Barrier(clients + 1)
    results = mpctx.Queue()
    procs = [
        mpctx.Process(target=_client_main, args=(variant, ctx, workload, 1000 * round_no + i, duration),
                      kwargs={"ready": ready, "go": go, "results": results}, daemon=True)
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=120)
    if on_ready:
        on_ready()
    go.wait(timeout=30)
    started = time.perf_counter()
    parts = [results.get(timeout=duration + 120) for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=30)
    outcomes = {k: sum(p["outcomes"][k] for p in parts) for k in ("ok", "replayed", "refused", "error")}
    latencies = sorted(x for p in parts for x in p["latencies"])
    completed = len(latencies)
    return {
        "variant": variant, "clients": clients, "duration_s": duration, "wall_s": round(elapsed, 3),
        "requests": completed, "throughput": completed / duration if duration else 0.0,
        "latency_ms": percentiles(latencies), "outcomes": outcomes,
        "written": outcomes["ok"] + sum(p["warm_ok"] for p in parts),
        "errors": [e for p in parts for e in p["errors"]][:5],
    }


def percentiles(sorted_values: list[float]) -> dict[str, float | None]:
    if not sorted_values:
        return {"p50": None, "p95": None, "p99": None}

    def pick(q: float) -> float:
        return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 3)

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


# --- B0: pgbench ------------------------------------------------------------------------------

PGBENCH_PICK = {
    "many": "\\set n random(2, :nwallets + 1)\n",
    "hot": f"\\set n {HOT_CUSTOMER}\n",
    "skewed": (
        "\\set u random(1, 100)\n"
        f"\\if :u <= 50\n\\set n random(2, {SKEW_HOT_WALLETS + 1})\n\\else\n\\set n random(2, :nwallets + 1)\n\\endif\n"
    ),
}

PGBENCH_BODY = """\\set r random(1, 100)
\\set amt random(1, 5000)
\\set key random(1, 1000000000000)
\\if :r <= 5
\\set amt 1000000000000
\\set credit 0
\\elif :r <= 40
\\set amt random(1, 500)
\\set credit 0
\\else
\\set credit 1
\\endif
BEGIN;
SELECT w.id AS wid, w.customer_id AS cid, w.balance AS bal, w.entry_count AS cnt{idempotency} FROM wallets_wallet w
  WHERE w.business_id = :bid AND w.currency = 'USD' AND w.customer_id = 'cus_' || substr(md5('c' || :n::text), 1, 21)
  ORDER BY w.currency LIMIT 1 FOR NO KEY UPDATE \\gset
\\if :credit = 0 and :amt > :bal
ROLLBACK;
\\else
\\set seq :cnt + 1
\\if :credit = 1
\\set after :bal + :amt
\\else
\\set after :bal - :amt
\\endif
INSERT INTO wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, sequence, amount, is_credit,
  event_type, reason, reference_object_id, idempotency_key, before_balance, after_balance, actor_type, actor_id,
  created_at)
  VALUES ('wle_' || substr(md5(random()::text), 1, 21), :bid, :cid, :wid, 'USD', :seq, :amt, :credit::int::boolean,
  'merchant_adjustment', 'benchmark', NULL, {key}, :bal, :after, 'api_key', 'pgbench', now());
COMMIT;
\\endif
"""

# With keys the lock statement also looks the key up (as the service does); every key is new here.
PGBENCH_IDEMPOTENCY = (
    ", (SELECT e.id FROM wallets_ledgerentry e WHERE e.business_id = :bid AND e.customer_id = "
    "'cus_' || substr(md5('c' || :n::text), 1, 21) AND e.idempotency_key = 'pgb-' || :key::text LIMIT 1) AS prior"
)


def pgbench_script(workload: Workload) -> str:
    body = PGBENCH_BODY.replace("{idempotency}", PGBENCH_IDEMPOTENCY if workload.idempotency else "")
    body = body.replace("{key}", "'pgb-' || :key::text" if workload.idempotency else "NULL")
    return PGBENCH_PICK[workload.wallets] + body


def run_pgbench(cluster, dbname: str, workload: Workload, *, clients: int, duration: float, n_wallets: int,
                on_ready=None) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="wallets_bench_pgbench_"))
    script = workdir / "posting.sql"
    script.write_text(pgbench_script(workload))
    if on_ready:
        on_ready()
    cmd = [
        str(cluster.bindir / "pgbench"), "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(cluster.port),
        "-U", "postgres", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, round(duration))),
        "-D", f"bid={data.BUSINESS_ID}", "-D", f"nwallets={n_wallets}", "-f", str(script),
        "-l", "--log-prefix", str(workdir / "log"), dbname,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, check=False)
    latencies = []
    for log in workdir.glob("log*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6:
                latencies.append(int(fields[2]) / 1000)
    latencies.sort()
    shutil.rmtree(workdir, ignore_errors=True)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
    failed = proc.returncode != 0 or ("aborted" in proc.stdout and not re.search(r"aborted.*: 0 ", proc.stdout))
    return {
        "variant": "B0", "clients": clients, "duration_s": max(1, round(duration)),
        "requests": len(latencies), "throughput": float(tps.group(1)) if tps else 0.0,
        "latency_ms": percentiles(latencies), "outcomes": {},
        "errors": [proc.stderr[-500:]] if failed else [],
    }
