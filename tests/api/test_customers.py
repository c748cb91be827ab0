"""POST/GET /customers and GET/PATCH /customers/{id}: Dodo's shapes, API-NOTES' behaviour."""

import datetime
import json
import re

import pytest

from tests.api.helpers import assert_error, unchanged
from wallets.models import Customer, Wallet

pytestmark = pytest.mark.django_db


def parse_timestamp(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(text)
    assert value.utcoffset() is not None, f"{text} has no UTC offset"
    return value


# --- POST /customers -----------------------------------------------------------------------------


def test_create_customer_returns_200_with_dodo_shape_and_default_wallets(api, business, dodo_valid):
    response = api.post("/customers", {"email": "ann@example.com", "name": "Ann Lee"}, format="json")

    body = dodo_valid(response)
    assert re.fullmatch(r"cus_[A-Za-z0-9]{21}", body["customer_id"])
    assert re.fullmatch(r"bus_[A-Za-z0-9]{21}", body["business_id"])
    assert body["business_id"] == business.id
    assert (body["email"], body["name"], body["phone_number"], body["metadata"]) == (
        "ann@example.com",
        "Ann Lee",
        None,
        {},
    )
    created = parse_timestamp(body["created_at"])
    assert abs(created - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(minutes=1)
    wallets = Wallet.objects.filter(customer_id=body["customer_id"]).order_by("currency")
    assert [(w.currency, w.balance, w.business_id) for w in wallets] == [
        ("INR", 0, business.id),
        ("USD", 0, business.id),
    ]


def test_create_customer_with_phone_and_metadata(api, dodo_valid):
    metadata = {"plan": "pro", "score": 4.5, "vip": True}
    body = dodo_valid(
        api.post(
            "/customers",
            {
                "email": "bo@example.com",
                "name": "Bo",
                "phone_number": "+15550100",
                "metadata": metadata,
            },
            format="json",
        )
    )

    assert body["phone_number"] == "+15550100"
    assert body["metadata"] == metadata
    stored = Customer.objects.get(id=body["customer_id"])
    assert (stored.phone_number, stored.metadata) == ("+15550100", metadata)


def test_integer_metadata_values_are_kept(api):
    # API-NOTES allows numbers. (Dodo's Metadata schema says oneOf integer|number, which no integer
    # can satisfy since every integer is also a number; so this body is not checked against it.)
    body = api.post("/customers", {"email": "i@example.com", "name": "I", "metadata": {"n": 7}}, format="json").json()
    assert body["metadata"] == {"n": 7}


def test_null_nullable_fields_and_unknown_fields_are_accepted(api, dodo_valid):
    body = dodo_valid(
        api.post(
            "/customers",
            {
                "email": "cy@example.com",
                "name": "Cy",
                "phone_number": None,
                "metadata": None,
                "favourite_colour": "red",
            },
            format="json",
        )
    )
    assert (body["phone_number"], body["metadata"]) == (None, {})
    assert "favourite_colour" not in body


def test_fifty_metadata_keys_are_allowed(api):
    metadata = {f"k{i}": str(i) for i in range(50)}
    response = api.post("/customers", {"email": "m@example.com", "name": "M", "metadata": metadata}, format="json")
    assert response.status_code == 200
    assert response.json()["metadata"] == metadata


def test_existing_email_returns_that_customer_unchanged(api, customer, dodo_valid):
    with unchanged():
        response = api.post(
            "/customers",
            {
                "email": "ANN@Example.COM",
                "name": "Somebody Else",
                "phone_number": "+1999",
                "metadata": {"a": "b"},
            },
            format="json",
        )
    body = dodo_valid(response)
    assert body["customer_id"] == customer.id
    assert (body["email"], body["name"], body["phone_number"], body["metadata"]) == (
        "ann@example.com",
        "Ann Lee",
        None,
        {},
    )


def test_same_email_in_another_business_is_another_customer(api, other_api, customer):
    response = other_api.post("/customers", {"email": "ann@example.com", "name": "Ann"}, format="json")
    assert response.status_code == 200
    assert response.json()["customer_id"] != customer.id
    assert Customer.objects.filter(email__iexact="ann@example.com").count() == 2


INVALID_CREATE_BODIES = {
    "missing email": {"name": "X"},
    "missing name": {"email": "x@example.com"},
    "empty object": {},
    "invalid email": {"email": "not-an-email", "name": "X"},
    "email number": {"email": 5, "name": "X"},
    "email null": {"email": None, "name": "X"},
    "name null": {"email": "x@example.com", "name": None},
    "name blank": {"email": "x@example.com", "name": ""},
    "name number": {"email": "x@example.com", "name": 5},
    "name boolean": {"email": "x@example.com", "name": True},
    "name object": {"email": "x@example.com", "name": {"first": "X"}},
    "name too long": {"email": "x@example.com", "name": "x" * 201},
    "name NUL": {"email": "x@example.com", "name": "a\x00b"},
    "phone number": {"email": "x@example.com", "name": "X", "phone_number": 5550100},
    "metadata list": {"email": "x@example.com", "name": "X", "metadata": ["a"]},
    "metadata string": {"email": "x@example.com", "name": "X", "metadata": "a=b"},
    "metadata nested": {"email": "x@example.com", "name": "X", "metadata": {"a": {"b": 1}}},
    "metadata list value": {"email": "x@example.com", "name": "X", "metadata": {"a": [1]}},
    "metadata null value": {"email": "x@example.com", "name": "X", "metadata": {"a": None}},
    "metadata NUL value": {"email": "x@example.com", "name": "X", "metadata": {"a": "x\x00"}},
    "metadata NUL key": {"email": "x@example.com", "name": "X", "metadata": {"a\x00": "x"}},
}


@pytest.mark.parametrize("body", INVALID_CREATE_BODIES.values(), ids=INVALID_CREATE_BODIES.keys())
def test_create_customer_rejects_invalid_body(api, customer, body):
    with unchanged():
        response = api.post("/customers", body, format="json")
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert error["errors"], error


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"email": "x@example.com", "name": ', "application/json"),
        ("[1, 2]", "application/json"),
        ("null", "application/json"),
        ('"x@example.com"', "application/json"),
        ('{"email": "x@example.com", "name": "X", "metadata": {"a": NaN}}', "application/json"),
        ("", "application/json"),
        ("email=x%40example.com&name=X", "application/x-www-form-urlencoded"),
    ],
    ids=["truncated", "array", "null", "string", "NaN", "empty", "form-encoded"],
)
def test_create_customer_rejects_malformed_body(api, raw, content_type):
    with unchanged():
        response = api.post("/customers", raw, content_type=content_type)
    assert_error(response, 422, "INVALID_REQUEST_BODY")


