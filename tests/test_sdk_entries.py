"""docs/api.md's "Ledger entries beyond Dodo" snippets, run as written with Dodo's Python SDK against a
live server: the documented calls must work and do what the page says."""

import re
from pathlib import Path

import pytest

from tests.test_sdk import dodo, key, sdk_customer  # noqa: F401  (the live server and the SDK client)
from wallets.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented_snippets() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Ledger entries beyond Dodo", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_documented_snippets_run_against_a_live_server(dodo, sdk_customer, capsys):  # noqa: F811
    post_entries, list_and_get, reverse = documented_snippets()
    customer_id = sdk_customer.customer_id
    dodo.customers.wallets.ledger_entries.create(customer_id, amount=1000, currency="USD", entry_type="credit")
    names: dict = {"client": dodo, "customer_id": customer_id}

    exec(post_entries, names)  # the documentation's own code
    refund = LedgerEntry.objects.get(customer_id=customer_id, event_type="refund")
    assert (refund.reference_object_id, refund.metadata, refund.amount) == ("re_1", {"order": "o_1"}, 500)
    assert names["wallet"].balance == 1500
    assert names["wallet"].model_extra["available_balance"] == 1500
    assert LedgerEntry.objects.filter(customer_id=customer_id).count() == 2  # the dry run wrote nothing

    exec(list_and_get, names)
    assert [e.id for e in names["refunds"].items] == [refund.id]
    assert names["entry"]["id"] == refund.id
    assert names["entry"]["metadata"] == {"order": "o_1"}

    names["entry_id"] = refund.id
    exec(reverse, names)
    assert names["reversal"]["reversal_of"] == refund.id
    assert names["reversal"]["event_type"] == "refund_reversal"
    assert names["reversal"]["wallet"]["balance"] == 1300
    assert capsys.readouterr().out.strip() == f"{refund.id} 1300"
