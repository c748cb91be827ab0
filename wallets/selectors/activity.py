"""A wallet's last activity: the time of its last entry (the one whose ``sequence`` is the wallet's
``entry_count``), read through the ``(business, wallet, sequence)`` unique index. A wallet with no
entry has no activity (``None``), whatever its row's own times say."""

import datetime
import functools
import operator
from collections.abc import Iterable

from django.db.models import DateTimeField, OuterRef, Q, QuerySet, Subquery

from wallets.models import LedgerEntry, Wallet


def wallet_with_last_entry_at(wallets: QuerySet[Wallet]) -> QuerySet[Wallet]:
    """``wallets`` annotated with ``last_entry_at`` (one index probe per wallet read)."""
    last = LedgerEntry.objects.filter(
        business_id=OuterRef("business_id"), wallet_id=OuterRef("pk"), sequence=OuterRef("entry_count")
    ).values("created_at")[:1]
    return wallets.annotate(last_entry_at=Subquery(last, output_field=DateTimeField()))


def wallet_last_entry_times(*, business_id: str, wallets: Iterable[Wallet]) -> dict[str, datetime.datetime]:
    """``{wallet id: its last entry's time}`` for these wallets, in one query (none without entries)."""
    pairs = [Q(wallet_id=w.pk, sequence=w.entry_count) for w in wallets if w.entry_count]
    if not pairs:
        return {}
    rows = LedgerEntry.objects.filter(business_id=business_id).filter(functools.reduce(operator.or_, pairs))
    return dict(rows.values_list("wallet_id", "created_at"))
