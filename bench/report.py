"""The results as Markdown: machine and server first, then the figures, then the targets."""

from __future__ import annotations


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _posting_row(results: dict, workload: str, clients: int) -> dict | None:
    for row in results.get("posting", []):
        if row["workload"] == workload and row["clients"] == clients:
            return row
    return None


CACHE_LABEL = {"redis": "Redis", "local": "default cache"}
SERVER_ORDER = ("gthread", "sync", "granian", "uvicorn")


def _cell(results: dict, workload: str, clients: int = 8) -> dict | None:
    """The posting row of ``workload`` at ``clients``, else the one with the most clients (the smoke's x4)."""
    rows = [r for r in results.get("posting", []) if r["workload"] == workload]
    rows = rows or [r for r in results.get("posting", []) if r["workload"].startswith(workload)]  # "hot +idem"
    return _posting_row(results, workload, clients) or max(rows, key=lambda r: r["clients"], default=None)


def _app_variants(results: dict) -> dict[str, dict]:
    """name -> {server, cache, webhooks}; runs before the variants were recorded read as B3 = gthread, Redis."""
    return results.get("app_variants") or {"B3": {"server": "gunicorn gthread", "cache": "redis", "webhooks": False}}


def _plain(results: dict, cache: str) -> str | None:
    """The gthread, webhooks-off variant of ``cache`` (B3 or B3L)."""
    name = "B3" if cache == "redis" else "B3L"
    return name if name in _app_variants(results) else None


