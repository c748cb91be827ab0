"""Paging (0-based page_number, page_size 0..100, default 10) and the list filters."""

import datetime

import pytest
from django.utils import timezone

from tests.api.helpers import assert_error
from wallets.models import Customer

pytestmark = pytest.mark.django_db

LIST_PATHS = ["/customers", "/customers/{id}/wallets/ledger-entries"]
T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def twelve_customers(make_customer):
    """Twelve customers created one hour apart (c0 oldest), newest first as the list shows them."""
    customers = []
    for n in range(12):
        c = make_customer(email=f"c{n}@example.com", name=f"Customer {n}")
        Customer.objects.filter(id=c.id).update(created_at=T0 + datetime.timedelta(hours=n))
        customers.append(c.id)
    return customers[::-1]


@pytest.fixture
def twelve_entries(customer, post):
    """Twelve credits of 1..12 to one customer, newest first as the list shows them."""
    return [post(customer, n, "USD" if n % 2 else "INR").entry.id for n in range(1, 13)][::-1]


@pytest.fixture(params=LIST_PATHS, ids=["customers", "ledger-entries"])
def listing(request, customer):
    """(path, ids newest first) for each paginated list, with twelve items in it."""
    if request.param == "/customers":
        ids = [*request.getfixturevalue("twelve_customers"), customer.id]
        # ``customer`` was created now, after the others' backdated timestamps: it is first.
        ids = [customer.id, *ids[:-1]]
        return request.param, ids
    return request.param.format(id=customer.id), request.getfixturevalue("twelve_entries")


def ids_of(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item.get("customer_id") if "email" in item else item["id"] for item in response.json()["items"]]


def test_default_page_is_the_ten_newest(api, listing):
    path, ids = listing
    assert ids_of(api.get(path)) == ids[:10]
    assert ids_of(api.get(path, {"page_number": 1})) == ids[10:]


def test_pages_walk_every_item_once_newest_first(api, listing):
    path, ids = listing
    seen = []
    for page in range(5):
        seen += ids_of(api.get(path, {"page_number": page, "page_size": 5}))
    assert seen == ids


@pytest.mark.parametrize("page_number", [3, 1000, 2**31 - 1])
def test_page_past_the_end_is_200_empty(api, listing, page_number, dodo_valid):
    path, _ = listing
    assert dodo_valid(api.get(path, {"page_number": page_number, "page_size": 100})) == {"items": []}


def test_page_size_zero_is_an_empty_page(api, listing, dodo_valid):
    path, _ = listing
    assert dodo_valid(api.get(path, {"page_size": 0})) == {"items": []}


def test_empty_paging_parameters_mean_not_given(api, listing):
    path, ids = listing
    assert ids_of(api.get(path, {"page_size": "", "page_number": ""})) == ids[:10]


def test_page_size_100_is_allowed(api, listing):
    path, ids = listing
    assert ids_of(api.get(path, {"page_size": 100})) == ids


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 101},
        {"page_size": -1},
        {"page_size": "ten"},
        {"page_size": "1.5"},
        {"page_number": -1},
        {"page_number": "x"},
        {"page_number": "0x1"},
        {"page_number": 2**31},
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()),
)
def test_invalid_paging_is_422(api, listing, params):
    path, _ = listing
    error = assert_error(api.get(path, params), 422, "INVALID_REQUEST_BODY")
    assert set(error["errors"]) == set(params)


def test_entries_with_one_timestamp_keep_a_stable_order(api, customer, post, monkeypatch):
    """Entries posted within one clock tick are ordered by their sequence, newest first."""
    from wallets.ledger import posting

    monkeypatch.setattr(posting.timezone, "now", lambda: T0)
    ids = [post(customer, n).entry.id for n in range(1, 8)][::-1]
    path = f"/customers/{customer.id}/wallets/ledger-entries"
    assert ids_of(api.get(path)) == ids
    assert (
        ids_of(api.get(path, {"page_size": 3}))
        + ids_of(api.get(path, {"page_size": 3, "page_number": 1}))
        + (ids_of(api.get(path, {"page_size": 3, "page_number": 2})))
        == ids
    )


def test_customers_with_one_timestamp_keep_a_stable_order(api, make_customer):
    made = [make_customer(email=f"t{n}@example.com").id for n in range(7)]
    Customer.objects.filter(id__in=made).update(created_at=T0)
    expected = sorted(made, reverse=True)  # tiebreak: id, descending
    pages = [ids_of(api.get("/customers", {"page_size": 3, "page_number": n})) for n in range(3)]
    assert [i for page in pages for i in page] == expected


# --- Customer filters ---------------------------------------------------------------------------------