def test_create_customer_with_51_metadata_keys_is_maximum_keys_reached(api):
    metadata = {f"k{i}": i for i in range(51)}
    with unchanged():
        response = api.post("/customers", {"email": "m@example.com", "name": "M", "metadata": metadata}, format="json")
    assert_error(response, 422, "MAXIMUM_KEYS_REACHED")


# --- GET /customers/{id} --------------------------------------------------------------------------


def test_get_customer(api, customer, dodo_valid):
    body = dodo_valid(api.get(f"/customers/{customer.id}"))
    assert body == {
        "blocked_at": None,
        "blocklist_entry_id": None,
        "business_id": customer.business_id,
        "created_at": body["created_at"],
        "customer_id": customer.id,
        "email": "ann@example.com",
        "metadata": {},
        "name": "Ann Lee",
        "phone_number": None,
        "preferred_locale": None,
    }
    assert parse_timestamp(body["created_at"]) == customer.created_at


@pytest.mark.parametrize(
    "customer_id",
    ["cus_doesNotExist1234567", "nope", "cus_" + "x" * 200, "cus_a%00b", "cus_%C3%A9", "cus_a.b"],
)
def test_get_unknown_customer_is_404(api, customer_id):
    assert_error(api.get(f"/customers/{customer_id}"), 404, "NOT_FOUND")


# --- PATCH /customers/{id} ------------------------------------------------------------------------


@pytest.fixture
def rich_customer(make_customer):
    return make_customer(email="dee@example.com", name="Dee", phone_number="+4930123", metadata={"tier": "gold"})