def issue13(results: dict) -> list[dict]:
    """Issue 13's targets, each with the default cache and with Redis where it applies."""
    out = []

    def add(path, cache, target, measured, met):
        out.append({"path": path, "cache": cache, "target": target, "measured": measured,
                    "met": None if met is None else bool(met)})

    caches = [c for c in ("local", "redis") if _plain(results, c)]
    profile = results.get("profile", {})
    for cache in caches:
        name = _plain(results, cache)
        prof = profile.get(name)
        row = _cell(results, "many")
        posting_cpu = row.get(name, {}).get("app_cpu_ms_per_op") if row else None
        if prof and prof.get("app_cpu_ms_per_req"):
            value = prof["app_cpu_ms_per_req"]
            measured = (f"{value:.2f} ms ({name}, {prof['workload']} x{prof['clients']} under py-spy, kernel CPU of "
                        "the server's processes)")
            if posting_cpu:
                measured += f"; {posting_cpu:.2f} ms without the profiler ({row['workload']} x{row['clients']})"
        elif posting_cpu:
            value = posting_cpu
            measured = f"{value:.2f} ms ({name}, {row['workload']} x{row['clients']}, no profile phase)"
        else:
            value, measured = None, "not measured"
        add("app CPU per API posting, on the real server with a profiler", CACHE_LABEL[cache],
            "<= 1.5 ms (stretch 1 ms)", measured, None if value is None else value <= 1.5)
    for workload, goal, label in (("many", 0.35, "many wallets"), ("hot", 0.7, "one hot wallet")):
        row = _cell(results, workload)
        for cache in caches:
            name = _plain(results, cache)
            fig = row.get(name, {}) if row else {}
            ratio = fig.get("ratio_to_b1")
            measured = (f"{ratio:.2f} x B1 ({fig['throughput']:,.0f} vs {row['B1']['throughput']:,.0f} req/s, "
                        f"x{row['clients']}; {name})" if ratio is not None else "not measured")
            add(f"API posting, {label}, 8 clients", CACHE_LABEL[cache], f">= {goal} x raw psycopg (B1)", measured,
                None if ratio is None else ratio >= goal)
    row = _cell(results, "hot")
    coalesced = [v for v in (row or {}) if v.startswith("B3c")]  # B3c, B3cL: coalescing on (``--coalesce``)
    if coalesced:
        for name in coalesced:
            ratio = row[name].get("ratio_to_b1")
            add("moonshot: one hot wallet, coalesced", "default cache" if "L" in name.split("-")[0] else "Redis",
                ">= 1.0 x raw psycopg (B1)",
                f"{_fmt(ratio, 2)} x B1 ({_fmt(row[name]['throughput'], 0)} req/s, x{row['clients']}; {name})",
                None if ratio is None else ratio >= 1.0)
    else:
        add("moonshot: one hot wallet, coalesced", "–", ">= 1.0 x raw psycopg (B1)",
            "not measured (no coalescing variant in this run)", None)
    row = _cell(results, "many")
    hooked = [(c, "B3W" if c == "redis" else "B3WL") for c in caches]
    hooked = [(c, w) for c, w in hooked if row and w in row]
    for cache, name in hooked:
        off = row[_plain(results, cache)]["throughput"]
        ratio = row[name]["throughput"] / off if off else None
        add("with one webhook endpoint subscribed (worker delivering)", CACHE_LABEL[cache], "<= 10 % below off",
            f"{_fmt(ratio, 2)} x off ({row[name]['throughput']:,.0f} vs {off:,.0f} req/s, {row['workload']} "
            f"x{row['clients']}; {name} vs {_plain(results, cache)})", None if ratio is None else ratio >= 0.9)
    hooks = results.get("webhooks", {})
    if not hooked and hooks.get("delivering_vs_off"):
        ratio = hooks["delivering_vs_off"]
        add("with one webhook endpoint subscribed (worker delivering)", "Redis", "<= 10 % below off",
            f"{ratio:.2f} x off (webhooks phase)", ratio >= 0.9)
    elif not hooked:
        add("with one webhook endpoint subscribed", "–", "<= 10 % below off", "not measured", None)
    reads = results.get("reads", {})
    entries = results.get("load", {}).get("entries", 0)
    page = next((n for n in ("ledger page 500", *sorted(reads)) if n in reads and n.startswith("ledger page ")
                 and "page_size" not in n), None)
    p99 = reads.get(page, {}).get("server_ms", {}).get("p99") if page else None
    add(f"{page or 'ledger page 500'}, {entries:,} entries", "Redis", "p99 < 20 ms",
        f"p99 {_fmt(p99, 2)} ms server-side" if p99 is not None else "not measured", None if p99 is None else p99 < 20)
    timed = [(fig["server_ms"]["p99"], name) for name, fig in reads.items()
             if (name.startswith("statement") or "as_of" in name) and fig.get("server_ms", {}).get("p99") is not None]
    if timed:
        worst = max(timed)
        add(f"statement and as-of, {entries:,} entries ({len(timed)} reads)", "Redis", "p99 < 50 ms",
            f"worst p99 {worst[0]:.2f} ms server-side ({worst[1]})", worst[0] < 50)
    else:
        add("statement and as-of", "–", "p99 < 50 ms", "not measured", None)
    return out


