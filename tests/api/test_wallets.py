"""GET /customers/{id}/wallets: every wallet by currency code, and total_balance_usd converted
exactly at the latest rate, rounded once (half-even)."""

import datetime
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.api.helpers import assert_error, unchanged
from wallets.models import ExchangeRate

pytestmark = pytest.mark.django_db


def rate(currency: str, value: str, as_of: datetime.date) -> None:
    ExchangeRate.objects.create(currency=currency, rate_to_usd=Decimal(value), as_of=as_of, source="test")


def half_even(value: Fraction) -> int:
    return round(value)  # Python rounds a Fraction half to even


def test_new_customer_has_zero_usd_and_inr_wallets(api, customer, dodo_valid):
    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert [(w["currency"], w["balance"], w["customer_id"]) for w in body["items"]] == [
        ("INR", 0, customer.id),
        ("USD", 0, customer.id),
    ]
    assert body["total_balance_usd"] == 0
    for item in body["items"]:
        assert datetime.datetime.fromisoformat(item["created_at"]).utcoffset() == datetime.timedelta(0)


def test_wallets_are_ordered_by_currency_and_reflect_postings(api, customer, post, dodo_valid):
    post(customer, 700, "USD")
    post(customer, 250, "USD", credit=False)
    post(customer, 100, "EUR")
    post(customer, 5, "AUD")
    post(customer, 5, "AUD", credit=False)  # a zero wallet stays listed
    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert [(w["currency"], w["balance"]) for w in body["items"]] == [
        ("AUD", 0),
        ("EUR", 100),
        ("INR", 0),
        ("USD", 450),
    ]


def test_total_uses_the_latest_rate_exactly_and_rounds_once(api, customer, post, dodo_valid):
    rate("INR", "9", datetime.date(2020, 1, 1))  # old: must not be used
    rate("INR", "0.011870123457", datetime.date(2027, 1, 1))  # the latest
    rate("INR", "3", datetime.date(2026, 12, 31))
    rate("JPY", "0.0065", datetime.date(2027, 1, 1))
    rate("KWD", "3.254", datetime.date(2027, 1, 1))
    post(customer, 1234, "USD")
    post(customer, 100001, "INR")  # ₹1,000.01
    post(customer, 500, "JPY")  # ¥500 (no minor unit)
    post(customer, 1501, "KWD")  # KWD 1.501 (three decimals)

    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))

    usd_cents = (
        Fraction(1234)
        + Fraction(100001, 100) * Fraction("0.011870123457") * 100
        + Fraction(500) * Fraction("0.0065") * 100
        + Fraction(1501, 1000) * Fraction("3.254") * 100
    )
    assert body["total_balance_usd"] == half_even(usd_cents)


@pytest.mark.parametrize(("paise", "expected_cents"), [(1, 0), (3, 2), (5, 2), (7, 4)])
def test_total_rounds_half_to_even(api, customer, post, paise, expected_cents):
    rate("INR", "0.5", datetime.date(2027, 1, 1))  # 1 paisa = 0.5 cent
    post(customer, paise, "INR")
    assert api.get(f"/customers/{customer.id}/wallets").json()["total_balance_usd"] == expected_cents


def test_total_is_rounded_once_not_per_wallet(api, customer, post):
    rate("INR", "0.5", datetime.date(2027, 1, 1))
    rate("EUR", "0.5", datetime.date(2027, 1, 1))
    post(customer, 1, "INR")  # 0.5 cent
    post(customer, 1, "EUR")  # 0.5 cent
    # Half-even per wallet would give 0 + 0; the exact sum is one cent.
    assert api.get(f"/customers/{customer.id}/wallets").json()["total_balance_usd"] == 1


def test_a_missing_rate_never_fails_the_list_the_wallet_is_named_instead(api, customer, post, dodo_valid):
    """Issue 15 item 11: a wallet without a rate made the list answer 422 for good."""
    ExchangeRate.objects.filter(currency="AED").delete()
    rate("EUR", "1.25", datetime.date(2027, 1, 1))
    post(customer, 100, "AED")
    post(customer, 200, "EUR")
    post(customer, 300, "USD")
    with unchanged():
        body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert body["total_balance_usd"] == 300 + 250  # the EUR and USD wallets; AED left out
    assert body["unconverted_currencies"] == ["AED"]
    assert body["total_balance_usd_capped"] is False
    assert ("AED", 100) in [(w["currency"], w["balance"]) for w in body["items"]]


def test_every_wallet_converted_means_an_empty_unconverted_list(api, customer, post, dodo_valid):
    post(customer, 300, "USD")
    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert (body["total_balance_usd"], body["unconverted_currencies"], body["total_balance_usd_capped"]) == (
        300, [], False)


def test_aed_converts_with_the_shipped_rates(api, customer, post, dodo_valid):
    """Dodo's own example currency: the snapshot has it (the UAE dirham is pegged at 3.6725 per USD)."""
    shipped = ExchangeRate.objects.get(currency="AED")
    assert Decimal("0.2722") < shipped.rate_to_usd < Decimal("0.2724")
    post(customer, 367250, "AED")  # AED 3,672.50 = USD 1,000.00
    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert body["unconverted_currencies"] == []
    assert body["total_balance_usd"] == half_even(Fraction(367250) * Fraction(shipped.rate_to_usd))


def test_total_above_int64_saturates_and_says_so(api, customer, post, dodo_valid):
    """Issue 15 item 10: one EUR wallet near the int64 maximum gave 10304351239574155536."""
    int64_max = 2**63 - 1
    rate("EUR", "1.1172", datetime.date(2027, 1, 1))
    post(customer, int64_max - 10, "EUR")
    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert body["total_balance_usd"] == int64_max
    assert body["total_balance_usd_capped"] is True


def test_zero_balance_wallets_need_no_rate(api, customer, post, dodo_valid):
    post(customer, 100, "AED")
    post(customer, 100, "AED", credit=False)
    post(customer, 250, "USD")
    body = dodo_valid(api.get(f"/customers/{customer.id}/wallets"))
    assert body["total_balance_usd"] == 250
    assert ("AED", 0) in [(w["currency"], w["balance"]) for w in body["items"]]


def test_a_rate_added_later_is_used_at_once(api, customer, post):
    ExchangeRate.objects.filter(currency="AED").delete()
    post(customer, 100, "AED")
    assert api.get(f"/customers/{customer.id}/wallets").json()["unconverted_currencies"] == ["AED"]
    rate("AED", "0.2723", datetime.date(2027, 1, 1))
    body = api.get(f"/customers/{customer.id}/wallets").json()
    assert body["total_balance_usd"] == half_even(Fraction("27.23"))
    assert body["unconverted_currencies"] == []


def test_wallets_of_unknown_customer_is_404(api):
    assert_error(api.get("/customers/cus_doesNotExist1234567/wallets"), 404, "NOT_FOUND")
