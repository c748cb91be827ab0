"""Balances in time (API-NOTES, "Beyond Dodo"): ``GET …/wallets?as_of=`` and ``GET …/wallets/statement``.

A wallet's balance at ``t`` is its last entry's ``after_balance`` at or before ``t`` (0 before the first);
a statement covers ``[from, to)``: opening just before ``from``, closing just before ``to``, and
``opening + total_credits - total_debits == closing`` whatever the data and the bounds."""

import datetime
import itertools
import random
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import assert_error, unchanged
from wallets import ledger
from wallets.models import ExchangeRate, LedgerEntry
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2020, 3, 1, 12, 0, tzinfo=datetime.UTC)
US = datetime.timedelta(microseconds=1)


def iso(at: datetime.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def post_at():
    """``post_at(customer, [(minutes after T0, signed amount), …], currency)``: entries in the past, in
    the given order, through the engine (``Posting.created_at``, as demo data replays history)."""

    def post(customer, moves, currency="USD"):
        result = ledger.post_many(business_id=customer.business_id, actor=Actor.command("test"), postings=[
            ledger.Posting(customer.id, ledger.Request(currency, abs(amount), amount > 0), created_at=when)
            for when, amount in ((m if isinstance(m, datetime.datetime) else at(m), a) for m, a in moves)
        ], all_or_nothing=True)
        assert all(o.decision.code.accepted for o in result.outcomes), result.outcomes
        return result

    return post


def wallets_at(api, customer, as_of: str | None = None):
    return api.get(f"/customers/{customer.id}/wallets", {} if as_of is None else {"as_of": as_of})


def balances(body) -> dict[str, int]:
    return {w["currency"]: w["balance"] for w in body["items"]}


def statement(api, customer, **params):
    return api.get(f"/customers/{customer.id}/wallets/statement", params)


# --- GET …/wallets?as_of= -----------------------------------------------------------------------


def test_as_of_before_the_first_entry_is_zero(api, customer, post_at, dodo_valid):
    post_at(customer, [(0, 500), (10, -200)])
    body = dodo_valid(wallets_at(api, customer, iso(at(-1))))
    assert balances(body) == {"INR": 0, "USD": 0}
    assert body["total_balance_usd"] == 0
    assert body["as_of"] == "2020-03-01T11:59:00Z"


def test_as_of_between_entries_and_at_an_entry_exactly(api, customer, post_at, dodo_valid):
    post_at(customer, [(0, 500), (10, -200), (20, 1000)])
    assert balances(dodo_valid(wallets_at(api, customer, iso(at(5)))))["USD"] == 500
    assert balances(wallets_at(api, customer, iso(at(10))).json())["USD"] == 300  # inclusive
    assert balances(wallets_at(api, customer, iso(at(10) - US)).json())["USD"] == 500
    assert balances(wallets_at(api, customer, iso(at(20))).json())["USD"] == 1300


def test_as_of_with_ties_takes_the_last_entry_by_sequence(api, customer, post_at):
    post_at(customer, [(0, 500), (0, -100), (0, 7)])  # three entries at the same instant
    assert balances(wallets_at(api, customer, iso(at(0))).json())["USD"] == 407
    assert balances(wallets_at(api, customer, iso(at(0) - US)).json())["USD"] == 0


def test_as_of_in_the_future_is_today(api, customer, post_at, post):
    post_at(customer, [(0, 500)])
    post(customer, 25, "EUR")
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    now_body = wallets_at(api, customer).json()
    then_body = wallets_at(api, customer, iso(future)).json()
    assert balances(then_body) == balances(now_body) == {"EUR": 25, "INR": 0, "USD": 500}
    assert then_body["total_balance_usd"] == now_body["total_balance_usd"]


def test_wallets_created_since_are_listed_with_zero_in_currency_order(api, customer, post_at, post):
    post_at(customer, [(0, 500)])
    post(customer, 40, "AUD")  # the AUD wallet is created now, long after T0
    body = wallets_at(api, customer, iso(at(1))).json()
    assert [(w["currency"], w["balance"]) for w in body["items"]] == [("AUD", 0), ("INR", 0), ("USD", 500)]
    aud = body["items"][0]
    assert aud["created_at"] > iso(at(1))  # the wallet's own created_at, later than as_of
    usd = body["items"][2]
    assert usd["updated_at"] == "2020-03-01T12:00:00Z"  # its last entry by then


def test_without_as_of_the_response_is_exactly_as_before(api, customer, post):
    post(customer, 700)
    body = wallets_at(api, customer).json()
    assert set(body) == {"items", "total_balance_usd", "total_balance_usd_capped", "unconverted_currencies"}
    assert wallets_at(api, customer, "").json() == body  # an empty value is "not given"


def rate(currency: str, value: str, as_of: datetime.date) -> None:
    ExchangeRate.objects.create(currency=currency, rate_to_usd=Decimal(value), as_of=as_of, source="test")


def test_total_uses_the_rates_in_force_then(api, customer, post_at):
    # The shipped snapshot's rates are dated 2026; these are the only ones before.
    rate("INR", "0.5", datetime.date(2020, 1, 1))
    rate("INR", "0.25", datetime.date(2020, 6, 1))
    rate("JPY", "0.0125", datetime.date(2020, 6, 1))
    post_at(customer, [(0, 1001)], "INR")  # ₹10.01
    post_at(customer, [(0, 300)], "USD")
    post_at(customer, [(0, 100)], "JPY")  # ¥100

    march = wallets_at(api, customer, "2020-03-02T00:00:00Z").json()
    assert march["total_balance_usd"] == 300 + round(Fraction(1001, 100) * Fraction("0.5") * 100)  # 500.5 → 500
    assert march["unconverted_currencies"] == ["JPY"]  # no JPY rate yet in March 2020
    assert march["total_balance_usd_capped"] is False

    july = wallets_at(api, customer, "2020-07-01T00:00:00Z").json()
    assert july["total_balance_usd"] == 300 + round(Fraction(1001, 100) * Fraction("0.25") * 100) + 125
    assert july["unconverted_currencies"] == []

    # The rate of the as_of's UTC date: 2020-06-01T01:00+05:00 is still May 31 in UTC.
    may = wallets_at(api, customer, "2020-06-01T01:00:00+05:00").json()
    assert may["unconverted_currencies"] == ["JPY"]

    rate("INR", "1", datetime.date(2021, 1, 1))  # later than July 2020: not in force then
    assert wallets_at(api, customer, "2020-07-01T00:00:00Z").json() == july
    today = wallets_at(api, customer).json()  # the latest rates, not July's
    assert today["total_balance_usd"] != july["total_balance_usd"]


def test_total_is_capped_at_int64_in_the_past_too(api, customer, post_at):
    big = 2**63 - 1
    rate("INR", "2", datetime.date(2020, 1, 1))
    post_at(customer, [(0, big)], "INR")
    body = wallets_at(api, customer, iso(at(1))).json()
    assert (body["total_balance_usd"], body["total_balance_usd_capped"]) == (big, True)


@pytest.mark.parametrize("value", ["yesterday", "2020-13-01T00:00:00Z", "2020-03-01T25:00:00Z", " ", "0",
                                   "2020-03-01T00:00:00+99:00", "9999-12-31T23:59:59-14:00"])
def test_malformed_as_of_is_422(api, customer, value):
    with unchanged():
        body = assert_error(wallets_at(api, customer, value), 422, "INVALID_REQUEST_BODY")
    assert "as_of" in body["errors"]


def test_a_date_alone_is_midnight_utc_as_in_the_date_filters(api, customer, post_at):
    post_at(customer, [(-12 * 60, 500)])  # 2020-03-01T00:00:00Z
    assert wallets_at(api, customer, "2020-03-01").json()["as_of"] == "2020-03-01T00:00:00Z"
    assert balances(wallets_at(api, customer, "2020-03-01").json())["USD"] == 500


def test_as_of_given_twice_is_422(api, customer):
    response = api.get(f"/customers/{customer.id}/wallets?as_of=2020-01-01T00:00:00Z&as_of=2021-01-01T00:00:00Z")
    assert assert_error(response, 422, "INVALID_REQUEST_BODY")["errors"] == {"as_of": ["Give this parameter once."]}


def test_as_of_with_an_unescaped_plus_is_read_as_the_offset(api, customer, post_at):
    post_at(customer, [(0, 500)])  # 12:00 UTC = 17:30 +05:30
    assert balances(api.get(f"/customers/{customer.id}/wallets?as_of=2020-03-01T17:30:00+05:30").json())["USD"] == 500
    assert balances(api.get(f"/customers/{customer.id}/wallets?as_of=2020-03-01T17:29:59+05:30").json())["USD"] == 0


# --- GET …/wallets/statement ---------------------------------------------------------------------


def test_statement_is_half_open_with_opening_and_closing(api, customer, post_at):
    post_at(customer, [(0, 1000), (10, -300), (20, 500), (30, -50), (40, 5)])
    body = statement(api, customer, currency="USD", **{"from": iso(at(10)), "to": iso(at(30))}).json()
    assert {k: v for k, v in body.items() if k != "items"} == {
        "currency": "USD", "from": "2020-03-01T12:10:00Z", "to": "2020-03-01T12:30:00Z",
        "opening_balance": 1000, "closing_balance": 1200, "total_credits": 500, "total_debits": 300,
        "entry_count": 2,
    }
    assert [(e["is_credit"], e["amount"], e["after_balance"]) for e in body["items"]] == [
        (False, 300, 700), (True, 500, 1200)]
    # Consecutive statements tile: the next one opens at this one's closing, and shares no entry.
    after = statement(api, customer, currency="USD", **{"from": iso(at(30)), "to": iso(at(50))}).json()
    assert after["opening_balance"] == body["closing_balance"]
    assert [e["amount"] for e in after["items"]] == [50, 5]
    # The closing is the as_of balance of the instant just before `to`.
    just_before = wallets_at(api, customer, iso(at(30) - US)).json()
    assert balances(just_before)["USD"] == body["closing_balance"]


def test_statement_defaults_to_everything_up_to_now(api, customer, post_at, post):
    post_at(customer, [(0, 1000), (10, -300)])
    post(customer, 42)
    before = datetime.datetime.now(datetime.UTC)
    body = statement(api, customer, currency="USD").json()
    assert body["from"] is None
    assert datetime.datetime.fromisoformat(body["to"]) >= before
    assert (body["opening_balance"], body["closing_balance"], body["total_credits"], body["total_debits"],
            body["entry_count"]) == (0, 742, 1042, 300, 3)
    assert [e["amount"] for e in body["items"]] == [1000, 300, 42]  # oldest first


def test_statement_items_are_ledger_entries_in_the_ledgers_shape(api, customer, post_at):
    post_at(customer, [(0, 1000), (10, -300)])
    listed = api.get(f"/customers/{customer.id}/wallets/ledger-entries").json()["items"]
    items = statement(api, customer, currency="USD").json()["items"]
    assert items == list(reversed(listed))


def test_statement_of_a_currency_without_a_wallet_is_all_zeros(api, customer, post_at):
    post_at(customer, [(0, 1000)])
    body = statement(api, customer, currency="EUR", **{"from": iso(at(-10))}).json()
    assert (body["opening_balance"], body["closing_balance"], body["total_credits"], body["total_debits"],
            body["entry_count"], body["items"]) == (0, 0, 0, 0, 0, [])


def test_statement_empty_interval_and_before_the_first_entry(api, customer, post_at):
    post_at(customer, [(0, 1000), (10, -300)])
    same = statement(api, customer, currency="USD", **{"from": iso(at(10)), "to": iso(at(10))}).json()
    assert (same["opening_balance"], same["closing_balance"], same["entry_count"], same["items"]) == (700 + 300, 1000,
                                                                                                      0, [])
    early = statement(api, customer, currency="USD", **{"from": iso(at(-60)), "to": iso(at(-30))}).json()
    assert (early["opening_balance"], early["closing_balance"], early["entry_count"]) == (0, 0, 0)


def test_statement_pages_like_the_ledger_and_totals_cover_every_page(api, customer, post_at):
    post_at(customer, [(n, n + 1) for n in range(7)])  # credits of 1..7
    window = {"from": iso(at(1)), "to": iso(at(6))}  # the credits of 2..6
    pages = [statement(api, customer, currency="USD", page_size=2, page_number=n, **window).json() for n in range(4)]
    assert [[e["amount"] for e in p["items"]] for p in pages] == [[2, 3], [4, 5], [6], []]
    for page in pages:
        assert (page["opening_balance"], page["total_credits"], page["entry_count"], page["closing_balance"]) == (
            1, 20, 5, 21)
    assert statement(api, customer, currency="USD", **window).json()["items"].__len__() == 5  # default size 10
    assert statement(api, customer, currency="USD", page_size=0, **window).json()["items"] == []


def test_statement_totals_are_exact_beyond_float_precision(api, customer, post_at):
    post_at(customer, [(0, 2**53 + 1), (1, 2**60 + 3), (2, -(2**53 + 1)), (3, -1)])
    body = statement(api, customer, currency="USD").json()
    assert (body["total_credits"], body["total_debits"], body["closing_balance"]) == (
        2**53 + 1 + 2**60 + 3, 2**53 + 2, 2**60 + 2)


@pytest.mark.parametrize(("params", "field"), [
    ({}, "currency"),
    ({"currency": "usd"}, "currency"),
    ({"currency": "XXX"}, "currency"),
    ({"currency": "USD", "from": "2020-03-02T00:00:00Z", "to": "2020-03-01T00:00:00Z"}, "from"),
    ({"currency": "USD", "from": "2999-01-01T00:00:00Z"}, "from"),  # after now, to's default
    ({"currency": "USD", "from": "March"}, "from"),
    ({"currency": "USD", "to": "2020-03-01T"}, "to"),
    ({"currency": "USD", "to": "1582-10-10T00:00:00+15:00x"}, "to"),
    ({"currency": "USD", "page_size": "101"}, "page_size"),
    ({"currency": "USD", "page_size": "-1"}, "page_size"),
    ({"currency": "USD", "page_number": "0.0"}, "page_number"),
])
def test_statement_invalid_parameters_are_422(api, customer, params, field):
    with unchanged():
        body = assert_error(statement(api, customer, **params), 422, "INVALID_REQUEST_BODY")
    assert field in body["errors"], body


def test_statement_parameters_given_twice_are_422(api, customer):
    base = f"/customers/{customer.id}/wallets/statement"
    for query in ("currency=USD&currency=EUR", "currency=USD&from=2020-01-01T00:00:00Z&from=2020-01-02T00:00:00Z"):
        body = assert_error(api.get(f"{base}?{query}"), 422, "INVALID_REQUEST_BODY")
        assert list(body["errors"].values()) == [["Give this parameter once."]]


def test_another_business_customer_is_404_on_both_routes(api, other_api, customer, post_at):
    post_at(customer, [(0, 1000)])
    for client, cid in ((other_api, customer.id), (api, "cus_doesNotExist1234567")):
        assert_error(client.get(f"/customers/{cid}/wallets", {"as_of": iso(at(1))}), 404, "NOT_FOUND")
        assert_error(client.get(f"/customers/{cid}/wallets/statement", {"currency": "USD"}), 404, "NOT_FOUND")
    # 404 before any parameter is looked at, as the ledger list does.
    assert_error(other_api.get(f"/customers/{customer.id}/wallets/statement"), 404, "NOT_FOUND")


def test_another_business_entries_never_count(api, customer, post_at, make_customer, other_business):
    post_at(customer, [(0, 1000)])
    stranger = make_customer(email="x@example.com", business_id=other_business.id)
    post_at(stranger, [(5, 77)])
    other = make_customer(email="y@example.com")  # same business, another customer
    post_at(other, [(5, 88)])
    body = statement(api, customer, currency="USD").json()
    assert (body["entry_count"], body["total_credits"]) == (1, 1000)


def test_routes_are_in_the_openapi_document(client):
    spec = client.get("/api/schema", {"format": "json"}).json()
    listed = spec["paths"]["/customers/{customer_id}/wallets"]["get"]
    assert "as_of" in {p["name"] for p in listed["parameters"]}
    op = spec["paths"]["/customers/{customer_id}/wallets/statement"]["get"]
    assert op["operationId"] == "get_customer_wallet_statement"
    assert {"currency", "from", "to", "page_number", "page_size"} <= {p["name"] for p in op["parameters"]}
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][ref]["properties"]) == {
        "currency", "from", "to", "opening_balance", "closing_balance", "total_credits", "total_debits",
        "entry_count", "items"}
    assert {"404", "422"} <= set(op["responses"])


