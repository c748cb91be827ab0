"""One benchmark run: a private PostgreSQL, the data, every measured path, the invariants, a report.

Phases (each recorded, a failing phase is reported and does not hide the others):
1. load: migrate, seed set-based, check every invariant, copy the database for pgbench;
2. posting: workloads x concurrency, variants interleaved in rounds (B1 B2 B3 B3L … B0, B1 B2 B3 …),
   medians over rounds; statements counted server-side; invariants checked after every run. The API
   variants (``AppVariant``): B3 with Redis as CACHE_URL, B3L with the local-memory default, B3W/B3WL with
   one enabled webhook endpoint and the worker delivering, B3-sync/-granian/-uvicorn on the other
   application servers (``--servers``); each application server is started once for the whole run;
   profile: one cell against gunicorn under py-spy, app CPU per request and the top frames
   (``bench/profile.py``);
3. pgbouncer: the API once more through PgBouncer in transaction mode;
4. reads: ledger pages, wallets list, dashboard pages (server-side times from gunicorn's log);
   pages: every route of wallets/dashboard/urls.py, statements (page, CSV, PDF) included
   (``bench/pages.py``);
5. reconcile_wallets (at the loaded size), then bulk_credit against a COPY-based baseline;
6. debits on wallets with many grants against plain wallets (``grants``, figures only);
7. webhooks: API posting with one subscribed endpoint against none and against raw SQL, and the
   worker's delivery rate (``bench/webhooks.py``);
8. pooling: persistent connections, Django's psycopg pool and PgBouncer, interleaved (``bench/pooling.py``);
   replicas: a streaming standby of the cluster serving the history reads, and its lag under postings
   (``bench/replicas.py``);
9. a full invariant check of both databases.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import statistics
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bench import data, grants, pages, paths, pooling, posting, replicas, report, webhooks
from bench import profile as profiling
from bench.pg import PrivateCluster, StatementCounter, machine_info, process_tree_cpu_seconds
from bench.servers import SERVERS, Gunicorn, PgBouncer, Redis, app_server, stop_all
from tests.support import oracle

DB = "wallets_bench"
RAW_DB = "wallets_bench_raw"  # pgbench's copy
RESULTS_DIR = Path(__file__).resolve().parent / "results"


CACHES = ("redis", "local")


@dataclass(frozen=True)
class AppVariant:
    """One B3 variant: the HTTP API on one application server with one cache, webhooks off or on.

    ``cache``: ``redis`` (our redis-server as CACHE_URL, production with Redis) or ``local`` (no
    CACHE_URL: the per-process local-memory default a new deployment has). ``webhooks``: the business
    has one enabled endpoint (every posting writes its event) and the worker delivers to the bench's
    receiver while the clients run. ``only``: the cells (``"many:8"``) it runs in; None: every cell.
    ``env``: settings of the app server's environment that make the variant (its own server), with
    ``tag`` in the name: ``AppVariant(tag="C", env=(("SETTING", "on"),))`` is B3C / B3CL.
    """

    server: str = "gthread"
    cache: str = "redis"
    webhooks: bool = False
    only: tuple[str, ...] | None = None
    tag: str = ""
    env: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return ("B3" + self.tag + ("W" if self.webhooks else "") + ("L" if self.cache == "local" else "")
                + ("" if self.server == "gthread" else f"-{self.server}"))

    @property
    def server_key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.server, self.cache, self.env)

    def runs_in(self, workload: posting.Workload, clients: int) -> bool:
        return self.only is None or f"{workload.name.replace(' ', '')}:{clients}" in self.only


def app_variants(*, servers=("gthread",), caches=CACHES, webhooks: bool = True,
                 server_cells: tuple[str, ...] | None = None, webhook_cells: tuple[str, ...] | None = None,
                 server_caches: tuple[str, ...] | None = None, coalesce: bool = False) -> tuple[AppVariant, ...]:
    """gthread with every cache; the other servers with every cache (or ``server_caches``) in
    ``server_cells``; webhooks on (gthread, every cache) in ``webhook_cells``; with ``coalesce``,
    gunicorn 2 workers x 8 threads with coalescing off (B3t) and on (B3c), every cache, every cell
    (``posting.COALESCE_SERVERS``)."""
    out = [AppVariant("gthread", cache) for cache in caches]
    out += [AppVariant(server, cache, only=server_cells) for server in servers if server != "gthread"
            for cache in caches if server_caches is None or cache in server_caches]
    if webhooks:
        out += [AppVariant("gthread", cache, webhooks=True, only=webhook_cells) for cache in caches]
    if coalesce:
        out += [AppVariant("gthread", cache, tag=name.removeprefix("B3"), env=tuple(env.items()))
                for name, env in posting.COALESCE_SERVERS.items() for cache in caches]
    return tuple(out)


@dataclass
class Plan:
    mode: str
    sizes: data.Sizes
    cells: list[tuple[posting.Workload, int, int, float]]  # workload, clients, rounds, seconds
    app: tuple[AppVariant, ...] = app_variants(server_cells=("many:8", "hot:8"), webhook_cells=("many:8",))
    read_requests: int = 200
    pgbouncer_seconds: float = 2.0
    profile_cell: tuple[posting.Workload, int, float] = (posting.Workload("many"), 8, 4.0)
    webhooks_rounds: int = 3
    webhooks_seconds: float = 3.0
    workers: int | None = None  # processes per application server; None: gunicorn.conf.py's
    phases: tuple[str, ...] = ("reads", "pages", "reconcile", "posting", "profile", "pgbouncer", "bulk", "grants",
                               "webhooks", "pooling", "replicas")

    @property
    def variants(self) -> tuple[str, ...]:
        """The interleaving order of one round: B1, B2, the API variants, B0."""
        return ("B1", "B2", *(a.name for a in self.app), "B0")

    @property
    def caches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.cache for a in self.app))

    def app_variant(self, name: str) -> AppVariant:
        return next(a for a in self.app if a.name == name)

    def runs_in(self, variant: str, workload: posting.Workload, clients: int) -> bool:
        return not variant.startswith("B3") or self.app_variant(variant).runs_in(workload, clients)


def full_plan() -> Plan:
    cells = [
        (posting.Workload(wallets), clients, 3 if clients == 8 else 2, 1.5 if clients == 8 else 1.0)
        for wallets in ("many", "hot", "skewed")
        for clients in (1, 4, 8, 16, 32)
    ]
    cells += [(posting.Workload(wallets, idempotency=True), 8, 3, 1.5) for wallets in ("many", "hot", "skewed")]
    return Plan(mode="full", sizes=data.FULL, cells=cells)


def smoke_plan() -> Plan:
    """Every path once, at the least cost: two short cells, the other servers (with Redis) and webhooks
    on the first only, two processes per server, two requests per page."""
    cells = [(posting.Workload("many"), 4, 1, 0.3), (posting.Workload("hot", idempotency=True), 4, 1, 0.3)]
    app = app_variants(servers=SERVERS, server_cells=("many:4",), webhook_cells=("many:4",), server_caches=("redis",))
    return Plan(mode="smoke", sizes=data.SMOKE, cells=cells, app=app, read_requests=8, pgbouncer_seconds=0.3,
                profile_cell=(posting.Workload("many"), 4, 0.5), webhooks_rounds=1, webhooks_seconds=0.3, workers=2)


@dataclass
class Run:
    plan: Plan
    cluster: PrivateCluster
    results: dict = field(default_factory=dict)
    void: list[str] = field(default_factory=list)
    cache_url: str | None = None
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    servers: dict[tuple, Gunicorn] = field(default_factory=dict)  # AppVariant.server_key -> a running server

    def gunicorn(self, database_url: str, **kwargs) -> Gunicorn:
        """The product as deployed: with the shared (Redis) cache when there is one."""
        extra = {"CACHE_URL": self.cache_url} if self.cache_url else {}
        return Gunicorn(database_url, extra_env={**extra, **kwargs.pop("extra_env", {})}, workers=self.plan.workers,
                        **kwargs)

    def cache_env(self, cache: str) -> dict[str, str]:
        if cache == "redis":
            if not self.cache_url:
                raise RuntimeError("no redis-server: the Redis variants cannot run (apt-get install -y redis-server)")
            return {"CACHE_URL": self.cache_url}
        return {"CACHE_URL": "locmemcache://wallets"}  # settings.py's default, explicit

    def app_servers(self, keys) -> dict[tuple, Gunicorn]:
        """The application servers (``AppVariant.server_key``: server, cache, env) on the benchmark database,
        started once per run (all at once) and stopped at its end; the posting, profile and webhooks phases
        share them."""
        keys = list(keys)
        new = [key for key in dict.fromkeys(keys) if key not in self.servers]
        launched = []
        for server, cache, env in new:
            instance = app_server(server, self.url, extra_env={**self.cache_env(cache), **webhooks.PRIVATE_OK,
                                                               **dict(env)}, workers=self.plan.workers)
            instance.launch()
            launched.append(((server, cache, env), instance))
        if launched:
            self.stack.callback(stop_all, [instance for _, instance in launched])
        for key, instance in launched:
            instance.wait_ready(120)
            self.servers[key] = instance
            self.results.setdefault("servers", {})[" ".join(map(str, key))] = instance.describe()
        return {key: self.servers[key] for key in keys}

    def read_server(self) -> Gunicorn:
        """gunicorn with its access log (the reads' server-side times), started once for reads and pages."""
        key = ("reads", "redis", ())
        if key not in self.servers:
            server = self.gunicorn(self.url, access_log=True)
            self.stack.callback(stop_all, [server])
            server.start()
            self.servers[key] = server
        return self.servers[key]

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    @property
    def url(self) -> str:
        return self.cluster.url(DB)

    # --- phases -------------------------------------------------------------------------------

    def load(self) -> None:
        self.cluster.create_database(DB)
        data.setup_django(self.url)
        from django.db import connections

        migrate_s = data.migrate()
        with self.cluster.connect(DB, autocommit=True) as conn:
            timings = data.seed(conn, self.plan.sizes)
            check = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID)
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM wallets_wallet), (SELECT count(*) FROM wallets_ledgerentry), "
                "(SELECT count(*) FROM wallets_customer), pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()
            indexes = conn.execute(
                "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_stat_user_indexes "
                "WHERE relname = 'wallets_ledgerentry' ORDER BY indexrelname").fetchall()
        self.api_key = data.create_api_key()
        from wallets.services.api_keys import api_key_authenticate

        self.api_key_id = api_key_authenticate(self.api_key).id
        self.session_key = data.create_dashboard_session()
        connections.close_all()
        self.cluster.create_database(RAW_DB, template=DB)
        self.results["load"] = {
            "migrate_s": round(migrate_s, 2), "seed_s": {k: round(v, 2) for k, v in timings.items()},
            "wallets": counts[0], "entries": counts[1], "customers": counts[2], "database_size": counts[3],
            "invariants": check.as_dict(),
            "ledger_indexes": dict(indexes),
        }
        if not check.ok:
            self.void.append(f"seed data broke invariants: {check.problems}")
        self.log(f"loaded {counts[1]} entries, {counts[0]} wallets ({counts[3]}) in "
                 f"{sum(timings.values()):.1f} s; invariants {'ok' if check.ok else 'BROKEN'}")

    def ctx(self, http_port: int, tag: str) -> dict:
        return {"database_url": self.url, "api_key": self.api_key, "api_key_id": self.api_key_id,
                "http_port": http_port, "n_wallets": self.plan.sizes.posting_wallets, "tag": tag,
                "b1_statements": posting.b1_statements()}

    def _measure(self, variant, workload, *, clients, seconds, round_no, server, counter, counter_raw, conn, raw_conn):
        from django.db import connections

        connections.close_all()
        since = datetime.datetime.now(datetime.UTC)
        tag = f"{variant}-{workload.wallets}-{clients}-{round_no}-{time.time_ns()}"
        if variant == "B0":
            result = posting.run_pgbench(self.cluster, RAW_DB, workload, clients=clients, duration=seconds,
                                         n_wallets=self.plan.sizes.posting_wallets, on_ready=counter_raw.reset)
            total, statements = counter_raw.read(untracked_per_transaction=2, transactions=result["requests"])
            check = oracle.check(raw_conn, snapshot=True, business_id=data.BUSINESS_ID, since=since)
        else:
            cpu = {}

            def on_ready():
                counter.reset()
                cpu["pg"] = process_tree_cpu_seconds(self.cluster.postmaster_pid)
                cpu["app"] = process_tree_cpu_seconds(server.process.pid)

            result = posting.run_clients(variant, self.ctx(server.port, tag), workload, clients=clients,
                                         duration=seconds, round_no=round_no, on_ready=on_ready)
            # CPU of the database server and of gunicorn while the clients ran (the wall time after
            # the start barrier): what one PostgreSQL core and one app core do per request.
            issued_now = sum(result["outcomes"].values())
            if issued_now:
                pg_cpu = process_tree_cpu_seconds(self.cluster.postmaster_pid) - cpu["pg"]
                result["pg_cpu_ms_per_op"] = round(pg_cpu / issued_now * 1000, 3)
                if variant.startswith("B3"):
                    app_cpu = process_tree_cpu_seconds(server.process.pid) - cpu["app"]
                    result["app_cpu_ms_per_op"] = round(app_cpu / issued_now * 1000, 3)
            total, statements = counter.read()
            check = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID, since=since)
            written = conn.execute(
                "SELECT count(*) FROM wallets_ledgerentry WHERE business_id = %s AND created_at >= %s",
                [data.BUSINESS_ID, since]).fetchone()[0]
            result["entries_in_db"] = written
            if variant.split("-")[0].removesuffix("L") in posting.COALESCE_SERVERS:  # B3t, B3c, B3tL, B3cL
                result["batch_sizes"] = posting.batch_sizes(conn, data.BUSINESS_ID, since)
            if written != result["written"]:
                check.ok = False
                check.problems["entries written != successes reported to clients"] = written - result["written"]
        issued = result["requests"] if variant == "B0" else sum(result["outcomes"].values())
        result["statements_per_op"] = round(total / issued, 2) if issued else None
        result["statements"] = statements[:12]
        result["invariants"] = check.as_dict()
        result["workload"] = workload.name
        result["round"] = round_no
        if not check.ok or result["errors"]:
            self.void.append(f"{variant} {workload.name} x{clients} round {round_no}: "
                             f"{check.problems or ''} {result['errors'][:2] or ''}")
        return result

    def posting_phase(self) -> None:
        runs = []
        plan = self.plan
        servers = self.app_servers(a.server_key for a in plan.app)
        self.results["server"] = servers[plan.app[0].server_key].describe()
        self.results["app_variants"] = {a.name: {"server": servers[a.server_key].describe(), "cache": a.cache,
                                                 "env": dict(a.env),
                                                 "webhooks": a.webhooks, "cells": a.only} for a in plan.app}
        hooks = webhooks.Subscription(self) if any(a.webhooks for a in plan.app) else None
        with contextlib.ExitStack() as stack, self.cluster.connect(DB, autocommit=True) as conn, \
                self.cluster.connect(RAW_DB, autocommit=True) as raw_conn:
            if hooks:
                stack.enter_context(hooks)
            counter = StatementCounter(self.cluster, DB)
            counter_raw = StatementCounter(self.cluster, RAW_DB)
            stack.callback(counter.close)
            stack.callback(counter_raw.close)
            for workload, clients, rounds, seconds in plan.cells:
                variants = [v for v in plan.variants if plan.runs_in(v, workload, clients)]
                for round_no in range(1, rounds + 1):
                    for variant in variants:
                        app = plan.app_variant(variant) if variant.startswith("B3") else None
                        server = servers[app.server_key] if app else servers[next(iter(servers))]
                        if hooks and app and app.webhooks:  # the worker runs on from B3W to B3WL
                            hooks.on()
                        elif hooks:
                            hooks.off()
                        since = datetime.datetime.now(datetime.UTC)
                        result = self._measure(variant, workload, clients=clients, seconds=seconds,
                                               round_no=round_no, server=servers.get(variant, server), counter=counter,
                                               counter_raw=counter_raw, conn=conn, raw_conn=raw_conn)
                        if app and hooks:
                            hooks.check(result, conn, since=since, enabled=app.webhooks)
                        runs.append(result)
                line = " ".join(
                    f"{v}={_median([r['throughput'] for r in runs if r['variant'] == v and r['workload'] == workload.name and r['clients'] == clients]):.0f}/s"  # noqa: E501
                    for v in variants
                )
                self.log(f"posting {workload.name:12} x{clients:<2}: {line}")
            if hooks:
                self.results["posting_webhooks"] = hooks.drain(conn)
                self.log(f"posting webhooks: {self.results['posting_webhooks']}")
        self.results["posting_runs"] = runs
        self.results["posting"] = summarize_posting(runs, plan.variants)

    def profile_phase(self) -> None:
        """One cell per cache against gunicorn gthread under py-spy (``bench/profile.py``)."""
        workload, clients, seconds = self.plan.profile_cell
        out = {}
        with self.cluster.connect(DB, autocommit=True) as conn:
            for cache in self.plan.caches:
                app = AppVariant("gthread", cache)
                server = self.app_servers([app.server_key])[app.server_key]
                variant = app.name
                since = datetime.datetime.now(datetime.UTC)
                result = profiling.profile(self, server, workload, clients=clients, seconds=seconds, variant=variant)
                check = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID, since=since)
                result["invariants"] = check.as_dict()
                if not check.ok or result["errors"] or not result["samples"]:
                    self.void.append(f"profile {variant}: {check.problems or ''} {result['errors'][:2] or ''} "
                                     f"{result['samples']} samples")
                out[variant] = result
                top = ", ".join(f"{f['frame'].split(' (')[0]} {f['ms_per_req']}" for f in result["self"][:5])
                self.log(f"profile {variant} {workload.name} x{clients}: app CPU {result['app_cpu_ms_per_req']} ms/req "
                         f"(sampled {result['sampled_cpu_ms_per_req']}); top self: {top}")
        self.results["profile"] = out

    def pgbouncer_phase(self) -> None:
        workload = posting.Workload("many")
        with PgBouncer(self.cluster.port) as bouncer:
            url = self.cluster.url(DB, port=bouncer.port) + "?disable_server_side_cursors=true"
            with self.gunicorn(url) as server, self.cluster.connect(DB, autocommit=True) as conn:
                counter = StatementCounter(self.cluster, DB)
                result = self._measure("B3", workload, clients=8, seconds=self.plan.pgbouncer_seconds, round_no=1,
                                       server=server, counter=counter, counter_raw=counter, conn=conn, raw_conn=conn)
                counter.close()
                full = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID)
            self.results["pgbouncer"] = {
                "version": bouncer.version(), "pool_mode": "transaction", "default_pool_size": bouncer.pool_size,
                "run": result, "invariants_all": full.as_dict(),
            }
            if not full.ok:
                self.void.append(f"pgbouncer run broke invariants: {full.problems}")
        self.log(f"pgbouncer: B3 many x8 {result['throughput']:.0f}/s, invariants {'ok' if full.ok else 'BROKEN'}")

    def pooling_phase(self) -> None:
        """Persistent connections, Django's psycopg pool and PgBouncer, interleaved (``bench/pooling.py``)."""
        smoke = self.plan.mode == "smoke"
        self.results["pooling"] = pooling.pooling(self, db=DB, rounds=1 if smoke else 3, seconds=0.5 if smoke else 2.0,
                                                  workers=1 if smoke else None)
        for row in self.results["pooling"]["summary"]:
            self.log(f"pooling {row['cell']} {row['config']}: {row['throughput']}/s (x{row['ratio_to_b1']} of B1), "
                     f"{row['server_connections_peak']} server connections")

    def replicas_phase(self) -> None:
        """A streaming standby serving the history, and its replay lag under postings (``bench/replicas.py``)."""
        smoke = self.plan.mode == "smoke"
        self.results["replicas"] = replicas.replicas(self, db=DB, rounds=1 if smoke else 3,
                                                     seconds=0.5 if smoke else 3.0, workers=1 if smoke else None)
        for row in self.results["replicas"]["summary"]:
            lag = f", standby lag p99 {row['standby_lag_p99_ms']} ms" if "standby_lag_p99_ms" in row else ""
            self.log(f"replicas {row['cell']} {row['config']}: {row['throughput']}/s "
                     f"(x{row['ratio_to_primary_history']} of the primary's history){lag}")

    def reads_phase(self) -> None:
        with self.cluster.connect(DB, autocommit=True) as conn:
            self.results["reads_at"] = {
                "entries": conn.execute("SELECT count(*) FROM wallets_ledgerentry").fetchone()[0],
                "wallets": conn.execute("SELECT count(*) FROM wallets_wallet").fetchone()[0],
            }
        self.results["reads"] = paths.reads(self, self.read_server())
        self.results["reads_sql_baseline"] = paths.reads_sql_baseline(self)
        for name, figures in self.results["reads"].items():
            self.log(f"read {name}: server p99 {figures.get('server_ms', {}).get('p99')} ms")
        for name, figures in self.results["reads_sql_baseline"].items():
            self.log(f"raw SQL {name}: client p99 {figures['client_ms']['p99']} ms")

    def pages_phase(self) -> None:
        self.results["pages"] = pages.pages(self, self.read_server())
        from django.db import connections

        connections.close_all()
        for name, figures in self.results["pages"]["pages"].items():
            self.log(f"page {name}: server p50 {figures.get('server_ms', {}).get('p50')} "
                     f"p99 {figures.get('server_ms', {}).get('p99')} ms")
        self.log(f"pages: {self.results['pages']['summary']}")

    def bulk_phase(self) -> None:
        self.results["bulk"] = paths.bulk(self)
        self.log(f"bulk: {self.results['bulk'].get('summary')}")

    def grants_phase(self) -> None:
        sized = self.plan.mode == "smoke"
        self.results["grants"] = grants.grants(self, wallets=2 if sized else 10, rounds=1 if sized else 3,
                                               debits_per_round=5 if sized else 100)
        self.log(f"grants: {self.results['grants'].get('summary')}")

    def webhooks_phase(self) -> None:
        smoke = self.plan.mode == "smoke"
        self.results["webhooks"] = webhooks.webhooks(
            self, db=DB, raw_db=RAW_DB, rounds=self.plan.webhooks_rounds, seconds=self.plan.webhooks_seconds,
            burst=100 if smoke else 2000)
        self.log(f"webhooks: {self.results['webhooks'].get('summary')}")

    def reconcile_phase(self) -> None:
        self.results["reconcile"] = paths.reconcile(self)
        self.log(f"reconcile: {self.results['reconcile'].get('summary')}")

    def final_check(self) -> None:
        for name in (DB, RAW_DB):
            with self.cluster.connect(name, autocommit=True) as conn:
                check = oracle.check(conn, snapshot=True, business_id=data.BUSINESS_ID)
            self.results.setdefault("final_invariants", {})[name] = check.as_dict()
            if not check.ok:
                self.void.append(f"final check of {name}: {check.problems}")


