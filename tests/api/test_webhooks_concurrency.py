"""Concurrent ``POST /webhooks`` with one idempotency key against a live server on PostgreSQL: one
endpoint is created, every request answers it (the losers of the unique index read the winner's),
another body with the key is refused, and no request ever gets a 500."""

from collections import Counter

import pytest
from django.db import connection

from tests.api.test_concurrency_http import post_together
from wallets.models import WebhookEndpoint
from wallets.services.api_keys import api_key_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serializes every writer (BEGIN IMMEDIATE): there is no race on the unique index to prove",
    ),
]


def test_one_key_creates_one_endpoint_under_concurrent_requests(live_server, business):
    raw_key = api_key_create(business=business)[1]
    same = {"url": "https://hooks.example.com/race", "idempotency_key": "race-1", "metadata": {"a": "b"}}
    other = {**same, "url": "https://hooks.example.com/other"}
    responses = post_together(live_server, raw_key, [("/webhooks", same)] * 8 + [("/webhooks", other)] * 2)
    # Whichever body commits first owns the key: its requests all answer its endpoint, the others are refused.
    groups = {"same": responses[:8], "other": responses[8:]}
    winner = "same" if responses[0].status_code == 200 else "other"
    loser = "other" if winner == "same" else "same"
    assert Counter(r.status_code for r in groups[winner]) == Counter({200: len(groups[winner])}), \
        [r.text for r in responses]
    assert len({r.json()["id"] for r in groups[winner]}) == 1
    assert {(r.status_code, r.json()["code"]) for r in groups[loser]} == {(422, "IDEMPOTENCY_KEY_REUSED")}
    assert WebhookEndpoint.objects.get().id == groups[winner][0].json()["id"]
