"""Totals of a filtered list of entries: per currency, the count and sum of credits and of debits.

One aggregate query over exactly the rows the page lists (the same FilterSet queryset), grouped by
currency, so the figures never mix currencies and never depend on the page size or the page."""

from dataclasses import dataclass

from django.db.models import BigIntegerField, Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from wallets.models import LedgerEntry


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    currency: str
    credit_count: int
    credit_sum: int
    debit_count: int
    debit_sum: int

    @property
    def net(self) -> int:
        return self.credit_sum - self.debit_sum

    @property
    def count(self) -> int:
        return self.credit_count + self.debit_count


def ledger_totals(entries: QuerySet[LedgerEntry]) -> list[CurrencyTotals]:
    """``entries``' totals, one item per currency present, ordered by currency. One query."""
    credit, debit = Q(is_credit=True), Q(is_credit=False)

    def total(condition: Q):
        return Coalesce(Sum("amount", filter=condition), Value(0), output_field=BigIntegerField())

    rows = (
        entries.order_by().values("currency")
        .annotate(credit_count=Count("pk", filter=credit), credit_sum=total(credit),
                  debit_count=Count("pk", filter=debit), debit_sum=total(debit))
        .order_by("currency")
        .values_list("currency", "credit_count", "credit_sum", "debit_count", "debit_sum")
    )
    return [CurrencyTotals(currency=c, credit_count=cc, credit_sum=int(cs), debit_count=dc, debit_sum=int(ds))
            for c, cc, cs, dc, ds in rows]
