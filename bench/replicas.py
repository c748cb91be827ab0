"""A streaming read replica, measured (docs/scaling.md, "What one replica sustains").

A hot standby of the run's private cluster (``pg_basebackup -R``, ``tests/support/postgres.py``'s
``PrivateStandby``: the same machine, so the same cores), and two application servers on the same
primary: ``primary`` (no replicas) and ``replica`` (``DATABASE_REPLICA_URLS`` pointed at the
standby). Each round, in turn:

- the ledger history (``GET /customers/{id}/wallets/ledger-entries``, an opted-in read) from 8 client
  processes through each server, with the CPU each PostgreSQL spent: the standby serves the
  ``replica`` server's reads, the primary the ``primary`` server's;
- API postings (``many`` wallets, 8 clients) on the primary while a sampler reads the standby's replay
  lag every 20 ms (the router's own measure, ``REPLICA_STATE_SQL``), and the same history read
  through the ``replica`` server at the same time: what the standby serves while it replays.

The invariants are checked over the primary after every cell. One machine: the standby competes with
the primary and the app for the same two cores, so this gives what a replica costs and sustains, not
the gain of a second machine.
"""

from __future__ import annotations

import contextlib
import datetime
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench import data, posting
from bench.pg import StatementCounter, process_tree_cpu_seconds
from bench.pooling import Sampler, read_cell
from tests.support import oracle
from tests.support.postgres import PrivateStandby
from walletproject.db_router import REPLICA_STATE_SQL

CONFIGS = ("primary", "replica")
CLIENTS = 8
HISTORY = "/customers/{customer}/wallets/ledger-entries?page_size=20"


class LagSampler(Sampler):
    """The standby's replay lag (the router's measure), every ``every`` seconds while it runs."""

    def __init__(self, standby: PrivateStandby, dbname: str, every: float = 0.02):
        self.standby, self.dbname, self.every = standby, dbname, every
        self.lags: list[float] = []
        self.unmeasured = 0  # behind with no replayed commit yet: the router calls it lagging

    def connect(self):
        return self.standby.connect(dbname=self.dbname, autocommit=True)

    def sample(self, conn) -> None:
        lag = conn.execute(REPLICA_STATE_SQL).fetchone()[1]
        if lag is None:
            self.unmeasured += 1
        else:
            self.lags.append(float(lag) * 1000)

    def summary(self) -> dict:
        ordered = sorted(self.lags)
        return {"samples": len(ordered), "unmeasured": self.unmeasured,
                "lag_ms": posting.percentiles(ordered), "max_ms": round(ordered[-1], 1) if ordered else None}


