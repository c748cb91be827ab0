"""Between the database and the machine: read what a step needs of a locked wallet, and write what
it decided.

``load`` reads a locked wallet's grants and holds only when the wallet row says it may have some
(``held_balance``, ``granted_balance`` and the expiry hints), so a posting on a wallet without holds
or grants reads nothing more than its lock statement. ``write`` writes a step's effects in the order
the database's constraints need: the wallet's counters lowered first (``held + granted <= balance``
must hold after every entry), then the entries (the chain trigger applies each to the wallet), the
grants, holds and draws, and the counters' final values last.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q, Sum

from wallets import ids
from wallets.ledger import locking, machine, sql
from wallets.models import CreditGrant, GrantDraw, Hold, LedgerEntry, Wallet, WebhookEvent
from wallets.services.actors import Actor
from wallets.webhooks import outbox

SYSTEM = Actor(LedgerEntry.ActorType.SYSTEM, "expiry")


def due(hints: machine.Hints, now: datetime.datetime) -> bool:
    """Something of the wallet may have expired."""
    return any(at is not None and at <= now for at in (hints.next_grant_expiry, hints.next_hold_expiry))


def load(
    wallet: locking.LockedWallet,
    now: datetime.datetime,
    *,
    all_holds: bool = False,
    grant_ids: Iterable[str] = (),
) -> machine.WalletState:
    """The machine's state of a locked wallet: its active grants when it has any (and ``grant_ids``,
    which a step may give money back to), its active holds when one may be due or ``all_holds``."""
    h = wallet.hints
    holds: tuple[machine.Hold, ...] = ()
    if h.held > 0 and (all_holds or (h.next_hold_expiry is not None and h.next_hold_expiry <= now)):
        holds = active_holds(wallet.business_id, wallet.id)
    # A hold released gives its grant money back: those grants are part of the state too.
    grant_ids = set(grant_ids) | {g for hold in holds for g, _ in hold.draws}
    grants: tuple[machine.Grant, ...] = ()
    if h.granted > 0 or grant_ids:
        wanted = Q(remaining__gt=0) | Q(entry_id__in=grant_ids) if grant_ids else Q(remaining__gt=0)
        rows = (CreditGrant.objects.filter(wanted, business_id=wallet.business_id, wallet_id=wallet.id)
                .order_by("expires_at", "entry_id")
                .values_list("entry_id", "expires_at", "remaining", "expired_amount", "amount", "reversed_amount"))
        grants = tuple(machine.Grant(*row) for row in rows)  # plain rows: no model instances to build
    return machine.WalletState(wallet.state.balance, wallet.state.entry_count, h.held, h.granted, grants, holds)


def active_holds(business_id: str, wallet_id: str) -> tuple[machine.Hold, ...]:
    rows = list(Hold.objects.filter(business_id=business_id, wallet_id=wallet_id, status=Hold.Status.ACTIVE)
                .order_by("expires_at", "id"))
    draws: dict[str, list[tuple[str, int]]] = defaultdict(list)
    net = (
        GrantDraw.objects.filter(business_id=business_id, grant__business_id=business_id,
                                 hold_id__in=[r.id for r in rows])
        .values("hold_id", "grant_id")
        .annotate(total=Sum("amount"))
        .order_by("hold_id", "grant__expires_at", "grant_id")
    )
    for row in net:
        if row["total"]:
            draws[row["hold_id"]].append((row["grant_id"], row["total"]))
    return tuple(machine.Hold(r.id, r.amount, r.expires_at, tuple(draws[r.id])) for r in rows)


def net_draws(entry_id: str) -> machine.Draws:
    """A debit's net draws per grant: its own and its reversals' (in the order it drew them)."""
    rows = GrantDraw.objects.filter(entry_id=entry_id).values_list("grant_id", "amount").order_by("id")
    order: list[str] = []
    totals: dict[str, int] = defaultdict(int)
    for grant_id, amount in rows:
        if grant_id not in totals:
            order.append(grant_id)
        totals[grant_id] += amount
    for grant_id, amount in GrantDraw.objects.filter(entry__reversal_of_id=entry_id).values_list("grant_id", "amount"):
        totals[grant_id] += amount
    return tuple((g, totals[g]) for g in order if totals[g] > 0)


@dataclass(slots=True)
class Written:
    """The entries a step wrote (as column values), in order; ``main`` is the operation's own."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    main_row: dict[str, Any] | None = None
    #: The main entry as a model instance, once built (a single posting builds it to insert it).
    built: LedgerEntry | None = None

    @property
    def main(self) -> LedgerEntry | None:
        if self.built is None and self.main_row is not None:
            self.built = _entry(self.main_row)
        return self.built

    @property
    def entries(self) -> list[LedgerEntry]:
        return [_entry(row) for row in self.rows]


