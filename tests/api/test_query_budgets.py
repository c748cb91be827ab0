"""Query budgets: each operation costs a fixed number of queries, however many items it returns
(savepoints of the test transaction count too, so writes carry two more than in production)."""

import pytest

pytestmark = pytest.mark.django_db

ENTRY = {"amount": 5, "currency": "USD", "entry_type": "credit"}


@pytest.fixture
def busy_customer(customer, make_customer, post):
    for n in range(15):
        make_customer(email=f"other{n}@example.com")
    for n in range(30):
        post(customer, 5, ["USD", "INR", "EUR"][n % 3])
    return customer


@pytest.mark.parametrize(
    ("label", "budget"),
    [
        ("list customers", 2),  # key, customers
        ("get customer", 2),
        ("create customer", 6),  # key, email lookup, savepoint, customer, wallets, release
        ("create known email", 2),
        ("patch customer", 5),  # key, savepoint, lock customer, update, release
        ("wallets", 5),  # key, customer, wallets, latest rates (one query for every currency), expiring grants
        ("list entries", 4),  # key, customer, entries (reversed and expired totals as subqueries), actor keys
        # key, savepoint, lock wallet (and the key's entry), insert, release, and at most one more; the
        # expiring grants are read only when the engine says the wallet has one
        ("post entry", 7),
        ("post entry in a new currency", 9),  # + customer check, wallet insert, lock again
    ],
)
def test_operation_stays_within_its_query_budget(api, busy_customer, django_assert_max_num_queries, label, budget):
    cid = busy_customer.id
    calls = {
        "list customers": lambda: api.get("/customers", {"page_size": 100}),
        "get customer": lambda: api.get(f"/customers/{cid}"),
        "create customer": lambda: api.post("/customers", {"email": "new@example.com", "name": "N"}, format="json"),
        "create known email": lambda: api.post(
            "/customers", {"email": "other1@example.com", "name": "N"}, format="json"
        ),
        "patch customer": lambda: api.patch(f"/customers/{cid}", {"name": "N", "metadata": {"a": "b"}}, format="json"),
        "wallets": lambda: api.get(f"/customers/{cid}/wallets"),
        "list entries": lambda: api.get(f"/customers/{cid}/wallets/ledger-entries", {"page_size": 100}),
        "post entry": lambda: api.post(
            f"/customers/{cid}/wallets/ledger-entries", {**ENTRY, "idempotency_key": "k"}, format="json"
        ),
        "post entry in a new currency": lambda: api.post(
            f"/customers/{cid}/wallets/ledger-entries", {**ENTRY, "currency": "GBP"}, format="json"
        ),
    }
    with django_assert_max_num_queries(budget):
        response = calls[label]()
    assert response.status_code == 200, response.content
    expected_items = {"list customers": 16, "list entries": 30}
    if label in expected_items:
        assert len(response.json()["items"]) == expected_items[label]