def test_email_filter_is_exact_and_case_insensitive(api, customer, make_customer):
    make_customer(email="ann@example.com.au")
    assert ids_of(api.get("/customers", {"email": "ANN@Example.com"})) == [customer.id]
    assert ids_of(api.get("/customers", {"email": "ann@example"})) == []
    assert ids_of(api.get("/customers", {"email": "nn@example.com"})) == []


def test_name_filter_is_partial_and_case_insensitive(api, make_customer):
    lee = make_customer(email="a@example.com", name="Ann Lee")
    make_customer(email="b@example.com", name="Bob Smith")
    klee = make_customer(email="c@example.com", name="Paul KLEE")
    assert ids_of(api.get("/customers", {"name": "lee"})) == [klee.id, lee.id]
    assert ids_of(api.get("/customers", {"name": "ANN L"})) == [lee.id]
    assert ids_of(api.get("/customers", {"name": "zed"})) == []


def created_between(twelve_customers, first_hour, last_hour):
    """Ids (newest first) of the customers created at T0 + first_hour .. T0 + last_hour, inclusive."""
    return [twelve_customers[11 - n] for n in range(last_hour, first_hour - 1, -1)]


@pytest.mark.parametrize(
    ("gte", "lte"),
    [
        ("2026-03-01T15:00:00Z", "2026-03-01T18:00:00Z"),
        ("2026-03-01T15:00:00+00:00", "2026-03-01T18:00:00+00:00"),
        ("2026-03-01T20:30:00+05:30", "2026-03-01T23:30:00+05:30"),
        ("2026-03-01T10:00:00-05:00", "2026-03-01T13:00:00-05:00"),
        ("2026-03-01T15:00:00.000000Z", "2026-03-01T18:00:00.000Z"),
    ],
    ids=["Z", "+00:00", "+05:30", "-05:00", "fractions"],
)
def test_created_at_range_is_inclusive_in_any_offset(api, twelve_customers, gte, lte):
    response = api.get("/customers", {"created_at_gte": gte, "created_at_lte": lte})
    assert ids_of(response) == created_between(twelve_customers, 3, 6)


def test_created_at_with_an_unescaped_plus_in_the_url(api, twelve_customers):
    # curl 'https://…/customers?created_at_gte=2026-03-01T15:00:00+00:00': the + arrives as a space.
    response = api.get("/customers?created_at_gte=2026-03-01T15:00:00+00:00&created_at_lte=2026-03-01T16:00:00+00:00")
    assert ids_of(response) == created_between(twelve_customers, 3, 4)
    encoded = api.get(
        "/customers?created_at_gte=2026-03-01T15:00:00%2B00:00&created_at_lte=2026-03-01T16:00:00%2B00:00"
    )
    assert ids_of(encoded) == created_between(twelve_customers, 3, 4)


def test_created_at_filters_alone(api, twelve_customers):
    assert ids_of(api.get("/customers", {"created_at_gte": "2026-03-01T21:00:00Z"})) == twelve_customers[:3]
    assert ids_of(api.get("/customers", {"created_at_lte": "2026-03-01T13:00:00Z"})) == twelve_customers[-2:]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "2026-03-01T25:00:00Z", "1700000000"])
@pytest.mark.parametrize("name", ["created_at_gte", "created_at_lte"])
def test_invalid_created_at_is_422(api, name, value):
    error = assert_error(api.get("/customers", {name: value}), 422, "INVALID_REQUEST_BODY")
    assert name in error["errors"]


def test_filters_combine_with_paging(api, twelve_customers):
    params = {"name": "customer 1", "created_at_gte": "2026-03-01T10:00:00Z", "page_size": 2}
    # "Customer 1", "Customer 10", "Customer 11": created at hours 1, 10, 11.
    assert ids_of(api.get("/customers", params)) == [twelve_customers[0], twelve_customers[1]]
    assert ids_of(api.get("/customers", {**params, "page_number": 1})) == [twelve_customers[10]]


def test_unknown_query_parameters_are_ignored(api, customer):
    assert ids_of(api.get("/customers", {"sort": "name", "limit": 1, "format": "json"})) == [customer.id]


def test_nul_in_a_filter_is_422_not_500(api, customer):
    assert_error(api.get("/customers", {"email": "a\x00b"}), 422, "INVALID_REQUEST_BODY")
    assert_error(api.get("/customers", {"name": "\x00"}), 422, "INVALID_REQUEST_BODY")


def test_customers_timestamps_are_iso_8601_with_offset(api, customer):
    item = api.get("/customers").json()["items"][0]
    parsed = datetime.datetime.fromisoformat(item["created_at"])
    assert parsed == customer.created_at
    assert parsed.utcoffset() == datetime.timedelta(0)
    assert item["created_at"].endswith("Z") or item["created_at"].endswith("+00:00")
    assert parsed <= timezone.now()