def _with_cpu(clusters: dict[str, int], measure):
    """``measure()``'s result with the CPU seconds each PostgreSQL (postmaster pid) spent meanwhile."""
    before = {name: process_tree_cpu_seconds(pid) for name, pid in clusters.items()}
    result = measure()
    result["pg_cpu_s"] = {name: round(process_tree_cpu_seconds(pid) - before[name], 3)
                          for name, pid in clusters.items()}
    return result


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def replicas(run, *, db: str, rounds: int, seconds: float, workers: int | None = None) -> dict:
    """``workers``: gunicorn processes per server (default: ``gunicorn.conf.py``'s)."""
    sized = {"WEB_CONCURRENCY": str(workers)} if workers else {}
    rng = random.Random(13)
    customers = [data.customer_id(2 + rng.randrange(run.plan.sizes.customers - 1)) for _ in range(50)]
    runs: list[dict] = []
    with contextlib.ExitStack() as stack:
        began = time.monotonic()
        standby = PrivateStandby(run.cluster)
        stack.callback(standby.destroy)
        standby.init().start()
        copied = round(time.monotonic() - began, 1)
        replica_env = {**sized, "DATABASE_REPLICA_URLS": f"{standby.url(db)}?application_name=bench-replica",
                       "WALLETS_REPLICA_CHECK_SECONDS": "0.5"}
        servers = {"primary": run.gunicorn(run.cluster.url(db), extra_env=sized),
                   "replica": run.gunicorn(run.cluster.url(db), extra_env=replica_env)}
        for server in servers.values():
            stack.callback(server.stop)
        with ThreadPoolExecutor(len(servers)) as starting:
            list(starting.map(lambda server: server.start(), servers.values()))
        pids = {"primary_pg": run.cluster.postmaster_pid, "standby_pg": standby.postmaster_pid}
        conn = stack.enter_context(run.cluster.connect(db, autocommit=True))
        counter = StatementCounter(run.cluster, db)
        stack.callback(counter.close)

        def history(config: str) -> dict:
            target = {"kind": "http", "port": servers[config].port, "api_key": run.api_key,
                      "customers": customers, "path": HISTORY}
            return read_cell(target, clients=CLIENTS, duration=seconds)

        for round_no in range(1, rounds + 1):
            for config in CONFIGS:
                since = datetime.datetime.now(datetime.UTC)
                read = _with_cpu(pids, lambda config=config: history(config))
                check = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID, since=since)
                runs.append({"config": config, "cell": "history x8", "round": round_no, **read,
                             "invariants_ok": check.ok})
                if read["errors"] or not check.ok:
                    run.void.append(f"replicas {config} history round {round_no}: {read['errors']} errors, "
                                    f"invariants {check.problems or 'ok'}")
            # Postings on the primary while the standby replays them and serves the history.
            with LagSampler(standby, db) as lag, ThreadPoolExecutor(1) as reading:
                during = reading.submit(history, "replica")
                posted = _with_cpu(pids, lambda round_no=round_no: run._measure(
                    "B3", posting.Workload("many"), clients=CLIENTS, seconds=seconds, round_no=round_no,
                    server=servers["primary"], counter=counter, counter_raw=counter, conn=conn, raw_conn=conn))
                read_during = during.result()
            runs.append({"config": "primary", "cell": "posting many x8", "round": round_no,
                         "requests": posted["requests"], "throughput": posted["throughput"],
                         "latency_ms": posted["latency_ms"],
                         "errors": posted["errors"][:2], "invariants_ok": posted["invariants"]["ok"],
                         "pg_cpu_s": posted["pg_cpu_s"], "standby_lag": lag.summary()})
            runs.append({"config": "replica", "cell": "history x8 while posting", "round": round_no, **read_during})
            if read_during["errors"]:
                run.void.append(f"replicas: history during postings, round {round_no}: {read_during['errors']} errors")
        # The standby caught up: its books are the primary's.
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        deadline = time.monotonic() + 60
        while not standby.replayed(lsn) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not standby.replayed(lsn):
            run.void.append("replicas: the standby did not catch up within 60 s of the last posting")
        with standby.connect(dbname=db, autocommit=True) as replica_conn:
            on_standby = oracle.check(replica_conn.cursor(), snapshot=True, business_id=data.BUSINESS_ID)
        full = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID)
        for name, check in (("primary", full), ("standby", on_standby)):
            if not check.ok:
                run.void.append(f"replicas: invariants broken on the {name}: {check.problems}")
        describe = servers["replica"].describe()
    return {"configs": {"primary": "no DATABASE_REPLICA_URLS: every read on the primary",
                        "replica": "DATABASE_REPLICA_URLS: the standby (same machine), opted-in reads on it"},
            "standby_copied_s": copied, "server": describe, "rounds": rounds, "seconds": seconds, "runs": runs,
            "summary": summarize(runs), "invariants_all": full.as_dict(), "invariants_standby": on_standby.as_dict()}


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    base = _median([r["throughput"] for r in runs if r["cell"] == "history x8" and r["config"] == "primary"])
    for cell, config in (("history x8", "primary"), ("history x8", "replica"),
                         ("history x8 while posting", "replica"), ("posting many x8", "primary")):
        these = [r for r in runs if r["cell"] == cell and r["config"] == config]
        if not these:
            continue
        throughput = _median([r["throughput"] for r in these])
        row = {"cell": cell, "config": config, "throughput": throughput,
               "ratio_to_primary_history": round(throughput / base, 3)
               if base and throughput and cell.startswith("history") else None,
               "p50_ms": _median([r["latency_ms"]["p50"] for r in these if r["latency_ms"]["p50"] is not None]),
               "p99_ms": _median([r["latency_ms"]["p99"] for r in these if r["latency_ms"]["p99"] is not None]),
               "invariants_ok": all(r.get("invariants_ok", True) for r in these),
               "rounds": [round(r["throughput"], 1) for r in these]}
        with_cpu = [r for r in these if "pg_cpu_s" in r and r["requests"]]
        if with_cpu:
            # CPU per request on each PostgreSQL: which one served the reads, what replay costs the standby.
            row["pg_cpu_ms_per_request"] = {
                name: round(statistics.median(r["pg_cpu_s"][name] * 1000 / r["requests"] for r in with_cpu), 3)
                for name in with_cpu[0]["pg_cpu_s"]}
        lags = [r["standby_lag"] for r in these if "standby_lag" in r]
        if lags:
            p99s = [lag["lag_ms"]["p99"] for lag in lags if lag["lag_ms"]["p99"] is not None]
            row["standby_lag_p99_ms"] = _median(p99s)
            row["standby_lag_max_ms"] = max((lag["max_ms"] for lag in lags if lag["max_ms"] is not None), default=None)
            row["standby_lag_unmeasured_samples"] = sum(lag["unmeasured"] for lag in lags)
        rows.append(row)
    return rows
