"""Read replicas for real: a private primary, a streaming hot standby made by ``pg_basebackup -R``, and
gunicorn with ``DATABASE_REPLICA_URLS`` pointed at it (walletproject/db_router.py).

Proven here: the dashboard's and the history's reads are served by the standby (its own
``pg_stat_activity``, and a row it has not replayed yet that those reads do not see); a client that
wrote reads its write (the API key's and the dashboard session's sticky window); a paused replay makes
the standby ``lagging`` past the limit and the reads go to the primary; a standby stopped mid-test
(``pg_ctl stop -m immediate``) costs the client no error, and ``/healthz`` says so while staying 200.
After each, the invariant oracle over the primary holds. One primary and standby for the module.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time

import httpx
import pytest
from django.db import connection

from tests.support import oracle
from tests.support.postgres import PRIMARY_SETTINGS, PrivatePostgres, PrivateStandby
from tests.support.servers import RUN_SECRET_KEY, Gunicorn, manage, wait_until

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="streaming replication is PostgreSQL's: the replica tests need DATABASE_URL=postgres://...",
)

MAX_LAG = 4.0  # WALLETS_REPLICA_MAX_LAG_SECONDS of the servers here
STICKY = 4.0  # WALLETS_REPLICA_STICKY_SECONDS
APP_NAME = "wallets-replica-test"  # the replica connections' application_name, seen on the standby

SETUP = """
import json
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from django.db import connection
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from wallets import services
from wallets.models import Membership
from wallets.services.api_keys import api_key_create, business_get_or_create

business = business_get_or_create(name="Replica")[0]
_, writer = api_key_create(business=business, name="writer")
_, reader = api_key_create(business=business, name="reader", read_only=True)
customer, _ = services.customer_create(business_id=business.id, email="rep@example.com", name="Rep Lica")
user = get_user_model().objects.create_user(username="replica-operator", password="x-" + "y" * 20)
Membership.objects.create(user=user, business=business, role="operator")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(json.dumps({"writer": writer, "reader": reader, "customer": customer.pk, "session": session.session_key}))
"""


@contextlib.contextmanager
def replicated_pair():
    """A migrated primary with one business, and its streaming standby; both destroyed afterwards."""
    began = time.monotonic()
    primary = PrivatePostgres(settings=PRIMARY_SETTINGS).init().start()
    standby = PrivateStandby(primary)
    try:
        primary.create_database("wallets")
        # Migrated, then the data; with the servers' secret key: the session's auth hash is made with it.
        out = manage("shell", "-c", SETUP, database_url=primary.url("wallets"),
                     env={"DJANGO_SETTINGS_MODULE": "walletproject.settings", "DJANGO_SECRET_KEY": RUN_SECRET_KEY})
        data = json.loads(out.strip().splitlines()[-1])
        primary.psql("CREATE TABLE replica_heartbeat (at timestamptz NOT NULL)", dbname="wallets")
        standby.init().start()
        print(f"primary and standby ready in {time.monotonic() - began:.1f} s")  # noqa: T201 - shown with -s
        yield primary, standby, data
    finally:
        standby.destroy()
        primary.destroy()


@pytest.fixture(scope="module")
def pair():
    with replicated_pair() as made:
        yield made


def replica_env(standby: PrivateStandby, **extra: str) -> dict[str, str]:
    return {"DATABASE_REPLICA_URLS": f"{standby.url('wallets')}?application_name={APP_NAME}",
            "WALLETS_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG), "WALLETS_REPLICA_STICKY_SECONDS": str(STICKY),
            "WALLETS_REPLICA_CHECK_SECONDS": "0.2", "WALLETS_DB_CONNECT_TIMEOUT_S": "2", **extra}


@pytest.fixture(scope="module")
def server(pair):
    """One worker process: the API key's sticky mark lives in its local-memory cache."""
    primary, standby, _ = pair
    with Gunicorn(database_url=primary.url("wallets"), workers=1, threads=1, env=replica_env(standby)) as gunicorn:
        yield gunicorn


