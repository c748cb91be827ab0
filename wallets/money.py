"""Money rules, in one place.

Amounts are integers in the currency's minor unit (cents, paise) everywhere: storage, wire,
services. ``Decimal`` appears only at the human edge (parsing "50.00", formatting "$50.00")
and in exchange-rate arithmetic, which is exact and rounded once, half-even.

Minor-unit exponents come from ISO 4217 via py-moneyed; formatting from CLDR via Babel.
"""

import functools
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext

import moneyed
from babel.numbers import format_currency, get_currency_symbol

INT64_MAX = 2**63 - 1

# Dodo Payments' Currency enum (schema v1.112.2): the currencies the API accepts, upper case only.
DODO_CURRENCIES: tuple[str, ...] = (
    "AED", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BWP", "BYN", "BZD", "CAD", "CHF", "CLP",
    "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK",
    "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
    "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS",
    "SRD", "SSP", "STN", "SVC", "SZL", "THB", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "UYU", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER",
    "ZAR", "ZMW",
)
CURRENCY_CHOICES = [(code, code) for code in DODO_CURRENCIES]
_CURRENCY_SET = frozenset(DODO_CURRENCIES)


class MoneyParseError(ValueError):
    """Text typed by a person is not an exact amount of the currency."""


def is_supported_currency(code: str) -> bool:
    return code in _CURRENCY_SET


def minor_unit_exponent(currency: str) -> int:
    """ISO 4217 exponent: USD 2, JPY 0, KWD 3."""
    sub_unit = moneyed.get_currency(currency).sub_unit
    return len(str(sub_unit)) - 1


def to_major(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-minor_unit_exponent(currency))


def parse_major(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """Parse "50.00" in major units into exact minor units (5000 for USD).

    Raises MoneyParseError for anything that is not a positive, exact amount of the currency:
    more decimals than the currency has, signs, exponents, separators, or int64 overflow.
    ``allow_zero`` accepts "0" (thresholds, not postings).
    """
    cleaned = (text or "").strip().replace(",", "")
    if not cleaned or not all(ch.isdigit() or ch == "." for ch in cleaned) or cleaned.count(".") > 1:
        raise MoneyParseError("Enter an amount like 50.00.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - guarded by the character check
        raise MoneyParseError("Enter an amount like 50.00.") from exc
    exponent = minor_unit_exponent(currency)
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        if exponent == 0:
            raise MoneyParseError(f"{currency} has no minor unit; enter a whole number.")
        raise MoneyParseError(f"{currency} allows at most {exponent} decimal places.")
    minor_int = int(minor)
    if minor_int < 0 or (minor_int == 0 and not allow_zero):
        raise MoneyParseError("The amount must be greater than zero.")
    if minor_int > INT64_MAX:
        raise MoneyParseError("The amount is too large.")
    return minor_int


def format_money(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """"$50.00", "¥500", "KWD 1.500" with the currency's own number of decimals.

    Babel's text, assembled from its parts (``format_spec``, read off Babel once per currency and
    locale): a page of a few thousand amounts (analytics' 400 days) would otherwise spend most of
    its time re-parsing Babel's pattern. ``tests/test_money_format.py`` proves the two equal for
    every currency. (Other locales, whose digit grouping may differ, are Babel's text directly.)"""
    if locale != "en_US":
        return format_money_babel(amount_minor, currency, locale)
    spec = _cached_spec(currency, locale)
    scale = 10 ** spec["decimals"]
    whole, fraction = divmod(abs(amount_minor), scale)
    text = f"{whole:,}".replace(",", spec["group"]) if spec["group"] else str(whole)
    if spec["decimals"]:
        text += spec["decimal"] + str(fraction).zfill(spec["decimals"])
    return ("-" if amount_minor < 0 else "") + spec["prefix"] + text + spec["suffix"]


def format_money_babel(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """``format_money`` as Babel writes it (the reference ``format_spec`` is read from)."""
    exponent = minor_unit_exponent(currency)
    pattern = "¤#,##0" + ("." + "0" * exponent if exponent else "")
    return format_currency(to_major(amount_minor, currency), currency, format=pattern, locale=locale,
                           currency_digits=False)


@functools.cache
def _cached_spec(currency: str, locale: str) -> dict:
    return format_spec(currency, locale)


def format_spec(currency: str, locale: str = "en_US") -> dict:
    """What a browser needs to format money exactly as ``format_money`` does (the chart's axis and
    tooltip): the text before and after the digits, the separators and the number of decimals.
    Read off Babel's text itself (``format_money_babel``), so the two cannot drift apart."""
    exponent = minor_unit_exponent(currency)
    sample = format_money_babel(1234 * 10**exponent + (5 * 10 ** (exponent - 1) if exponent else 0), currency, locale)
    first = next(i for i, ch in enumerate(sample) if ch.isdigit())
    last = max(i for i, ch in enumerate(sample) if ch.isdigit())
    digits = sample[first:last + 1]  # "1,234.50": the group separator follows the first digit
    group = digits[1] if len(digits) > 4 and not digits[1].isdigit() else ""
    decimal = digits[-exponent - 1] if exponent else ""
    return {"prefix": sample[:first], "suffix": sample[last + 1:], "group": group, "decimal": decimal,
            "decimals": exponent}


def currency_symbol(currency: str, locale: str = "en_US") -> str:
    return get_currency_symbol(currency, locale=locale)


def convert_to_usd_minor(balances: dict[str, int], rates_to_usd: dict[str, Decimal]) -> int:
    """Sum of balances in USD minor units, exact decimals, rounded once (half-even).

    ``rates_to_usd[c]`` is the USD value of one major unit of ``c``. The caller guarantees a rate
    for every currency with a non-zero balance.
    """
    # The default context keeps 28 significant digits, fewer than an int64 balance (19 digits)
    # times a rate (up to 24 digits) needs: that would round each product before the sum. With
    # enough digits every product and the sum are exact and the one rounding is the last line's.
    with localcontext(_EXACT):
        total = Decimal(0)
        for currency, amount in balances.items():
            if amount == 0:
                continue
            rate = Decimal(1) if currency == "USD" else rates_to_usd[currency]
            total += to_major(amount, currency) * rate
        usd_minor = total.scaleb(minor_unit_exponent("USD")).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(usd_minor)


# 200 digits: far more than any sum of a few hundred int64 balances times 24-digit rates needs.
_EXACT = Context(prec=200, Emax=999_999, Emin=-999_999, traps=[InvalidOperation])
