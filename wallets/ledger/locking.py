"""Locking wallets for a posting, and reading what the rules need under the lock.

The rule, for every row lock in the project (checked by tests/ledger/test_locking_rule.py):
- lock with ``FOR NO KEY UPDATE`` (``select_for_update(no_key=True)``): nothing that posts changes a
  key, and the weaker lock lets concurrent inserts that reference the row (an entry's foreign key
  takes ``FOR KEY SHARE``) go on;
- one wallet, or many in ascending id order, so two transactions that lock overlapping sets cannot
  deadlock;
- locks are taken inside the posting's short transaction, after every check that needs no lock,
  and nothing slow (network, files, another service) happens while they are held.

SQLite has no row locks: its writers are serialised by the database lock, which every transaction
takes at BEGIN (``transaction_mode: IMMEDIATE`` in settings), so the same code is correct there.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from wallets.ledger import sql
from wallets.ledger.machine import Hints
from wallets.ledger.rules import Body, WalletState
from wallets.models import Customer, LedgerEntry, Wallet

_CHUNK = 2000
NO_HINTS = Hints(0, 0, None, None)


@dataclass(frozen=True, slots=True)
class Alerts:
    """What a locked wallet's webhook events need; a wallet has them only when its business has an
    enabled webhook endpoint (without one, a posting writes no event)."""

    #: The business's low-balance threshold for the wallet's currency (minor units; or the default).
    low_balance_below: int


@dataclass(frozen=True, slots=True)
class LockedWallet:
    id: str
    state: WalletState
    created_at: datetime.datetime
    #: The wallet row's hold and grant counters and expiry hints (see ``Wallet``).
    hints: Hints = NO_HINTS
    #: The idempotency key's earlier entry for this customer (any currency), when there is one.
    prior: LedgerEntry | None = None
    #: The wallet's ``updated_at``: its last entry's time (or its creation).
    last_entry_at: datetime.datetime | None = None
    #: Set when the business has webhooks: the step's events are written with its entries.
    alerts: Alerts | None = None
    #: The posting API key's state (``sql.KEY_STATE_*``), read in the lock statement (``lock_wallet``
    #: with an ``api_key_id``); ``None`` without a key, or for a key that no longer exists.
    key_state: str | None = None
    #: The wallet's business: every statement about the wallet's rows filters on it too (one shard).
    business_id: str = field(kw_only=True)

    def clock(self, now: datetime.datetime) -> datetime.datetime:
        """The time of a new entry: ``now``, but never before the wallet's last entry (another app
        server's clock may run behind), so that a wallet's entries never go back in time and a
        statement's opening + credits - debits is its closing."""
        return now if self.last_entry_at is None or now >= self.last_entry_at else self.last_entry_at

    @property
    def prior_body(self) -> Body | None:
        p = self.prior
        return None if p is None else Body(p.currency, p.amount, p.is_credit, p.reason,
                                           kind(p.event_type, p.reference_object_id, p.expires_at))


def lock_wallet(
    conn: BaseDatabaseWrapper, *, business_id: str, customer_id: str, currency: str, idempotency_key: str | None,
    api_key_id: str | None = None,
) -> LockedWallet | None:
    """Lock one wallet; with an idempotency key, the same statement finds the key's earlier entry, and
    with an ``api_key_id`` the API key's state. ``None`` when the wallet does not exist yet."""
    statements = sql.statements(conn.vendor)
    with conn.cursor() as cursor:
        if idempotency_key is None:
            cursor.execute(statements.lock, [api_key_id, business_id, customer_id, currency])
        else:
            cursor.execute(statements.lock_with_key, [api_key_id, idempotency_key, business_id, customer_id, currency])
        row = cursor.fetchone()
    if row is None:
        return None
    wallet_id, balance, entry_count, created_at, held, granted, next_grant, next_hold, updated_at, *rest = row
    webhooks, low_below, key_state, *prior = rest
    entry = None
    if prior and prior[0] is not None:
        row_of = dict(zip(sql.PRIOR_COLUMNS, prior, strict=True))
        row_of["is_credit"] = bool(row_of["is_credit"])
        for name in ("created_at", "expires_at"):
            row_of[name] = None if row_of[name] is None else _datetime(conn, row_of[name])
        entry = LedgerEntry.from_db(conn.alias, list(_prior_attnames()), [row_of[name] for name in sql.PRIOR_COLUMNS])
    return LockedWallet(
        wallet_id,
        WalletState(balance, entry_count),
        _datetime(conn, created_at),
        _hints(conn, held, granted, next_grant, next_hold),
        entry,
        _datetime(conn, updated_at),
        _alerts(webhooks, low_below, currency),
        key_state,
        business_id=business_id,
    )