@pytest.fixture
def clients(pair, server):
    _, _, data = pair
    csrf = secrets.token_hex(16)
    web = httpx.Client(base_url=server.url, timeout=20, headers={
        "Cookie": f"sessionid={data['session']}; csrftoken={csrf}", "Host": "127.0.0.1"})
    web.csrf = csrf  # type: ignore[attr-defined]
    writer = httpx.Client(base_url=server.url, timeout=20, headers={"Authorization": f"Bearer {data['writer']}"})
    reader = httpx.Client(base_url=server.url, timeout=20, headers={"Authorization": f"Bearer {data['reader']}"})
    yield web, writer, reader
    for client in (web, writer, reader):
        client.close()


@pytest.fixture(autouse=True)
def books_sound(pair):
    """After each test: the oracle over the primary, and replay running again."""
    yield
    primary, standby, _ = pair
    with contextlib.suppress(Exception):
        standby.replay_resume()
    with primary.connect(dbname="wallets", autocommit=True) as conn:
        report = oracle.check(conn.cursor())
    assert report.ok, report.messages()


def heartbeat(primary: PrivatePostgres, standby: PrivateStandby) -> None:
    """A commit on the primary, replayed on the standby: its replay timestamp is now (lag ~0). The LSN
    is read after the commit (in the INSERT's own transaction it would be the position before the commit
    record, and a replay paused next could stop short of it: a fresh standby would then have no replayed
    commit to measure its lag from)."""
    primary.psql("INSERT INTO replica_heartbeat VALUES (now())", dbname="wallets")
    lsn = primary.psql("SELECT pg_current_wal_lsn()", dbname="wallets").strip()
    wait_until(lambda: standby.replayed(lsn), timeout=20, what="the standby replaying the heartbeat")


def credit(writer: httpx.Client, customer: str, amount: int, reason: str) -> dict:
    response = writer.post(f"/customers/{customer}/wallets/ledger-entries", json={
        "amount": amount, "currency": "USD", "entry_type": "credit", "reason": reason,
        "idempotency_key": reason})
    assert response.status_code == 200, response.text
    return response.json()


def history(client: httpx.Client, customer: str) -> str:
    response = client.get(f"/customers/{customer}/wallets/ledger-entries", params={"page_size": 100})
    assert response.status_code == 200, response.text
    return response.text


def page(web: httpx.Client, path: str) -> str:
    response = web.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.text


