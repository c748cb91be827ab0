"""The replica router's decisions (walletproject/db_router.py), in-process and without a standby: which
reads it routes, when it refuses (a transaction, a write, a sticky client, a bad replica), and the
view decorator's second run on the primary. test_replica.py proves the same against a real standby."""

import json
import os
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import OperationalError, router, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from walletproject import db_router
from wallets.models import ApiKey, LedgerEntry, Membership, Wallet
from wallets.services.actors import Actor

ALIAS = "replica_0"


@pytest.fixture
def one_replica(monkeypatch, settings):
    """A configured replica whose last check said ``ok`` (and is trusted for a minute)."""
    settings.DATABASE_ROUTERS = ["walletproject.db_router.ReplicaRouter"]  # as settings.py installs it
    settings.WALLETS_REPLICA_CHECK_SECONDS = 60
    settings.WALLETS_REPLICA_STICKY_SECONDS = 5
    monkeypatch.setattr(db_router, "replica_aliases", lambda: [ALIAS])
    monkeypatch.setitem(db_router._states, ALIAS, db_router.ReplicaState(ALIAS, "ok", 0.0, checked_at=time.monotonic()))
    db_router.request_reset()
    yield
    db_router.request_reset()


def test_only_opted_in_reads_of_the_ledger_models_go_to_the_replica(one_replica):
    r = db_router.ReplicaRouter()
    assert r.db_for_read(LedgerEntry) is None  # not opted in: default
    with db_router.replica_reads():
        assert r.db_for_read(LedgerEntry) == ALIAS
        assert r.db_for_read(Wallet) == ALIAS
        # Keys and memberships are checked on every request, never a little old; nor sessions, users.
        for model in (ApiKey, Membership, Session, get_user_model()):
            assert r.db_for_read(model) is None, model
    assert r.db_for_read(LedgerEntry) is None
    assert r.db_for_write(LedgerEntry) == "default"
    assert r.allow_migrate(ALIAS, "wallets") is False
    assert r.allow_migrate("default", "wallets") is None


def test_a_transaction_reads_the_primary(one_replica, transactional_db):  # db's own atomic would hide it
    r = db_router.ReplicaRouter()
    with db_router.replica_reads():
        with transaction.atomic():
            assert r.db_for_read(Wallet) is None  # the engine locks and checks balances here
        assert r.db_for_read(Wallet) == ALIAS


def test_a_request_that_wrote_reads_the_primary_until_the_next_request(one_replica):
    r = db_router.ReplicaRouter()
    router.db_for_write(LedgerEntry)  # what the engine asks for its cursor
    with db_router.replica_reads() as scope:
        assert scope is None
        assert r.db_for_read(LedgerEntry) is None
    db_router.request_reset()
    with db_router.replica_reads():
        assert r.db_for_read(LedgerEntry) == ALIAS


@pytest.mark.parametrize("state", ["lagging", "down"])
def test_a_bad_replica_falls_back_to_the_primary(one_replica, monkeypatch, state):
    bad = db_router.ReplicaState(ALIAS, state, 9.0, checked_at=time.monotonic())
    monkeypatch.setitem(db_router._states, ALIAS, bad)
    with db_router.replica_reads():
        assert db_router.ReplicaRouter().db_for_read(LedgerEntry) is None


def test_a_view_whose_replica_fails_runs_again_on_the_primary(one_replica, monkeypatch):
    monkeypatch.setattr(db_router, "replica_mark_down",
                        lambda alias, reason: db_router._states.__setitem__(
                            alias, db_router.ReplicaState(alias, "down", detail=reason, checked_at=time.monotonic())))
    used = []

    @db_router.reads_from_replica
    def view(request):
        alias = router.db_for_read(LedgerEntry) or "default"
        used.append(alias)
        if alias == ALIAS:
            raise OperationalError("server closed the connection unexpectedly")
        return HttpResponse(alias)

    response = view(RequestFactory().get("/dashboard/ledger/"))
    assert used == [ALIAS, "default"]
    assert response.content == b"default"
    assert db_router._states[ALIAS].state == "down"


def test_a_primary_error_is_not_retried(one_replica):
    @db_router.reads_from_replica
    def view(request):
        raise OperationalError("the primary is down")  # before any replica read: nothing to fall back from

    with pytest.raises(OperationalError):
        view(RequestFactory().get("/"))


