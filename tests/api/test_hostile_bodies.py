"""Bodies that answered 500 (issue 15 item 6): each is now a 422 (413 for the size limit), and
nothing is written. They are refused in one place, ``wallets.http.parsers.StrictJSONParser``."""

import json

import pytest

from tests.api.helpers import assert_error, unchanged
from wallets.models import Customer

pytestmark = pytest.mark.django_db

BIG_INT = "74727252263436497715200"


def post_raw(client, path: str, raw: str | bytes):
    return client.generic("POST", path, raw, content_type="application/json")


def customer_body(metadata_json: str) -> str:
    return '{"email": "h@example.com", "name": "H", "metadata": ' + metadata_json + "}"


HOSTILE_CUSTOMER_BODIES = {
    "nested 100k deep": customer_body("[" * 100_000 + "]" * 100_000),
    "nested 100k deep objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "nested 40 deep": customer_body('{"a":' * 40 + "1" + "}" * 40),
    "1e400 in metadata": customer_body('{"n": 1e400}'),
    "-1e400 in metadata": customer_body('{"n": -1e400}'),
    "lone surrogate value": customer_body('{"k": "\\ud800"}'),
    "lone surrogate key": customer_body('{"\\udfff": "v"}'),
    "lone surrogate in name": '{"email": "h@example.com", "name": "\\ud800"}',
    "int beyond int64 in metadata": customer_body('{"n": ' + BIG_INT + "}"),
    "int below int64 in metadata": customer_body('{"n": -' + BIG_INT + "}"),
    "Infinity": customer_body('{"n": Infinity}'),
}


@pytest.mark.parametrize("raw", HOSTILE_CUSTOMER_BODIES.values(), ids=HOSTILE_CUSTOMER_BODIES.keys())
def test_hostile_customer_body_is_422_and_writes_nothing(api, raw):
    with unchanged():
        response = post_raw(api, "/customers", raw)
    assert_error(response, 422, "INVALID_REQUEST_BODY")


def test_the_refusal_names_the_field(api):
    body = assert_error(post_raw(api, "/customers", customer_body('{"n": ' + BIG_INT + "}")), 422,
                        "INVALID_REQUEST_BODY")
    assert list(body["errors"]) == ["metadata.n"]
    body = assert_error(post_raw(api, "/customers", customer_body('{"k": "\\ud800"}')), 422, "INVALID_REQUEST_BODY")
    assert list(body["errors"]) == ["metadata.k"]


def test_int64_limits_themselves_are_accepted(api):
    body = customer_body(json.dumps({"max": 2**63 - 1, "min": -(2**63), "f": 1.5e300}))
    response = post_raw(api, "/customers", body)
    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == {"max": 2**63 - 1, "min": -(2**63), "f": 1.5e300}


def test_patch_and_ledger_entry_bodies_go_through_the_same_parser(api, customer):
    with unchanged():
        patch = api.generic("PATCH", f"/customers/{customer.id}", customer_body('{"n": 1e400}'),
                            content_type="application/json")
        entry = post_raw(api, f"/customers/{customer.id}/wallets/ledger-entries",
                         '{"amount": 5, "currency": "USD", "entry_type": "credit", "reason": "\\ud800"}')
    assert_error(patch, 422, "INVALID_REQUEST_BODY")
    assert_error(entry, 422, "INVALID_REQUEST_BODY")


def test_a_body_over_2_5_mb_is_413_payload_too_large(api, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440
    raw = customer_body(json.dumps({"pad": "x" * 2_700_000}))
    with unchanged():
        response = post_raw(api, "/customers", raw)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_body_just_under_the_limit_is_read(api):
    raw = customer_body(json.dumps({"pad": "x" * 100_000}))
    assert post_raw(api, "/customers", raw).status_code == 200


def test_a_surrogate_never_breaks_the_customer_list(api):
    """On SQLite the surrogate was stored, and from then on GET /customers answered 500 for the
    whole business. (This module runs on SQLite in CI's second pass too.)"""
    post_raw(api, "/customers", customer_body('{"k": "\\ud800"}'))
    post_raw(api, "/customers", '{"email": "s@example.com", "name": "\\udc00x"}')
    assert not Customer.objects.exists()
    response = api.get("/customers")
    assert response.status_code == 200
    assert response.json() == {"items": []}
