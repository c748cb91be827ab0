"""Breakage: money that expired unspent (expiry entries, ``LedgerEntry.expired_grant`` set), summed
per business, currency and period (month or day, UTC unless a zone is given). Shared by the dashboard's report and the
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
    tz: datetime.tzinfo = datetime.UTC,
) -> list[BreakageRow]:
    """Expired amounts per (business, currency, period), oldest period first. ``start`` and ``end``
    are days in ``tz`` (UTC by default; the analytics page passes the user's zone), both included."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    entries = LedgerEntry.objects.filter(expired_grant__isnull=False)
    if business_id is not None:
        entries = entries.filter(business_id=business_id)
    if start is not None:
        entries = entries.filter(created_at__gte=_midnight(start, tz))
    if end is not None:
        entries = entries.filter(created_at__lt=_midnight(end + datetime.timedelta(days=1), tz))
    trunc = (TruncMonth if period == "month" else TruncDay)("created_at", tzinfo=tz)
    rows = (
        entries.annotate(period=trunc)
        .values("business_id", "currency", "period")
        .annotate(amount=Sum("amount"), entries=Count("id"))
        .order_by("period", "business_id", "currency")
    )
    return [
        BreakageRow(r["business_id"], r["currency"], _as_date(r["period"], tz), r["amount"], r["entries"]) for r in rows
    ]


def _midnight(day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)


def _as_date(value, tz: datetime.tzinfo = datetime.UTC) -> datetime.date:
    return value.astimezone(tz).date() if isinstance(value, datetime.datetime) else value