def api_key_state(conn: BaseDatabaseWrapper, *, business_id: str, api_key_id: str) -> str | None:
    """An API key's state (``sql.KEY_STATE_*``; ``None``: no such key of the business), for a posting
    that has no wallet row to lock yet."""
    with conn.cursor() as cursor:
        cursor.execute(sql.statements(conn.vendor).key_state, [api_key_id, business_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def lock_wallets(
    conn: BaseDatabaseWrapper, *, business_id: str, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], LockedWallet]:
    """Lock the existing wallets of these ``(customer_id, currency)`` pairs, in ascending id order,
    in one statement (one ``ORDER BY`` over the whole set: chunks would lock out of order)."""
    statements = sql.statements(conn.vendor)
    found: dict[tuple[str, str], LockedWallet] = {}
    with conn.cursor() as cursor:
        cursor.execute(statements.lock_many, sql.pair_params(conn.vendor, sorted(set(pairs)), business_id))
        for (
            customer_id,
            currency,
            wallet_id,
            balance,
            entry_count,
            created_at,
            held,
            granted,
            next_grant,
            next_hold,
            updated_at,
            webhooks,
            low_below,
        ) in cursor.fetchall():
            found[(customer_id, currency)] = LockedWallet(
                wallet_id,
                WalletState(balance, entry_count),
                _datetime(conn, created_at),
                _hints(conn, held, granted, next_grant, next_hold),
                last_entry_at=_datetime(conn, updated_at),
                alerts=_alerts(webhooks, low_below, currency),
                business_id=business_id,
            )
    return found


def used_keys(
    conn: BaseDatabaseWrapper, *, business_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Body]:
    """The bodies of ``(customer_id, idempotency_key)`` pairs already in the ledger. Keys are final
    (entries never change), so this read needs no lock."""
    statements = sql.statements(conn.vendor)
    used: dict[tuple[str, str], Body] = {}
    for chunk in _chunks(sorted(set(keys)), _CHUNK):
        with conn.cursor() as cursor:
            cursor.execute(statements.used_keys, sql.pair_params(conn.vendor, chunk, business_id))
            for row in cursor.fetchall():
                customer_id, key, currency, amount, is_credit, reason, event_type, reference, expires = row
                expires_at = None if expires is None else _datetime(conn, expires)
                used[(customer_id, key)] = Body(currency, amount, bool(is_credit), reason,
                                                kind(event_type, reference, expires_at))
    return used


def create_wallets(*, business_id: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Create empty wallets (in a fixed order; one made concurrently by another transaction is left
    as it is). They are invisible to others until commit, so locking them next cannot deadlock."""
    new = [Wallet(business_id=business_id, customer_id=c, currency=cur) for c, cur in sorted(set(pairs))]
    Wallet.objects.bulk_create(new, ignore_conflicts=True)


def customers_found(*, business_id: str, customer_ids: set[str]) -> set[str]:
    return set(Customer.objects.filter(business_id=business_id, id__in=customer_ids).values_list("id", flat=True))


def _prior_attnames() -> Iterator[str]:
    return (sql.column(LedgerEntry, name) for name in sql.PRIOR_COLUMNS)  # no foreign keys: column = attname


def kind(event_type: str, reference_object_id: str | None, expires_at: datetime.datetime | None) -> tuple:
    """``Body.kind`` of an entry: empty for a plain adjustment (as every entry was before the extensions)."""
    if (event_type, reference_object_id, expires_at) == (LedgerEntry.EventType.MERCHANT_ADJUSTMENT, None, None):
        return ()
    return (event_type, reference_object_id, None if expires_at is None else expires_at.astimezone(datetime.UTC))


def _alerts(webhooks: Any, low_balance_below: int | None, currency: str) -> Alerts | None:
    if not webhooks:
        return None
    from wallets.selectors import low_balance_default  # the selectors import the ledger

    return Alerts(low_balance_default(currency) if low_balance_below is None else low_balance_below)


def _hints(conn: BaseDatabaseWrapper, held: int, granted: int, next_grant: Any, next_hold: Any) -> Hints:
    return Hints(
        held,
        granted,
        None if next_grant is None else _datetime(conn, next_grant),
        None if next_hold is None else _datetime(conn, next_hold),
    )


def _datetime(conn: BaseDatabaseWrapper, value: Any) -> datetime.datetime:
    """A timestamp read by a raw cursor, as the ORM would return it (SQLite returns text)."""
    if conn.vendor == "sqlite":
        converted: datetime.datetime = conn.ops.convert_datetimefield_value(value, None, conn)  # type: ignore[attr-defined]
        return converted
    return value


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
