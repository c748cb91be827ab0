"""The dashboard's one search box: a business's customers and ledger entries by what a finance
person has in hand (an id, an email, a name, a payment reference, an idempotency key).

Every match is an index lookup, never a ``%LIKE%`` scan over the ledger (EXPLAIN in
``tests/dashboard/test_search.py``, indexes in migration 0017):
- customers, one query: the primary key (exact id), or ``(business, lower(email))`` and
  ``(business, lower(name))`` with ``text_pattern_ops`` (case-insensitive prefix, any collation);
- entries, one query: the primary key (exact id), ``(business, reference_object_id)`` and
  ``(business, idempotency_key)`` (exact; both partial indexes over the rows that have one).
PostgreSQL combines each query's indexes with a BitmapOr, so a search costs two queries of a few
index probes whatever the size of the ledger. Each kind returns at most ``limit`` rows (one more
is read to tell "there are more"). Tenant isolation: both queries filter on the business.
"""

from dataclasses import dataclass, field

from django.db.models import Q
from django.db.models.functions import Lower

from wallets.models import Customer, LedgerEntry

MAX_QUERY_LENGTH = 255  # the longest id, reference or idempotency key the API accepts
RESULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class EntryMatch:
    entry: LedgerEntry
    matched_on: str  # "entry id", "reference" or "idempotency key"


@dataclass(slots=True)
class SearchResults:
    query: str
    customers: list[Customer] = field(default_factory=list)
    entries: list[EntryMatch] = field(default_factory=list)
    more_customers: bool = False
    more_entries: bool = False
    exact_customer: Customer | None = None  # the query is this customer's id
    exact_entry: LedgerEntry | None = None  # the query is this entry's id

    @property
    def count(self) -> int:
        return len(self.customers) + len(self.entries)


def search(*, business_id: str, query: str, limit: int = RESULT_LIMIT) -> SearchResults:
    """Customers and entries of the business matching ``query`` (trimmed; blank finds nothing)."""
    query = query.strip()[:MAX_QUERY_LENGTH]
    results = SearchResults(query=query)
    if not query:
        return results
    lowered = query.lower()
    customers: list[Customer] = list(
        Customer.objects.filter(business_id=business_id)
        .alias(email_lower=Lower("email"), name_lower=Lower("name"))
        .filter(Q(pk=query) | Q(email_lower__startswith=lowered) | Q(name_lower__startswith=lowered))
        .order_by("name", "pk")[: limit + 1]
    )
    results.more_customers = len(customers) > limit
    results.customers = customers[:limit]
    results.exact_customer = next((c for c in results.customers if c.pk == query), None)

    entries = list(
        LedgerEntry.objects.filter(business_id=business_id)
        .filter(Q(pk=query) | Q(reference_object_id=query) | Q(idempotency_key=query))
        .select_related("customer")
        .order_by("-created_at", "-pk")[: limit + 1]
    )
    results.more_entries = len(entries) > limit
    results.entries = [EntryMatch(entry=e, matched_on=_matched_on(e, query)) for e in entries[:limit]]
    results.exact_entry = next((e for e in entries if e.pk == query), None)
    return results


def _matched_on(entry: LedgerEntry, query: str) -> str:
    if entry.pk == query:
        return "entry id"
    if entry.reference_object_id == query:
        return "reference"
    return "idempotency key"
