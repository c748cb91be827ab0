"""Read replicas: which reads may be a little old, and which replica (if any) serves them.

Invariants:

- **Writes, and every read inside a transaction, go to ``default``.** ``db_for_write`` is always
  ``default``; the engine and the services take their raw cursors from it, and a read while
  ``default`` is in an atomic block (where the engine locks rows and checks balances) is never routed.
- **Only opted-in reads go to a replica.** A view opts in with ``@reads_from_replica`` (or a block with
  ``replica_reads(request)``); everything else reads ``default`` as before. Inside the scope only this
  app's models are routed, never ``ApiKey`` or ``Membership`` (a revoked key or member must fail at
  once) nor the session, the users or the task queue.
- **Read-your-writes.** A request that wrote (any ``db_for_write`` of a routed model, the engine's
  included) reads ``default`` for the rest of the request. ``ReadYourWritesMiddleware`` remembers a
  successful write for ``WALLETS_REPLICA_STICKY_SECONDS``: in the session (a dashboard user, or the API
  through a session) and in the default cache under the API key's id (per process with the local-memory
  cache, for every app server with Redis). Within that window the same client reads ``default``.
- **A bad replica is not used.** Each replica's state is checked at most once per
  ``WALLETS_REPLICA_CHECK_SECONDS`` per process: ``down`` (no connection, or not in recovery any more: a
  promoted standby is not this primary's copy), ``lagging`` (replay behind by more than
  ``WALLETS_REPLICA_MAX_LAG_SECONDS``) or ``ok``. With none ``ok``, reads fall back to ``default``. A
  view whose replica fails mid-request is run again on ``default`` (it only reads), so the client sees
  no error; a streamed export already under way cannot be, and is cut like any dropped connection.

One replica serves a whole scope (no reads of one page from two replicas at different points in time);
scopes pick among the ``ok`` replicas in turn.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_started
from django.db import DatabaseError, connections
from django.http import HttpRequest

logger = logging.getLogger("wallets.errors")

REPLICA_PREFIX = "replica_"
STICKY_SESSION_KEY = "replica_sticky_until"
NOT_ROUTED = frozenset({"apikey", "membership"})  # model_name; checked on every request, never stale

# Lag, measured on the standby. Streaming and everything received replayed: not behind at all, however
# long ago the last transaction was (an idle primary sends nothing to replay). Otherwise: since the last
# replayed commit, which overstates the lag right after a write that follows a long idle period (the
# conservative side: reads fall back for a moment). Not streaming (the primary unreachable, or the
# receiver restarting): the same measure, so an idle, disconnected standby turns ``lagging`` in time.
# Behind with no commit replayed since the standby started (a new standby catching up, or its replay
# stuck before the first commit): no measure at all, NULL, and that counts as ``lagging`` too.
REPLICA_STATE_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
                 AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
       END
"""


@dataclass(frozen=True, slots=True)
class ReplicaState:
    alias: str
    state: str  # "ok", "lagging" or "down"
    lag_seconds: float | None = None
    detail: str = ""
    checked_at: float = 0.0

    @property
    def usable(self) -> bool:
        return self.state == "ok"

    def as_dict(self) -> dict:
        body: dict = {"state": self.state}
        if self.lag_seconds is not None:
            body["lag_seconds"] = round(self.lag_seconds, 3)
        if self.detail:
            body["detail"] = self.detail
        return body


@dataclass(slots=True)
class _Scope:
    """One opted-in stretch of reads: the replica it settled on (None: not chosen yet; "" : default)."""

    alias: str | None = None
    used_replica: bool = False


@dataclass(slots=True)
class _RequestState:
    wrote: bool = False


_scope: ContextVar[_Scope | None] = ContextVar("wallets_replica_scope", default=None)
_request: ContextVar[_RequestState | None] = ContextVar("wallets_replica_request", default=None)
_states: dict[str, ReplicaState] = {}
_states_lock = threading.Lock()
_turn = itertools.count()


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


