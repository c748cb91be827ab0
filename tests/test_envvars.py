"""One prefix for the project's environment variables (``walletproject/envvars.py``): the old names
keep working for one release, with a warning naming the new one."""

import os
import re
import subprocess
import sys

import pytest

from tests.support.servers import REPO_ROOT
from walletproject.envvars import RENAMED, adopt_renamed


def test_an_old_name_moves_to_its_new_name_with_a_warning():
    environ = {"WALLET_DEFAULT_CURRENCIES": "EUR,JPY"}
    with pytest.warns(FutureWarning, match="WALLET_DEFAULT_CURRENCIES is deprecated.*WALLETS_DEFAULT_CURRENCIES"):
        assert adopt_renamed(environ) == ["WALLET_DEFAULT_CURRENCIES"]
    assert environ == {"WALLETS_DEFAULT_CURRENCIES": "EUR,JPY"}


def test_the_new_name_wins_when_both_are_set():
    environ = {"CACHE_KEY_PREFIX": "old", "WALLETS_CACHE_KEY_PREFIX": "new"}
    with pytest.warns(FutureWarning, match="CACHE_KEY_PREFIX is ignored: WALLETS_CACHE_KEY_PREFIX is set"):
        adopt_renamed(environ)
    assert environ == {"WALLETS_CACHE_KEY_PREFIX": "new"}


def test_new_names_alone_warn_nothing(recwarn):
    environ = dict.fromkeys(RENAMED.values(), "1")
    assert adopt_renamed(environ) == []
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def settings_value(expression: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in RENAMED and k not in RENAMED.values()}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; print({expression})"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "walletproject.settings", **env},
    )


@pytest.mark.parametrize(("old", "value", "expression", "expected"), [
    ("WALLET_DEFAULT_CURRENCIES", "EUR,GBP", "settings.WALLET_DEFAULT_CURRENCIES", "['EUR', 'GBP']"),
    ("WALLET_LOW_BALANCE_DEFAULT", "25", "settings.WALLET_LOW_BALANCE_DEFAULT", "25"),
    ("CACHE_KEY_PREFIX", "old-prefix", "settings.CACHES['default']['KEY_PREFIX']", "old-prefix"),
    ("DATABASE_TEST_NAME", "old_test_db", "settings.DATABASES['default']['TEST']['NAME']", "old_test_db"),
])
def test_settings_still_read_an_old_name_and_warn(old, value, expression, expected):
    result = settings_value(expression, **{old: value})
    assert result.stdout.strip() == expected
    assert f"FutureWarning: {old} is deprecated and stops working in the next release: set {RENAMED[old]}" in (
        result.stderr)


def test_settings_read_the_new_names_without_a_warning():
    result = settings_value("settings.WALLET_DEFAULT_CURRENCIES", WALLETS_DEFAULT_CURRENCIES="AED")
    assert result.stdout.strip() == "['AED']"
    assert "FutureWarning" not in result.stderr


def test_no_module_reads_an_old_name_directly():
    """Only ``envvars.RENAMED`` may spell an old name; settings and gunicorn read the new ones."""
    for path in ("walletproject/settings.py", "gunicorn.conf.py"):
        text = (REPO_ROOT / path).read_text()
        for old in RENAMED:
            assert not re.search(rf"[\"']{old}[\"']", text), f"{path} reads {old}"