def targets(results: dict) -> list[dict]:
    """Each target of the issue with the measured figure and whether it is met."""
    out = []

    def add(path, target, measured, met):
        out.append({"path": path, "target": target, "measured": measured,
                    "met": None if met is None else bool(met)})

    for workload, goal, label in (("many", 0.35, "many wallets"), ("hot", 0.7, "one hot wallet")):
        row = _posting_row(results, workload, 8)
        ratio = row.get("B3", {}).get("ratio_to_b1") if row else None
        measured = (f"{ratio:.2f} x B1 ({row['B3']['throughput']:,.0f} vs {row['B1']['throughput']:,.0f} req/s)"
                    if ratio is not None else "not measured")
        add(f"API posting, {label}, 8 clients", f">= {goal} x B1 throughput", measured,
            None if ratio is None else ratio >= goal)

    per_op = sorted({r["B3"]["statements_per_op"] for r in results.get("posting", [])
                     if "B3" in r and r["B3"].get("statements_per_op") and "idem" not in r["workload"]})
    per_op_idem = sorted({r["B3"]["statements_per_op"] for r in results.get("posting", [])
                          if "B3" in r and r["B3"].get("statements_per_op") and "idem" in r["workload"]})
    worst = max(per_op + per_op_idem) if per_op or per_op_idem else None
    add("SQL statements per API posting", "<= 6 incl. BEGIN/COMMIT, constant as data grows",
        f"{_fmt(min(per_op) if per_op else None, 2)}–{_fmt(max(per_op) if per_op else None, 2)} without keys, "
        f"{_fmt(max(per_op_idem) if per_op_idem else None, 2)} with keys (server-side, pg_stat_statements)",
        None if worst is None else worst <= 6.0)

    bulk = results.get("bulk", {})
    if bulk.get("product_s") and bulk.get("baseline_s"):
        ratio = bulk["baseline_s"] / bulk["product_s"]
        add(f"bulk_credit {bulk.get('rows', 0):,} rows", ">= 0.3 x the COPY baseline, and under 20 s",
            f"{bulk['product_s']:.2f} s vs {bulk['baseline_s']:.2f} s baseline = {ratio:.2f} x",
            ratio >= 0.3 and bulk["product_s"] < 20)
    else:
        add("bulk_credit rows", ">= 0.3 x the COPY baseline, and under 20 s", bulk.get("summary", "not measured"),
            None)

    reads = results.get("reads", {})
    for name in ("ledger first page", "ledger page 500"):
        figures = reads.get(name, {})
        p99 = figures.get("server_ms", {}).get("p99")
        add(f"{name}, {results.get('load', {}).get('entries', 0):,} entries", "p99 < 20 ms server-side",
            f"p99 {_fmt(p99, 2)} ms" if p99 is not None else figures.get("error", "not measured"),
            None if p99 is None else p99 < 20)
    for name, figures in reads.items():  # (indexes) the other reads with a target (bench.paths.read_target_ms)
        if name in ("ledger first page", "ledger page 500") or "target_ms" not in figures:
            continue
        p99 = figures.get("server_ms", {}).get("p99")
        add(f"{name}, {results.get('load', {}).get('entries', 0):,} entries",
            f"p99 < {figures['target_ms']:g} ms server-side", f"p99 {_fmt(p99, 2)} ms", figures.get("met"))
    for name in ("dashboard low-balance page", "wallets list (API)", "dashboard wallets list"):
        figures = reads.get(name)
        if figures is None:
            continue
        p99 = figures.get("server_ms", {}).get("p99")
        add(f"{name}, {results.get('load', {}).get('wallets', 0):,} wallets", "< 100 ms server-side (p99)",
            f"p99 {_fmt(p99, 2)} ms" if p99 is not None else figures.get("error", "not measured"),
            None if p99 is None else p99 < 100)
    page_figures = results.get("pages", {}).get("pages", {})
    if page_figures:
        worst = max(((fig["server_ms"]["p99"], name) for name, fig in page_figures.items()
                     if fig.get("server_ms", {}).get("p99") is not None), default=None)
        over = results["pages"].get("over_target", [])
        load = results.get("load", {})
        add(f"every dashboard page, {load.get('entries', 0):,} entries, {load.get('wallets', 0):,} wallets",
            "< 300 ms server-side (p99)",
            (f"{len(page_figures)} pages; worst p99 {worst[0]:.1f} ms ({worst[1]})" if worst else "not measured")
            + (f"; over: {', '.join(over)}" if over else ""),
            None if worst is None else not over)
    rec = results.get("reconcile", {})
    add(f"reconcile_wallets, {results.get('load', {}).get('entries', 0):,}+ entries", "< 10 s",
        f"{rec['seconds']:.2f} s" if rec.get("seconds") else rec.get("summary", "not measured"),
        None if not rec.get("seconds") else rec["seconds"] < 10)
    return out


