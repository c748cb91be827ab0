"""Analytics reads: money in and out per period, the balance held at each period's end, the top
customers by balance and by spend, and the runway of wallets running low. Every figure is per
currency (currencies are never summed together) and aggregated in the database.

Periods are days, ISO weeks (Monday first) or months in the user's time zone: a range of local days
``[start, end]`` is the instant range ``[start 00:00, end + 1 day 00:00)`` in that zone (DST-aware),
cut at ``now`` so no period lies in the future. The first and last periods may be partial (a week
or month cut by the range); their figures count only the range.

The balance held at a period's end is derived, not stored: today's total of wallet balances
(which equals the sum of all entries) less the net of every entry at or after that instant. So one
grouped read of the range's entries, one of the entries after it and one of the wallets give every
period's closing total, at any number of periods.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, DateTimeField, F, Q, Sum, Window
from django.db.models.functions import RowNumber, Trunc

from wallets.models import LedgerEntry, LedgerRollup, Wallet
from wallets.services import rollups
from wallets.webhooks.runway import Runway, burns

PERIODS = ("day", "week", "month")
#: The most days one request may cover, per kind of period (bounds the work and the chart).
MAX_DAYS = {"day": 400, "week": 7 * 260, "month": 3660}
TOP_N = 10
#: Ranking customers by spend sums every debit of the range per customer (no rollup has customers):
#: it is offered for ranges of up to a month and a day or so, the presets included.
MAX_SPEND_DAYS = 31

#: Spend is a debit that paid for something: not the expiry of a credit (that is breakage).
SPEND = Q(is_credit=False, expired_grant__isnull=True)


@dataclass(frozen=True, slots=True)
class AnalyticsRange:
    """A resolved range: local days ``[start, end]`` in ``zone``, and its instants."""

    start: datetime.date
    end: datetime.date
    period: str
    zone: datetime.tzinfo
    now: datetime.datetime

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime.datetime:
        return local_midnight(self.start, self.zone)

    @property
    def end_at(self) -> datetime.datetime:
        """The range's end instant (exclusive), never after ``now``."""
        return min(local_midnight(self.end + datetime.timedelta(days=1), self.zone), self.now)

    def buckets(self) -> list[Bucket]:
        """Every period that starts before ``end_at``, oldest first, with its instants clipped to the range."""
        out: list[Bucket] = []
        day = period_start(self.start, self.period)
        while True:
            following = next_period(day, self.period)
            starts_at = max(local_midnight(day, self.zone), self.start_at)
            ends_at = min(local_midnight(following, self.zone), self.end_at)
            if starts_at >= self.end_at:
                break
            out.append(Bucket(day, starts_at, ends_at))
            day = following
        return out


@dataclass(frozen=True, slots=True)
class Bucket:
    label_day: datetime.date  # the period's first local day (a Monday for weeks, the 1st for months)
    starts_at: datetime.datetime  # within the range
    ends_at: datetime.datetime  # exclusive


@dataclass(slots=True)
class FlowRow:
    bucket: Bucket
    credits: int = 0
    credit_count: int = 0
    debits: int = 0
    debit_count: int = 0
    balance_at_end: int = 0

    @property
    def net(self) -> int:
        return self.credits - self.debits


@dataclass(slots=True)
class CurrencyFlows:
    currency: str
    rows: list[FlowRow] = field(default_factory=list)

    @property
    def credits(self) -> int:
        return sum(r.credits for r in self.rows)

    @property
    def debits(self) -> int:
        return sum(r.debits for r in self.rows)

    @property
    def credit_count(self) -> int:
        return sum(r.credit_count for r in self.rows)

    @property
    def debit_count(self) -> int:
        return sum(r.debit_count for r in self.rows)

    @property
    def opening(self) -> int:
        first = self.rows[0]
        return first.balance_at_end - first.net

    @property
    def closing(self) -> int:
        return self.rows[-1].balance_at_end


@dataclass(frozen=True, slots=True)
class TopCustomer:
    currency: str
    customer_id: str
    name: str
    email: str
    amount: int  # the balance, or the spend in the range (minor units)
    entries: int = 0  # debits counted (spend only)


@dataclass(frozen=True, slots=True)
class LowWallet:
    wallet: Wallet
    runway: Runway


