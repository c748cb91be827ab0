"""The test settings (``walletproject/settings_test.py``): what pytest runs under, and why it is fast."""

import time

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password


def test_pytest_runs_under_the_test_settings():
    assert settings.SETTINGS_MODULE == "walletproject.settings_test"
    assert settings.SECRET_KEY


def test_passwords_hash_fast_and_production_hashes_still_verify():
    started = time.perf_counter()
    hashed = make_password("a-long-password-1")
    assert hashed.startswith("md5$")
    assert time.perf_counter() - started < 0.05
    # A hash made by a subprocess or server under walletproject.settings (PBKDF2) still checks.
    production = make_password("a-long-password-1", hasher="pbkdf2_sha256")
    assert check_password("a-long-password-1", production)