def markdown(results: dict) -> str:
    lines: list[str] = []
    mode = results.get("mode")
    lines.append(f"# Benchmark results ({mode} run)")
    lines.append("")
    verdict = "VALID: every invariant held after every run" if results.get("valid") else "VOID"
    lines.append(f"**{verdict}.** Elapsed {results.get('elapsed_s')} s.")
    lines.extend(f"- void: {reason}" for reason in results.get("void", []))
    lines.append("")
    machine = results.get("machine", {})
    lines.append("## Issue 13's targets")
    lines.append("")
    lines.append(f"Machine: {machine.get('cores')} cores ({machine.get('cpu')}); load average (1/5/15 min) "
                 f"{machine.get('load_average_1_5_15')} before the run, {results.get('load_average_after')} after. "
                 "Ratios are within this run, against raw psycopg (B1) in the same interleaved rounds.")
    lines.append("")
    lines.append(_row(["path", "cache", "target", "measured", "met"]))
    lines.append(_row(["---"] * 5))
    for t in issue13(results):
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(_row([t["path"], t["cache"], t["target"], t["measured"], met]))
    lines.append("")
    machine = results.get("machine", {})
    lines.append("## Machine and server")
    lines.append("")
    lines.append(_row(["", ""]))
    lines.append(_row(["---", "---"]))
    for key, value in machine.items():
        lines.append(_row([key.replace("_", " "), value]))
    lines.append(_row(["load average after", results.get("load_average_after")]))
    lines.append(_row(["app server", results.get("server", "–")]))
    lines.append(_row(["app cache", results.get("cache", "–")]))
    for name, variant in results.get("app_variants", {}).items():
        where = f", in {', '.join(variant['cells'])}" if variant.get("cells") else ""
        hooks = "; one webhook endpoint, the worker delivering" if variant["webhooks"] else ""
        lines.append(_row([f"variant {name}", f"{variant['server']}; {CACHE_LABEL[variant['cache']]}{hooks}{where}"]))
    for key, value in results.get("postgresql", {}).items():
        lines.append(_row([f"PostgreSQL {key}", value]))
    load = results.get("load", {})
    lines.append("")
    lines.append(f"Data: {load.get('customers', 0):,} customers, {load.get('wallets', 0):,} wallets, "
                 f"{load.get('entries', 0):,} ledger entries ({load.get('database_size')}), loaded set-based in "
                 f"{sum(load.get('seed_s', {}).values()):.1f} s (migrate {load.get('migrate_s')} s).")

    if load.get("ledger_indexes"):
        lines.append("")
        lines.append(f"Indexes on wallets_ledgerentry ({len(load['ledger_indexes'])}, each written by every "
                     "posting): " + ", ".join(f"{k} {v}" for k, v in load["ledger_indexes"].items()) + ".")
    lines.append("")
    lines.append("## Targets")
    lines.append("")
    lines.append(_row(["path", "target", "measured", "met"]))
    lines.append(_row(["---", "---", "---", "---"]))
    for t in targets(results):
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(_row([t["path"], t["target"], t["measured"], met]))

    posting = results.get("posting", [])
    if posting:
        apps = _app_variants(results)
        variants = ["B0", "B1", "B2"] + [v for v in apps if "-" not in v] + [
            v for v in dict.fromkeys(k for r in posting for k in r) if v.startswith("B3") and v not in apps]
        variants = [v for v in variants if any(v in r for r in posting)]
        lines.append("")
        lines.append("## Posting: throughput (req/s, median of rounds) and ratio to B1")
        lines.append("")
        lines.append("B0 pgbench (same transaction, copy of the database) · B1 raw psycopg (the service's "
                     "statements) · B2 `wallets.ledger.post` · B3 HTTP API on gunicorn (gthread, Redis) · B3L the "
                     "same with the local-memory default cache · B3W / B3WL with one webhook endpoint subscribed "
                     "and the worker delivering. The other application servers are in their own table below.")
        lines.append("")
        header = ["workload", "clients"]
        for v in variants:
            header += [f"{v} req/s"] + ([f"{v}/B1"] if v != "B1" else [])
        lines.append(_row(header))
        lines.append(_row(["---"] * len(header)))
        for row in posting:
            cells = [row["workload"], row["clients"]]
            for v in variants:
                fig = row.get(v, {})
                cells.append(_fmt(fig.get("throughput"), 0))
                if v != "B1":
                    cells.append(_fmt(fig.get("ratio_to_b1"), 2))
            lines.append(_row(cells))
        lines.append("")
        lines.append("## Posting: latency p50 / p95 / p99 (ms) and SQL statements per request (server-side)")
        lines.append("")
        header = ["workload", "clients"] + [f"{v} p50/p95/p99" for v in variants] + [f"{v} stmts" for v in variants]
        lines.append(_row(header))
        lines.append(_row(["---"] * len(header)))
        for row in posting:
            cells = [row["workload"], row["clients"]]
            for v in variants:
                fig = row.get(v, {})
                cells.append(f"{_fmt(fig.get('p50'), 2)} / {_fmt(fig.get('p95'), 2)} / {_fmt(fig.get('p99'), 2)}")
            for v in variants:
                cells.append(_fmt(row.get(v, {}).get("statements_per_op"), 2))
            lines.append(_row(cells))
        runs = results.get("posting_runs", [])
        lines.append("")
        lines.append("Statements per request, by statement (first round of `many` x8, or the first run; "
                     "pg_stat_statements calls / requests; foreign-key checks run by triggers left out):")
        lines.append("")
        for v in variants:
            sample = next((r for r in runs if r["variant"] == v and r["workload"] == "many" and r["clients"] == 8),
                          None) or next((r for r in runs if r["variant"] == v), None)
            if not sample:
                continue
            issued = sample["requests"] if v == "B0" else sum(sample["outcomes"].values())
            lines.append(f"- **{v}** ({_fmt(sample.get('statements_per_op'), 2)} per request):")
            for query, calls in sample.get("statements", [])[:8]:
                lines.append(f"  - {calls / issued:.2f} × `{query[:110]}`")
        outcomes = {}
        for r in runs:
            for k, v in r.get("outcomes", {}).items():
                outcomes[k] = outcomes.get(k, 0) + v
        if outcomes:
            lines.append("")
            lines.append(f"Outcomes over all B1–B3 runs: {outcomes} (refused = insufficient funds, replayed = "
                         "idempotent replay). Every run was followed by an invariant check of the wallets it "
                         "touched and a count of the entries written against the successes its clients saw.")

    lines.extend(_servers_section(results))
    lines.extend(_profile_section(results))
    lines += _coalescing(results)

    cap_rows = [r for r in posting if "B3" in r and r["B3"].get("app_cpu_ms_per_op")]
    if cap_rows:
        lines.append("")
        lines.append("## CPU per request and what one core sustains")
        lines.append("")
        lines.append("CPU seconds used by gunicorn (all workers) and by PostgreSQL (all its processes) while the "
                     "clients ran, divided by the requests: the cost of one API posting on each tier, and so the "
                     "requests per second one core of each tier can sustain when it is the bottleneck.")
        lines.append("")
        lines.append(_row(["workload", "clients", "app CPU ms/req (B3)", "PostgreSQL CPU ms/req (B3)",
                           "PostgreSQL CPU ms/req (B1)", "1 app core req/s", "1 PostgreSQL core req/s (API)"]))
        lines.append(_row(["---"] * 7))
        for row in cap_rows:
            app = row["B3"]["app_cpu_ms_per_op"]
            pg = row["B3"].get("pg_cpu_ms_per_op")
            lines.append(_row([row["workload"], row["clients"], _fmt(app, 3), _fmt(pg, 3),
                               _fmt(row.get("B1", {}).get("pg_cpu_ms_per_op"), 3), _fmt(1000 / app, 0),
                               _fmt(1000 / pg, 0) if pg else "–"]))

    bouncer = results.get("pgbouncer")
    if bouncer:
        run = bouncer["run"]
        direct = _posting_row(results, "many", 8)
        lines.append("")
        lines.append("## Through PgBouncer (transaction pooling)")
        lines.append("")
        lines.append(f"{bouncer['version']}, pool_mode={bouncer['pool_mode']}, default_pool_size="
                     f"{bouncer['default_pool_size']}; Django with DISABLE_SERVER_SIDE_CURSORS=True.")
        lines.append("")
        lines.append(_row(["path", "req/s", "p50 ms", "p99 ms", "statements/req", "invariants"]))
        lines.append(_row(["---"] * 6))
        lat = run["latency_ms"]
        lines.append(_row(["API via PgBouncer, many x8", _fmt(run["throughput"], 0), _fmt(lat["p50"], 2),
                           _fmt(lat["p99"], 2), _fmt(run.get("statements_per_op"), 2),
                           "ok" if bouncer["invariants_all"]["ok"] else "BROKEN"]))
        if direct and "B3" in direct:
            lines.append(_row(["API direct, many x8 (median above)", _fmt(direct["B3"]["throughput"], 0),
                               _fmt(direct["B3"]["p50"], 2), _fmt(direct["B3"]["p99"], 2),
                               _fmt(direct["B3"]["statements_per_op"], 2), "ok"]))

    reads = results.get("reads")
    if reads:
        lines.append("")
        lines.append("## Reads (one client, sequential; server-side = gunicorn's request time)")
        lines.append("")
        lines.append(_row(["path", "requests", "server p50 ms", "server p95 ms", "server p99 ms", "client p99 ms",
                           "SQL statements"]))
        lines.append(_row(["---"] * 7))
        for name, fig in reads.items():
            if "error" in fig:
                lines.append(_row([name, "–", "–", "–", "–", "–", fig["error"][:80]]))
                continue
            s = fig.get("server_ms", {})
            lines.append(_row([f"{name} `{fig.get('path', '')}`", fig.get("requests"), _fmt(s.get("p50"), 2),
                               _fmt(s.get("p95"), 2), _fmt(s.get("p99"), 2),
                               _fmt(fig.get("client_ms", {}).get("p99"), 2), _fmt(fig.get("statements"), 1)]))

    dashboard_pages = results.get("pages")
    if dashboard_pages and dashboard_pages.get("pages"):
        lines.append("")
        lines.append("## Dashboard pages (every route of wallets/dashboard/urls.py; server-side = gunicorn's time)")
        lines.append("")
        lines.append(_row(["page", "requests", "server p50 ms", "server p99 ms", "SQL statements", "bytes",
                           f"< {dashboard_pages.get('target_ms')} ms"]))
        lines.append(_row(["---"] * 7))
        for name, fig in dashboard_pages["pages"].items():
            if "error" in fig:
                lines.append(_row([f"{name} `{fig.get('path', '')}`", "–", "–", "–", "–", "–", fig["error"][:80]]))
                continue
            s = fig.get("server_ms", {})
            met = s.get("p99") is not None and s["p99"] < dashboard_pages.get("target_ms", 300)
            exempt = dashboard_pages.get("exempt", {}).get(name)
            lines.append(_row([f"{name} `{fig.get('path', '')}`", fig.get("requests"), _fmt(s.get("p50"), 1),
                               _fmt(s.get("p99"), 1), _fmt(fig.get("statements"), 1), _fmt(fig.get("bytes_last")),
                               f"– ({exempt})" if exempt else ("yes" if met else "**no**")]))
        for title, key in (("Skipped (no such row in the data)", "skipped"), ("Not pages", "not_pages")):
            if dashboard_pages.get(key):
                lines.append("")
                lines.append(f"{title}: " + "; ".join(f"`{k}`: {v}" for k, v in dashboard_pages[key].items()) + ".")

    baseline = results.get("reads_sql_baseline")
    if baseline:
        lines.append("")
        lines.append("### Balances in time: the hand-written SQL (psycopg on loopback, no HTTP, no Django)")
        lines.append("")
        lines.append(_row(["statements", "requests", "client p50 ms", "client p95 ms", "client p99 ms"]))
        lines.append(_row(["---"] * 5))
        for name, fig in baseline.items():
            c = fig["client_ms"]
            lines.append(_row([name, fig["requests"], _fmt(c["p50"], 2), _fmt(c["p95"], 2), _fmt(c["p99"], 2)]))

    hooks = results.get("webhooks")
    if hooks and "runs" in hooks:
        lines.append("")
        lines.append("## Webhooks: API posting with one subscribed endpoint, and delivery")
        lines.append("")
        lines.append(f"{hooks['summary']}.")
        lines.append("")
        lines.append(_row(["round", "variant", "posts/s", "statements/op", "entries", "events"]))
        lines.append(_row(["---"] * 6))
        lines.extend(_row([r["round"], r["name"], _fmt(r["throughput"], 0), r["statements_per_op"], r["entries"],
                           r["events"]]) for r in hooks["runs"])
        lines.append("")
        lines.extend(f"- {k}: {hooks.get(k)}" for k in ("median_throughput", "on_vs_off", "delivering_vs_off",
                                                        "off_vs_raw", "on_vs_raw", "statements_per_op",
                                                        "backlog_after_posting", "delivery"))

    for key, title, ratio in (("pooling", "Connection pooling (same rounds)", "ratio_to_b1"),
                              ("replicas", "A streaming read replica (same machine)", "ratio_to_primary_history")):
        section = results.get(key)
        if section and section.get("summary"):
            lines.extend(["", f"## {title}", ""])
            lines.extend(f"- {name}: {text}" for name, text in section["configs"].items())
            lines.append("")
            lines.append(_row(["cell", "config", "req/s", "ratio", "p50 ms", "p99 ms", "more", "rounds"]))
            lines.append(_row(["---"] * 8))
            for row in section["summary"]:
                more = {k: row[k] for k in ("server_connections_peak", "pg_cpu_ms_per_request", "standby_lag_p99_ms",
                                            "standby_lag_max_ms") if row.get(k) is not None}
                lines.append(_row([row["cell"], row["config"], _fmt(row["throughput"], 0), row.get(ratio),
                                   row["p50_ms"], row["p99_ms"], more or "–", row["rounds"]]))

    for key, title in (("bulk", "bulk_credit"), ("reconcile", "reconcile_wallets")):
        section = results.get(key)
        if section:
            lines.append("")
            lines.append(f"## {title}")
            lines.append("")
            for k, v in section.items():
                lines.append(f"- {k}: {v}")
    errors = results.get("phase_errors")
    if errors:
        lines.append("")
        lines.append("## Phase errors")
        for phase, tb in errors.items():
            lines.append(f"- {phase}:\n\n```\n{tb}\n```")
    lines.append("")
    return "\n".join(lines)


