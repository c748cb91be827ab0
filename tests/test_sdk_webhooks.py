"""Dodo Payments' official Python SDK manages webhook endpoints on a live server, unchanged:
``client.webhooks.create / retrieve / update / list / delete / retrieve_secret`` and
``client.webhooks.headers.retrieve / update``, the list walked page by page by the SDK's own
auto-paging (``SyncCursorPagePagination``); and the TypeScript SDK does the same (tests/sdk_ts/webhooks.mjs)."""

import json
import os
import subprocess

import dodopayments
import pytest
from dodopayments.types import WebhookDetails

from tests.test_sdk import dodo, key  # noqa: F401  (the live SDK client and its key)
from tests.test_sdk_extensions_holds import run_python, run_typescript, snippets
from tests.test_sdk_ts import SDK_DIR, node
from wallets.models import WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sdk_creates_reads_updates_and_deletes_an_endpoint(dodo, business):  # noqa: F811
    request = {"url": "https://hooks.example.com/w", "description": "Ledger", "filter_types": ["wallet.balance_low"],
               "headers": {"X-Tenant": "acme", "X-Token": "t"}, "metadata": {"team": "finance"}, "rate_limit": 20,
               "idempotency_key": "sdk-create-1"}
    made = dodo.webhooks.create(**request)
    assert isinstance(made, WebhookDetails)
    assert made.id.startswith("whk_")
    assert (made.filter_types, made.metadata, made.rate_limit, made.disabled) == (
        ["wallet.balance_low"], {"team": "finance"}, 20, False)
    assert WebhookEndpoint.objects.get(pk=made.id).business_id == business.id
    assert dodo.webhooks.create(**request).id == made.id  # the same key and body: the same endpoint

    assert dodo.webhooks.retrieve(made.id) == made
    updated = dodo.webhooks.update(made.id, disabled=True, description="Paused")
    assert (updated.disabled, updated.description, updated.url) == (True, "Paused", made.url)

    secret = dodo.webhooks.retrieve_secret(made.id).secret
    assert secret.startswith("whsec_")

    headers = dodo.webhooks.headers.retrieve(made.id)
    assert (headers.headers, headers.sensitive) == ({"X-Tenant": "acme"}, ["X-Token"])
    assert dodo.webhooks.headers.update(made.id, headers={"X-Env": "prod"}) is None
    assert dodo.webhooks.headers.retrieve(made.id).headers == {"X-Tenant": "acme", "X-Env": "prod"}

    assert dodo.webhooks.delete(made.id) is None
    with pytest.raises(dodopayments.NotFoundError):
        dodo.webhooks.retrieve(made.id)
    with pytest.raises(dodopayments.UnprocessableEntityError):
        dodo.webhooks.create(url="ftp://hooks.example.com/w")


def test_the_sdk_walks_every_page_of_the_list(dodo):  # noqa: F811
    made = [dodo.webhooks.create(url=f"https://hooks.example.com/{i}").id for i in range(5)]
    walked = [w.id for w in dodo.webhooks.list(limit=2)]
    assert walked == made[::-1]
    first = dodo.webhooks.list(limit=2)
    assert (len(first.data), first.done, first.has_next_page()) == (2, False, True)
    pages = list(first.iter_pages())
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert (pages[-1].done, pages[-1].iterator) == (True, None)


TS_CHECKS = {"webhooks.create", "webhooks.retrieve and update", "webhooks.retrieveSecret", "webhooks.headers",
             "webhooks.list walks every page", "webhooks.delete", "invalid url: UnprocessableEntityError"}


def test_the_typescript_sdk_manages_endpoints_end_to_end(live_server, key):  # noqa: F811
    proc = subprocess.run(
        [node(), "webhooks.mjs"], cwd=SDK_DIR, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "WALLETS_BASE_URL": live_server.url, "WALLETS_API_KEY": key[1]},
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"webhooks.mjs printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    results = {r["check"]: r for r in json.loads(lines[-1])["results"]}
    assert set(results) == TS_CHECKS
    assert {name: r["error"] for name, r in results.items() if not r["ok"]} == {}
    assert proc.returncode == 0
    assert WebhookEndpoint.objects.count() == 4  # the four made for paging; the first was deleted


def check_snippet_results(endpoint_id: str, secret: str, rotated: str, shown: dict, every_id: list[str]) -> None:
    stored = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert (stored.rate_limit, stored.filter_types) == (50, ["wallet.balance_low", "wallet.balance_recovered"])
    assert stored.headers == {"Authorization": "Bearer receiver-token", "X-Env": "prod"}
    assert shown == {"headers": {"X-Env": "prod"}, "sensitive": ["Authorization"]}
    assert every_id == [endpoint_id]
    assert secret.startswith("whsec_")
    assert rotated.startswith("whsec_")
    assert stored.signing_secrets(stored.updated_at) == [rotated, secret]


def test_the_python_snippet_of_docs_api_md_runs(dodo):  # noqa: F811
    ran = run_python(snippets("Webhooks", "python"), client=dodo)
    check_snippet_results(ran["endpoint"].id, ran["secret"], ran["rotated"], ran["shown"].model_dump(),
                          ran["every_id"])
    again = run_python(snippets("Webhooks", "python")[:1], client=dodo)  # the same idempotency key and body
    assert again["endpoint"].id == ran["endpoint"].id


def test_the_typescript_snippet_of_docs_api_md_runs(live_server, key):  # noqa: F811
    ran = run_typescript(snippets("Webhooks", "ts"), live_server, key[1], "unused",
                         ["endpoint", "secret", "rotated", "shown", "everyId"])
    check_snippet_results(ran["endpoint"]["id"], ran["secret"], ran["rotated"], ran["shown"], ran["everyId"])


def test_an_endpoint_made_by_the_sdk_receives_what_the_sdk_moves_and_the_sdk_verifies_it(dodo, business):  # noqa: F811
    """The whole loop through Dodo's SDK: create the endpoint, move money, read the secret, then
    ``client.webhooks.unwrap()`` verifies the delivery that a real receiver got from the worker."""
    from tests.webhooks.receiver import Receiver
    from wallets.webhooks import pump

    with Receiver() as receiver:
        endpoint = dodo.webhooks.create(url=receiver.url, filter_types=["wallet.ledger_entry.created"])
        customer = dodo.customers.create(email="sdk-hooks@example.com", name="Hook")
        wallet = dodo.customers.wallets.ledger_entries.create(customer.customer_id, amount=2500, currency="USD",
                                                             entry_type="credit", reason="top-up")
        pump.run(budget_s=5.0)
        receiver.wait_for(1)
        (request,) = receiver.requests
        secret = dodo.webhooks.retrieve_secret(endpoint.id).secret
        verifier = dodopayments.DodoPayments(bearer_token="unused", webhook_key=secret)
        event = verifier.webhooks.unwrap(request.text, headers=dict(request.headers))
        assert event.type == "wallet.ledger_entry.created"
        assert event.business_id == business.id
        body = request.json()
        assert body["data"]["customer_id"] == customer.customer_id
        assert (body["data"]["amount"], body["data"]["after_balance"]) == (2500, wallet.balance)
        forged = {**dict(request.headers), "webhook-signature": "v1,bm90IHRoZSBzaWduYXR1cmU="}
        from standardwebhooks.webhooks import WebhookVerificationError

        with pytest.raises(WebhookVerificationError):
            verifier.webhooks.unwrap(request.text, headers=forged)