def _median(values):
    return statistics.median(values) if values else 0.0


def _median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key)]
    return round(statistics.median(values), 3) if values else None


def summarize_posting(runs: list[dict], variants) -> list[dict]:
    """One row per (workload, clients): medians over rounds, ratios to B1's median."""
    rows = []
    keys = []
    for r in runs:
        key = (r["workload"], r["clients"])
        if key not in keys:
            keys.append(key)
    for workload, clients in keys:
        row = {"workload": workload, "clients": clients}
        for v in variants:
            mine = [r for r in runs if r["workload"] == workload and r["clients"] == clients and r["variant"] == v]
            if not mine:
                continue
            row[v] = {
                "throughput": round(_median([r["throughput"] for r in mine]), 1),
                "p50": _median([r["latency_ms"]["p50"] for r in mine if r["latency_ms"]["p50"] is not None]),
                "p95": _median([r["latency_ms"]["p95"] for r in mine if r["latency_ms"]["p95"] is not None]),
                "p99": _median([r["latency_ms"]["p99"] for r in mine if r["latency_ms"]["p99"] is not None]),
                "statements_per_op": _median([r["statements_per_op"] for r in mine if r["statements_per_op"]]),
                "pg_cpu_ms_per_op": _median_of(mine, "pg_cpu_ms_per_op"),
                "app_cpu_ms_per_op": _median_of(mine, "app_cpu_ms_per_op"),
                "rounds": len(mine),
                "throughput_rounds": [round(r["throughput"], 1) for r in mine],
            }
        base = row.get("B1", {}).get("throughput")
        for v in variants:
            if v in row and base:
                row[v]["ratio_to_b1"] = round(row[v]["throughput"] / base, 3)
        rows.append(row)
    return rows


