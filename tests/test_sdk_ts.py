"""Dodo Payments' official TypeScript SDK (``tests/sdk_ts``, ``dodopayments`` pinned in its
package.json and package-lock.json) against a live server, run through Node: a merchant's code
changes only its base URL. ``bash .ci/test`` runs ``npm ci`` there first. Nothing is skipped: without
Node or the installed SDK the test fails and says what to do."""

import json
import os
import shutil
import subprocess

import pytest

from tests.support.servers import REPO_ROOT
from wallets.services.api_keys import api_key_create

SDK_DIR = REPO_ROOT / "tests" / "sdk_ts"
CORE_CHECKS = {
    "customers.create", "customers.retrieve and customers.list", "credit USD", "idempotent replay",
    "idempotency key reused with another body: 422", "debit", "overdraft: BadRequestError", "wallets.list",
    "ledger entries with paging", "unknown customer: NotFoundError", "bad key: AuthenticationError",
    "invalid body: UnprocessableEntityError",
}

pytestmark = pytest.mark.django_db(transaction=True)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("Node.js is needed for the TypeScript SDK check: apt-get install -y nodejs npm")
    if not (SDK_DIR / "node_modules" / "dodopayments").is_dir():
        pytest.fail(f"the TypeScript SDK is not installed: cd {SDK_DIR.relative_to(REPO_ROOT)} && npm ci")
    return found


def workflow(live_server, business, part: str) -> tuple[dict[str, dict], subprocess.CompletedProcess]:
    _, raw_key = api_key_create(business=business, name="typescript sdk")
    proc = subprocess.run(
        [node(), "workflow.mjs", part], cwd=SDK_DIR, capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "WALLETS_BASE_URL": live_server.url, "WALLETS_API_KEY": raw_key},
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"workflow.mjs printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    results = json.loads(lines[-1])["results"]
    return {r["check"]: r for r in results}, proc


def test_typescript_sdk_workflow(live_server, business, reference_data):
    results, proc = workflow(live_server, business, "core")
    assert set(results) == CORE_CHECKS
    assert {name: r["error"] for name, r in results.items() if not r["ok"]} == {}, proc.stderr[-3000:]
    assert proc.returncode == 0


def test_typescript_sdk_credits_aed_and_lists_wallets(live_server, business, reference_data):
    results, proc = workflow(live_server, business, "aed")
    assert results["credit AED, then wallets.list"]["ok"], results["credit AED, then wallets.list"]["error"]
    assert proc.returncode == 0