def health(client: httpx.Client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200, response.text  # a bad replica never fails the check
    return response.json()


def test_dashboard_and_history_reads_are_served_by_the_standby(pair, clients):
    primary, standby, data = pair
    web, writer, reader = clients
    customer = data["customer"]
    credit(writer, customer, 1500, "replica-first")
    heartbeat(primary, standby)
    assert health(reader)["replicas"]["replica_0"]["state"] == "ok"

    assert "replica-first" in page(web, "/dashboard/ledger/")
    # The standby itself ran it: its session of the app's replica connection, last on the ledger.
    activity = standby.psql(f"SELECT query FROM pg_stat_activity WHERE application_name = '{APP_NAME}' "
                            "AND backend_type = 'client backend'", dbname="wallets")
    assert "wallets_" in activity, activity
    assert standby.psql("SELECT pg_is_in_recovery()").strip() == "t"
    # Every opted-in read answers from it (and the current balances, which writes rely on, do not).
    for path in ("/dashboard/", f"/dashboard/customers/{customer}/", "/dashboard/customers/",
                 f"/dashboard/customers/{customer}/statement.csv?currency=USD", "/dashboard/ledger/export.csv",
                 "/dashboard/analytics/", "/dashboard/wallets/low-balance/"):
        page(web, path)
    assert "replica-first" in history(reader, customer)
    statement = reader.get(f"/customers/{customer}/wallets/statement", params={"currency": "USD"})
    assert statement.status_code == 200, statement.text
    assert statement.json()["closing_balance"] == 1500

    # Figures for docs/scaling.md: sequential reads through one sync worker. The writer's key, just after
    # its write (sticky), reads the same history from the primary: the baseline of the same run.
    def rate(read) -> float:
        count, began = 0, time.monotonic()
        while time.monotonic() - began < 1.5:
            read()
            count += 1
        return count / (time.monotonic() - began)

    dashboard = rate(lambda: page(web, "/dashboard/ledger/"))
    from_standby = rate(lambda: history(reader, customer))
    credit(writer, customer, 1, "sticky-baseline")
    from_primary = rate(lambda: history(writer, customer))
    print(f"dashboard ledger page from the standby: {dashboard:.0f} pages/s; API ledger-entries: "  # noqa: T201
          f"{from_standby:.0f} reads/s from the standby, {from_primary:.0f} from the primary (sticky key), "
          f"ratio {from_standby / from_primary:.2f} (1 sync worker, 1 sequential client)")

    # The standby's lag while the primary takes postings (one client, sequential, ~2 s).
    lags: list[float] = []
    replay_bytes: list[float] = []
    primary_lags: list[float] = []
    n, began = 0, time.monotonic()
    while time.monotonic() - began < 2.0:
        credit(writer, customer, 1, f"load-{n}")
        n += 1
        if n % 10 == 0:
            lsn_gap, seconds = standby.psql(
                "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), "
                "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 ELSE "
                "extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END").strip().split("|")
            replay_bytes.append(float(lsn_gap))
            lags.append(float(seconds))
            # The primary's view: from its WAL flush to the standby's report of replaying it.
            replay_lag = primary.psql(
                "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0) FROM pg_stat_replication")
            primary_lags.append(float(replay_lag.strip() or 0))
    postings = n / (time.monotonic() - began)
    print(f"under {postings:.0f} postings/s: standby lag max {max(lags) * 1000:.1f} ms, "  # noqa: T201 - shown with -s
          f"unreplayed WAL max {max(replay_bytes):.0f} bytes, replay_lag on the primary max "
          f"{max(primary_lags) * 1000:.1f} ms ({len(lags)} samples)")
    assert max(lags) < MAX_LAG


def test_a_client_reads_its_own_write_while_the_standby_is_behind(pair, clients):
    primary, standby, data = pair
    web, writer, reader = clients
    customer = data["customer"]
    # On a loaded machine the four requests may outlast the lag limit (then the standby counts as
    # lagging and the stale read cannot be shown): a fresh heartbeat and another try, at most three.
    for attempt in range(3):
        heartbeat(primary, standby)
        standby.replay_pause()
        began = time.monotonic()
        reason = f"ryw-api-{attempt}"
        wallet = credit(writer, customer, 700, reason)  # the answer is the wallet after it: the primary's
        assert wallet["currency"] == "USD"
        assert wallet["balance"] >= 700
        # The writer's key is sticky: its next reads are the primary's, and see the entry.
        assert reason in history(writer, customer)
        # Another key, not sticky, reads the standby: the entry is not replayed there yet.
        stale = history(reader, customer)
        if time.monotonic() - began < MAX_LAG - 0.5:
            break
        standby.replay_resume()
    else:
        pytest.fail("three tries each took longer than the lag limit: the stale read could not be shown")
    assert reason not in stale

    # The dashboard session's own adjustment: its next pages read the primary.
    form_key = secrets.token_hex(12)
    balance_before = json.loads(writer.get(f"/customers/{customer}/wallets").text)["items"]
    usd = next(w for w in balance_before if w["currency"] == "USD")["balance"]
    response = web.post(f"/dashboard/customers/{customer}/adjust/", data={
        "csrfmiddlewaretoken": web.csrf, "action": "post", "direction": "credit", "amount": "3.25",  # type: ignore[attr-defined]
        "currency": "USD", "reason": "ryw-dashboard", "form_key": form_key, "seen_balance": str(usd)})
    assert response.status_code == 303, response.text[:500]
    assert "ryw-dashboard" in page(web, f"/dashboard/customers/{customer}/")
    assert "ryw-dashboard" in page(web, "/dashboard/ledger/")
    stale = history(reader, customer)
    if time.monotonic() - began < MAX_LAG - 0.5:  # the standby still counts as fresh: it served this
        assert "ryw-dashboard" not in stale

    standby.replay_resume()
    assert wait_until(lambda: "ryw-dashboard" in history(reader, customer), timeout=20,
                      what="the reader seeing the adjustment once replayed")


def test_a_standby_lagging_past_the_limit_sends_reads_to_the_primary(pair, clients):
    primary, standby, data = pair
    web, writer, reader = clients
    customer = data["customer"]
    heartbeat(primary, standby)
    standby.replay_pause()
    credit(writer, customer, 900, "lag-write")
    # Past the limit the standby is "lagging": the reader's history and the dashboard are the primary's.
    state = wait_until(lambda: (h := health(reader))["replicas"]["replica_0"]["state"] == "lagging" and h,
                       timeout=MAX_LAG + 10, what="healthz reporting the paused standby as lagging")
    assert state["reads"] == "primary"
    assert state["replicas"]["replica_0"]["lag_seconds"] > MAX_LAG
    assert state["status"] == "ok"
    assert "lag-write" in history(reader, customer)
    assert "lag-write" in page(web, "/dashboard/ledger/")

    standby.replay_resume()
    wait_until(lambda: health(reader)["replicas"]["replica_0"]["state"] == "ok", timeout=20,
               what="the standby caught up")
    assert "lag-write" in history(reader, customer)


def test_a_standby_stopped_mid_test_costs_the_client_no_error(pair, server, clients):
    primary, standby, data = pair
    web, writer, reader = clients
    customer = data["customer"]
    credit(writer, customer, 400, "down-before")
    heartbeat(primary, standby)
    # A second server that trusts its last check for an hour: after the stop, its first read hits the
    # dead standby mid-request, and the view runs again on the primary.
    trusting = Gunicorn(database_url=primary.url("wallets"), workers=1, threads=1,
                        env=replica_env(standby, WALLETS_REPLICA_CHECK_SECONDS="3600"))
    trusting.start()
    try:
        with httpx.Client(base_url=trusting.url, timeout=20,
                          headers={"Authorization": f"Bearer {data['reader']}"}) as trusting_reader:
            assert "down-before" in history(trusting_reader, customer)  # on the standby, checked ok
            standby.stop_immediate()
            credit(writer, customer, 401, "down-after")
            assert "down-after" in history(trusting_reader, customer)  # no error: read again on the primary
            assert "runs again on the primary" in trusting.log_tail()
            assert health(trusting_reader)["replicas"]["replica_0"]["state"] == "down"
    finally:
        trusting.stop()

    body = health(reader)
    assert body["status"] == "ok"
    assert body["reads"] == "primary"
    assert body["replicas"]["replica_0"]["state"] == "down"
    assert "down-after" in history(reader, customer)
    assert "down-after" in page(web, "/dashboard/ledger/")
    assert page(web, f"/dashboard/customers/{customer}/statement.csv?currency=USD").count("down-") == 2

    standby.start()  # it recovers and streams again; reads return to it
    wait_until(lambda: health(reader)["replicas"]["replica_0"]["state"] == "ok", timeout=30,
               what="the restarted standby reported ok")
    assert "down-after" in history(reader, customer)


def test_a_new_standby_behind_before_its_first_replayed_commit_counts_as_lagging(pair):
    """A standby that has replayed no commit since it started has no replay time to measure its lag
    from; behind, it must not pass for ``ok``. A new standby whose commits wait (``recovery_min_apply_delay``)
    receives a posting it cannot apply: ``lagging`` and reads on the primary; once it applies, ``ok``."""
    primary, _, data = pair
    fresh = PrivateStandby(primary)
    try:
        fresh.init()
        delay_conf = fresh.data / "postgresql.auto.conf"
        with open(delay_conf, "a") as handle:
            handle.write("recovery_min_apply_delay = '1h'\n")
        fresh.start()
        with Gunicorn(database_url=primary.url("wallets"), workers=1, threads=1, env=replica_env(fresh)) as server, \
                httpx.Client(base_url=server.url, timeout=20,
                             headers={"Authorization": f"Bearer {data['writer']}"}) as writer:
            credit(writer, data["customer"], 50, "fresh-standby")
            lsn = primary.psql("SELECT pg_current_wal_lsn()", dbname="wallets").strip()
            wait_until(lambda: fresh.psql(f"SELECT pg_last_wal_receive_lsn() >= '{lsn}'::pg_lsn").strip() == "t",
                       timeout=20, what="the new standby receiving the posting")
            # The case itself: received, not applied, no replayed commit at all.
            assert fresh.psql("SELECT pg_last_xact_replay_timestamp() IS NULL").strip() == "t"
            time.sleep(0.3)  # past the server's check interval, so healthz checks again
            body = health(writer)
            assert body["replicas"]["replica_0"] == {
                "state": "lagging", "detail": "behind, nothing replayed since it started"}
            assert body["reads"] == "primary"
            assert body["status"] == "ok"

            with open(delay_conf, "a") as handle:
                handle.write("recovery_min_apply_delay = 0\n")
            fresh.psql("SELECT pg_reload_conf()")
            wait_until(lambda: fresh.replayed(lsn), timeout=20, what="the new standby applying the posting")
            wait_until(lambda: health(writer)["replicas"]["replica_0"]["state"] == "ok", timeout=20,
                       what="the new standby reported ok once caught up")
    finally:
        fresh.destroy()


def test_failover_to_a_synchronous_standby_loses_no_acknowledged_posting():
    """The primary crashes right after answering; its synchronous standby is promoted and the app is
    pointed at it (docs/operations.md, "Failover"): every posting the API acknowledged is there, the
    books balance, and postings go on. Its own pair: the module's primary survives the module."""
    with replicated_pair() as (primary, standby, data):
        # Synchronous from here (the migrations ran before the standby existed): a commit returns only
        # once the standby has it on disk.
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.psql("SELECT pg_reload_conf()")
        wait_until(lambda: primary.psql("SELECT sync_state FROM pg_stat_replication").strip() == "sync",
                   timeout=20, what="the standby becoming synchronous")
        customer = data["customer"]
        with Gunicorn(database_url=primary.url("wallets"), workers=1, threads=1) as server, \
                httpx.Client(base_url=server.url, timeout=20,
                             headers={"Authorization": f"Bearer {data['writer']}"}) as writer:
            acknowledged = [(n, credit(writer, customer, n, f"failover-{n}")["balance"]) for n in range(1, 21)]
            primary.stop_immediate()  # at once: no checkpoint, nothing waited for
        assert acknowledged[-1][1] == sum(range(1, 21))

        standby.promote()
        assert standby.psql("SELECT pg_is_in_recovery()").strip() == "f"
        with Gunicorn(database_url=standby.url("wallets"), workers=1, threads=1) as server, \
                httpx.Client(base_url=server.url, timeout=20,
                             headers={"Authorization": f"Bearer {data['writer']}"}) as writer:
            wallets = writer.get(f"/customers/{customer}/wallets").json()["items"]
            assert next(w for w in wallets if w["currency"] == "USD")["balance"] == sum(range(1, 21))
            listed = history(writer, customer)
            assert all(f'"failover-{n}"' in listed for n, _ in acknowledged)
            assert credit(writer, customer, 5, "after-failover")["balance"] == sum(range(1, 21)) + 5
        with standby.connect(dbname="wallets", autocommit=True) as conn:
            report = oracle.check(conn.cursor())
        assert report.ok, report.messages()
