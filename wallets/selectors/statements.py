"""Balances in time: a customer's wallets as they stood at an instant, and a statement of one
currency over an interval. Read side only (entries are immutable, so the past never changes).

Definitions (API-NOTES, "Balances in time"):
- a wallet's balance *at* instant ``t`` is the ``after_balance`` of its last entry (by
  ``created_at``, then ``sequence``) with ``created_at <= t``; 0 before its first entry;
- a statement covers the half-open interval ``[start, end)``: ``opening`` is the balance just
  before ``start`` (the last entry with ``created_at < start``), ``closing`` the balance just before
  ``end`` (the last entry with ``created_at < end``), and the totals and the count are over the
  entries with ``start <= created_at < end``. Statements of consecutive intervals tile: one's
  closing is the next one's opening, and no entry is in both.

``opening + total_credits - total_debits == closing`` always: a wallet's entries form a chain (each
``before_balance`` is the previous ``after_balance``, guarded by the database), and their
``created_at`` never decreases along ``sequence`` (the engine reads the clock after taking the
wallet's lock), so the last entry before a bound is the end of the chain up to that bound. The five
figures are read in one SELECT, hence from one snapshot, even while entries are being posted.

Every figure is an index probe or an index range on ``ledger_customer_ccy_recent``
(business, customer, currency, -created_at, -sequence): the last entry before a bound is
``ORDER BY created_at DESC, sequence DESC LIMIT 1``, never a scan of the wallet's history.
"""

import datetime
from dataclasses import dataclass

from django.db.models import BigIntegerField, Count, F, JSONField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, JSONObject

from wallets.models import LedgerEntry, Wallet
from wallets.selectors.pages import deferred_pages


@dataclass(frozen=True, slots=True)
class WalletAsOf:
    """A wallet as it stood at ``as_of``: the shape of ``WalletResponse``. ``updated_at`` is the time
    of its last entry by then (the wallet's ``created_at`` when it had none); ``created_at`` is the
    wallet's own, which is later than ``as_of`` for a wallet created since (its balance then: 0)."""

    customer_id: str
    currency: str
    balance: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


@dataclass(frozen=True, slots=True)
class Statement:
    currency: str
    start: datetime.datetime | None  # None: from the beginning
    end: datetime.datetime  # exclusive
    opening_balance: int
    closing_balance: int
    total_credits: int
    total_debits: int
    entry_count: int
    entries: QuerySet[LedgerEntry]  # the interval's entries, oldest first (created_at, sequence)


def _currency_entries(*, business_id: str, customer_id: str, currency) -> QuerySet[LedgerEntry]:
    """One wallet's entries, filtered on the columns of ``ledger_customer_ccy_recent``'s prefix."""
    return LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, currency=currency)


def _last(entries: QuerySet[LedgerEntry], column: str) -> Subquery:
    """``column`` of the last of ``entries``: one probe of the index, read backwards from the bound."""
    return Subquery(entries.order_by("-created_at", "-sequence").values(column)[:1])


def _in_range_totals(entries: QuerySet[LedgerEntry]) -> Subquery:
    """Credits, debits and count of ``entries`` (one wallet's, so one group) in one pass over the
    range, as one scalar subquery: a JSON object, so that one scan yields all three."""
    # COUNT(*), not COUNT(id): the id is not in the index, and reading it would visit every row of
    # the range in the table (an index scan instead of an index-only scan).
    totals = JSONObject(credits=Sum("amount", filter=Q(is_credit=True)),
                        debits=Sum("amount", filter=Q(is_credit=False)), count=Count("*"))
    return Subquery(entries.order_by().values("currency").annotate(totals=totals).values("totals")[:1],
                    output_field=JSONField())


def wallet_list_as_of(*, business_id: str, customer_id: str, as_of: datetime.datetime) -> list[WalletAsOf]:
    """Every wallet of the customer, ordered by currency, with its balance at ``as_of`` (inclusive).
    Wallets created after ``as_of`` are listed too, with 0 (the list has the same items as today's).
    One query: two index probes per wallet."""
    return wallets_as_of(business_id=business_id, customer_ids=[customer_id], as_of=as_of).get(customer_id, [])


def wallets_as_of(*, business_id: str, customer_ids, as_of: datetime.datetime) -> dict[str, list[WalletAsOf]]:
    """``wallet_list_as_of`` for a page of customers at once (the customer list's "As of"): each
    customer's wallets by currency. One query whatever the number of customers: two index probes
    per wallet."""
    upto = LedgerEntry.objects.filter(business_id=business_id, customer_id=OuterRef("customer_id"),
                                      currency=OuterRef("currency")).filter(created_at__lte=as_of)
    rows = (
        Wallet.objects.filter(business_id=business_id, customer_id__in=list(customer_ids))
        .annotate(balance_then=Coalesce(_last(upto, "after_balance"), Value(0), output_field=BigIntegerField()),
                  updated_then=Coalesce(_last(upto, "created_at"), F("created_at")))
        .order_by("customer_id", "currency")
        .values_list("customer_id", "currency", "balance_then", "created_at", "updated_then")
    )
    found: dict[str, list[WalletAsOf]] = {}
    for cid, currency, balance, created, updated in rows:
        found.setdefault(cid, []).append(
            WalletAsOf(customer_id=cid, currency=currency, balance=balance, created_at=created, updated_at=updated))
    return found


def wallet_statement(
    *, business_id: str, customer_id: str, currency: str, start: datetime.datetime | None, end: datetime.datetime
) -> Statement:
    """The statement of one currency over ``[start, end)`` (``start`` None: from the first entry).
    A currency the customer has no wallet in has an all-zero statement with no entries."""
    if start is not None and start > end:
        raise ValueError("start is after end")
    entries = _currency_entries(business_id=business_id, customer_id=customer_id, currency=currency)
    before_end = entries.filter(created_at__lt=end)
    in_range = before_end if start is None else before_end.filter(created_at__gte=start)

    def zero_if_none(expression):
        return Coalesce(expression, Value(0), output_field=BigIntegerField())

    opening_then = (Value(0, output_field=BigIntegerField()) if start is None
                    else zero_if_none(_last(entries.filter(created_at__lt=start), "after_balance")))
    # The wallet's row carries the five scalar subqueries: one statement, one snapshot; no wallet, no row.
    row = (
        Wallet.objects.filter(business_id=business_id, customer_id=customer_id, currency=currency)
        .annotate(
            opening=opening_then,
            closing=zero_if_none(_last(before_end, "after_balance")),
            totals=_in_range_totals(in_range),
        )
        .values_list("opening", "closing", "totals")
        .first()
    )
    opening, closing, totals = row if row is not None else (0, 0, None)
    totals = totals or {}  # no entry in the range: no group, no row
    credits, debits, count = totals.get("credits") or 0, totals.get("debits") or 0, totals.get("count") or 0
    return Statement(
        currency=currency, start=start, end=end, opening_balance=int(opening), closing_balance=int(closing),
        total_credits=int(credits), total_debits=int(debits), entry_count=int(count),
        # (created_at, sequence) is total within one wallet (its sequences are unique) and is the
        # index's own order read backwards: no sort, and deep pages as a deferred join.
        entries=deferred_pages(in_range.order_by("created_at", "sequence")),
    )