def _servers_section(results: dict) -> list[str]:
    """Every application server on the cells they ran in: req/s, ratio to B1, app CPU, latency."""
    apps = _app_variants(results)
    servers = {v for v, a in apps.items() if not a.get("webhooks")}
    if not any("-" in v for v in servers):
        return []
    lines = ["", "## Application servers (same cells, same rounds, interleaved; invariants after every run)", ""]
    described = sorted((v for v in servers if apps[v]["cache"] == "redis"),
                       key=lambda v: SERVER_ORDER.index(v.split("-")[1]) if "-" in v else 0)
    lines.append("Each with `gunicorn.conf.py`'s request slots (2 processes per core x 2 threads): " + "; ".join(
        f"{v.split('-')[1] if '-' in v else 'gthread'}: {apps[v]['server']}" for v in described) + ".")
    lines.append("")
    lines.append(_row(["workload", "clients", "server", "cache", "req/s", "/B1", "app CPU ms/req", "p50 ms", "p99 ms"]))
    lines.append(_row(["---"] * 9))
    for row in results.get("posting", []):
        names = [v for v in servers if v in row]
        if not any("-" in v for v in names):
            continue
        names.sort(key=lambda v: (SERVER_ORDER.index(v.split("-")[1]) if "-" in v else 0, apps[v]["cache"]))
        for v in names:
            fig = row[v]
            lines.append(_row([row["workload"], row["clients"], v.split("-")[1] if "-" in v else "gthread",
                               CACHE_LABEL[apps[v]["cache"]], _fmt(fig["throughput"], 0),
                               _fmt(fig.get("ratio_to_b1"), 2), _fmt(fig.get("app_cpu_ms_per_op"), 2),
                               _fmt(fig.get("p50"), 2), _fmt(fig.get("p99"), 2)]))
    return lines