def test_patch_omitted_fields_are_unchanged(api, rich_customer, dodo_valid):
    body = dodo_valid(api.patch(f"/customers/{rich_customer.id}", {"name": "Dee Dee"}, format="json"))
    assert (body["name"], body["email"], body["phone_number"], body["metadata"]) == (
        "Dee Dee",
        "dee@example.com",
        "+4930123",
        {"tier": "gold"},
    )
    rich_customer.refresh_from_db()
    assert (rich_customer.name, rich_customer.email, rich_customer.phone_number, rich_customer.metadata) == (
        "Dee Dee",
        "dee@example.com",
        "+4930123",
        {"tier": "gold"},
    )


def test_patch_empty_body_changes_nothing(api, rich_customer, dodo_valid):
    body = dodo_valid(api.patch(f"/customers/{rich_customer.id}", {}, format="json"))
    assert (body["name"], body["phone_number"], body["metadata"]) == ("Dee", "+4930123", {"tier": "gold"})


def test_patch_every_field(api, rich_customer, dodo_valid):
    body = dodo_valid(
        api.patch(
            f"/customers/{rich_customer.id}",
            {
                "name": "D. Smith",
                "email": "d.smith@example.com",
                "phone_number": "+4930999",
                "metadata": {"tier": "silver"},
            },
            format="json",
        )
    )
    assert (body["name"], body["email"], body["phone_number"], body["metadata"]) == (
        "D. Smith",
        "d.smith@example.com",
        "+4930999",
        {"tier": "silver"},
    )
    assert api.get(f"/customers/{rich_customer.id}").json() == body


def test_patch_null_clears_phone_number_and_metadata(api, rich_customer, dodo_valid):
    body = dodo_valid(
        api.patch(f"/customers/{rich_customer.id}", {"phone_number": None, "metadata": None}, format="json")
    )
    assert (body["phone_number"], body["metadata"], body["name"]) == (None, {}, "Dee")
    rich_customer.refresh_from_db()
    assert (rich_customer.phone_number, rich_customer.metadata) == (None, {})


