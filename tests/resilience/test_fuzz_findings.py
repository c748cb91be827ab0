"""Regressions for what the fuzzers found, each as a plain example (so it never depends on luck)."""

import pytest


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("0263-06-21T23:21:37.73-16:55", 200),  # offset beyond PostgreSQL's ±15:59: was a 500
        ("2026-01-01T10:00:00+23:59", 200),
        ("0001-01-01T00:00:00+01:00", 422),  # before year 1 in UTC
        ("9999-12-31T23:59:59-01:00", 422),  # after year 9999 in UTC
        ("\x85", 422),  # only whitespace (NEL): was "not given"
        (" ", 422),
    ],
)
def test_created_at_filters_with_extreme_offsets_are_answered(api, value, status):
    for name in ("created_at_gte", "created_at_lte"):
        response = api.get("/customers", {name: value})
        assert response.status_code == status, response.content
        if status == 422:
            assert response.json()["code"] == "INVALID_REQUEST_BODY"
            assert name in response.json()["errors"]


@pytest.mark.parametrize(
    "query",
    [
        "page_number=0.0",  # was read as 0
        "page_size=1e1",
        "page_size=%2B5",
        "page_size=%C2%B2",  # a superscript two is a Unicode digit, not a number
        "page_number=1&page_number=2",  # repeated: the last one won
        "currency=USD&currency=INR",
    ],
)
def test_malformed_or_repeated_query_parameters_are_422(api, customer, query):
    response = api.get(f"/customers/{customer.id}/wallets/ledger-entries?{query}")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "INVALID_REQUEST_BODY"
    name = query.split("=")[0]
    assert name in response.json()["errors"]


@pytest.mark.parametrize(
    "query", ["page_number=1&page_size=5", "page_size=100", "page_number=0", "currency=", "page_size="]
)
def test_well_formed_query_parameters_still_work(api, customer, query):
    assert api.get(f"/customers/{customer.id}/wallets/ledger-entries?{query}").status_code == 200


def test_a_refused_bulk_row_creates_no_wallet(business, customer):
    """Found by the model test: a bulk row refused under the lock (here an overdraft in a currency
    the customer has no wallet in) left an empty wallet behind; a refused posting creates nothing."""
    from wallets.models import Wallet
    from wallets.services.actors import Actor
    from wallets.services.bulk import bulk_credit_file

    data = f"customer_id,amount,currency,entry_type\n{customer.id},5,JPY,debit\n{customer.id},7,EUR,credit\n".encode()
    result = bulk_credit_file(business_id=business.id, data=data, actor=Actor.command("test"))
    assert [r.line for r in result.rejections] == [2]
    assert result.posted == 1
    assert dict(Wallet.objects.filter(customer=customer).values_list("currency", "balance")) == {
        "USD": 0, "INR": 0, "EUR": 7,
    }


@pytest.mark.parametrize(("name", "status"), [(" " + "a" * 200, 422), ("a" * 201, 422), (" " + "a" * 199, 200),
                                             ("a" * 200, 200)])
def test_max_length_counts_the_string_as_sent(api, name, status):
    """Found by fuzzing: a name of 201 characters starting with a space was trimmed to 200 and
    accepted, though the schema says maxLength 200."""
    response = api.post("/customers", {"name": name, "email": "ann@example.com"}, format="json")
    assert response.status_code == status, response.content
    if status == 422:
        assert "name" in response.json()["errors"]
