"""Connection pooling, three ways, in one run and interleaved (docs/sharding.md, "Connection pooling"):

- ``persistent``: ``CONN_MAX_AGE`` (the default, 60 s): one server connection per gunicorn thread;
- ``pool``: Django's psycopg pool (``WALLETS_DB_POOL=1:<threads>``, ``CONN_MAX_AGE=0``): a pool per
  gunicorn process, a connection borrowed per request;
- ``pgbouncer``: PgBouncer in transaction mode in front of PostgreSQL (persistent connections to
  PgBouncer, ``DISABLE_SERVER_SIDE_CURSORS``), a server connection per transaction.

The three servers run side by side (the product as deployed, ``gunicorn.conf.py``); each round runs
every configuration once on the same cells, in turn: API posting (``many`` wallets, 8 clients, with
raw psycopg, B1, in the same round as the denominator) and one read cell (``GET /customers/{id}/wallets``
from 8 client processes, against the same SELECT through raw psycopg). While a cell runs, a sampler
reads ``pg_stat_activity`` every 20 ms: the server connections each configuration holds (by
``application_name``; PgBouncer passes the client's on). The invariants are checked after every cell.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import multiprocessing as mp
import os
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench import data, posting
from bench.pg import StatementCounter
from bench.servers import PgBouncer
from tests.support import oracle

CONFIGS = ("persistent", "pool", "pgbouncer")
CLIENTS = 8


class Sampler:
    """A thread that runs ``sample(conn)`` every ``every`` seconds on its own connection (``connect()``)
    while the ``with`` block runs."""

    every: float = 0.02

    def connect(self):
        raise NotImplementedError

    def sample(self, conn) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        with self.connect() as conn:
            while not self._stop.is_set():
                self.sample(conn)
                time.sleep(self.every)

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ActivitySampler(Sampler):
    """Peak server connections per ``application_name`` on one database while it runs."""

    def __init__(self, cluster, dbname: str, names: tuple[str, ...], every: float = 0.02):
        self.cluster, self.dbname, self.names, self.every = cluster, dbname, names, every
        self.peak: dict[str, dict[str, int]] = {}

    def connect(self):
        return self.cluster.connect(autocommit=True)  # the postgres database: not counted

    def sample(self, conn) -> None:
        rows = conn.execute(
            "SELECT application_name, count(*), count(*) FILTER (WHERE state = 'active') "
            "FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
            "AND application_name = ANY(%s) GROUP BY 1", [self.dbname, list(self.names)]).fetchall()
        for name, total, active in rows:
            peak = self.peak.setdefault(name, {"connections": 0, "active": 0})
            peak["connections"] = max(peak["connections"], total)
            peak["active"] = max(peak["active"], active)

    def of(self, name: str) -> dict[str, int]:
        return self.peak.get(name, {"connections": 0, "active": 0})


def _read_client(target: dict, seed: int, duration: float, *, ready, go, results) -> None:
    """GET the wallets of random customers (or ``target["path"]``, a format with ``{customer}``) over one
    keep-alive connection (``http``), or run the wallets' SELECT on one psycopg connection (``raw``),
    for ``duration`` seconds after the barrier."""
    rng = random.Random(seed)
    customers = target["customers"]
    latencies: list[float] = []
    errors = 0
    if target["kind"] == "http":
        path = target.get("path", "/customers/{customer}/wallets")
        conn = http.client.HTTPConnection("127.0.0.1", target["port"], timeout=30)
        headers = {"Authorization": f"Bearer {target['api_key']}", "Host": "127.0.0.1"}

        def one() -> bool:
            conn.request("GET", path.format(customer=rng.choice(customers)), headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status == 200
    else:
        import psycopg

        pg = psycopg.connect(target["database_url"], autocommit=True)

        def one() -> bool:
            pg.execute("SELECT id, currency, balance, held_balance, granted_balance FROM wallets_wallet "
                       "WHERE business_id = %s AND customer_id = %s ORDER BY currency",
                       [data.BUSINESS_ID, rng.choice(customers)]).fetchall()
            return True
    for _ in range(3):
        one()
    ready.wait(timeout=120)
    go.wait(timeout=30)
    end = time.perf_counter() + duration
    while (now := time.perf_counter()) < end:
        ok = one()
        latencies.append((time.perf_counter() - now) * 1000)
        errors += not ok
    results.put({"latencies": latencies, "errors": errors})


def read_cell(target: dict, *, clients: int, duration: float) -> dict:
    mpctx = mp.get_context("fork")
    ready, go, results = mpctx.Barrier(clients + 1), mpctx.Barrier(clients + 1), mpctx.Queue()
    procs = [mpctx.Process(target=_read_client, args=(target, 100 + i, duration), daemon=True,
                           kwargs={"ready": ready, "go": go, "results": results})
             for i in range(clients)]
    for proc in procs:
        proc.start()
    ready.wait(timeout=120)
    go.wait(timeout=30)
    parts = [results.get(timeout=duration + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    latencies = sorted(x for p in parts for x in p["latencies"])
    return {"requests": len(latencies), "throughput": len(latencies) / duration,
            "errors": sum(p["errors"] for p in parts), "latency_ms": posting.percentiles(latencies)}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def pooling(run, *, db: str, rounds: int, seconds: float, workers: int | None = None) -> dict:
    """``workers``: gunicorn processes per server (default: ``gunicorn.conf.py``'s); the smoke run
    boots one each, to stay short."""
    threads = int(os.environ.get("WALLETS_GUNICORN_THREADS", "2"))
    sized = {"WEB_CONCURRENCY": str(workers)} if workers else {}
    names = {c: f"bench-{c}" for c in CONFIGS}
    workload = posting.Workload("many")
    rng = random.Random(11)
    customers = [data.customer_id(2 + rng.randrange(run.plan.sizes.customers - 1)) for _ in range(50)]
    runs: list[dict] = []
    with contextlib.ExitStack() as stack:
        bouncer = stack.enter_context(PgBouncer(run.cluster.port))
        direct = run.cluster.url(db)
        servers = {
            "persistent": run.gunicorn(f"{direct}?application_name={names['persistent']}", extra_env=sized),
            "pool": run.gunicorn(f"{direct}?application_name={names['pool']}",
                                 extra_env={**sized, "WALLETS_DB_POOL": f"1:{threads}"}),
            "pgbouncer": run.gunicorn(f"{run.cluster.url(db, port=bouncer.port)}?disable_server_side_cursors=true"
                                      f"&application_name={names['pgbouncer']}", extra_env=sized),
        }
        for server in servers.values():
            stack.callback(server.stop)
        with ThreadPoolExecutor(len(servers)) as starting:  # three boots at once: the smoke run stays short
            list(starting.map(lambda server: server.start(), servers.values()))
        conn = stack.enter_context(run.cluster.connect(db, autocommit=True))
        counter = StatementCounter(run.cluster, db)
        stack.callback(counter.close)
        for round_no in range(1, rounds + 1):
            for config in CONFIGS:
                server = servers[config]
                with ActivitySampler(run.cluster, db, tuple(names.values())) as sampler:
                    posted = run._measure("B3", workload, clients=CLIENTS, seconds=seconds, round_no=round_no,
                                          server=server, counter=counter, counter_raw=counter, conn=conn,
                                          raw_conn=conn)
                runs.append({"config": config, "cell": "posting many x8", "round": round_no,
                             "throughput": posted["throughput"], "latency_ms": posted["latency_ms"],
                             "errors": posted["errors"][:2], "invariants_ok": posted["invariants"]["ok"],
                             "server_connections": sampler.of(names[config]),
                             "all_servers_connections": dict(sampler.peak)})
                since = datetime.datetime.now(datetime.UTC)
                target = {"kind": "http", "port": server.port, "api_key": run.api_key, "customers": customers}
                with ActivitySampler(run.cluster, db, tuple(names.values())) as sampler:
                    read = read_cell(target, clients=CLIENTS, duration=seconds)
                check = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID, since=since)
                runs.append({"config": config, "cell": "read wallets x8", "round": round_no, **read,
                             "invariants_ok": check.ok, "server_connections": sampler.of(names[config])})
                if read["errors"] or not check.ok:
                    run.void.append(f"pooling {config} read round {round_no}: {read['errors']} errors, "
                                    f"invariants {check.problems or 'ok'}")
            # The denominators, in the same round: raw psycopg, one connection per client.
            b1 = run._measure("B1", workload, clients=CLIENTS, seconds=seconds, round_no=round_no,
                              server=servers["persistent"], counter=counter, counter_raw=counter, conn=conn,
                              raw_conn=conn)
            runs.append({"config": "B1 raw psycopg", "cell": "posting many x8", "round": round_no,
                         "throughput": b1["throughput"], "latency_ms": b1["latency_ms"],
                         "invariants_ok": b1["invariants"]["ok"], "server_connections": {"connections": CLIENTS}})
            raw = read_cell({"kind": "raw", "database_url": direct, "customers": customers}, clients=CLIENTS,
                            duration=seconds)
            runs.append({"config": "B1 raw psycopg", "cell": "read wallets x8", "round": round_no, **raw,
                         "server_connections": {"connections": CLIENTS}})
        full = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID)
        if not full.ok:
            run.void.append(f"pooling broke invariants: {full.problems}")
        describe = servers["persistent"].describe()
    return {"configs": {"persistent": "CONN_MAX_AGE=60 (the default)",
                        "pool": f"WALLETS_DB_POOL=1:{threads} (CONN_MAX_AGE=0)",
                        "pgbouncer": f"{bouncer.version()}, transaction mode, default_pool_size {bouncer.pool_size}"},
            "server": describe, "rounds": rounds, "seconds": seconds, "runs": runs,
            "summary": summarize(runs), "invariants_all": full.as_dict()}


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for cell in ("posting many x8", "read wallets x8"):
        mine = [r for r in runs if r["cell"] == cell]
        base = _median([r["throughput"] for r in mine if r["config"] == "B1 raw psycopg"])
        for config in (*CONFIGS, "B1 raw psycopg"):
            these = [r for r in mine if r["config"] == config]
            if not these:
                continue
            throughput = _median([r["throughput"] for r in these])
            rows.append({
                "cell": cell, "config": config, "throughput": throughput,
                "ratio_to_b1": round(throughput / base, 3) if base and throughput else None,
                "p50_ms": _median([r["latency_ms"]["p50"] for r in these if r["latency_ms"]["p50"] is not None]),
                "p99_ms": _median([r["latency_ms"]["p99"] for r in these if r["latency_ms"]["p99"] is not None]),
                "server_connections_peak": max(r["server_connections"]["connections"] for r in these),
                "server_connections_active_peak": max(r["server_connections"].get("active", 0) for r in these),
                "invariants_ok": all(r.get("invariants_ok", True) for r in these),
                "rounds": [round(r["throughput"], 1) for r in these],
            })
    return rows
