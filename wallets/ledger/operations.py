"""The movements beyond a plain credit or debit: reversals, payments from the wallet, holds, and the
expiry sweep. Each is one short durable transaction with the steps of ``posting.post``: lock the
wallet, read what the machine needs (``effects.load``), run one step (``machine.run``), write its
effects (``effects.write``). A refusal raises a ``WalletError`` and writes nothing.

Idempotency: a reversal's key is scoped per customer among reversals; a hold's among holds; a
payment is once per customer, currency and ``reference_object_id``. The same body replays the
first answer, another body is ``IdempotencyKeyReused``; concurrent requests with one key are
serialised by the wallet lock (and a unique constraint, then one retry, where no wallet exists yet).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError
from django.db.models import Q, Sum
from django.utils import timezone

from wallets import ids
from wallets.exceptions import (
    CustomerNotFound,
    EntryNotFound,
    HoldNotFound,
    IdempotencyKeyReused,
    InsufficientFunds,
)
from wallets.ledger import effects, locking, machine, sql
from wallets.ledger.posting import _check_customers, _holds_known, _with_retry, raise_if_refused
from wallets.models import CreditGrant, Hold, LedgerEntry, Wallet, WalletPayment
from wallets.services.actors import Actor

ET = LedgerEntry.EventType
#: The event type of an entry's reversal.
REVERSAL_TYPES: dict[str, str] = {
    ET.PAYMENT: ET.PAYMENT_REVERSAL,
    ET.REFUND: ET.REFUND_REVERSAL,
    ET.DISPUTE: ET.DISPUTE_REVERSAL,
    ET.MERCHANT_ADJUSTMENT: ET.MERCHANT_ADJUSTMENT,
}


@dataclass(frozen=True, slots=True)
class WalletAfter:
    """A wallet as an operation left it."""

    customer_id: str
    currency: str
    balance: int
    held: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    #: Unspent expiring credit in the balance (0: no active grant; None: not known, e.g. a replay).
    granted: int | None = None

    @property
    def available(self) -> int:
        return max(self.balance - self.held, 0)


@dataclass(frozen=True, slots=True)
class Result:
    wallet: WalletAfter
    replayed: bool = False
    entry: LedgerEntry | None = None
    hold: Hold | None = None
    payment: WalletPayment | None = None


def _durable[**P, T](operation: Callable[P, T]) -> Callable[P, T]:
    """``operation`` in its own durable transaction; one that lost a race to a unique constraint
    (a key, a reference, a new wallet) runs once more, and then replays or refuses the winner."""

    @functools.wraps(operation)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return _with_retry(lambda: operation(*args, **kwargs), retry_on=(IntegrityError,))

    return run


def _lock(business_id: str, customer_id: str, currency: str) -> locking.LockedWallet | None:
    return locking.lock_wallet(
        sql.connection(), business_id=business_id, customer_id=customer_id, currency=currency, idempotency_key=None
    )


def _after(
    locked: locking.LockedWallet, customer_id: str, currency: str, state: machine.WalletState, now: datetime.datetime
) -> WalletAfter:
    return WalletAfter(customer_id, currency, state.balance, state.held, locked.created_at, now, state.granted)


def _apply(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    locked: locking.LockedWallet,
    step: machine.Step,
    values: dict[str, Any] | None,
    now: datetime.datetime,
    state: machine.WalletState,
    new_holds: dict[str, dict[str, Any]] | None = None,
) -> effects.Written:
    ((written,),) = effects.write(
        sql.connection(),
        business_id=business_id,
        now=now,
        wallets=[
            effects.WalletWrite(
                customer_id,
                currency,
                locked,
                [step],
                [lambda move: values or {}],
                holds_known=_holds_known(locked, state),
                new_holds=new_holds or {},
            )
        ],
    )
    return written


# --- Reversals --------------------------------------------------------------------------------


def reverse_in_transaction(
    *,
    business_id: str,
    customer_id: str,
    entry_id: str,
    actor: Actor,
    amount: int | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
    metadata: dict | None = None,
) -> Result:
    original = LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, pk=entry_id).first()
    if original is None:
        raise EntryNotFound()
    locked = _lock(business_id, customer_id, original.currency)
    assert locked is not None  # the entry's wallet exists
    if idempotency_key is not None:
        prior = LedgerEntry.objects.filter(
            business_id=business_id, customer_id=customer_id, idempotency_key=idempotency_key, reversal_of__isnull=False
        ).first()
        if prior is not None:
            if (prior.reversal_of_id, prior.reason) != (entry_id, reason) or amount not in (None, prior.amount):
                raise IdempotencyKeyReused()
            return Result(
                WalletAfter(
                    customer_id,
                    prior.currency,
                    prior.after_balance,
                    locked.hints.held,
                    locked.created_at,
                    prior.created_at,
                ),
                replayed=True,
                entry=prior,
            )
    reversed_total = (LedgerEntry.objects.filter(business_id=business_id, reversal_of_id=entry_id)
                      .aggregate(t=Sum("amount"))["t"] or 0)
    grant = (CreditGrant.objects.filter(business_id=business_id, pk=entry_id).first()
             if original.expires_at is not None else None)
    draws = () if original.is_credit else effects.net_draws(entry_id)
    target = machine.Original(
        original.id,
        original.amount,
        original.is_credit,
        reversible=original.reversal_of_id is None and original.expired_grant_id is None,
        reversed=reversed_total,
        expired=grant.expired_amount if grant else 0,
        is_grant=grant is not None,
        draws=draws,
    )
    now = timezone.now() if locked is None else locked.clock(timezone.now())
    grant_ids = [g for g, _ in draws] + ([entry_id] if grant else [])
    state = effects.load(locked, now, grant_ids=grant_ids)
    new_id = ids.ledger_entry_id()
    step = machine.run(state, machine.Reverse(target, amount, new_id), now)
    raise_if_refused(step, original.currency, amount if amount is not None else step.applied or None, "reversal")
    values: dict[str, Any] = {
        "id": new_id,
        "actor": actor,
        "event_type": REVERSAL_TYPES.get(original.event_type, ET.MERCHANT_ADJUSTMENT),
        "reason": reason,
        "reference_object_id": original.reference_object_id,
        "idempotency_key": idempotency_key,
        "metadata": metadata,
        "reversal_of_id": entry_id,
    }
    wallet = _after(locked, customer_id, original.currency, step.state, now)
    written = _apply(
        business_id=business_id,
        customer_id=customer_id,
        currency=original.currency,
        locked=locked,
        step=step,
        values=values,
        now=now,
        state=state,
    )
    return Result(wallet, entry=written.main)


#: Reverse ``amount`` (default: what is left) of one entry, in the opposite direction in the same
#: wallet, linked to it (``reverse_in_transaction`` in its own durable transaction).
reverse = _durable(reverse_in_transaction)


# --- Paying from the wallet -------------------------------------------------------------------


@_durable
def pay(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    reference_object_id: str,
    actor: Actor,
    reason: str | None = None,
    metadata: dict | None = None,
) -> Result:
    """Debit ``min(amount, available)`` as a ``payment`` entry, once per customer, currency and reference."""
    reference = reference_object_id
    locked = _lock(business_id, customer_id, currency)
    if locked is None:
        _check_customers(business_id, {customer_id})
    prior = (
        WalletPayment.objects.filter(
            business_id=business_id, customer_id=customer_id, currency=currency, reference_object_id=reference
        )
        .select_related("entry")
        .first()
    )
    if prior is not None:
        if (prior.requested, prior.reason) != (amount, reason):
            raise IdempotencyKeyReused("This reference_object_id was already paid with a different request body.")
        at = prior.entry.created_at if prior.entry else prior.created_at
        created = prior.wallet_created_at or prior.created_at
        return Result(
            WalletAfter(customer_id, currency, prior.balance_after, prior.held_after, created, at),
            replayed=True,
            entry=prior.entry,
            payment=prior,
        )
    now = timezone.now() if locked is None else locked.clock(timezone.now())
    if locked is None:
        state = machine.WalletState()
        wallet = WalletAfter(customer_id, currency, 0, 0, now, now)
        entry = None
        applied = 0
    else:
        state = effects.load(locked, now)
        new_id = ids.ledger_entry_id()
        step = machine.run(state, machine.Pay(amount, new_id), now)
        raise_if_refused(step, currency, amount)
        applied = step.applied
        values: dict[str, Any] = {
            "id": new_id,
            "actor": actor,
            "event_type": ET.PAYMENT,
            "reason": reason,
            "reference_object_id": reference,
            "metadata": metadata,
        }
        written = _apply(
            business_id=business_id,
            customer_id=customer_id,
            currency=currency,
            locked=locked,
            step=step,
            values=values,
            now=now,
            state=state,
        )
        entry = written.main
        wallet = _after(locked, customer_id, currency, step.state, now)
    payment = WalletPayment.objects.create(
        business_id=business_id,
        customer_id=customer_id,
        currency=currency,
        reference_object_id=reference,
        requested=amount,
        applied=applied,
        reason=reason,
        entry=entry,
        balance_after=wallet.balance,
        held_after=wallet.held,
        wallet_created_at=wallet.created_at,
        created_at=now,
    )
    return Result(wallet, entry=entry, payment=payment)


# --- Holds ------------------------------------------------------------------------------------


def create_hold_in_transaction(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    actor: Actor,
    expires_at: datetime.datetime,
    reference_object_id: str | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
    expiry_given: bool = True,
) -> Result:
    """Reserve ``amount`` of the available balance until ``expires_at``. ``expiry_given`` False: the
    caller chose ``expires_at`` as its default, and a replay with a key does not compare it."""
    reference, key = reference_object_id, idempotency_key
    locked = _lock(business_id, customer_id, currency)
    if locked is None:
        _check_customers(business_id, {customer_id})
    if key is not None:
        prior = Hold.objects.filter(business_id=business_id, customer_id=customer_id, idempotency_key=key).first()
        if prior is not None:
            same = (prior.currency, prior.amount, prior.reference_object_id, prior.reason) == (
                currency, amount, reference, reason)
            if not same or (expiry_given and prior.expires_at != expires_at):
                raise IdempotencyKeyReused()
            wallet = Wallet.objects.get(business_id=business_id, pk=prior.wallet_id)
            return Result(
                WalletAfter(
                    customer_id, currency, wallet.balance, wallet.held_balance, wallet.created_at, wallet.updated_at
                ),
                replayed=True,
                hold=prior,
            )
    if locked is None:
        raise InsufficientFunds(
            f"Insufficient wallet funds: the available {currency} balance is 0, the hold is {amount}."
        )
    now = timezone.now() if locked is None else locked.clock(timezone.now())
    state = effects.load(locked, now)
    hold_id = ids.hold_id()
    step = machine.run(state, machine.CreateHold(hold_id, amount, expires_at), now)
    raise_if_refused(step, currency, amount, "hold")
    new = {
        hold_id: {
            "reference_object_id": reference,
            "reason": reason,
            "idempotency_key": key,
            "actor_type": actor.type,
            "actor_id": actor.id,
        }
    }
    _apply(
        business_id=business_id,
        customer_id=customer_id,
        currency=currency,
        locked=locked,
        step=step,
        values=None,
        now=now,
        state=state,
        new_holds=new,
    )
    hold = Hold.objects.get(business_id=business_id, pk=hold_id)
    return Result(_after(locked, customer_id, currency, step.state, now), hold=hold)


#: ``create_hold_in_transaction`` in its own durable transaction (the API's and the dashboard's holds).
create_hold = _durable(create_hold_in_transaction)


def capture_hold_in_transaction(
    *,
    business_id: str,
    customer_id: str,
    hold_id: str,
    actor: Actor,
    amount: int | None = None,
    reason: str | None = None,
    event_type: str = ET.PAYMENT,
) -> Result:
    """Debit up to the held amount (default: all of it) as an ``event_type`` entry (a ``payment``
    unless the caller says otherwise: an approved adjustment is a ``merchant_adjustment``) and
    release the rest."""
    return _resolve(
        business_id=business_id,
        customer_id=customer_id,
        hold_id=hold_id,
        actor=actor,
        amount=amount,
        reason=reason,
        capture=True,
        event_type=event_type,
    )


#: ``capture_hold_in_transaction`` in its own durable transaction.
capture_hold = _durable(capture_hold_in_transaction)


def void_hold_in_transaction(*, business_id: str, customer_id: str, hold_id: str, actor: Actor) -> Result:
    """Release all of a hold."""
    return _resolve(
        business_id=business_id,
        customer_id=customer_id,
        hold_id=hold_id,
        actor=actor,
        amount=None,
        reason=None,
        capture=False,
    )


#: ``void_hold_in_transaction`` in its own durable transaction.
void_hold = _durable(void_hold_in_transaction)


def _resolve(
    *,
    business_id: str,
    customer_id: str,
    hold_id: str,
    actor: Actor,
    amount: int | None,
    reason: str | None,
    capture: bool,
    event_type: str = ET.PAYMENT,
) -> Result:
    hold = Hold.objects.filter(business_id=business_id, customer_id=customer_id, pk=hold_id).first()
    if hold is None:
        raise HoldNotFound()
    locked = _lock(business_id, customer_id, hold.currency)
    assert locked is not None
    now = timezone.now() if locked is None else locked.clock(timezone.now())
    state = effects.load(locked, now, all_holds=True)
    new_id = ids.ledger_entry_id()
    op: machine.Op = machine.Capture(hold_id, amount, new_id) if capture else machine.Void(hold_id)
    step = machine.run(state, op, now)
    raise_if_refused(step, hold.currency, amount, "capture")
    values: dict[str, Any] = {
        "id": new_id,
        "actor": actor,
        "event_type": event_type,
        "reason": reason or hold.reason,
        "reference_object_id": hold.reference_object_id,
    }
    written = _apply(
        business_id=business_id,
        customer_id=customer_id,
        currency=hold.currency,
        locked=locked,
        step=step,
        values=values,
        now=now,
        state=state,
    )
    hold = Hold.objects.get(business_id=business_id, pk=hold_id)  # as the step left it
    return Result(_after(locked, customer_id, hold.currency, step.state, now), entry=written.main, hold=hold)


# --- Expiry -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepResult:
    wallets: int = 0
    grants_expired: int = 0
    holds_expired: int = 0


def sweep_due(*, now: datetime.datetime | None = None, limit: int = 500) -> SweepResult:
    """Expire what is due (grants' remainders, holds past their expiry) in up to ``limit`` wallets,
    each in its own short transaction. Safe to run at any time, concurrently with itself and with
    postings (each wallet is locked; a wallet already swept has nothing due)."""
    now = now or timezone.now()
    wallet_ids = list(
        Wallet.objects.filter(Q(next_grant_expiry_at__lte=now) | Q(next_hold_expiry_at__lte=now))
        .order_by("id")
        .values_list("id", "business_id", "customer_id", "currency")[:limit]
    )
    grants = holds = 0
    for _, business_id, customer_id, currency in wallet_ids:
        g, h = _sweep_wallet(business_id, customer_id, currency, now)
        grants += g
        holds += h
    return SweepResult(len(wallet_ids), grants, holds)


def sweep_wallet(
    *, business_id: str, customer_id: str, currency: str, now: datetime.datetime | None = None
) -> SweepResult:
    """Expire what is due in one wallet."""
    at = now or timezone.now()
    g, h = _sweep_wallet(business_id, customer_id, currency, at)
    return SweepResult(1, g, h)


@_durable
def _sweep_wallet(business_id: str, customer_id: str, currency: str, now: datetime.datetime) -> tuple[int, int]:
    locked = _lock(business_id, customer_id, currency)
    if locked is None:
        raise CustomerNotFound()
    now = locked.clock(now)
    state = effects.load(locked, now, all_holds=True)
    step = machine.run(state, machine.Sweep(), now)
    _apply(
        business_id=business_id,
        customer_id=customer_id,
        currency=currency,
        locked=locked,
        step=step,
        values=None,
        now=now,
        state=state,
    )
    expired_holds = sum(1 for h in step.holds if h.status == Hold.Status.EXPIRED)
    return sum(1 for m in step.moves if m.kind is machine.Kind.EXPIRY), expired_holds