def test_statement_reads_are_a_fixed_number_of_queries(api, customer, post_at, django_assert_max_num_queries):
    post_at(customer, [(n, 10) for n in range(50)])
    post_at(customer, [(n, 10) for n in range(5)], "INR")
    # The key, the customer, then ours: the five figures in one SELECT, and the page.
    with django_assert_max_num_queries(4):
        statement(api, customer, currency="USD", page_size=100, **{"from": iso(at(3))})
    # The key, the customer, the wallets with their balances then, the rates then.
    with django_assert_max_num_queries(4):
        wallets_at(api, customer, iso(at(3)))


# --- The identity, on random data ----------------------------------------------------------------


@pytest.fixture
def random_history(customer, post_at):
    """300 entries over ~2 days with many ties (entries sharing an instant), credits and debits that
    keep the balance ≥ 0, and their running balances: the oracle."""
    rng = random.Random(20261201)
    moves, history, balance, minute = [], [], 0, 0.0
    for _ in range(300):
        minute += rng.choice([0, 0, 0.5, 1, 7, 60])
        amount = rng.randint(1, 10_000)
        if balance and rng.random() < 0.45:
            amount = -rng.randint(1, balance)
        balance += amount
        moves.append((minute, amount))
        history.append((at(minute), amount, balance))
    post_at(customer, moves)
    return history