def local_midnight(day: datetime.date, zone: datetime.tzinfo) -> datetime.datetime:
    """The first instant of a local day, in UTC. Where the clocks skip midnight, the first wall
    time's earlier offset (PEP 495, fold 0) is exactly the transition: the day's first instant."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone).astimezone(datetime.UTC)


def period_start(day: datetime.date, period: str) -> datetime.date:
    if period == "week":
        return day - datetime.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def next_period(day: datetime.date, period: str) -> datetime.date:
    if period == "week":
        return day + datetime.timedelta(days=7)
    if period == "month":
        return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return day + datetime.timedelta(days=1)


FIELDS = ("credits", "credit_count", "debits", "debit_count")


def _entry_sums() -> dict:
    return {"credits": Sum("amount", filter=Q(is_credit=True), default=0),
            "credit_count": Count("amount", filter=Q(is_credit=True)),
            "debits": Sum("amount", filter=Q(is_credit=False), default=0),
            "debit_count": Count("amount", filter=Q(is_credit=False))}


def _rollup_sums() -> dict:
    return {name: Sum(name, default=0) for name in FIELDS}


def _dicts(queryset: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in queryset]


def _add(cells: dict, key: tuple, row: dict) -> None:
    cell = cells.setdefault(key, dict.fromkeys(FIELDS, 0))
    for name in FIELDS:
        cell[name] += int(row[name])


def flows_by_period(*, business_id: str, window: AnalyticsRange) -> list[CurrencyFlows]:
    """Per currency: credits and debits (count and sum) per period, and the total of wallet balances
    at each period's end. Currencies with neither money held nor an entry in the range are left out.
    A fixed number of queries, whatever the number of entries or periods: closed slots are read
    from the rollup (``wallets.services.rollups``), the last minutes from the ledger."""
    buckets = window.buckets()
    if not buckets:
        return []
    wallet_rows = _dicts(Wallet.objects.filter(business_id=business_id).values("currency")
                         .annotate(total=Sum("balance"), entry_total=Sum("entry_count")).order_by())
    totals = {r["currency"]: int(r["total"] or 0) for r in wallet_rows}
    mark = None
    if rollups.supported():
        mark = rollups.ledger_rollup_refresh(business_id=business_id, now=window.now,
                                      ledger_entries=sum(int(r["entry_total"] or 0) for r in wallet_rows))
    start_at, end_at = window.start_at, window.end_at
    cells: dict[tuple[str, datetime.date], dict] = {}
    after: dict[str, int] = {}
    if mark is not None and start_at < mark:
        rolled = (LedgerRollup.objects.filter(business_id=business_id, slot_start__gte=start_at,
                                              slot_start__lt=min(end_at, mark))
                  .annotate(p=Trunc("slot_start", window.period, output_field=DateTimeField(), tzinfo=window.zone))
                  .values("currency", "p").annotate(**_rollup_sums()).order_by())
        for row in _dicts(rolled):
            _add(cells, (row["currency"], row["p"].astimezone(window.zone).date()), row)
    live_from = start_at if mark is None else max(start_at, mark)
    if live_from < end_at:
        live = (LedgerEntry.objects.filter(business_id=business_id, created_at__gte=live_from,
                                           created_at__lt=end_at)
                .annotate(p=Trunc("created_at", window.period, output_field=DateTimeField(), tzinfo=window.zone))
                .values("currency", "p").annotate(**_entry_sums()).order_by())
        for row in _dicts(live):
            _add(cells, (row["currency"], row["p"].astimezone(window.zone).date()), row)
    # The net of everything at or after the range's end, to walk the balances back from today's.
    net = F("credits") - F("debits")
    if mark is not None and end_at < mark:
        for row in _dicts(LedgerRollup.objects.filter(business_id=business_id, slot_start__gte=end_at)
                          .values("currency").annotate(net=Sum(net)).order_by()):
            after[row["currency"]] = after.get(row["currency"], 0) + int(row["net"])
    for row in _dicts(LedgerEntry.objects.filter(business_id=business_id,
                                                 created_at__gte=end_at if mark is None else max(end_at, mark))
                      .values("currency").annotate(**_entry_sums()).order_by()):
        after[row["currency"]] = after.get(row["currency"], 0) + int(row["credits"]) - int(row["debits"])
    currencies = sorted({c for c, _ in cells} | {c for c, t in totals.items() if t} | set(after))
    out = []
    for currency in currencies:
        flows = CurrencyFlows(currency)
        for bucket in buckets:
            cell = cells.get((currency, bucket.label_day))
            flows.rows.append(FlowRow(bucket) if cell is None else FlowRow(bucket, **cell))
        # Walk back from the range's end: the balance at a period's end is the next one's less its net.
        balance = int(totals.get(currency) or 0) - int(after.get(currency) or 0)
        for flow in reversed(flows.rows):
            flow.balance_at_end = balance
            balance -= flow.net
        out.append(flows)
    return out


def top_customers_by_balance(*, business_id: str, currencies: Iterable[str], limit: int = TOP_N) -> list[TopCustomer]:
    """The customers holding the most, per currency (one query per currency, each read off the
    ``(business, currency, balance)`` index: never the whole wallet table)."""
    out = []
    for currency in currencies:
        wallets = (
            Wallet.objects.filter(business_id=business_id, currency=currency, balance__gt=0)
            .order_by("-balance", "pk")
            .values("customer_id", "customer__name", "customer__email", "balance")[:limit]
        )
        out += [TopCustomer(currency, w["customer_id"], w["customer__name"], w["customer__email"], w["balance"])
                for w in wallets]
    return out


def top_customers_by_spend(*, business_id: str, window: AnalyticsRange, limit: int = TOP_N) -> list[TopCustomer]:
    """The customers who spent the most in the range, per currency (debits other than expiries of
    credit), biggest first. One query: a window function ranks the sums within each currency."""
    ranked = (
        LedgerEntry.objects.filter(SPEND, business_id=business_id, created_at__gte=window.start_at,
                                   created_at__lt=window.end_at)
        .values("currency", "customer_id")
        .annotate(spent=Sum("amount"), entries=Count("*"))
        .annotate(rank=Window(RowNumber(), partition_by=[F("currency")],
                              order_by=[F("spent").desc(), F("customer_id").asc()]))
        .filter(rank__lte=limit)
        .order_by("currency", "rank")
    )
    rows = list(ranked)
    from wallets.models import Customer

    names = {c["id"]: c for c in Customer.objects.filter(
        business_id=business_id, pk__in={r["customer_id"] for r in rows}).values("id", "name", "email")}
    return [TopCustomer(r["currency"], r["customer_id"], names[r["customer_id"]]["name"],
                        names[r["customer_id"]]["email"], r["spent"], r["entries"]) for r in rows]


def wallet_runways(wallets: Sequence[Wallet], *, now: datetime.datetime) -> dict[str, Runway]:
    """Each wallet's runway now, by the rule of ``wallet.runway_low`` (``wallets.webhooks.runway``:
    the trailing 14-day burn). One grouped query for all of them."""
    burned = burns(wallets, now)
    return {w.pk: Runway(w.balance, burned.get(w.pk, 0)) for w in wallets}