def test_a_dashboard_session_reads_the_primary_for_the_sticky_window_after_its_write(one_replica, db):
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session.create()
    post = RequestFactory().post("/dashboard/customers/x/adjust/")
    post.session = session
    db_router.ReadYourWritesMiddleware(lambda request: HttpResponse(status=303))(post)
    assert session[db_router.STICKY_SESSION_KEY] > time.time() + 4

    get = RequestFactory().get("/dashboard/ledger/")
    get.session = session
    with db_router.replica_reads(get) as scope:
        assert scope is None
    session[db_router.STICKY_SESSION_KEY] = time.time() - 1  # the window is over
    with db_router.replica_reads(get) as scope:
        assert scope is not None


def test_an_api_key_reads_the_primary_after_its_write_but_a_refused_write_leaves_no_mark(one_replica):
    class Principal:  # what the API's authentication puts on request.auth (ApiPrincipal)
        actor = Actor.api_key(f"key_{time.monotonic_ns()}")

    principal = Principal()
    refused = RequestFactory().post("/customers/c/wallets/ledger-entries")
    refused.auth = principal
    db_router.ReadYourWritesMiddleware(lambda request: HttpResponse(status=400))(refused)
    with db_router.replica_reads(refused) as scope:
        assert scope is not None

    posted = RequestFactory().post("/customers/c/wallets/ledger-entries")
    posted.auth = principal
    db_router.ReadYourWritesMiddleware(lambda request: HttpResponse(status=200))(posted)
    assert cache.get(db_router._api_key_marker(posted)) > time.time()
    read = RequestFactory().get("/customers/c/wallets/ledger-entries")
    read.auth = principal
    with db_router.replica_reads(read) as scope:
        assert scope is None


def test_a_streamed_export_reads_the_replica_while_it_is_sent(one_replica):
    from django.http import StreamingHttpResponse

    @db_router.reads_from_replica
    def export(request):
        # The rows are read as the body is sent, after the view has returned.
        return StreamingHttpResponse(router.db_for_read(LedgerEntry) or "default" for _ in range(2))

    response = export(RequestFactory().get("/dashboard/ledger/export.csv"))
    assert router.db_for_read(LedgerEntry) == "default"  # outside the view
    assert b"".join(response.streaming_content) == f"{ALIAS}{ALIAS}".encode()


SETTINGS_PROBE = """
import json
from django.conf import settings
AUTH = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
print(json.dumps({alias: {k: db.get(k) for k in ("ENGINE", "PORT", "OPTIONS", "CONN_MAX_AGE", "TEST")}
                  for alias, db in settings.DATABASES.items()} | {
    "routers": settings.DATABASE_ROUTERS,
    "after_auth": settings.MIDDLEWARE[AUTH + 1],
}))
"""


def _settings_with(replicas: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "walletproject.settings",
           "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/wallets", "DATABASE_REPLICA_URLS": replicas}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + SETTINGS_PROBE], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_each_replica_url_becomes_an_alias_with_the_primarys_options():
    result = _settings_with("postgres://postgres@10.0.0.2:5433/wallets,postgres://postgres@10.0.0.3:5434/wallets")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert [alias for alias in found if alias.startswith("replica_")] == ["replica_0", "replica_1"]
    for alias, port in (("replica_0", 5433), ("replica_1", 5434)):
        replica = found[alias]
        assert replica["PORT"] == port
        assert replica["ENGINE"] == found["default"]["ENGINE"]
        assert replica["CONN_MAX_AGE"] == found["default"]["CONN_MAX_AGE"]
        assert replica["OPTIONS"]["options"] == found["default"]["OPTIONS"]["options"]  # the same timeouts
        assert replica["OPTIONS"]["connect_timeout"] == 2
        assert replica["TEST"]["MIRROR"] == "default"  # a test run reads the test database through it
    assert found["routers"] == ["walletproject.db_router.ReplicaRouter"]
    assert found["after_auth"] == "walletproject.db_router.ReadYourWritesMiddleware"


def test_no_replica_urls_no_router_and_a_mismatched_engine_is_refused():
    result = _settings_with("")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(found) == ["default", "routers", "after_auth"]
    assert found["routers"] == []
    refused = _settings_with("sqlite:////tmp/not-a-standby.sqlite3")
    assert refused.returncode != 0
    assert "DATABASE_REPLICA_URLS[0]" in refused.stderr
