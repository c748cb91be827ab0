"""Names of the environment variables the project reads: one prefix, ``WALLETS_``.

- ``WALLETS_*``: every setting of the project's own (wallets, timeouts, the cache prefix, gunicorn).
- ``DJANGO_<SETTING>``: a variable that sets Django's setting of that name (``DJANGO_DEBUG``,
  ``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS`` …), the convention of cookiecutter-django that
  Django operators already know.
- ``DATABASE_URL``, ``CACHE_URL``, ``PORT`` and ``WEB_CONCURRENCY``: the names every platform and tool
  already uses (twelve-factor apps, django-environ, Heroku-style hosts, gunicorn itself).

The names in ``RENAMED`` were renamed in 0.2. Each old name still works for that release: when it is
set, ``adopt_renamed`` moves it to the new name (unless the new one is set too, which wins) and warns
with a ``FutureWarning``, shown by default, naming the replacement; the move means the warning comes
once, not again in every subprocess or module that reads the environment after it. The old names stop
working in 0.3.

This module needs nothing but the standard library: ``gunicorn.conf.py`` imports it before Django.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import MutableMapping

RENAMED: dict[str, str] = {
    "WALLET_DEFAULT_CURRENCIES": "WALLETS_DEFAULT_CURRENCIES",
    "WALLET_LOW_BALANCE_DEFAULT": "WALLETS_LOW_BALANCE_DEFAULT",
    "CACHE_KEY_PREFIX": "WALLETS_CACHE_KEY_PREFIX",
    "CACHE_CONNECT_TIMEOUT_S": "WALLETS_CACHE_CONNECT_TIMEOUT_S",
    "CACHE_TIMEOUT_S": "WALLETS_CACHE_TIMEOUT_S",
    "DATABASE_CONN_MAX_AGE": "WALLETS_DB_CONN_MAX_AGE",
    "DATABASE_LOCK_TIMEOUT_MS": "WALLETS_DB_LOCK_TIMEOUT_MS",
    "DATABASE_STATEMENT_TIMEOUT_MS": "WALLETS_DB_STATEMENT_TIMEOUT_MS",
    "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS": "WALLETS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
    "DATABASE_CONNECT_TIMEOUT_S": "WALLETS_DB_CONNECT_TIMEOUT_S",
    "DATABASE_TEST_NAME": "WALLETS_DB_TEST_NAME",
    "GUNICORN_BIND": "WALLETS_GUNICORN_BIND",
    "GUNICORN_WORKER_CLASS": "WALLETS_GUNICORN_WORKER_CLASS",
    "GUNICORN_THREADS": "WALLETS_GUNICORN_THREADS",
    "GUNICORN_KEEPALIVE": "WALLETS_GUNICORN_KEEPALIVE",
    "GUNICORN_BACKLOG": "WALLETS_GUNICORN_BACKLOG",
    "GUNICORN_TIMEOUT": "WALLETS_GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT": "WALLETS_GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_PRELOAD": "WALLETS_GUNICORN_PRELOAD",
    "GUNICORN_MAX_REQUESTS": "WALLETS_GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER": "WALLETS_GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_WORKER_TMP_DIR": "WALLETS_GUNICORN_WORKER_TMP_DIR",
    "GUNICORN_SWITCH_INTERVAL_MS": "WALLETS_GUNICORN_SWITCH_INTERVAL_MS",
}


def adopt_renamed(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Move each old name that is set to its new name and warn once per old name; return the old names
    that were set. Call it before reading any setting (``settings.py`` and ``gunicorn.conf.py`` do)."""
    environ = os.environ if environ is None else environ
    used = []
    for old, new in RENAMED.items():
        if old not in environ:
            continue
        used.append(old)
        value = environ.pop(old)
        if new in environ:
            message = f"{old} is ignored: {new} is set too. Unset {old}; it stops working in the next release."
        else:
            environ[new] = value
            message = f"{old} is deprecated and stops working in the next release: set {new} instead."
        warnings.warn(message, FutureWarning, stacklevel=2)
    return used
