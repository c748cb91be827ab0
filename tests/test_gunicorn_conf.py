"""``gunicorn.conf.py`` as gunicorn itself reads it (``--print-config``): the bind address is a
deliberate default (loopback, behind a TLS proxy), overridable from the environment."""

import os
import subprocess
import sys

import pytest

from tests.support.servers import REPO_ROOT


def gunicorn_config(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "WALLETS_GUNICORN_"))}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--print-config",
         "walletproject.wsgi:application"],
        cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=True,
    )


def setting(output: str, name: str) -> str:
    for line in output.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip()
    raise AssertionError(f"{name} not in gunicorn's configuration:\n{output}")


def test_binds_loopback_by_default():
    """Plain HTTP is for the TLS proxy on the same host, not for every interface."""
    assert setting(gunicorn_config().stdout, "bind") == "['127.0.0.1:8000']"


def test_bind_is_overridable_from_the_environment():
    result = gunicorn_config(WALLETS_GUNICORN_BIND="0.0.0.0:9000")
    assert setting(result.stdout, "bind") == "['0.0.0.0:9000']"
    assert "Warning" not in result.stderr


@pytest.mark.parametrize(("old", "new", "value", "shown"), [
    ("GUNICORN_BIND", "bind", "0.0.0.0:9001", "['0.0.0.0:9001']"),
    ("GUNICORN_THREADS", "threads", "5", "5"),
])
def test_the_old_gunicorn_names_still_work_with_a_warning(old, new, value, shown):
    result = gunicorn_config(**{old: value})
    assert setting(result.stdout, new) == shown
    assert f"FutureWarning: {old} is deprecated" in result.stderr
    assert f"WALLETS_{old}" in result.stderr
