""""Who made this entry": one selector, the same label on the ledger page, the customer page, the
overview and in the CSV export (issue 9 item 3). Before, the export left a former member and an
unnamed API key blank while the page named them."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model

from wallets import ledger, selectors
from wallets.models import LedgerEntry, Membership
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create


@pytest.fixture
def entries(business, other_business, customer, operator, make_user):
    named, _ = api_key_create(business=business, name="Checkout")
    unnamed, _ = api_key_create(business=business)
    former = make_user(Membership.Role.OPERATOR, business, username="frank")
    elsewhere, _ = api_key_create(business=other_business, name="Globex key")
    actors = {
        "by operator": (Actor.user(operator.pk), "olivia"),
        "by named key": (Actor.api_key(named.pk), "Checkout"),
        "by unnamed key": (Actor.api_key(unnamed.pk), f"{unnamed.prefix}…"),
        "by former member": (Actor.user(former.pk), "frank"),
        "by command": (Actor.command("bulk_credit"), "bulk_credit"),
        "by unknown user": (Actor.user(987654), "987654"),
        "by a key of another business": (Actor.api_key(elsewhere.pk), elsewhere.pk),
    }
    for reason, (actor, _) in actors.items():
        ledger.post(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=100,
                    is_credit=True, actor=actor, reason=reason)
    Membership.objects.filter(user=former).delete()  # frank left the business
    return {reason: label for reason, (_, label) in actors.items()}


def _page_labels(html: str) -> dict[str, str]:
    rows = re.findall(r"<tr.*?</tr>", html, flags=re.DOTALL)
    labels = {}
    for row in rows:
        reason = re.search(r'(?<=<td class="reason hide-sm">)by [a-z ]+', row)
        actor = re.search(r'<td class="actor[^"]*">.*?<div title="[^"]*">(.*?)</div>', row, flags=re.DOTALL)
        if reason and actor:
            labels[reason.group()] = actor.group(1).replace("&hellip;", "…").strip()
    return labels


def test_the_selector_labels_every_kind_of_actor(business, entries):
    found = list(LedgerEntry.objects.filter(business=business))
    labels = selectors.actor_labels_for_entries(business_id=business.pk, entries=found)
    assert {e.reason: labels.label(e.actor_type, e.actor_id) for e in found} == entries
    streamed = selectors.actor_labels_for_business(business_id=business.pk)
    assert {e.reason: streamed.label(e.actor_type, e.actor_id) for e in found} == entries


def test_the_page_and_the_export_show_the_same_label(operator_client, customer, entries):
    export = operator_client.get("/dashboard/ledger/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert {r["reason"]: r["actor"] for r in rows} == entries
    assert _page_labels(operator_client.get("/dashboard/ledger/").content.decode()) == entries
    assert _page_labels(operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()) == entries


def test_the_export_stays_at_its_query_budget_with_a_former_member(operator_client, entries, count_queries):
    # Members, staff and keys up front (two queries, the budget of 6 in test_ledger.py); each actor
    # outside them costs one lookup, once: frank (no longer a member), the unknown user id and the
    # other business's key.
    assert count_queries(operator_client, "/dashboard/ledger/export.csv") == 6 + 3
    assert get_user_model().objects.filter(username="frank").exists()
