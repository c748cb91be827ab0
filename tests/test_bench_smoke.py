"""The benchmark harness's smoke mode runs end to end, so the harness never rots.

It asserts that every variant and path ran and that the ledger's invariants held after every run;
it never asserts a time (speed is measured by ``python -m bench run``, see docs/scaling.md).
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# One smoke run serves every test here. `--dist loadgroup` keeps them on one worker (tests/conftest.py
# checks that it does); should they be spread anyway (another `--dist`), the first to get here runs it
# under a file lock in the run's shared temporary directory and leaves its results there, and the others
# read them (pytest-xdist's recipe for a once-per-run fixture).
pytestmark = pytest.mark.xdist_group("bench_smoke")


def _run_smoke(out: Path) -> dict:
    assert shutil.which("pgbench") or list(Path("/usr/lib/postgresql").glob("*/bin/pgbench")), "pgbench is needed"
    assert shutil.which("pgbouncer") or Path("/usr/sbin/pgbouncer").exists(), "apt-get install -y pgbouncer"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "smoke", "--quiet", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert out.exists(), f"no results written\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = json.loads(out.read_text())
    results["_exit"] = proc.returncode
    results["_output"] = proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


@pytest.fixture(scope="session")
def smoke(tmp_path_factory, worker_id):
    if worker_id == "master":  # no xdist
        return _run_smoke(tmp_path_factory.mktemp("bench") / "smoke.json")
    shared = tmp_path_factory.getbasetemp().parent  # the same directory for every worker of this run
    done = shared / "bench-smoke-results.json"
    with (shared / "bench-smoke.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while the first runs it
        if not done.exists():
            (shared / "bench-smoke").mkdir(exist_ok=True)
            results = _run_smoke(shared / "bench-smoke" / "smoke.json")
            done.write_text(json.dumps(results))
    return json.loads(done.read_text())


@pytest.mark.slow
def test_smoke_run_is_valid(smoke):
    assert smoke["void"] == [], smoke["_output"]
    assert smoke["valid"] is True
    assert smoke["_exit"] == 0
    assert "phase_errors" not in smoke


@pytest.mark.slow
def test_every_posting_variant_ran_and_kept_the_invariants(smoke):
    runs = smoke["posting_runs"]
    # B3 with Redis and B3L with the default cache, webhooks on with each, and every other application server.
    assert {r["variant"] for r in runs} == {"B0", "B1", "B2", "B3", "B3L", "B3W", "B3WL", "B3-sync", "B3-granian",
                                            "B3-uvicorn"}
    assert set(smoke["app_variants"]) == {r["variant"] for r in runs} - {"B0", "B1", "B2"}
    for run in runs:
        assert run["requests"] > 0, run
        assert run["invariants"]["ok"], run["invariants"]
        assert run["statements_per_op"], run
        assert run["statements_per_op"] >= 2, run  # at least BEGIN and COMMIT
        if run["variant"] != "B0":
            assert run["outcomes"]["error"] == 0, run["errors"]
            assert run["entries_in_db"] == run["written"]  # every success the clients saw is one entry
    assert any(r["outcomes"].get("refused") for r in runs), "the mix includes overdrafts"
    assert any(r["outcomes"].get("replayed") for r in runs), "the idempotent mix includes replays"
    for row in smoke["posting"]:
        assert row["B1"]["throughput"] > 0
        assert row["B3"]["ratio_to_b1"] > 0
        assert row["B3L"]["ratio_to_b1"] > 0
    for run in runs:
        if run["variant"].startswith("B3"):
            assert run["app_cpu_ms_per_op"] > 0, run  # the server's process tree was measured, whatever the server
            # One event per committed entry with the endpoint enabled, none with it disabled.
            expected = run["entries_in_db"] if run["variant"].startswith("B3W") else 0
            assert run["webhook_events"] == expected, run
    assert any(r["variant"] == "B3W" and r["webhook_events"] > 0 for r in runs)
    drained = smoke["posting_webhooks"]
    assert drained["events"] == drained["delivered"] == drained["receiver_requests"] > 0, drained
    assert drained["events"] >= drained["ledger_entry_events"] == sum(r["webhook_events"] for r in runs
                                                                        if r["variant"].startswith("B3")), drained


@pytest.mark.slow
def test_profile_found_where_the_app_cpu_goes(smoke):
    profile = smoke["profile"]
    assert set(profile) == {"B3", "B3L"}  # with Redis and with the default cache
    for prof in profile.values():
        assert prof["requests"] > 0, prof
        assert prof["errors"] == [], prof
        assert prof["invariants"]["ok"], prof
        assert prof["app_cpu_ms_per_req"] > 0, prof
        assert prof["samples"] > 0, prof
        frames = " ".join(f["frame"] for f in prof["inclusive"])
        assert "wallets/" in frames or "rest_framework" in frames, frames  # the app's own stacks were sampled
        shares = sum(f["share"] for f in prof["self_by_package"])
        assert 0 < shares <= 1.01, prof["self_by_package"]  # shares of the samples (rounded to 3 digits)
        assert prof["inclusive"][0]["ms_per_req"] <= prof["app_cpu_ms_per_req"] + 1e-6  # shares of the measured CPU


@pytest.mark.slow
def test_report_leads_with_issue_13s_targets(smoke):
    from bench import report

    rows = report.issue13(smoke)
    caches = {r["cache"] for r in rows}
    assert {"Redis", "default cache"} <= caches
    paths = " ".join(r["path"] for r in rows)
    for must in ("app CPU per API posting", "many wallets", "one hot wallet", "moonshot", "webhook endpoint",
                 "ledger page", "statement and as-of"):
        assert must in paths, must
    for row in rows:
        if "moonshot" not in row["path"]:
            assert row["met"] is not None, row  # measured (the coalescing variant is another helper's)
    markdown = report.markdown(smoke)
    assert markdown.index("## Issue 13's targets") < markdown.index("## Machine and server")
    assert "## Application servers" in markdown
    assert "## Where an API posting's app CPU goes" in markdown


@pytest.mark.slow
def test_pgbouncer_reads_bulk_and_reconcile_ran(smoke):
    bouncer = smoke["pgbouncer"]
    assert bouncer["pool_mode"] == "transaction"
    assert bouncer["run"]["requests"] > 0
    assert bouncer["run"]["invariants"]["ok"]
    assert bouncer["invariants_all"]["ok"]
    for name, figures in smoke["reads"].items():
        assert "error" not in figures, (name, figures)
        assert set(figures["statuses"]) == {"200"}, (name, figures)  # JSON keys are strings
        assert figures["server_ms"]["p99"] is not None
    assert smoke["bulk"]["invariants"] == "ok"
    assert smoke["bulk"]["product_s"] > 0
    assert smoke["bulk"]["baseline_s"] > 0
    assert smoke["reconcile"]["seconds"] > 0
    for check in smoke["final_invariants"].values():
        assert check["ok"], check
    assert smoke["postgresql"]["synchronous_commit"]
    assert smoke["machine"]["cores"]


@pytest.mark.slow
def test_webhooks_ran_one_event_per_entry_and_delivered_them(smoke):
    hooks = smoke["webhooks"]
    assert {r["name"] for r in hooks["runs"]} == {"off", "on", "raw", "on+delivering"}
    for run in hooks["runs"]:
        assert run["throughput"] > 0, run
        if run["name"].startswith("on"):
            assert run["events"] == run["entries"] > 0, run
        elif run["name"] == "off":
            assert run["events"] == 0, run
    assert hooks["on_vs_off"] > 0
    delivery = hooks["delivery"]
    assert delivery["events"] == delivery["delivered"] > 0, delivery
    assert delivery["events_per_s"] > 0
    assert hooks["backlog_after_posting"]["events"] == hooks["backlog_after_posting"]["delivered"]


@pytest.mark.slow
def test_every_dashboard_page_was_timed_statements_included(smoke):
    from wallets.dashboard import urls

    pages = smoke["pages"]
    timed, skipped, not_pages = pages["pages"], pages["skipped"], pages["not_pages"]
    for name, figures in timed.items():
        assert "error" not in figures, (name, figures)
        assert set(figures["statuses"]) == {"200"}, (name, figures)
        assert figures["server_ms"]["p99"] is not None, name
        assert figures["statements"] > 0, name
    # Every route of urls.py is accounted for: timed, skipped for want of data, or not a page.
    names = {p.name for p in urls.urlpatterns if p.name}
    accounted = {name.split(" ")[0] for name in timed} | set(skipped) | set(not_pages)
    assert names <= accounted, names - accounted
    for must in ("overview", "customers", "customer", "entry", "ledger", "customer_statement",
                 "customer_statement_export", "customer_statement_pdf"):
        assert must in timed, must
    assert any(name.startswith("customer_statement_pdf at its cap") for name in timed)
    assert "hold_void" in not_pages  # POST only


def test_profile_reads_py_spys_collapsed_stacks():
    from bench import profile

    text = "\n".join([
        ("process 11:\"gunicorn\";run (gunicorn/arbiter.py);view (rest_framework/views.py);post "
         "(/venv/lib/python3.12/site-packages/wallets/ledger/posting.py) 3"),
        "run (gunicorn/arbiter.py);execute (psycopg/cursor.py) 1",
        "garbage line",
    ])
    total, inclusive, own, packages = profile.parse_collapsed(text)
    assert total == 4
    assert inclusive["run (gunicorn/arbiter.py)"] == 4  # every stack passes through it
    assert own == {"post (/venv/lib/python3.12/site-packages/wallets/ledger/posting.py)": 3,
                   "execute (psycopg/cursor.py)": 1}
    assert packages == {"wallets/ledger": 3, "psycopg": 1}
    assert profile.package_of("django/db/models/sql/compiler.py") == "django/db/models"
    assert profile.package_of("copy.py") == "stdlib copy"


def test_bench_options_refuse_unknown_servers_caches_and_cells(capsys):
    from bench import __main__ as cli

    for argv in (["smoke", "--servers", "gthread,waitress"], ["smoke", "--caches", "memcached"],
                 ["run", "--cells", "warm:8"], ["run", "--phases", "posting,nope"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2, argv
    assert "choose from gthread,sync,granian,uvicorn" in capsys.readouterr().err.replace(", ", ",")


# The benchmark's pooling phase (bench/pooling.py), in the suite's one smoke run.
def test_the_bench_smoke_ran_the_three_pooling_configurations_with_the_invariants_kept(smoke):
    pooling = smoke["pooling"]
    rows = {(r["cell"], r["config"]): r for r in pooling["summary"]}
    for cell in ("posting many x8", "read wallets x8"):
        for config in ("persistent", "pool", "pgbouncer", "B1 raw psycopg"):
            row = rows[(cell, config)]
            assert row["throughput"] > 0, row
            assert row["invariants_ok"], row
            assert row["server_connections_peak"] >= 1, row
    assert pooling["invariants_all"]["ok"] is True
    # PgBouncer never holds more server connections than its pool.
    bouncer_pool = int(pooling["configs"]["pgbouncer"].rsplit(" ", 1)[1])
    assert rows[("posting many x8", "pgbouncer")]["server_connections_peak"] <= bouncer_pool


# The benchmark's replicas phase (bench/replicas.py), in the suite's one smoke run.
def test_the_bench_smoke_read_the_history_from_a_real_standby_with_the_books_equal_on_both(smoke):
    replicas = smoke["replicas"]
    rows = {(r["cell"], r["config"]): r for r in replicas["summary"]}
    for key in (("history x8", "primary"), ("history x8", "replica"), ("history x8 while posting", "replica"),
                ("posting many x8", "primary")):
        assert rows[key]["throughput"] > 0, rows[key]
        assert rows[key]["invariants_ok"], rows[key]
    # Which PostgreSQL did the reading: the standby's CPU for the replica server's history, none of it for
    # the primary server's (the standby replays nothing while nothing is written).
    on_standby = rows[("history x8", "replica")]["pg_cpu_ms_per_request"]
    on_primary = rows[("history x8", "primary")]["pg_cpu_ms_per_request"]
    assert on_standby["standby_pg"] > on_primary["standby_pg"], (on_standby, on_primary)
    assert on_primary["primary_pg"] > on_standby["primary_pg"], (on_standby, on_primary)
    # The lag was sampled while the postings replayed, and the standby's books are the primary's.
    assert rows[("posting many x8", "primary")]["standby_lag_max_ms"] is not None
    assert replicas["invariants_all"]["ok"] is True
    assert replicas["invariants_standby"]["ok"] is True