#: Given a ``Move``, the main entry's own columns (event type, reason, actor, links …).
MainValues = Callable[[machine.Move], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class WalletWrite:
    """The accepted steps of one locked wallet, in order, and what their main entries need."""

    customer_id: str
    currency: str
    wallet: locking.LockedWallet
    steps: Sequence[machine.Step]
    #: Per step: the main entry's own columns (event type, reason, actor, links …).
    main_values: Sequence[MainValues]
    #: Every active hold of the wallet was in the steps' state (else the hold hint is kept).
    holds_known: bool
    #: The columns of holds the steps create (reference, reason, key, actor).
    new_holds: dict[str, dict[str, Any]] = field(default_factory=dict)


def write(
    conn: BaseDatabaseWrapper,
    *,
    business_id: str,
    wallets: Sequence[WalletWrite],
    now: datetime.datetime,
    chunk: int = 2000,
) -> list[list[Written]]:
    """Write the effects of accepted steps, wallet by wallet (in the order given): the entries of
    all wallets in as few statements as there are chunks of ``chunk``; grants, holds, draws and
    counters only where a step changed them."""
    rows: list[dict[str, Any]] = []
    draws: list[GrantDraw] = []
    out: list[list[Written]] = []
    finals = []
    for w in wallets:
        start = (w.wallet.hints.held, w.wallet.hints.granted)
        low = (min([start[0], *(s.low_held for s in w.steps)]), min([start[1], *(s.low_granted for s in w.steps)]))
        if low != start:
            Wallet.objects.filter(business_id=business_id, pk=w.wallet.id).update(held_balance=low[0],
                                                                                granted_balance=low[1])
        finals.append(low)
        per_wallet = []
        for step, values_for in zip(w.steps, w.main_values, strict=True):
            written = Written()
            for move in step.moves:
                if move.kind is machine.Kind.EXPIRY:
                    values: dict[str, Any] = {
                        "event_type": LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
                        "id": ids.ledger_entry_id(),
                        "reason": f"Expired credit {move.grant_id}",
                        "actor": SYSTEM,
                        "expired_grant_id": move.grant_id,
                    }
                else:
                    values = values_for(move)
                row = entry_row(business_id, w.customer_id, w.wallet.id, w.currency, move, now=now, **values)
                rows.append(row)
                written.rows.append(row)
                if move.kind is not machine.Kind.EXPIRY:
                    written.main_row = row
                draws += [
                    GrantDraw(business_id=business_id, grant_id=g, entry_id=row["id"], amount=a, created_at=now)
                    for g, a in move.draws
                ]
            for hold_id, grant_id, amount in step.hold_draws:
                draws.append(
                    GrantDraw(
                        business_id=business_id, grant_id=grant_id, hold_id=hold_id, amount=amount, created_at=now
                    )
                )
            per_wallet.append(written)
        out.append(per_wallet)
    events = _events(business_id, wallets, out, now)
    if len(rows) == 1:
        only = next(w for per_wallet in out for w in per_wallet if w.rows)
        entry = _entry(only.rows[0])
        if only.main_row is only.rows[0]:
            only.built = entry
        sql.insert_entry(conn, entry, events)
    else:
        for first in range(0, len(rows), chunk):
            sql.insert_rows(conn, rows[first : first + chunk])
        if events:
            sql.insert_events(conn, events)
    for w in wallets:
        _write_grants(business_id, w, now)
    for w in wallets:
        _write_holds(business_id, w, now)
    if draws:
        GrantDraw.objects.bulk_create(draws)
    for w, low in zip(wallets, finals, strict=True):
        _write_counters(business_id, w, low)
    if events:
        outbox.written()
    return out


def _events(
    business_id: str, wallets: Sequence[WalletWrite], out: list[list[Written]], now: datetime.datetime
) -> list[WebhookEvent]:
    """The webhook events of the steps, for the wallets whose business has an endpoint (written with
    the entries: ``sql.insert_entry`` / ``sql.insert_events``)."""
    events: list[WebhookEvent] = []
    for w, per_wallet in zip(wallets, out, strict=True):
        if w.wallet.alerts is None:
            continue
        holds = {hold.id: hold for step in w.steps for hold in step.holds}
        events += outbox.events_for(
            business_id=business_id,
            customer_id=w.customer_id,
            currency=w.currency,
            low_balance_below=w.wallet.alerts.low_balance_below,
            rows=[row for written in per_wallet for row in written.rows],
            holds=holds.values(),
            new_hold_ids=w.new_holds,
            now=now,
        )
    return events


def _entry(row: dict[str, Any]) -> LedgerEntry:
    entry = LedgerEntry(**row)
    entry._state.adding = False
    return entry


def _write_counters(business_id: str, w: WalletWrite, low: tuple[int, int]) -> None:
    old = w.wallet.hints
    final = w.steps[-1].state if w.steps else None
    if final is None:
        return
    new = machine.hints(final, holds_known=w.holds_known)
    next_hold = (
        new.next_hold_expiry
        if w.holds_known
        else _earliest(old.next_hold_expiry, *(h.expires_at for s in w.steps for h in s.holds if h.status == "active"))
    )
    changes: dict[str, Any] = {}
    if (new.held, new.granted) != low:
        changes.update(held_balance=new.held, granted_balance=new.granted)
    if new.next_grant_expiry != old.next_grant_expiry:
        changes["next_grant_expiry_at"] = new.next_grant_expiry
    if next_hold != old.next_hold_expiry:
        changes["next_hold_expiry_at"] = next_hold
    if changes:
        Wallet.objects.filter(business_id=business_id, pk=w.wallet.id).update(**changes)


def _earliest(*times: datetime.datetime | None) -> datetime.datetime | None:
    present = [t for t in times if t is not None]
    return min(present, default=None)


def _write_grants(business_id: str, w: WalletWrite, now: datetime.datetime) -> None:
    created = {m.entry_id: m for s in w.steps for m in s.moves if m.expires_at is not None}
    final: dict[str, machine.Grant] = {}
    for step in w.steps:
        for grant in step.grants:
            final[grant.id] = grant
    new = [
        CreditGrant(
            entry_id=g.id,
            business_id=business_id,
            customer_id=w.customer_id,
            wallet_id=w.wallet.id,
            currency=w.currency,
            amount=created[g.id].amount,
            remaining=g.remaining,
            expired_amount=g.expired,
            expires_at=g.expires_at,
            updated_at=now,
        )
        for g in final.values()
        if g.id in created
    ]
    if new:
        CreditGrant.objects.bulk_create(new)
    for grant in final.values():
        if grant.id not in created:
            CreditGrant.objects.filter(business_id=business_id, pk=grant.id).update(
                remaining=grant.remaining, expired_amount=grant.expired, reversed_amount=grant.reversed, updated_at=now
            )


def _write_holds(business_id: str, w: WalletWrite, now: datetime.datetime) -> None:
    final: dict[str, machine.Hold] = {}
    for step in w.steps:
        for hold in step.holds:
            final[hold.id] = hold
    new_holds = w.new_holds
    for hold in final.values():
        if hold.id in new_holds:
            Hold.objects.create(
                id=hold.id,
                business_id=business_id,
                customer_id=w.customer_id,
                wallet_id=w.wallet.id,
                currency=w.currency,
                amount=hold.amount,
                expires_at=hold.expires_at,
                status=hold.status,
                captured_amount=hold.captured,
                created_at=now,
                updated_at=now,
                **new_holds[hold.id],
            )
        else:
            Hold.objects.filter(business_id=business_id, pk=hold.id).update(
                status=hold.status, captured_amount=hold.captured, updated_at=now)


def entry_row(
    business_id: str,
    customer_id: str,
    wallet_id: str,
    currency: str,
    move: machine.Move,
    *,
    now: datetime.datetime,
    id: str,
    actor: Actor,
    event_type: str,
    reason: str | None = None,
    reference_object_id: str | None = None,
    idempotency_key: str | None = None,
    metadata: dict | None = None,
    reversal_of_id: str | None = None,
    expired_grant_id: str | None = None,
    created_at: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Every column of an entry (``LedgerEntry``'s attribute names)."""
    return {
        **sql.entry_defaults(),
        "id": id,
        "business_id": business_id,
        "customer_id": customer_id,
        "wallet_id": wallet_id,
        "currency": currency,
        "sequence": move.sequence,
        "amount": move.amount,
        "is_credit": move.is_credit,
        "event_type": event_type,
        "reason": reason,
        "reference_object_id": reference_object_id,
        "idempotency_key": idempotency_key,
        "before_balance": move.before,
        "after_balance": move.after,
        "actor_type": actor.type,
        "actor_id": actor.id,
        "created_at": created_at or now,
        "metadata": metadata or {},
        "reversal_of_id": reversal_of_id,
        "expires_at": move.expires_at,
        "expired_grant_id": expired_grant_id,
        "hold_id": move.hold_id,
    }
