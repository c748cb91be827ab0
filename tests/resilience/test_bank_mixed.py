"""The bank test with every kind of movement, and a background worker killed while grants expire.

Writer threads (each with its own database connection) run a random mix over a few wallets, one of
them hot: credits, grants that expire within seconds, debits, payments, reversals (partial and full)
of what they were told was posted, holds that expire within seconds, captures (partial and full) and
voids. Meanwhile ``python manage.py run_worker`` runs as a real process with a one-second sweep and
is SIGKILLed and restarted a few times. After the writers stop, the worker (restarted once more)
must expire everything that is due. Then:

- the oracle (tests/support/oracle.py: chain, sums, holds, grants, draws, reversals) and
  ``ledger_drift`` find nothing;
- every operation a client was told succeeded wrote exactly the entry it was told about (amount,
  direction, hold), every refused one wrote nothing, and only a client or an expiry wrote anything;
- conservation: each wallet's balance is what its clients were told moved, less what expired.

Reversals target entries that are not grant credits: reversing a grant that is due but not yet swept
is a known engine finding (tests/ledger/test_machine.py, the strict xfail), which this run would hit.
"""

from __future__ import annotations

import datetime
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from django.db import connection, connections
from django.db.models import Sum
from django.utils import timezone

from tests.resilience.conftest import assert_migrated, live_database_url
from tests.support import oracle
from tests.support.servers import TaskWorker
from wallets import ledger, services
from wallets.exceptions import (
    CaptureExceedsHold,
    HoldNotActive,
    InsufficientFunds,
    InvalidExpiry,
    ReversalExceedsOriginal,
)
from wallets.models import CreditGrant, Hold, LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor
from wallets.services.api_keys import business_get_or_create

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor == "sqlite", reason="the resilience suite runs on PostgreSQL"),
]

WRITERS = 6
RUN_SECONDS = 10.0
ACTOR = Actor.command("bank-mixed")
#: The domain's refusals a client may get: anything else reaching a client is a finding. (InvalidExpiry:
#: a grant or hold due within 0.3 s may be due already when its turn at the hot wallet's lock comes.)
REFUSALS = (InsufficientFunds, ReversalExceedsOriginal, HoldNotActive, CaptureExceedsHold, InvalidExpiry)


@dataclass
class Outcome:
    kind: str  # credit, grant, debit, pay, reverse, hold, capture, void
    reason: str
    customer_id: str
    #: "ok", the refusal's class name, or "error: ..." (a finding)
    result: str
    #: what the client was told the balance moved by (signed)
    delta: int = 0
    entry_id: str | None = None
    amount: int = 0
    is_credit: bool | None = None
    hold_id: str | None = None


