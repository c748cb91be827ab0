"""Assertions shared by the API tests: Dodo's error body and "nothing changed in the database"."""

import json
from contextlib import contextmanager

from wallets.models import ApiKey, Business, Customer, LedgerEntry, Wallet


def assert_error(response, status: int, code: str) -> dict:
    """The response is Dodo's JSON error body with this status and code, and nothing else."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert body["code"] == code, body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    assert set(body) <= {"code", "message", "errors"}, body
    if "errors" in body:
        assert status == 422
        assert all(isinstance(m, list) and all(isinstance(x, str) for x in m) for m in body["errors"].values())
    assert "Traceback" not in response.content.decode()
    return body


def db_state() -> dict:
    """Everything an API request could change, in a comparable form."""
    return {
        "businesses": list(Business.objects.order_by("id").values_list("id", "name")),
        "keys": list(ApiKey.objects.order_by("id").values_list("id", "revoked_at")),
        "customers": list(
            Customer.objects.order_by("id").values("id", "email", "name", "phone_number", "metadata", "updated_at")
        ),
        "wallets": list(Wallet.objects.order_by("id").values("id", "currency", "balance", "entry_count", "updated_at")),
        "entries": list(LedgerEntry.objects.order_by("id").values_list("id", flat=True)),
    }


@contextmanager
def unchanged():
    """Assert the block leaves the database exactly as it found it."""
    before = db_state()
    yield
    assert db_state() == before


def ledger_post(client, customer_id: str, **body):
    body.setdefault("currency", "USD")
    body.setdefault("entry_type", "credit")
    return client.post(f"/customers/{customer_id}/wallets/ledger-entries", body, format="json")