def _profile_section(results: dict) -> list[str]:
    profile = results.get("profile")
    if not profile:
        return []
    lines = ["", "## Where an API posting's app CPU goes (py-spy on the running server)", ""]
    for name, prof in profile.items():
        lines.append(f"**{name}** ({prof['server']}), {prof['workload']} x{prof['clients']} for {prof['seconds']} s: "
                     f"{prof['requests']:,} requests at {prof['throughput']:,.0f}/s; app CPU "
                     f"{_fmt(prof['app_cpu_ms_per_req'], 3)} ms per request (kernel, every server process); "
                     f"{prof['samples']:,} py-spy samples at {prof['rate_hz']} Hz of the threads holding the GIL, "
                     "each frame's ms = its share of the samples x that figure.")
        lines.append("")
        lines.append(_row(["self time by package", "ms/req", "share"]))
        lines.append(_row(["---"] * 3))
        lines.extend(_row([f["frame"], _fmt(f["ms_per_req"], 3), f"{f['share']:.0%}"]) for f in prof["self_by_package"])
        lines.append("")
        lines.append(_row(["function (inclusive: with its callees)", "ms/req", "share"]))
        lines.append(_row(["---"] * 3))
        lines.extend(_row([f"`{f['frame']}`", _fmt(f["ms_per_req"], 3), f"{f['share']:.0%}"])
                     for f in prof["inclusive"])
        lines.append("")
        lines.append(_row(["function (self: innermost Python frame)", "ms/req", "share"]))
        lines.append(_row(["---"] * 3))
        lines.extend(_row([f"`{f['frame']}`", _fmt(f["ms_per_req"], 3), f"{f['share']:.0%}"]) for f in prof["self"])
        lines.append("")
    return lines