def execute(plan: Plan, *, keep: bool = False, out: Path | None = None) -> tuple[dict, Path]:
    started = time.perf_counter()
    load_before = machine_info()
    with PrivateCluster(keep=keep) as cluster, contextlib.ExitStack() as stack:
        run = Run(plan=plan, cluster=cluster)
        run.log(f"{plan.mode} run; private PostgreSQL on port {cluster.port}, data in {cluster.root}")
        run.results["machine"] = load_before
        run.results["postgresql"] = cluster.settings()
        try:
            redis_server = stack.enter_context(Redis())
            run.cache_url = redis_server.url
            run.results["cache"] = f"{redis_server.version()} (CACHE_URL, as in production)"
        except RuntimeError as exc:
            run.results["cache"] = f"per-process local memory (no Redis: {exc})"
        stack.callback(run.stack.close)  # the application servers stop before Redis and the cluster
        run.load()
        for phase in plan.phases:
            try:
                getattr(run, f"{phase}_phase")()
            except Exception as exc:  # a broken phase is reported, and makes the run void
                run.results.setdefault("phase_errors", {})[phase] = traceback.format_exc(limit=6)
                run.void.append(f"phase {phase} failed: {type(exc).__name__}: {exc}")
                run.log(f"phase {phase} FAILED: {exc}")
        run.final_check()
    results = run.results
    results["mode"] = plan.mode
    results["sizes"] = plan.sizes.__dict__
    results["load_average_after"] = machine_info()["load_average_1_5_15"]
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["void"] = run.void
    results["valid"] = not run.void
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = out or RESULTS_DIR / f"{stamp}-{plan.mode}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    markdown = report.markdown(results)
    out.with_suffix(".md").write_text(markdown)
    return results, out
