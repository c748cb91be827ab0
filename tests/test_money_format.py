"""``format_money`` assembles Babel's text from its parts (``format_spec``): the same text as Babel
for every currency the API accepts, at every size and sign."""

import pytest

from wallets.money import DODO_CURRENCIES, INT64_MAX, format_money, format_money_babel

AMOUNTS = [0, 1, 5, 9, 10, 99, 100, 999, 1000, 1001, 12345, 100000, 123456789, 1_000_000_000, INT64_MAX,
           -1, -99, -1501, -123456789, -INT64_MAX]


@pytest.mark.parametrize("currency", sorted(DODO_CURRENCIES))
def test_the_same_text_as_babel(currency):
    assert [format_money(a, currency) for a in AMOUNTS] == [format_money_babel(a, currency) for a in AMOUNTS]


def test_examples():
    assert format_money(5000, "USD") == "$50.00"
    assert format_money(500, "JPY") == "¥500"
    assert format_money(1500, "KWD") == "KWD1.500"
    assert format_money(-1501, "INR") == "-₹15.01"
    assert format_money(123456789, "INR", locale="de_DE") == format_money_babel(123456789, "INR", locale="de_DE")
