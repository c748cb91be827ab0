"""Posting credits and debits: the one writer of balances and ledger entries.

Locking rule: a posting locks exactly one wallet row (``SELECT … FOR NO KEY UPDATE``) and holds it
only for the statements that need it: check the idempotency key, check the balance, insert
the entry, update the balance, commit. Work that touches several wallets locks them in
ascending wallet id order (see ``bulk``), so two such transactions cannot deadlock.

Idempotency keys are scoped to the customer and kept forever. Under the wallet lock a key
that is already used either replays (same amount, currency, direction, reason) or is refused.
Two requests with one key in *different* currencies lock different wallets; the unique
constraint ``ledger_entry_idempotency_key_per_customer`` stops the second, which then retries
once and sees the first.
"""

import datetime
import functools
from dataclasses import dataclass

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Subquery
from django.utils import timezone

from wallets.exceptions import BalanceOverflow, CustomerNotFound, IdempotencyKeyReused, InsufficientFunds
from wallets.models import Customer, LedgerEntry, Wallet
from wallets.money import INT64_MAX
from wallets.services.actors import Actor

_WALLET_FIELDS = ("id", "balance", "entry_count", "created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class PostingResult:
    """The wallet right after the entry (what the API returns) and the entry itself."""

    customer_id: str
    currency: str
    balance: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    entry: LedgerEntry
    replayed: bool


def ledger_entry_post(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    is_credit: bool,
    actor: Actor,
    reason: str | None = None,
    idempotency_key: str | None = None,
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
    reference_object_id: str | None = None,
) -> PostingResult:
    """Credit or debit one wallet. Raises a ``WalletError`` and writes nothing on refusal."""
    args = dict(
        business_id=business_id, customer_id=customer_id, currency=currency, amount=amount,
        is_credit=is_credit, actor=actor, reason=reason, idempotency_key=idempotency_key,
        event_type=event_type, reference_object_id=reference_object_id,
    )
    for attempt in (1, 2):
        try:
            with transaction.atomic(durable=True):
                return ledger_entry_post_in_transaction(**args)
        except IntegrityError:
            # With a key: another transaction committed this key first (in another currency's
            # wallet); the second attempt replays or refuses it.
            if idempotency_key is None or attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def ledger_entry_post_in_transaction(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    is_credit: bool,
    actor: Actor,
    reason: str | None = None,
    idempotency_key: str | None = None,
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
    reference_object_id: str | None = None,
) -> PostingResult:
    """The posting itself, for services that already hold a transaction (``atomic``) and need the
    posting to commit or roll back with their own writes. Locks the wallet row."""
    if amount <= 0:
        raise ValueError("amount must be positive")  # callers validate; this is a programming error
    wallet = _lock_wallet(business_id, customer_id, currency, idempotency_key)
    if wallet is None:
        wallet = _create_and_lock_wallet(business_id, customer_id, currency, idempotency_key)

    if idempotency_key is not None and wallet.prior_entry_id is not None:
        prior = LedgerEntry.objects.filter(pk=wallet.prior_entry_id).only(
            "currency", "amount", "is_credit", "reason", "after_balance", "created_at"
        ).first()
        if prior is not None:
            if (prior.currency, prior.amount, prior.is_credit, prior.reason) != (
                currency, amount, is_credit, reason,
            ):
                raise IdempotencyKeyReused()
            return PostingResult(
                customer_id=customer_id, currency=currency, balance=prior.after_balance,
                created_at=wallet.created_at, updated_at=prior.created_at, entry=prior, replayed=True,
            )

    before = wallet.balance
    if is_credit:
        if before > INT64_MAX - amount:
            raise BalanceOverflow()
        after = before + amount
    else:
        if amount > before:
            raise InsufficientFunds(
                f"Insufficient wallet funds: the {currency} balance is {before}, the debit is {amount}."
            )
        after = before - amount

    now = timezone.now()
    sequence = wallet.entry_count + 1
    entry = LedgerEntry(
        business_id=business_id, customer_id=customer_id, wallet_id=wallet.id, currency=currency,
        sequence=sequence, amount=amount, is_credit=is_credit, event_type=event_type, reason=reason,
        reference_object_id=reference_object_id, idempotency_key=idempotency_key,
        before_balance=before, after_balance=after, actor_type=actor.type, actor_id=actor.id,
        created_at=now,
    )
    _write_entry_and_balance(entry, wallet_id=wallet.id, balance=after, entry_count=sequence, updated_at=now)
    return PostingResult(
        customer_id=customer_id, currency=currency, balance=after, created_at=wallet.created_at,
        updated_at=now, entry=entry, replayed=False,
    )


def _write_entry_and_balance(
    entry: LedgerEntry, *, wallet_id: str, balance: int, entry_count: int, updated_at: datetime.datetime
) -> None:
    """The two writes under the wallet lock, as the ORM would send them (same SQL, same prepared
    values) but from statements built once: ``save()`` and ``update()`` compile their SQL on every
    call, and every microsecond here is spent holding the row lock that a hot wallet queues on."""
    connection = connections[router.db_for_write(LedgerEntry)]
    insert_sql, insert_fields, update_sql = _write_statements(connection.vendor, connection.ops.quote_name)
    with connection.cursor() as cursor:
        cursor.execute(insert_sql, [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in insert_fields])
        cursor.execute(update_sql, [
            balance, entry_count, Wallet._meta.get_field("updated_at").get_db_prep_save(updated_at, connection),
            wallet_id,
        ])
    entry._state.adding = False
    entry._state.db = connection.alias


@functools.cache
def _write_statements(vendor: str, quote_name) -> tuple[str, list, str]:
    # Identifiers come from the models' metadata (quoted); every value is a parameter.
    fields = list(LedgerEntry._meta.concrete_fields)
    insert_sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote_name(LedgerEntry._meta.db_table), ", ".join(quote_name(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    wallet = Wallet._meta
    update_sql = "UPDATE {} SET {} = %s, {} = %s, {} = %s WHERE {} = %s".format(  # noqa: S608
        quote_name(wallet.db_table), *(quote_name(wallet.get_field(name).column)
                                       for name in ("balance", "entry_count", "updated_at", "id")),
    )
    return insert_sql, fields, update_sql


def _lock_wallet(business_id: str, customer_id: str, currency: str, idempotency_key: str | None) -> Wallet | None:
    """Lock the wallet row; with a key, the same statement also finds the key's earlier entry
    (``prior_entry_id``), so a posting with a key costs no extra round trip under the lock. The
    subquery reads the statement's snapshot: if a posting with the same key commits while this
    one waits for the lock, the insert below hits ``ledger_entry_idempotency_key_per_customer``
    and ``ledger_entry_post`` runs again, which then replays it."""
    wallets = (
        Wallet.objects.select_for_update(no_key=True)
        .filter(business_id=business_id, customer_id=customer_id, currency=currency)
        .only(*_WALLET_FIELDS)
    )
    if idempotency_key is not None:
        wallets = wallets.annotate(prior_entry_id=Subquery(
            LedgerEntry.objects.filter(
                business_id=business_id, customer_id=customer_id, idempotency_key=idempotency_key
            ).order_by().values("id")[:1]
        ))
    return wallets.first()


def _create_and_lock_wallet(business_id: str, customer_id: str, currency: str, idempotency_key: str | None) -> Wallet:
    """First posting in a currency: the wallet is created inside the posting transaction, so a
    refused posting rolls it back and creates nothing."""
    if not Customer.objects.filter(business_id=business_id, id=customer_id).exists():
        raise CustomerNotFound()
    Wallet.objects.bulk_create(
        [Wallet(business_id=business_id, customer_id=customer_id, currency=currency)], ignore_conflicts=True
    )
    wallet = _lock_wallet(business_id, customer_id, currency, idempotency_key)
    assert wallet is not None  # it exists now: created here or by a concurrent transaction
    return wallet
