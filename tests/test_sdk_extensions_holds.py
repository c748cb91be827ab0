"""The snippets of docs/api.md's "Paying from the wallet" and "Holds", exactly as written, run
against a live server: the Python ones through Dodo's official Python SDK's raw client, the
TypeScript ones through Node and Dodo's TypeScript SDK (tests/sdk_ts)."""

import json
import os
import re
import subprocess

import pytest

from tests.support.servers import REPO_ROOT
from tests.test_sdk import dodo, key  # noqa: F401  (the live SDK client and its key)
from tests.test_sdk_ts import SDK_DIR, node
from wallets.models import Hold, LedgerEntry, Wallet, WalletPayment

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def snippets(section: str, language: str) -> list[str]:
    """The ``language`` code blocks of one ``## section`` of docs/api.md, in order."""
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", DOCS, re.MULTILINE | re.DOTALL)
    assert match, f"docs/api.md has no section {section!r}"
    blocks = re.findall(rf"^```{language}\n(.*?)^```", match[1], re.MULTILINE | re.DOTALL)
    assert blocks, f"{section!r} has no {language} snippet"
    return blocks


def run_python(blocks: list[str], **names) -> dict:
    namespace = dict(names)
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    return namespace


def run_typescript(blocks: list[str], live_server, raw_key: str, customer_id: str, results: list[str]) -> dict:
    """Run the blocks in one ES module beside the installed SDK; answer the named results."""
    program = "\n".join([
        "import DodoPayments from 'dodopayments';",
        "const client = new DodoPayments({ bearerToken: process.env.WALLETS_API_KEY,",
        "  baseURL: process.env.WALLETS_BASE_URL, maxRetries: 0 });",
        f"const customerId = {json.dumps(customer_id)};",
        *blocks,
        f"console.log(JSON.stringify({{ {', '.join(results)} }}));",
    ])
    script = SDK_DIR / f"docs-snippet-{os.getpid()}.mjs"
    script.write_text(program, encoding="utf-8")
    try:
        proc = subprocess.run(
            [node(), script.name], cwd=SDK_DIR, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "WALLETS_BASE_URL": live_server.url, "WALLETS_API_KEY": raw_key},
        )
    finally:
        script.unlink()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def funded(customer, post):
    post(customer, 1800)
    return customer


def test_python_payment_snippet_pays_what_the_wallet_has_and_replays(dodo, funded):  # noqa: F811
    ran = run_python(snippets("Paying from the wallet", "python"), client=dodo, customer_id=funded.id)
    assert (ran["payment"]["applied"], ran["charge_elsewhere"], ran["payment"]["entry"]["amount"]) == (1800, 700, 1800)
    assert ran["payment"]["wallet"]["balance"] == 0

    again = run_python(snippets("Paying from the wallet", "python"), client=dodo, customer_id=funded.id)
    assert again["payment"] == ran["payment"]
    assert WalletPayment.objects.count() == 1
    assert LedgerEntry.objects.filter(event_type="payment").count() == 1


def test_python_hold_snippets_capture_list_and_refuse_a_void(dodo, funded):  # noqa: F811
    ran = run_python(snippets("Holds", "python"), client=dodo, customer_id=funded.id)
    assert ran["hold"]["id"].startswith("hld_")
    assert (ran["captured"]["status"], ran["captured"]["entry"]["amount"]) == ("captured", 800)
    assert ran["captured"]["wallet"]["available_balance"] == 1000
    assert ran["active"] == {"items": []}
    assert ran["conflict"] == "HOLD_NOT_ACTIVE"
    assert Hold.objects.get().status == "captured"
    assert Wallet.objects.get(customer=funded, currency="USD").balance == 1000


def test_typescript_snippets_do_the_same(live_server, key, funded, post):  # noqa: F811
    raw_key = key[1]
    paid = run_typescript(snippets("Paying from the wallet", "ts"), live_server, raw_key, funded.id,
                          ["payment", "chargeElsewhere"])
    assert (paid["payment"]["applied"], paid["chargeElsewhere"]) == (1800, 700)

    post(funded, 1800)  # the payment emptied the wallet; fund it again for the holds

    held = run_typescript(snippets("Holds", "ts"), live_server, raw_key, funded.id,
                          ["hold", "captured", "active", "conflict"])
    assert (held["captured"]["status"], held["captured"]["entry"]["amount"]) == ("captured", 800)
    assert held["active"] == {"items": []}
    assert held["conflict"] == "HOLD_NOT_ACTIVE"
    assert Wallet.objects.get(customer=funded, currency="USD").balance == 1000