def _request_state() -> _RequestState:
    state = _request.get()
    if state is None:
        state = _RequestState()
        _request.set(state)
    return state


def request_reset(**_kwargs) -> None:
    """A new request starts with no write seen (connected to ``request_started``)."""
    _request.set(_RequestState())
    _scope.set(None)


request_started.connect(request_reset, dispatch_uid="wallets_replica_request_reset")


def request_wrote() -> bool:
    state = _request.get()
    return state is not None and state.wrote


def _routed(model) -> bool:
    return model is not None and model._meta.app_label == "wallets" and model._meta.model_name not in NOT_ROUTED


# --- The state of each replica -----------------------------------------------------------------
def _check(alias: str) -> ReplicaState:
    now = time.monotonic()
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute(REPLICA_STATE_SQL)
            in_recovery, lag = cursor.fetchone()
    except Exception as exc:  # any failure: this replica is not to be read now
        with contextlib.suppress(Exception):
            connection.close()
        return ReplicaState(alias, "down", detail=type(exc).__name__, checked_at=now)
    if not in_recovery:
        return ReplicaState(alias, "down", detail="not in recovery (promoted?)", checked_at=now)
    if lag is None:
        return ReplicaState(alias, "lagging", detail="behind, nothing replayed since it started", checked_at=now)
    lag = float(lag)
    limit = float(settings.WALLETS_REPLICA_MAX_LAG_SECONDS)
    return ReplicaState(alias, "lagging" if lag > limit else "ok", lag_seconds=lag, checked_at=now)


def replica_state(alias: str, *, fresh: bool = False) -> ReplicaState:
    """The replica's state, checked again when the last check is older than the check interval."""
    known = _states.get(alias)
    if not fresh and known is not None and time.monotonic() - known.checked_at < settings.WALLETS_REPLICA_CHECK_SECONDS:
        return known
    state = _check(alias)
    with _states_lock:
        previous = _states.get(alias)
        _states[alias] = state
    if state.state != "ok" and (previous is None or previous.state != state.state):
        logger.warning("read replica %s is %s (%s); its reads fall back to the primary", alias, state.state,
                       state.detail or f"{state.lag_seconds:.1f} s behind")
    return state


def replica_mark_down(alias: str, reason: str) -> None:
    """A replica that failed a read: not used again before the next check."""
    with _states_lock:
        _states[alias] = ReplicaState(alias, "down", detail=reason, checked_at=time.monotonic())
    with contextlib.suppress(Exception):
        connections[alias].close()


def replica_states(*, fresh: bool = False) -> list[ReplicaState]:
    return [replica_state(alias, fresh=fresh) for alias in replica_aliases()]


def _choose_replica() -> str:
    """An ``ok`` replica, in turn, or ``""`` (read ``default``)."""
    aliases = replica_aliases()
    if not aliases:
        return ""
    start = next(_turn)
    for offset in range(len(aliases)):
        alias = aliases[(start + offset) % len(aliases)]
        if replica_state(alias).usable:
            return alias
    return ""


# --- The router --------------------------------------------------------------------------------
class ReplicaRouter:
    """``DATABASE_ROUTERS``: opted-in reads to a replica, everything else to ``default``."""

    def db_for_read(self, model, **hints) -> str | None:
        scope = _scope.get()
        if scope is None or not _routed(model):
            return None
        if request_wrote() or connections["default"].in_atomic_block:
            return None
        if scope.alias is None:
            scope.alias = _choose_replica()
        if scope.alias:
            scope.used_replica = True
            return scope.alias
        return None

    def db_for_write(self, model, **hints) -> str:
        if _routed(model):
            _request_state().wrote = True
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        return True  # the replicas are copies of default: the same rows

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints) -> bool | None:
        return False if db.startswith(REPLICA_PREFIX) else None  # a standby is read-only: migrate default


