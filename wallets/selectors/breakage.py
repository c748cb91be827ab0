"""Breakage: money that expired unspent (expiry entries, ``LedgerEntry.expired_grant`` set), summed
per business, currency and period (UTC month or day). Shared by the dashboard's report and the
``breakage_report`` command, so both count exactly the same entries."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncMonth

from wallets.models import LedgerEntry

PERIODS = ("month", "day")


@dataclass(frozen=True, slots=True)
class BreakageRow:
    business_id: str
    currency: str
    period: datetime.date  # the first day of the month, or the day (UTC)
    amount: int  # minor units
    entries: int


def breakage_by_period(
    *,
    business_id: str | None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    period: str = "month",
) -> list[BreakageRow]:
    """Expired amounts per (business, currency, period), oldest period first. ``start`` and ``end``
    are UTC days, both included."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    entries = LedgerEntry.objects.filter(expired_grant__isnull=False)
    if business_id is not None:
        entries = entries.filter(business_id=business_id)
    if start is not None:
        entries = entries.filter(created_at__gte=_utc_midnight(start))
    if end is not None:
        entries = entries.filter(created_at__lt=_utc_midnight(end + datetime.timedelta(days=1)))
    trunc = (TruncMonth if period == "month" else TruncDay)("created_at", tzinfo=datetime.UTC)
    rows = (
        entries.annotate(period=trunc)
        .values("business_id", "currency", "period")
        .annotate(amount=Sum("amount"), entries=Count("id"))
        .order_by("period", "business_id", "currency")
    )
    return [
        BreakageRow(r["business_id"], r["currency"], _as_date(r["period"]), r["amount"], r["entries"]) for r in rows
    ]


def _utc_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)


def _as_date(value) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value
