"""Health check: answers 200 only when the database answers, and reports the cache's state.

A cache (Redis) outage degrades speed, never availability (the API answers from the database), so
``"cache": "down"`` is reported without failing the check; a load balancer must not take every
instance out of service because the shared cache is gone.

Read replicas (``DATABASE_REPLICA_URLS``) are reported the same way: each one ``ok``, ``lagging`` (with
its lag in seconds) or ``down``, and ``"reads": "primary"`` when none is usable (the opted-in reads
fall back to the primary). The answer stays 200: the app works on the primary alone."""

import logging
import uuid

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from walletproject import db_router
from wallets.ledger import sql

logger = logging.getLogger("wallets.errors")


def cache_state() -> str:
    """``ok`` when a value written to the default cache reads back, else ``down``."""
    probe = uuid.uuid4().hex
    try:
        cache.set("healthz:probe", probe, 10)
        return "ok" if cache.get("healthz:probe") == probe else "down"
    except Exception:  # any failure means the cache is not usable
        logger.warning("health check: the cache is unavailable", exc_info=True)
        return "down"


@never_cache
def health(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.PING)
            cursor.fetchone()
    except Exception as exc:  # any failure means unhealthy
        return JsonResponse({"status": "unavailable", "database": type(exc).__name__, "cache": cache_state()},
                            status=503)
    body: dict[str, object] = {"status": "ok", "database": connection.vendor, "cache": cache_state()}
    if db_router.replica_aliases():
        states = db_router.replica_states(fresh=True)
        body["replicas"] = {state.alias: state.as_dict() for state in states}
        body["reads"] = "replica" if any(state.usable for state in states) else "primary"
    return JsonResponse(body)
