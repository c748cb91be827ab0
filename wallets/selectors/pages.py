"""Deep pages of a long, ordered list, read as a deferred join.

``LIMIT 10 OFFSET 5000`` over ``ledger_customer_newest`` reads 5,010 rows in index order, and
PostgreSQL evaluates the select list (whole rows, and the per-entry subqueries of
``selectors.entries.with_entry_extensions``) for every one of them before the offset drops them:
about 10 ms for page 500 of a customer with 100,000 entries. A ``DeferredPageQuerySet`` sliced
past its start instead reads the page's ids alone (an index-only scan of the same index, the same
filters and the same order) and then only those rows, in the same order::

    SELECT … FROM ledger WHERE <filters> AND id IN (SELECT id FROM ledger WHERE <filters>
                                                    ORDER BY <order> LIMIT 10 OFFSET 5000)
    ORDER BY <order>

One statement, one snapshot: the same items in the same order as the plain slice (the order must
be total, which every ordering that ends in the primary key is). The first page is read as is:
its offset is 0, there is nothing to skip.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet, Subquery
from django.db.models.query import ModelIterable


class DeferredPageQuerySet(QuerySet):
    def __getitem__(self, k: Any) -> Any:
        if not self._deferrable(k):
            return super().__getitem__(k)
        ids = self.values_list("pk", flat=True)[k]  # a values query: sliced as usual
        # The outer query keeps the filters: each id is checked against them again (a primary
        # key probe), so the rows are exactly the ones the ids query chose.
        return self.filter(pk__in=Subquery(ids))

    def _deferrable(self, k: Any) -> bool:
        return (
            isinstance(k, slice) and k.step is None and isinstance(k.start, int) and k.start > 0
            and isinstance(k.stop, int) and k.stop > k.start
            and self._result_cache is None and self._iterable_class is ModelIterable
            and not self.query.is_sliced and not self.query.distinct and bool(self.query.order_by)
        )


def deferred_pages(queryset: QuerySet) -> QuerySet:
    """``queryset`` (ordered, with a total order), sliced past its start as a deferred join."""
    clone = queryset.all()  # a copy: the caller's queryset stays as it was
    clone.__class__ = DeferredPageQuerySet
    return clone