class Shared:
    """What the writers were told exists: entries they may reverse, holds they may resolve."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: list[tuple[str, str]] = []  # (customer_id, entry_id), not grant credits
        self.holds: list[tuple[str, str]] = []  # (customer_id, hold_id)

    def pick(self, rng, items):
        with self.lock:
            return rng.choice(items) if items else None


def writer(worker: int, business_id: str, customers: list[str], shared: Shared, deadline: float) -> list[Outcome]:
    rng = random.Random(7000 + worker)
    outcomes: list[Outcome] = []
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            reason = f"mix:{worker}-{n}"
            customer = customers[0] if rng.random() < 0.5 else rng.choice(customers)
            ids = {"business_id": business_id, "customer_id": customer}
            roll = rng.random()
            try:
                outcomes.append(one_operation(rng, roll, reason, ids, shared))
            except REFUSALS as refused:
                outcomes.append(Outcome("refused", reason, customer, type(refused).__name__))
            except Exception as exc:  # every other exception is a finding
                outcomes.append(Outcome("refused", reason, customer, f"error: {exc!r}"))
            time.sleep(rng.random() * 0.01)
    finally:
        connections.close_all()
    return outcomes


def one_operation(rng, roll, reason, ids, shared: Shared) -> Outcome:
    customer = ids["customer_id"]
    soon = timezone.now() + datetime.timedelta(seconds=rng.uniform(0.3, 3.0))
    if roll < 0.18:
        amount = rng.randint(1, 3_000)
        result = ledger.post(**ids, currency="USD", amount=amount, is_credit=True, actor=ACTOR, reason=reason)
        shared_add(shared.entries, shared, (customer, result.entry.id))
        return Outcome("credit", reason, customer, "ok", amount, result.entry.id, amount, True)
    if roll < 0.36:
        amount = rng.randint(1, 3_000)
        result = ledger.post(
            **ids, currency="USD", amount=amount, is_credit=True, actor=ACTOR, reason=reason, expires_at=soon
        )
        return Outcome("grant", reason, customer, "ok", amount, result.entry.id, amount, True)
    if roll < 0.50:
        amount = rng.randint(1, 4_000)
        result = ledger.post(**ids, currency="USD", amount=amount, is_credit=False, actor=ACTOR, reason=reason)
        shared_add(shared.entries, shared, (customer, result.entry.id))
        return Outcome("debit", reason, customer, "ok", -amount, result.entry.id, amount, False)
    if roll < 0.60:
        amount = rng.randint(1, 4_000)
        result = ledger.pay(
            **ids, currency="USD", amount=amount, reference_object_id=reason, actor=ACTOR, reason=reason
        )
        applied = result.payment.applied
        assert 0 <= applied <= amount
        if result.entry is not None:
            shared_add(shared.entries, shared, (customer, result.entry.id))
        entry_id = result.entry.id if result.entry else None
        return Outcome("pay", reason, customer, "ok", -applied, entry_id, applied, False)
    if roll < 0.72:
        target = shared.pick(rng, [e for e in shared.entries if e[0] == customer])
        if target is None:
            return Outcome("skip", reason, customer, "ok")
        original = LedgerEntry.objects.get(pk=target[1])
        amount = None if rng.random() < 0.4 else rng.randint(1, max(1, original.amount // 2))
        result = ledger.reverse(**ids, entry_id=target[1], actor=ACTOR, amount=amount, reason=reason)
        moved = result.entry.amount
        delta = moved if result.entry.is_credit else -moved
        return Outcome("reverse", reason, customer, "ok", delta, result.entry.id, moved, not original.is_credit)
    if roll < 0.86:
        amount = rng.randint(1, 2_500)
        result = ledger.create_hold(**ids, currency="USD", amount=amount, actor=ACTOR, expires_at=soon, reason=reason)
        shared_add(shared.holds, shared, (customer, result.hold.id))
        return Outcome("hold", reason, customer, "ok", 0, None, amount, None, result.hold.id)
    target = shared.pick(rng, [h for h in shared.holds if h[0] == customer])
    if target is None:
        return Outcome("skip", reason, customer, "ok")
    if roll < 0.95:
        amount = None if rng.random() < 0.5 else rng.randint(1, 2_500)
        result = ledger.capture_hold(**ids, hold_id=target[1], actor=ACTOR, amount=amount, reason=reason)
        captured = result.entry.amount
        shared_remove(shared.holds, shared, target)
        shared_add(shared.entries, shared, (customer, result.entry.id))
        return Outcome("capture", reason, customer, "ok", -captured, result.entry.id, captured, False, target[1])
    ledger.void_hold(**ids, hold_id=target[1], actor=ACTOR)
    shared_remove(shared.holds, shared, target)
    return Outcome("void", reason, customer, "ok", 0, None, 0, None, target[1])


def shared_add(items, shared: Shared, item) -> None:
    with shared.lock:
        items.append(item)


def shared_remove(items, shared: Shared, item) -> None:
    with shared.lock:
        if item in items:
            items.remove(item)


def check(outcomes: list[Outcome], customers: list[str]) -> list[str]:
    """What the clients were told against the ledger."""
    problems = [f"{o.reason}: {o.result}" for o in outcomes if o.result.startswith("error")]
    entries = {e.id: e for e in LedgerEntry.objects.filter(customer_id__in=customers)}
    told = {o.entry_id: o for o in outcomes if o.result == "ok" and o.entry_id}
    for entry_id, outcome in told.items():
        entry = entries.get(entry_id)
        if entry is None:
            problems.append(f"{outcome.reason}: told {entry_id} was posted, it is not in the ledger")
            continue
        if (entry.amount, entry.is_credit, entry.customer_id) != (
            outcome.amount,
            outcome.is_credit,
            outcome.customer_id,
        ):
            problems.append(f"{outcome.reason}: told {outcome}, the ledger has {entry.amount} {entry.is_credit}")
        if outcome.kind == "capture" and entry.hold_id != outcome.hold_id:
            problems.append(f"{outcome.reason}: a capture entry of another hold {entry.hold_id}")
    for entry in entries.values():
        if entry.expired_grant_id is not None:
            continue  # an expiry: no client wrote it
        if entry.id not in told:
            problems.append(f"{entry.id} ({entry.reason}) is in the ledger, no client was told of it")
    refused_reasons = {o.reason for o in outcomes if o.result != "ok"}
    problems += [f"{e.reason}: refused, yet in the ledger" for e in entries.values() if e.reason in refused_reasons]
    # holds: the ones the clients created exist; a hold the client captured is captured
    holds = {h.id: h for h in Hold.objects.filter(customer_id__in=customers)}
    created = {o.hold_id for o in outcomes if o.kind == "hold" and o.result == "ok"}
    if created != set(holds):
        problems.append(f"holds in the database {len(holds)} != holds the clients created {len(created)}")
    for outcome in outcomes:
        if outcome.kind in ("capture", "void") and outcome.result == "ok":
            status = holds[outcome.hold_id].status
            if status != ("captured" if outcome.kind == "capture" else "voided"):
                problems.append(f"{outcome.reason}: told {outcome.kind}, the hold is {status}")
    # conservation
    believed: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        if outcome.result == "ok":
            believed[outcome.customer_id] += outcome.delta
    for customer in customers:
        expired = (
            LedgerEntry.objects.filter(customer_id=customer, expired_grant__isnull=False).aggregate(t=Sum("amount"))[
                "t"
            ]
            or 0
        )
        balance = Wallet.objects.get(customer_id=customer, currency="USD").balance
        if balance != believed[customer] - expired:
            problems.append(f"{customer}: balance {balance}, clients saw {believed[customer]}, expired {expired}")
    return problems


def everything_due_expired() -> bool:
    now = timezone.now()
    return not (
        CreditGrant.objects.filter(expires_at__lte=now, remaining__gt=0).exists()
        or Hold.objects.filter(expires_at__lte=now, status="active").exists()
    )


def test_bank_with_every_movement_and_a_worker_killed_while_grants_expire(reference_data):
    assert_migrated()
    business = business_get_or_create(name="Bank mixed")[0]
    customers = [
        services.customer_create(business_id=business.id, email=f"mix{i}@example.com", name=f"Mix {i}")[0].id
        for i in range(3)
    ]
    for customer in customers:  # some money that never expires, so that debits and holds get going
        ledger.post(
            business_id=business.id,
            customer_id=customer,
            currency="USD",
            amount=5_000,
            is_credit=True,
            actor=ACTOR,
            reason=f"mix:seed-{customer}",
        )

    worker = TaskWorker(
        database_url=live_database_url(), args=("--interval", "0.1"), env={"WALLETS_SWEEP_INTERVAL": "1"}
    )
    shared = Shared()
    results: list[list[Outcome]] = [[] for _ in range(WRITERS)]
    kills = 0
    started = time.monotonic()
    try:
        worker.start()
        deadline = time.monotonic() + RUN_SECONDS
        threads = [
            threading.Thread(
                target=lambda w=w: results.__setitem__(w, writer(w, business.id, customers, shared, deadline))
            )
            for w in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        rng = random.Random(99)
        while time.monotonic() < deadline - 1:
            time.sleep(rng.uniform(0.8, 2.0))  # mid-sweep, often: the sweep runs every second
            worker.kill()
            kills += 1
            worker.start()
        for thread in threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a writer hung"
        # The writers are gone: only the worker (killed once more, then restarted) expires what is left.
        writers_done = timezone.now()
        worker.kill()
        kills += 1
        worker.start()
        wait_until = time.monotonic() + 30
        last_expiry = max(
            CreditGrant.objects.filter(customer_id__in=customers)
            .order_by("-expires_at")
            .values_list("expires_at", flat=True)[:1],
            default=timezone.now(),
        )
        while timezone.now() <= last_expiry or not everything_due_expired():
            assert time.monotonic() < wait_until, f"the worker did not expire what is due:\n{worker.log_tail()}"
            time.sleep(0.2)
    finally:
        worker.remove()
        connection.close()

    outcomes = [o for per_writer in results for o in per_writer]
    outcomes = [o for o in outcomes if o.kind != "skip"]
    kinds = Counter(o.kind for o in outcomes if o.result == "ok")
    refusals = Counter(o.result for o in outcomes if o.result != "ok")
    print(
        f"bank/mixed: {len(outcomes)} operations in {time.monotonic() - started:.1f}s, {dict(kinds)}, "
        f"refused {dict(refusals)}, worker killed {kills} times"
    )
    assert kills >= 3
    for kind in ("credit", "grant", "debit", "pay", "reverse", "hold", "capture", "void"):
        assert kinds[kind] > 0, kind
    assert refusals["InsufficientFunds"] > 0
    assert refusals["HoldNotActive"] > 0  # captures and voids of holds resolved or expired meanwhile
    expired_grants = CreditGrant.objects.filter(customer_id__in=customers, expired_amount__gt=0).count()
    assert expired_grants > 0
    assert Hold.objects.filter(customer_id__in=customers, status="expired").exists()
    assert everything_due_expired()
    swept = LedgerEntry.objects.filter(
        customer_id__in=customers, expired_grant__isnull=False, created_at__gt=writers_done
    )
    assert swept.exists()  # the restarted worker expired these: no posting ran any more

    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []
    assert ledger_drift() == []
    assert check(outcomes + seed_outcomes(customers), customers) == []


def seed_outcomes(customers: list[str]) -> list[Outcome]:
    seeds = LedgerEntry.objects.filter(reason__startswith="mix:seed-", customer_id__in=customers)
    return [Outcome("credit", e.reason, e.customer_id, "ok", e.amount, e.id, e.amount, True) for e in seeds]
