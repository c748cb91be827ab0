"""low_balance_report: a CSV of the wallets under their threshold, on standard output."""

import csv
import io

import pytest

from tests.commands.helpers import run_command
from wallets.services.policies import currency_policy_set_low_balance


def report(*args) -> list[dict]:
    ran = run_command("low_balance_report", *args)
    assert ran.code == 0, ran.text
    return list(csv.DictReader(io.StringIO(ran.out)))


@pytest.fixture
def wallets(business, other_business, make_customer, post):
    """Ann $5.00 (low), Bob $50.00, Carl ₹900.00, Dan ₹5.00 (low), Eve ¥5 (low), Fay (never used);
    Gus of the other business $1.00 (low)."""
    people = {name: make_customer(email=f"{name}@example.com", name=name.title())
              for name in ("ann", "bob", "carl", "dan", "eve", "fay")}
    post(people["ann"], 500)
    post(people["bob"], 5000)
    post(people["carl"], 90000, currency="INR")
    post(people["dan"], 900, currency="INR")
    post(people["dan"], 400, currency="INR", credit=False)
    post(people["eve"], 5, currency="JPY")
    people["gus"] = make_customer(email="gus@example.com", name="Gus", business_id=other_business.id)
    post(people["gus"], 100)
    return people


def test_lists_low_wallets_of_every_business_with_their_thresholds(wallets, business):
    rows = report()
    assert {(r["email"], r["currency"], r["balance"], r["threshold"]) for r in rows} == {
        ("dan@example.com", "INR", "500", "1000"),
        ("eve@example.com", "JPY", "5", "10"),
        ("ann@example.com", "USD", "500", "1000"),
        ("gus@example.com", "USD", "100", "1000"),
    }
    order = [(r["business_id"], r["currency"], int(r["balance"])) for r in rows]
    assert order == sorted(order)
    assert len(rows) == 4
    ann = next(r for r in rows if r["email"] == "ann@example.com")
    assert ann == {
        "business_id": business.id, "customer_id": wallets["ann"].id, "email": "ann@example.com", "name": "Ann",
        "currency": "USD", "balance": "500", "balance_display": "$5.00", "threshold": "1000",
        "threshold_display": "$10.00", "updated_at": ann["updated_at"],
    }
    assert ann["updated_at"].startswith("20")
    assert "+00:00" in ann["updated_at"]


def test_one_business_one_currency_and_the_business_threshold(wallets, business):
    currency_policy_set_low_balance(business_id=business.id, currency="USD", low_balance_below=6000)
    rows = report("--business", business.id, "--currency", "USD")
    assert [(r["email"], r["threshold_display"]) for r in rows] == [
        ("ann@example.com", "$60.00"), ("bob@example.com", "$60.00")
    ]


def test_below_is_in_minor_units_of_the_currency(wallets, business):
    rows = report("--business", business.id, "--currency", "INR", "--below", "100000")
    assert [(r["email"], r["balance"], r["threshold"]) for r in rows] == [
        ("dan@example.com", "500", "100000"), ("carl@example.com", "90000", "100000")
    ]


def test_unused_wallets_only_on_request(wallets, business):
    assert "fay@example.com" not in {r["email"] for r in report("--business", business.id)}
    unused = report("--business", business.id, "--include-unused", "--currency", "USD")
    assert ("fay@example.com", "0") in {(r["email"], r["balance"]) for r in unused}


def test_an_empty_report_is_just_the_header(business):
    ran = run_command("low_balance_report", "--business", business.id)
    assert ran.out.splitlines() == [
        "business_id,customer_id,email,name,currency,balance,balance_display,threshold,threshold_display,updated_at"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--below", "100"], "--below is in minor units of one currency: give --currency too"),
        (["--currency", "usd"], "Unknown currency 'usd'"),
        (["--business", "bus_nope"], "No business with the id 'bus_nope'"),
        (["--currency", "USD", "--below", "-1"], "must be 0 or more"),
        (["--currency", "USD", "--below", "5.5"], "expected a whole number of minor units"),
    ],
)
def test_bad_arguments(business, args, message):
    ran = run_command("low_balance_report", *args)
    assert ran.code != 0
    assert message in ran.error
    assert ran.out == ""


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1", "-1", "@SUM(A1)", " =1",
                                  "＝1", "\t=1"])
def test_names_and_emails_cannot_run_as_formulas(make_customer, post, name):
    customer = make_customer(email="eve@example.com", name=name)
    post(customer, 100)
    [row] = report("--currency", "USD")
    assert row["name"] == "'" + name
    assert row["email"] == "eve@example.com"