def oracle(history, start, end):
    before = [b for t, _, b in history if t < start] if start is not None else []
    inside = [(a, b) for t, a, b in history if (start is None or t >= start) and t < end]
    opening = before[-1] if before else 0
    up_to_end = [b for t, _, b in history if t < end]
    return {
        "opening_balance": opening, "closing_balance": up_to_end[-1] if up_to_end else 0,
        "total_credits": sum(a for a, _ in inside if a > 0), "total_debits": -sum(a for a, _ in inside if a < 0),
        "entry_count": len(inside),
    }


bound = st.one_of(st.none(), st.integers(min_value=-60, max_value=3600 * 24 * 3).map(lambda s: T0 + s * US * 10**6),
                  st.tuples(st.integers(0, 299), st.sampled_from([-1, 0, 1])).map(lambda p: ("entry", *p)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=bound, second=bound)
def test_opening_plus_credits_minus_debits_is_closing(api, customer, random_history, first, second):
    def instant(value):
        if isinstance(value, tuple):  # an entry's own instant, or a microsecond either side
            return random_history[value[1]][0] + value[2] * US
        return value

    start, end = instant(first), instant(second)
    end = end or datetime.datetime.now(datetime.UTC)
    if start is not None and start > end:
        start, end = end, start
    params = {"currency": "USD", "to": iso(end), "page_size": 100}
    if start is not None:
        params["from"] = iso(start)
    body = statement(api, customer, **params).json()
    figures = {k: body[k] for k in ("opening_balance", "closing_balance", "total_credits", "total_debits",
                                    "entry_count")}
    assert figures["opening_balance"] + figures["total_credits"] - figures["total_debits"] == figures["closing_balance"]
    assert figures == oracle(random_history, start, end)
    items = body["items"]
    assert len(items) == min(100, figures["entry_count"])
    if items:  # the page chains from the opening balance
        assert items[0]["before_balance"] == figures["opening_balance"]
        assert all(a["after_balance"] == b["before_balance"] for a, b in itertools.pairwise(items))
    if start is not None:
        assert balances(wallets_at(api, customer, iso(start - US)).json())["USD"] == figures["opening_balance"]


def test_the_whole_history_in_pages_adds_up(api, customer, random_history):
    total = LedgerEntry.objects.filter(customer=customer).count()
    seen = []
    for number in range(total // 100 + 2):
        seen += statement(api, customer, currency="USD", page_size=100, page_number=number).json()["items"]
    assert len(seen) == total == 300
    assert [e["after_balance"] for e in seen] == [b for _, _, b in random_history]


# --- Dodo's Python SDK, live (the examples of docs/api.md, "Balances in time") --------------------


@pytest.mark.django_db(transaction=True)
def test_dodo_python_sdk_reaches_both_extensions(live_server, business, customer, post_at):
    from dodopayments import DodoPayments

    from wallets.services.api_keys import api_key_create

    post_at(customer, [(0, 1000), (10, -300), (20, 500)])
    _, key = api_key_create(business=business, name="sdk")
    with DodoPayments(bearer_token=key, base_url=live_server.url, max_retries=0) as client:
        then = client.customers.wallets.list(customer.id, extra_query={"as_of": "2020-03-01T12:15:00Z"})
        assert [(w.currency, w.balance) for w in then.items] == [("INR", 0), ("USD", 700)]
        assert then.as_of == "2020-03-01T12:15:00Z"  # an extension field: the SDK keeps it as sent

        body = client.get(f"/customers/{customer.id}/wallets/statement", cast_to=object, options={
            "params": {"currency": "USD", "from": "2020-03-01T12:10:00Z", "to": "2020-03-01T12:30:00Z",
                       "page_size": 50},
        })
        assert (body["opening_balance"], body["total_credits"], body["total_debits"], body["closing_balance"]) == (
            1000, 500, 300, 1200)
        assert [e["amount"] for e in body["items"]] == [300, 500]
