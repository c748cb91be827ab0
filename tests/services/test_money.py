"""Money rules: minor-unit exponents, exact parsing and formatting, exact USD conversion."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallets.money import (
    DODO_CURRENCIES,
    INT64_MAX,
    MoneyParseError,
    convert_to_usd_minor,
    format_money,
    minor_unit_exponent,
    parse_major,
)


@pytest.mark.parametrize(
    ("currency", "exponent"), [("USD", 2), ("INR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CLP", 0)],
)
def test_minor_unit_exponent_is_iso_4217(currency, exponent):
    assert minor_unit_exponent(currency) == exponent


def test_every_dodo_currency_has_an_exponent():
    assert len(DODO_CURRENCIES) == len(set(DODO_CURRENCIES)) == 145
    assert {minor_unit_exponent(c) for c in DODO_CURRENCIES} <= {0, 2, 3}


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("50.00", "USD", 5000),
        ("50", "USD", 5000),
        ("0.01", "USD", 1),
        ("1,234.5", "USD", 123450),
        ("500", "JPY", 500),
        ("1.500", "KWD", 1500),
        (" 7.1 ", "INR", 710),
        ("92233720368547758.07", "USD", INT64_MAX),
    ],
)
def test_parse_major_is_exact(text, currency, minor):
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("0.001", "USD"),
        ("1.5", "JPY"),
        ("1.0001", "KWD"),
        ("-5", "USD"),
        ("+5", "USD"),
        ("1e3", "USD"),
        ("", "USD"),
        ("abc", "USD"),
        ("1.2.3", "USD"),
        ("0", "USD"),
        ("0.00", "USD"),
        ("92233720368547758.08", "USD"),
        ("NaN", "USD"),
    ],
)
def test_parse_major_refuses_inexact_or_invalid_amounts(text, currency):
    with pytest.raises(MoneyParseError):
        parse_major(text, currency)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (5000, "USD", "$50.00"),
        (500, "JPY", "¥500"),
        (1500, "KWD", "KWD1.500"),
        (123456789, "USD", "$1,234,567.89"),
        (0, "USD", "$0.00"),
        (5, "INR", "₹0.05"),
    ],
)
def test_format_money_uses_the_currency_exponent(minor, currency, text):
    assert format_money(minor, currency).replace("\xa0", "") == text


# --- convert_to_usd_minor ---------------------------------------------------------------------------


def exact_usd_cents(balances: dict[str, int], rates: dict[str, Decimal]) -> int:
    """The oracle: rational arithmetic, one half-even rounding at the end."""
    total = sum(
        (
            Fraction(amount, 10 ** minor_unit_exponent(c)) * (1 if c == "USD" else Fraction(rates[c])) * 100
            for c, amount in balances.items()
        ),
        Fraction(0),
    )
    return round(total)


def test_conversion_is_exact_beyond_28_significant_digits():
    # 10^18 cents plus half a cent and a trillionth: exact half-even rounding gives +1. Rounding the sum
    # to Decimal's default 28 digits first drops the trillionth and lands on the even 10^18.
    balances = {"USD": 10**18, "INR": 1}
    rates = {"INR": Decimal("0.500000000001")}
    assert convert_to_usd_minor(balances, rates) == exact_usd_cents(balances, rates) == 10**18 + 1


def test_conversion_of_the_largest_balances_does_not_raise():
    balances = {"USD": INT64_MAX, "KWD": INT64_MAX, "JPY": INT64_MAX}
    rates = {"KWD": Decimal("999999999999.999999999999"), "JPY": Decimal("0.000000000001")}
    assert convert_to_usd_minor(balances, rates) == exact_usd_cents(balances, rates)


def test_zero_balances_need_no_rate_and_usd_needs_none():
    assert convert_to_usd_minor({"USD": 123, "AED": 0}, {}) == 123


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["USD", "INR", "EUR", "JPY", "KWD", "GBP"]),
        st.integers(min_value=0, max_value=INT64_MAX),
        max_size=6,
    ),
    st.fixed_dictionaries(
        {
            c: st.decimals(min_value=Decimal("0.000000000001"), max_value=Decimal(999999999999), places=12)
            for c in ["INR", "EUR", "JPY", "KWD", "GBP"]
        }
    ),
)
def test_conversion_matches_rational_arithmetic(balances, rates):
    assert convert_to_usd_minor(balances, rates) == exact_usd_cents(balances, rates)


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD", "INR", "XOF", "CLP", "EUR", "BHD"])
def test_format_spec_rebuilds_format_money(currency):
    """The chart formats money in the browser from ``format_spec``: the same text as the page."""
    from wallets.money import format_spec

    spec = format_spec(currency)

    def like_the_browser(minor: int) -> str:
        scale = 10 ** spec["decimals"]
        whole, part = divmod(abs(minor), scale)
        text = f"{whole:,}".replace(",", spec["group"])
        if spec["decimals"]:
            text += spec["decimal"] + str(part).zfill(spec["decimals"])
        return ("-" if minor < 0 else "") + spec["prefix"] + text + spec["suffix"]

    for minor in (0, 5, 4144, 40000, 123456789, -4625, 2**63 - 1):
        assert like_the_browser(minor) == format_money(minor, currency)
