"""Reading exchange rates, and a customer's balance in USD.

``total_balance_usd`` never fails: a wallet in a currency without a rate is left out of the sum and
named in ``unconverted``; a sum beyond int64 (what typed SDKs decode) is capped at its maximum and
says so in ``capped``.

Both take an optional ``on`` date: the rates in force on that day (each currency's row with the
latest ``as_of`` on or before it) instead of the latest, for balances in the past. A currency
whose first rate is later than ``on`` has no rate then, and is unconverted like any other."""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.db.models import OuterRef, Subquery

from wallets.models import ExchangeRate
from wallets.money import INT64_MAX, convert_to_usd_minor


def latest_rates_to_usd(currencies: set[str], *, on: datetime.date | None = None) -> dict[str, Decimal]:
    """The latest known rate of each currency (missing currencies are absent); given ``on``, the
    latest on or before that day."""
    return {currency: rate for currency, (rate, _) in latest_rates_dated(currencies, on=on).items()}


def latest_rates_dated(currencies: set[str], *, on: datetime.date | None = None
                       ) -> dict[str, tuple[Decimal, datetime.date]]:
    """``latest_rates_to_usd`` with each rate's own date: ``{currency: (rate, as_of)}``.

    One row per currency, found through the (currency, as_of) unique index, however long the
    history of daily rates grows."""
    known = ExchangeRate.objects.filter(currency=OuterRef("currency"))
    if on is not None:
        known = known.filter(as_of__lte=on)
    latest_date = known.order_by("-as_of").values("as_of")[:1]
    rows = (ExchangeRate.objects.filter(currency__in=currencies, as_of=Subquery(latest_date))
            .values_list("currency", "rate_to_usd", "as_of"))
    return {currency: (rate, as_of) for currency, rate, as_of in rows}


@dataclass(frozen=True, slots=True)
class UsdTotal:
    amount: int  # USD minor units, at most INT64_MAX
    capped: bool  # the exact sum was larger than INT64_MAX
    unconverted: list[str] = field(default_factory=list)  # currencies with a balance and no rate, sorted
    # The dates of the rates used: the oldest and the newest (equal when one snapshot served them
    # all); None when no rate was needed (only USD, or nothing converted).
    rates_oldest: datetime.date | None = None
    rates_newest: datetime.date | None = None


class Balance(Protocol):
    """What the total reads of a wallet (a ``Wallet``, or a ``WalletAsOf`` of a past instant)."""

    @property
    def currency(self) -> str: ...

    @property
    def balance(self) -> int: ...


def total_balance_usd(wallets: Iterable[Balance], *, on: datetime.date | None = None) -> UsdTotal:
    """The wallets' sum in USD minor units at the latest rates, or at the rates in force ``on`` that
    day (exact, rounded once, half-even)."""
    balances = {w.currency: w.balance for w in wallets if w.balance}
    needed = {c for c in balances if c != "USD"}
    dated = latest_rates_dated(needed, on=on) if needed else {}
    rates = {currency: rate for currency, (rate, _) in dated.items()}
    unconverted = sorted(needed - rates.keys())
    converted = {c: amount for c, amount in balances.items() if c not in unconverted}
    exact = convert_to_usd_minor(converted, rates)
    dates = [as_of for _, as_of in dated.values()]
    return UsdTotal(amount=min(exact, INT64_MAX), capped=exact > INT64_MAX, unconverted=unconverted,
                    rates_oldest=min(dates, default=None), rates_newest=max(dates, default=None))
