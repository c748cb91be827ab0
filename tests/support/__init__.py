"""What the tests and ``bench`` share: real servers and one invariant oracle.

- ``servers``: ``gunicorn walletproject.wsgi`` as in production, our own ``redis-server`` and
  ``pgbouncer`` on free ports, ``manage.py`` in a subprocess.
- ``postgres``: a private PostgreSQL cluster (``initdb`` + ``pg_ctl`` in a temporary directory) that
  a test may crash and restart, and that a benchmark tunes and measures.
- ``oracle``: the ledger's invariants as raw SQL, independent of the application's code (the
  subject of a test or a benchmark does not grade itself). Every resilience test and every bench run
  checks the books with it.

Nothing here is a stand-in: the servers are the real programs. Only the standard library, psycopg,
httpx and redis (runtime and dev dependencies of the project) are imported, never Django, so
``bench`` can use it before it configures Django.
"""