# --- Opting in --------------------------------------------------------------------------------
def _sticky(request) -> bool:
    """Did this client write within the sticky window (the session's mark or its API key's)?"""
    now = time.time()
    session = getattr(request, "session", None)
    if session is not None and session.session_key and session.get(STICKY_SESSION_KEY, 0) > now:
        return True
    key = _api_key_marker(request)
    if key is not None:
        try:
            return (cache.get(key) or 0) > now
        except Exception:  # no cache: we cannot know; the primary is always right
            return True
    return False


def _api_key_marker(request) -> str | None:
    principal = getattr(request, "auth", None)
    actor = getattr(principal, "actor", None)
    if actor is None or getattr(actor, "type", None) != "api_key":
        return None
    return f"replica-sticky:api_key:{actor.id}"


def _replica_possible(request) -> bool:
    if not replica_aliases() or request_wrote():
        return False
    return request is None or not _sticky(request)


@contextlib.contextmanager
def replica_reads(request=None) -> Iterator[_Scope | None]:
    """The block's reads of this app's models may go to a replica (unless the client just wrote)."""
    if not _replica_possible(request):
        yield None
        return
    scope = _Scope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _request_of(args) -> HttpRequest | None:
    for arg in args[:2]:  # view(request, ...) or method(self, request, ...)
        if hasattr(arg, "method") and hasattr(arg, "META"):
            return arg
    return None


class _InScope:
    """A streamed body's iterator, each step run with the replica scope it began in."""

    def __init__(self, iterator, scope: _Scope):
        self.iterator, self.scope = iter(iterator), scope

    def __iter__(self):
        return self

    def __next__(self):
        token = _scope.set(self.scope)
        try:
            return next(self.iterator)
        finally:
            _scope.reset(token)

    def close(self):
        close = getattr(self.iterator, "close", None)
        if close is not None:
            close()


def reads_from_replica(view: Callable | None = None, *, when: Callable[[HttpRequest], bool] | None = None):
    """Decorate a read-only view (function or viewset method): its reads may be served by a replica;
    with ``when``, only the requests it accepts (e.g. an as-of read, not the current balance).

    If the replica fails during the view, the view runs again on ``default`` (it wrote nothing)."""
    if view is None:
        return functools.partial(reads_from_replica, when=when)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request = _request_of(args)
        if when is not None and (request is None or not when(request)):
            return view(*args, **kwargs)
        with replica_reads(request) as scope:
            if scope is None:
                return view(*args, **kwargs)
            try:
                response = view(*args, **kwargs)
            except DatabaseError as exc:
                if not scope.used_replica or not scope.alias:
                    raise
                replica_mark_down(scope.alias, type(exc).__name__)
                logger.warning("read replica %s failed a read (%s); the view runs again on the primary",
                               scope.alias, type(exc).__name__)
                scope.alias, scope.used_replica = "", False
                response = view(*args, **kwargs)
        # A streamed body (CSV) reads as it is sent, after the view returned: in the same scope, unless
        # the view already fell back to the primary.
        if getattr(response, "streaming", False) and scope is not None and scope.alias != "":
            response.streaming_content = _InScope(response.streaming_content, scope)
        return response

    return wrapper


# --- Read-your-writes across requests ----------------------------------------------------------
class ReadYourWritesMiddleware:
    """After a successful write, the same client reads ``default`` for the sticky window."""

    UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not replica_aliases() or response.status_code >= 400:
            return response
        if request.method in self.UNSAFE or request_wrote():
            until = time.time() + float(settings.WALLETS_REPLICA_STICKY_SECONDS)
            session = getattr(request, "session", None)
            if session is not None and session.session_key:  # never a new session for an API key's write
                session[STICKY_SESSION_KEY] = until
            key = _api_key_marker(request)
            if key is not None:
                try:
                    cache.set(key, until, timeout=max(1, int(settings.WALLETS_REPLICA_STICKY_SECONDS) + 1))
                except Exception:  # a cache outage: the sticky mark is lost, reads may be a little old
                    logger.warning("replica stickiness: the cache is unavailable", exc_info=True)
        return response
