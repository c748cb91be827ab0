"""``WALLETS_DB_POOL=min:max``: Django's psycopg pool (``OPTIONS["pool"]``) with ``CONN_MAX_AGE=0``,
checked in a process with production settings against the test server's PostgreSQL: a request-sized
unit of work borrows a pooled connection and gives it back (none is closed); a bad value is refused at start."""

import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.resilience.conftest import live_database_url
from tests.support.servers import REPO_ROOT

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the pool is psycopg's")

PROBE = """
import django; django.setup()
from django.conf import settings
from django.db import connection, close_old_connections
db = settings.DATABASES["default"]
print(db["CONN_MAX_AGE"], db["OPTIONS"].get("pool"))
backends = set()
for _ in range(3):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backends.add(cursor.fetchone()[0])
    connection.close()  # the end of a request: back to the pool, not closed
stats = connection.pool.get_stats()
print(len(backends), stats["pool_size"], stats.get("connections_num"), stats.get("requests_num"))
"""


def probe(pool: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "walletproject.settings", "DJANGO_SECRET_KEY": "x" * 50,
           "WALLETS_DB_POOL": pool}
    # The test run's own database (the server's default one may not exist on a fresh machine).
    env["DATABASE_URL"] = live_database_url()
    return subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.django_db
def test_the_pool_setting_reuses_one_server_connection_across_requests():
    ran = probe("1:2")
    assert ran.returncode == 0, ran.stderr
    settings_line, use_line = ran.stdout.splitlines()[-2:]
    assert settings_line == "0 {'min_size': 1, 'max_size': 2, 'timeout': 10.0}"
    backends, pool_size, opened, requests = map(int, use_line.split())
    # Three "requests" served by the pool's connections (at most max_size, however many requests):
    # without a pool, CONN_MAX_AGE=0 opens one server connection per request.
    assert requests == 3
    # The pool may open its second connection in the background (it grows towards max_size on its
    # own schedule), so the property is: three requests, never more server connections than max_size.
    assert 1 <= backends <= opened <= 2
    assert pool_size <= 2


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["4", "3:2", "a:b", "0:0", ":"])
def test_a_bad_pool_setting_is_refused_at_start(bad):
    ran = probe(bad)
    assert ran.returncode != 0
    assert "WALLETS_DB_POOL must be min:max" in ran.stderr