def test_patch_ignores_unknown_fields(api, rich_customer):
    response = api.patch(
        f"/customers/{rich_customer.id}",
        {"customer_id": "cus_other", "business_id": "bus_x", "created_at": "2000-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["customer_id"] == rich_customer.id
    assert response.json()["business_id"] == rich_customer.business_id


def test_patch_email_to_own_email_in_other_case_is_allowed(api, rich_customer):
    response = api.patch(f"/customers/{rich_customer.id}", {"email": "DEE@example.com"}, format="json")
    assert response.status_code == 200
    assert response.json()["email"] == "DEE@example.com"


INVALID_PATCH_BODIES = {
    "name blank": {"name": ""},
    "email invalid": {"email": "dee-at-example"},
    "email number": {"email": 7},
    "name list": {"name": ["Dee"]},
    "phone boolean": {"phone_number": False},
    "metadata list": {"metadata": []},
    "metadata nested": {"metadata": {"a": {"b": "c"}}},
    "locale unknown": {"preferred_locale": "xx"},
    "locale upper case": {"preferred_locale": "FR"},
    "locale number": {"preferred_locale": 1},
}


@pytest.mark.parametrize("body", INVALID_PATCH_BODIES.values(), ids=INVALID_PATCH_BODIES.keys())
def test_patch_rejects_invalid_body(api, rich_customer, body):
    with unchanged():
        response = api.patch(f"/customers/{rich_customer.id}", body, format="json")
    assert_error(response, 422, "INVALID_REQUEST_BODY")


def test_patch_email_of_another_customer_is_422(api, rich_customer, customer):
    with unchanged():
        response = api.patch(
            f"/customers/{rich_customer.id}", {"email": "Ann@Example.com", "name": "New"}, format="json"
        )
    error = assert_error(response, 422, "INVALID_REQUEST_BODY")
    assert "email" in error["errors"]


def test_patch_51_metadata_keys_is_maximum_keys_reached(api, rich_customer):
    with unchanged():
        response = api.patch(
            f"/customers/{rich_customer.id}", {"metadata": {str(i): "v" for i in range(51)}}, format="json"
        )
    assert_error(response, 422, "MAXIMUM_KEYS_REACHED")


def test_patch_malformed_json_is_422(api, rich_customer):
    with unchanged():
        response = api.patch(f"/customers/{rich_customer.id}", '{"name": "x",}', content_type="application/json")
    assert_error(response, 422, "INVALID_REQUEST_BODY")


def test_patch_unknown_customer_is_404(api, customer):
    with unchanged():
        response = api.patch("/customers/cus_doesNotExist1234567", {"name": "X"}, format="json")
    assert_error(response, 404, "NOT_FOUND")


def test_customer_json_round_trips_through_get_list_and_patch(api, rich_customer):
    one = api.get(f"/customers/{rich_customer.id}").json()
    listed = api.get("/customers", {"email": "dee@example.com"}).json()["items"]
    patched = api.patch(f"/customers/{rich_customer.id}", {}, format="json").json()
    assert listed == [one]
    assert json.dumps(patched, sort_keys=True) == json.dumps(one, sort_keys=True)


# --- Fields of Dodo's newest SDK (issue 15 item 13) ------------------------------------------------


def test_patch_null_name_or_email_leaves_them_unchanged(api, rich_customer, dodo_valid):
    """Dodo's schema marks both nullable and its SDK sends null: that was a 422."""
    before = Customer.objects.get(pk=rich_customer.pk)
    body = dodo_valid(api.patch(f"/customers/{rich_customer.id}",
                                {"name": None, "email": None, "phone_number": "+15550001"}, format="json"))
    assert (body["name"], body["email"], body["phone_number"]) == (before.name, before.email, "+15550001")
    after = Customer.objects.get(pk=rich_customer.pk)
    assert (after.name, after.email) == (before.name, before.email)


def test_preferred_locale_is_accepted_on_create_stored_and_echoed(api, dodo_valid):
    body = dodo_valid(api.post("/customers", {"email": "fr@example.com", "name": "Fr", "preferred_locale": "fr"},
                               format="json"))
    assert body["preferred_locale"] == "fr"
    assert Customer.objects.get(pk=body["customer_id"]).preferred_locale == "fr"
    assert dodo_valid(api.get(f"/customers/{body['customer_id']}"))["preferred_locale"] == "fr"
    listed = dodo_valid(api.get("/customers"))["items"]
    assert [c["preferred_locale"] for c in listed] == ["fr"]


def test_preferred_locale_null_on_create_is_not_given(api, dodo_valid):
    body = dodo_valid(api.post("/customers", {"email": "n@example.com", "name": "N", "preferred_locale": None},
                               format="json"))
    assert body["preferred_locale"] is None


def test_patch_preferred_locale_sets_keeps_and_clears_it(api, customer, dodo_valid):
    url = f"/customers/{customer.id}"
    assert dodo_valid(api.patch(url, {"preferred_locale": "ja"}, format="json"))["preferred_locale"] == "ja"
    assert dodo_valid(api.patch(url, {"name": "Other"}, format="json"))["preferred_locale"] == "ja"
    assert dodo_valid(api.patch(url, {"preferred_locale": None}, format="json"))["preferred_locale"] is None
    assert Customer.objects.get(pk=customer.pk).preferred_locale is None


def test_every_customer_body_has_blocked_at_and_blocklist_entry_id_null(api, customer, dodo_valid):
    bodies = [
        dodo_valid(api.post("/customers", {"email": "b@example.com", "name": "B"}, format="json")),
        dodo_valid(api.get(f"/customers/{customer.id}")),
        dodo_valid(api.patch(f"/customers/{customer.id}", {}, format="json")),
        *dodo_valid(api.get("/customers"))["items"],
    ]
    for body in bodies:
        assert body["blocked_at"] is None, body
        assert body["blocklist_entry_id"] is None, body
        assert "preferred_locale" in body


def test_the_dodo_sdk_reads_the_new_customer_fields(api, customer):
    """The SDK's own Customer type decodes them (a typed client of Dodo's newest SDK)."""
    from dodopayments.types import Customer as SdkCustomer

    api.patch(f"/customers/{customer.id}", {"preferred_locale": "de"}, format="json")
    parsed = SdkCustomer.model_validate(api.get(f"/customers/{customer.id}").json())
    assert (parsed.preferred_locale, parsed.blocked_at, parsed.blocklist_entry_id) == ("de", None, None)
