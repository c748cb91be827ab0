"""Analytics' pre-aggregate of the ledger (``LedgerRollup``): per business, currency and closed
15-minute UTC slot, the credits and debits (sums and counts). Every time zone's midnight is on a
15-minute boundary, so a day, week or month in any zone is a whole number of slots, and money in and
out over a year is read from about 35,000 rows per currency instead of every entry.

- Closed: a slot is rolled up once it ended ``LAG`` ago (postings are stamped at their start and
  commit well within it); later entries are read live, from the ledger.
- Derived, and checked: ``LedgerRollupMark`` keeps how far the rollup reaches and how many entries
  it counts. Entries are append-only, so the rollup is right while that count, plus the entries at
  or after the mark, is the ledger's count (the wallets' ``entry_count``, read first: postings that
  commit between the two reads only add to the second). A smaller sum means an entry was written
  back-dated under the mark (demo history replayed with ``Posting.created_at``): the business's
  rollup is then rebuilt.
- PostgreSQL only (``date_bin``); elsewhere analytics read the ledger directly.

A write of derived data only (never money): analytics' selector calls it before reading, and
``manage.py rollup_ledger`` fills it ahead (so a business's first visit does not wait for it).
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.db.models import Count, DateTimeField, F, Func, Q, Sum, Value

from wallets.ledger import sql
from wallets.models import LedgerEntry, LedgerRollup, LedgerRollupMark

#: A build adding this many slots refreshes the planner's statistics (``sql.analyze_ledger_rollup``).
ANALYZE_AFTER = 5000
SLOT = datetime.timedelta(minutes=15)
LAG = datetime.timedelta(minutes=5)
ORIGIN = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def slot_floor(at: datetime.datetime) -> datetime.datetime:
    return ORIGIN + ((at - ORIGIN) // SLOT) * SLOT


def supported() -> bool:
    return connection.vendor == "postgresql"


def ledger_rollup_refresh_all(*, now: datetime.datetime | None = None) -> int:
    """Refresh every business's rollup (the command); returns how many businesses."""
    from django.db.models import Sum
    from django.utils import timezone

    from wallets.models import Wallet

    now = now or timezone.now()
    counts = Wallet.objects.values("business_id").annotate(n=Sum("entry_count")).order_by("business_id")
    for row in counts:
        ledger_rollup_refresh(business_id=row["business_id"], now=now, ledger_entries=int(row["n"] or 0))
    return len(counts)


def _slot_of_created_at() -> Func:
    return Func(Value(SLOT), F("created_at"), Value(ORIGIN), function="date_bin", output_field=DateTimeField())


def _aggregate(entries) -> list[LedgerRollup]:
    rows = (
        entries.annotate(slot=_slot_of_created_at())
        .values("business_id", "currency", "slot")
        .annotate(credits=Sum("amount", filter=Q(is_credit=True), default=0),
                  credit_count=Count("amount", filter=Q(is_credit=True)),
                  debits=Sum("amount", filter=Q(is_credit=False), default=0),
                  debit_count=Count("amount", filter=Q(is_credit=False)))
        .order_by()
    )
    return [LedgerRollup(business_id=r["business_id"], currency=r["currency"], slot_start=r["slot"],
                         credits=r["credits"], credit_count=r["credit_count"], debits=r["debits"],
                         debit_count=r["debit_count"]) for r in rows]


def ledger_rollup_refresh(*, business_id: str, now: datetime.datetime, ledger_entries: int) -> datetime.datetime:
    """Bring the business's rollup up to the last closed slot (rebuilding it if it disagrees with
    the ledger); returns its mark: the rollup counts exactly the entries before it. ``ledger_entries``
    is the business's entry count (the sum of its wallets' ``entry_count``), read before this call."""
    target = slot_floor(now - LAG)
    mark = LedgerRollupMark.objects.filter(business_id=business_id).first()
    if mark is not None and mark.rolled_up_to >= target:
        live = LedgerEntry.objects.filter(business_id=business_id, created_at__gte=mark.rolled_up_to).count()
        if mark.entries + live >= ledger_entries:
            return mark.rolled_up_to
    added = 0
    with transaction.atomic():
        LedgerRollupMark.objects.get_or_create(business_id=business_id, defaults={"rolled_up_to": ORIGIN})
        mark = LedgerRollupMark.objects.select_for_update(no_key=True).get(business_id=business_id)
        live = LedgerEntry.objects.filter(business_id=business_id, created_at__gte=mark.rolled_up_to).count()
        if mark.entries + live < ledger_entries:  # written under the mark: start again
            LedgerRollup.objects.filter(business_id=business_id).delete()
            mark.rolled_up_to, mark.entries = ORIGIN, 0
        if mark.rolled_up_to < target:
            new = _aggregate(LedgerEntry.objects.filter(
                business_id=business_id, created_at__gte=mark.rolled_up_to, created_at__lt=target))
            LedgerRollup.objects.bulk_create(new, batch_size=5000)
            added = len(new)
            mark.entries += sum(r.credit_count + r.debit_count for r in new)
            mark.rolled_up_to = target
        mark.save(update_fields=["rolled_up_to", "entries"])
    if added >= ANALYZE_AFTER:
        sql.analyze_ledger_rollup()
    return mark.rolled_up_to
