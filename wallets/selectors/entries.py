"""Reads of ledger entries and wallets as the API shows them, beyond Dodo's fields.

- An entry's ``reversed_total`` (the sum of its reversals) and ``grant_expired`` (what of its
  grant expired) are annotations: a page of entries costs one query, whatever its size.
- A wallet's ``expiring`` list is its next ``EXPIRING_SHOWN`` active grants (remaining > 0, not yet
  due), soonest first: one query for every wallet of a customer (a window function ranks the grants
  per currency).
- Every read is scoped to a business and a customer: another's entry is ``EntryNotFound``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, F, OuterRef, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from wallets.exceptions import EntryNotFound
from wallets.models import CreditGrant, LedgerEntry, Wallet

EXPIRING_SHOWN = 5


def with_entry_extensions(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    """``entries`` annotated with ``reversed_total`` and ``grant_expired`` (subqueries, not per row)."""
    reversed_total = (
        LedgerEntry.objects.filter(reversal_of=OuterRef("pk"))
        .order_by()
        .values("reversal_of")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    # (The grant's primary key is its entry: at most one row, no ORDER BY needed to pick it.)
    grant_expired = CreditGrant.objects.filter(entry=OuterRef("pk")).order_by().values("expired_amount")[:1]
    return entries.annotate(
        reversed_total=Coalesce(Subquery(reversed_total, output_field=BigIntegerField()), 0,
                                output_field=BigIntegerField()),
        grant_expired=Subquery(grant_expired, output_field=BigIntegerField()),
    )


def ledger_entry_get(*, business_id: str, customer_id: str, entry_id: str) -> LedgerEntry:
    entry = with_entry_extensions(
        LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, pk=entry_id)
    ).first()
    if entry is None:
        raise EntryNotFound()
    return entry


@dataclass(frozen=True, slots=True)
class WalletView:
    """A wallet as the API renders it (Dodo's fields and the extensions)."""

    customer_id: str
    currency: str
    balance: int
    held_balance: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    expiring: list[dict] = field(default_factory=list)

    @property
    def available_balance(self) -> int:
        return max(self.balance - self.held_balance, 0)


def _expiring_by_currency(
    *, business_id: str, customer_id: str, currencies: Iterable[str] | None = None
) -> dict[str, list[dict]]:
    now = timezone.now()
    grants = CreditGrant.objects.filter(
        business_id=business_id, customer_id=customer_id, remaining__gt=0, expires_at__gt=now
    )
    if currencies is not None:
        grants = grants.filter(currency__in=list(currencies))
    ranked = (
        grants.annotate(rank=Window(RowNumber(), partition_by=[F("currency")],
                                    order_by=[F("expires_at").asc(), F("entry_id").asc()]))
        .filter(rank__lte=EXPIRING_SHOWN)
        .order_by("currency", "expires_at", "entry_id")
        .values_list("currency", "remaining", "expires_at")
    )
    out: dict[str, list[dict]] = {}
    for currency, remaining, expires_at in ranked:
        out.setdefault(currency, []).append({"amount": remaining, "expires_at": expires_at})
    return out


def wallet_views(*, business_id: str, customer_id: str, wallets: Iterable[Wallet]) -> list[WalletView]:
    """The customer's wallets with their extensions: one query for every wallet's ``expiring``."""
    wallets = list(wallets)
    expiring = _expiring_by_currency(business_id=business_id, customer_id=customer_id) if wallets else {}
    return [
        WalletView(w.customer_id, w.currency, w.balance, w.held_balance, w.created_at, w.updated_at,
                   expiring.get(w.currency, []))
        for w in wallets
    ]


def wallet_view_after(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    balance: int,
    held: int,
    created_at: datetime.datetime,
    updated_at: datetime.datetime,
    granted: int | None = None,
) -> WalletView:
    """One wallet as an operation left it (the balance and held amount the engine answered). With
    ``granted`` 0 (the engine says the wallet has no active grant) nothing is read."""
    expiring = {} if granted == 0 else _expiring_by_currency(business_id=business_id, customer_id=customer_id,
                                                              currencies=[currency])
    return WalletView(customer_id, currency, balance, held, created_at, updated_at, expiring.get(currency, []))


def wallet_view_of(*, business_id: str, wallet) -> WalletView:
    """An engine result's wallet (``wallets.ledger.Result.wallet``) as the API renders wallets."""
    return wallet_view_after(
        business_id=business_id, customer_id=wallet.customer_id, currency=wallet.currency, balance=wallet.balance,
        held=wallet.held, created_at=wallet.created_at, updated_at=wallet.updated_at, granted=wallet.granted,
    )
