"""A chunked request body (``Transfer-Encoding: chunked``, no ``Content-Length``) through a real
gunicorn (issue 15 item 14): it was read as empty. Now it is read, and over the size limit it is a
JSON 413; never silently empty."""

import json

import httpx
import pytest

from wallets.models import Customer
from wallets.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


def chunks(data: bytes, size: int = 7):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_is_read(gunicorn_server, business):
    _, raw_key = api_key_create(business=business)
    server = gunicorn_server(workers=1)
    body = json.dumps({"email": "chunked@example.com", "name": "Chunked", "metadata": {"via": "chunks"}}).encode()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {raw_key}",
                                                    "Content-Type": "application/json"}, timeout=10) as client:
        request = client.build_request("POST", "/customers", content=chunks(body))
        assert request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in request.headers
        response = client.send(request)
        assert response.status_code == 200, response.text
        assert response.json()["metadata"] == {"via": "chunks"}
        created = Customer.objects.get(email="chunked@example.com")

        entry = json.dumps({"amount": 250, "currency": "USD", "entry_type": "credit"}).encode()
        posted = client.send(client.build_request("POST", f"/customers/{created.id}/wallets/ledger-entries",
                                                  content=chunks(entry)))
        assert posted.status_code == 200
        assert posted.json()["balance"] == 250

        too_big = client.send(client.build_request("POST", "/customers",
                                                   content=chunks(b'{"pad": "' + b"x" * 2_700_000 + b'"}', 65536)))
        assert too_big.status_code == 413
        assert too_big.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert Customer.objects.count() == 1
