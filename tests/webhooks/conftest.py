"""Fixtures of the delivery tests: a real receiver on loopback, an endpoint pointed at it, and a
``drain`` that runs the worker's pass (``pump.run``) in-process until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from standardwebhooks.webhooks import Webhook

from tests.webhooks.receiver import Receiver
from wallets.services import webhooks as endpoints
from wallets.webhooks import pump


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def endpoint(business, receiver):
    """Subscribed to the entries only (a credit may also cross the low-balance threshold)."""
    return endpoints.endpoint_create(business_id=business.id, url=receiver.url, description="receiver",
                                     filter_types=["wallet.ledger_entry.created"])


@pytest.fixture
def drain():
    def run(until: Callable[[], object] | None = None, *, timeout: float = 15.0, pause: float = 0.02):
        deadline = time.monotonic() + timeout
        while True:
            pump.run(budget_s=2.0)
            if until is None:
                return None
            if value := until():
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"not done within {timeout}s")
            time.sleep(pause)

    return run


def verify(secret: str, request) -> dict:
    """Verify a received delivery with standardwebhooks and with Dodo's SDK; return the body."""
    from dodopayments import DodoPayments

    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    body = Webhook(secret).verify(request.text, headers)
    client = DodoPayments(bearer_token="x", webhook_key=secret)
    client.webhooks.unwrap(request.text, headers=headers)
    return body
