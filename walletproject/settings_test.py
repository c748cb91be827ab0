"""Settings for the test suite: the production settings module, plus what only tests may change.

pytest uses this module (``pyproject.toml``), and the subprocesses the tests start inherit it through
``DJANGO_SETTINGS_MODULE`` unless they set their own; ``manage.py``, ``wsgi.py``, gunicorn and the
servers the resilience suite and ``bench`` start use ``walletproject.settings``.
"""

from django.conf import global_settings

from walletproject.settings import *  # noqa: F403
from walletproject.settings import SECRET_KEY

# PBKDF2's 1.2 million iterations cost ~0.3 s of CPU per password set or checked, and the suite sets
# and checks hundreds. MD5 is worthless as protection and fine for throw-away test users. The
# production hashers stay accepted, so a hash made under ``walletproject.settings`` still verifies.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]

# Parallel workers (pytest-xdist) of a fresh checkout import the settings at once: one may read the
# development key file while another is still writing it. Never an empty key.
SECRET_KEY = SECRET_KEY or "test-only-not-secret-" + "x" * 40

# The suite's webhook receivers listen on loopback: allowed here only (the SSRF tests turn it off).
WEBHOOK_ALLOW_PRIVATE_TARGETS = True