def _coalescing(results: dict) -> list[str]:
    """``--coalesce``: B3 on gunicorn 2x8 threads with coalescing off (B3t) and on (B3c), and the batch sizes."""
    rows = [r for r in results.get("posting", []) if "B3c" in r]
    if not rows:
        return []
    lines = ["", "## Coalescing: B3 on gunicorn 2 workers x 8 threads, coalescing off (B3t) and on (B3c)", ""]
    header = ["workload", "clients", "B1 req/s", "B3 req/s (B3/B1)", "B3t req/s (B3t/B1)", "B3c req/s (B3c/B1)",
              "B3c/B3t", "B3t p50/p99 ms", "B3c p50/p99 ms", "B3c app CPU ms/req", "B3c commits by entries"]
    lines.append(_row(header))
    lines.append(_row(["---"] * len(header)))
    runs = results.get("posting_runs", [])
    for row in rows:
        def fig(v: str, row=row) -> str:
            f = row.get(v, {})
            return f"{_fmt(f.get('throughput'), 0)} ({_fmt(f.get('ratio_to_b1'), 2)})"
        sizes: dict[int, int] = {}
        for r in runs:
            if r["variant"] == "B3c" and r["workload"] == row["workload"] and r["clients"] == row["clients"]:
                for n, c in r.get("batch_sizes", {}).items():
                    sizes[int(n)] = sizes.get(int(n), 0) + c
        entries = sum(n * c for n, c in sizes.items())
        mean = entries / sum(sizes.values()) if sizes else None
        t, c = row.get("B3t", {}), row.get("B3c", {})
        gain = c["throughput"] / t["throughput"] if t.get("throughput") and c.get("throughput") else None
        lines.append(_row([
            row["workload"], row["clients"], _fmt(row.get("B1", {}).get("throughput"), 0), fig("B3"), fig("B3t"),
            fig("B3c"), _fmt(gain, 2), f"{_fmt(t.get('p50'), 1)} / {_fmt(t.get('p99'), 1)}",
            f"{_fmt(c.get('p50'), 1)} / {_fmt(c.get('p99'), 1)}", _fmt(c.get("app_cpu_ms_per_op"), 2),
            (f"mean {_fmt(mean, 2)}, max {max(sizes)}: " + ", ".join(f"{n}:{k}" for n, k in sorted(sizes.items())[:8]))
            if sizes else "–",
        ]))
    return lines
