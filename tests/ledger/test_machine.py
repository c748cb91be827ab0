"""The wallet state machine (``wallets.ledger.machine``) against a naive reference model.

Random sequences of credits (plain and expiring), debits, payments, reversals, holds (create,
capture, void), sweeps and clock jumps run through ``machine.run``, each step's ``state`` carried to
the next (the machine's own contract; the engine reloads it from the database instead). A reference
model written here, with plain dicts and loops, says what each step must do; after every step the
test checks the machine against it and against the invariants in machine.py's docstring.
"""

import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wallets.ledger import machine, rules
from wallets.ledger.machine import (
    Capture,
    CreateHold,
    Kind,
    Original,
    Pay,
    Post,
    Reverse,
    Sweep,
    Void,
    WalletState,
)
from wallets.ledger.rules import Code

T0 = datetime(2026, 1, 1, tzinfo=UTC)



def credit(amount):
    return rules.Request("USD", amount, True)


def debit(amount):
    return rules.Request("USD", amount, False)


# --- The reference model ------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, code):
        self.code = code


class Model:
    """One wallet, naively: every grant, hold and entry, and the moves written so far."""

    def __init__(self):
        self.now = T0
        self.balance = 0
        self.grants = {}  # id -> {"expires_at", "amount", "remaining", "expired"}
        self.holds = {}  # id -> {"amount", "expires_at", "status", "draws": [[grant_id, amount]]}
        self.entries = {}  # id -> {"amount", "is_credit", "reversible", "reversed", "grant", "draws"}
        self.entry_ids = []  # in order, expiry entries included (as "x<n>")
        self.moves = []  # this step's: (kind, amount, is_credit, draws)
        self.applied = 0

    # helpers

    def held(self):
        return sum(h["amount"] for h in self.holds.values() if h["status"] == "active")

    def available(self):
        return self.balance - self.held()

    def granted(self):
        return sum(g["remaining"] for g in self.grants.values())

    def write(self, kind, amount, is_credit, draws=(), entry_id=None, **entry):
        self.balance += amount if is_credit else -amount
        self.moves.append((kind, amount, is_credit, tuple(draws)))
        if entry_id is None:
            entry_id = f"x{len(self.entry_ids)}"
            entry = {"reversible": False}
        record = {"amount": amount, "is_credit": is_credit, "reversible": True, "reversed": 0, "grant": False}
        record.update(entry)
        record["draws"] = [[g, a] for g, a in draws if a > 0]
        self.entries[entry_id] = record
        self.entry_ids.append(entry_id)

    def take(self, amount, first=None):
        """Soonest-expiring grants first (``first`` before all), as (grant, part) pairs."""
        draws = []
        candidates = sorted(self.grants, key=lambda g: (g != first, self.grants[g]["expires_at"], g))
        for grant_id in candidates:
            grant = self.grants[grant_id]
            part = min(amount, grant["remaining"])
            if part > 0:
                grant["remaining"] -= part
                draws.append((grant_id, part))
                amount -= part
        return draws

    def expire(self):
        due = [h for h, v in self.holds.items() if v["status"] == "active" and v["expires_at"] <= self.now]
        for hold_id in sorted(due, key=lambda h: (self.holds[h]["expires_at"], h)):
            self.release(hold_id, "expired", 0)
        due = [g for g, v in self.grants.items() if v["expires_at"] <= self.now and v["remaining"] > 0]
        for grant_id in sorted(due, key=lambda g: (self.grants[g]["expires_at"], g)):
            grant = self.grants[grant_id]
            left, grant["remaining"] = grant["remaining"], 0
            grant["expired"] += left
            self.write(Kind.EXPIRY, left, False, [(grant_id, left)])

    def room(self, grant_id):
        """What a grant may take back: its credit less what of it was reversed or expired, less what it has."""
        grant, entry = self.grants[grant_id], self.entries[grant_id]
        return max(entry["amount"] - entry["reversed"] - grant["expired"] - grant["remaining"], 0)

    def release(self, hold_id, status, spend):
        """The hold's grant money up to ``spend`` is spent (in the order it was drawn); the rest goes back."""
        hold = self.holds[hold_id]
        hold["status"] = status
        spent = []
        for grant_id, part in hold["draws"]:
            used = min(part, spend)
            spend -= used
            if used:
                spent.append((grant_id, used))
            self.grants[grant_id]["remaining"] += min(part - used, self.room(grant_id))
        return spent

    def original(self, entry_id):
        entry = self.entries[entry_id]
        grant = self.grants.get(entry_id)
        return Original(
            entry_id,
            entry["amount"],
            entry["is_credit"],
            reversible=entry["reversible"],
            reversed=entry["reversed"],
            expired=grant["expired"] if grant else 0,
            is_grant=grant is not None,
            draws=tuple((g, a) for g, a in entry["draws"] if a > 0),
        )

    # operations: each raises Refused, or mutates the model

    def post(self, amount, is_credit, expires_at, entry_id):
        if expires_at is not None and (not is_credit or expires_at <= self.now):
            raise Refused(Code.INVALID_EXPIRY)
        if amount <= 0:
            raise Refused(Code.AMOUNT_NOT_POSITIVE)
        if is_credit:
            self.write(Kind.POSTING, amount, True, entry_id=entry_id)
            if expires_at is not None:
                self.grants[entry_id] = {"expires_at": expires_at, "amount": amount, "remaining": amount, "expired": 0}
        else:
            if amount > self.available():
                raise Refused(Code.INSUFFICIENT_FUNDS)
            self.write(Kind.POSTING, amount, False, self.take(amount), entry_id=entry_id)
        self.applied = amount

    def pay(self, amount, entry_id):
        if amount <= 0:
            raise Refused(Code.AMOUNT_NOT_POSITIVE)
        self.applied = min(amount, self.available())
        if self.applied:
            self.write(Kind.PAYMENT, self.applied, False, self.take(self.applied), entry_id=entry_id)

    def reverse(self, target, amount, entry_id):
        entry = self.entries[target]
        if not entry["reversible"]:
            raise Refused(Code.NOT_REVERSIBLE)
        grant = self.grants.get(target)
        left = entry["amount"] - entry["reversed"] - (grant["expired"] if grant else 0)
        if amount is None:
            amount = left
        if amount <= 0:
            raise Refused(Code.REVERSAL_EXCEEDS_ORIGINAL if left <= 0 else Code.AMOUNT_NOT_POSITIVE)
        if amount > left:
            raise Refused(Code.REVERSAL_EXCEEDS_ORIGINAL)
        if entry["is_credit"]:
            if amount > self.available():
                raise Refused(Code.INSUFFICIENT_FUNDS)
            draws = self.take(amount, first=target if grant else None)
            self.write(Kind.REVERSAL, amount, False, draws, entry_id=entry_id, reversible=False)
        else:
            given, rest = [], amount
            for pair in reversed(entry["draws"]):
                due = min(pair[1], rest)
                pair[1] -= due
                rest -= due
                back = min(due, self.room(pair[0]))  # beyond its room, a reversed grant's money is free
                if back > 0:
                    self.grants[pair[0]]["remaining"] += back
                    given.append((pair[0], -back))
            self.write(Kind.REVERSAL, amount, True, given, entry_id=entry_id, reversible=False)
            self.expire()
        entry["reversed"] += amount
        self.applied = amount

    def create_hold(self, hold_id, amount, expires_at):
        if amount <= 0:
            raise Refused(Code.AMOUNT_NOT_POSITIVE)
        if amount > self.available():
            raise Refused(Code.INSUFFICIENT_FUNDS)
        draws = self.take(amount)
        self.holds[hold_id] = {"amount": amount, "expires_at": expires_at, "status": "active", "draws": draws}
        self.applied = amount

    def capture(self, hold_id, amount, entry_id):
        hold = self.holds.get(hold_id)
        if hold is None or hold["status"] != "active":
            raise Refused(Code.HOLD_NOT_ACTIVE)
        amount = hold["amount"] if amount is None else amount
        if amount <= 0:
            raise Refused(Code.AMOUNT_NOT_POSITIVE)
        if amount > hold["amount"]:
            raise Refused(Code.CAPTURE_EXCEEDS_HOLD)
        spent = self.release(hold_id, "captured", amount)
        self.write(Kind.CAPTURE, amount, False, spent, entry_id=entry_id)
        self.expire()
        self.applied = amount

    def void(self, hold_id):
        hold = self.holds.get(hold_id)
        if hold is None or hold["status"] != "active":
            raise Refused(Code.HOLD_NOT_ACTIVE)
        self.release(hold_id, "voided", 0)
        self.expire()


# --- Random operations ----------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=40) | st.integers(min_value=1, max_value=5)
lifetimes = st.integers(min_value=1, max_value=90)  # seconds
maybe_amount = st.none() | amounts

operations = st.one_of(
    st.tuples(st.just("credit"), st.integers(min_value=1, max_value=60), st.none() | lifetimes),
    st.tuples(st.just("grant"), st.integers(min_value=1, max_value=60), lifetimes),
    st.tuples(st.just("debit"), amounts),
    st.tuples(st.just("pay"), amounts),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=1000), maybe_amount),
    st.tuples(st.just("hold"), amounts, lifetimes),
    st.tuples(st.just("capture"), st.integers(min_value=0, max_value=1000), maybe_amount),
    st.tuples(st.just("void"), st.integers(min_value=0, max_value=1000)),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("tick"), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("bad_expiry"), st.booleans(), st.integers(min_value=1, max_value=20)),
)


def to_op(model, spec, n):
    """The machine's operation for ``spec`` and what the model does for it (None for a clock jump)."""
    kind, *args = spec
    entry_id, hold_id = f"e{n:04d}", f"h{n:04d}"
    now = model.now
    if kind in ("credit", "grant"):
        amount, life = args
        expires_at = None if life is None else now + timedelta(seconds=life)
        return Post(credit(amount), entry_id, expires_at), lambda m: m.post(amount, True, expires_at, entry_id)
    if kind == "debit":
        (amount,) = args
        return Post(debit(amount), entry_id), lambda m: m.post(amount, False, None, entry_id)
    if kind == "pay":
        (amount,) = args
        return Pay(amount, entry_id), lambda m: m.pay(amount, entry_id)
    if kind == "reverse":
        pick, amount = args
        if not model.entry_ids:
            return None
        target = model.entry_ids[pick % len(model.entry_ids)]
        # Built from the model's history as it is before the step; the machine expires first, the
        # engine reads the original under the same lock (before expiring) too.
        return Reverse(model.original(target), amount, entry_id), lambda m: m.reverse(target, amount, entry_id)
    if kind == "hold":
        amount, life = args
        expires_at = now + timedelta(seconds=life)
        return CreateHold(hold_id, amount, expires_at), lambda m: m.create_hold(hold_id, amount, expires_at)
    if kind in ("capture", "void"):
        if not model.holds:
            return None
        target = sorted(model.holds)[args[0] % len(model.holds)]
        if kind == "void":
            return Void(target), lambda m: m.void(target)
        amount = args[1]
        return Capture(target, amount, entry_id), lambda m: m.capture(target, amount, entry_id)
    if kind == "sweep":
        return Sweep(), lambda m: None
    if kind == "bad_expiry":
        is_credit, back = args
        expires_at = now - timedelta(seconds=back) if is_credit else now + timedelta(seconds=back)
        return Post(rules.Request("USD", 5, is_credit), entry_id, expires_at), lambda m: m.post(
            5, is_credit, expires_at, entry_id
        )
    raise AssertionError(kind)


def signed(move):
    return move.amount if move.is_credit else -move.amount


def check_invariants(state, model, now):
    assert state.held >= 0
    assert state.granted >= 0
    assert state.held + state.granted <= state.balance
    assert state.granted == sum(g.remaining for g in state.grants)
    assert state.held == sum(h.amount for h in state.holds)
    assert state.available == state.balance - sum(h.amount for h in state.holds if h.status == "active")
    for grant in state.grants:
        assert grant.remaining >= 0
        if grant.expires_at <= now:
            assert grant.remaining == 0, f"grant {grant.id} past its expiry keeps {grant.remaining}"
    # the model agrees
    assert state.balance == model.balance
    assert state.held == model.held()
    assert state.granted == model.granted()
    assert {g.id: (g.remaining, g.expired) for g in state.grants} == {
        g: (v["remaining"], v["expired"]) for g, v in model.grants.items()
    }
    assert {h.id: h.amount for h in state.holds} == {
        h: v["amount"] for h, v in model.holds.items() if v["status"] == "active"
    }
    for entry in model.entries.values():
        assert entry["reversed"] <= entry["amount"]


def simulate(specs):
    state = WalletState()
    model = Model()
    total = 0  # the sum of every move's signed amount
    sequence = 0
    reversed_by_target: dict[str, int] = {}
    for n, spec in enumerate(specs):
        if spec[0] == "tick":
            model.now += timedelta(seconds=spec[1])
            continue
        pair = to_op(model, spec, n)
        if pair is None:
            continue
        op, effect = pair
        now = model.now
        # what a debit could take if expired money were still there
        available_with_expired = model.available()
        trial = copy.deepcopy(model)
        trial.moves, trial.applied = [], 0
        trial.expire()
        live_available = trial.available()
        try:
            effect(trial)
            expected = Code.OK
        except Refused as refused:
            expected = refused.code
        step = machine.run(state, op, now)
        assert step.code == expected, (spec, step.code, expected)
        is_debit = isinstance(op, Post) and not op.request.is_credit and op.expires_at is None
        if is_debit and live_available < op.request.amount <= available_with_expired:
            assert step.code is Code.INSUFFICIENT_FUNDS, "expired money funded a debit"
        if not step.code.accepted:
            # a refusal writes nothing, and the state carried on is the one before it
            assert step.moves == ()
            assert step.grants == ()
            assert step.holds == ()
            assert step.hold_draws == ()
            continue
        assert [(m.kind, m.amount, m.is_credit, m.draws) for m in step.moves] == trial.moves, spec
        assert step.applied == trial.applied
        before = state.balance
        for move in step.moves:
            sequence += 1
            assert move.before == before
            assert move.after - move.before == signed(move)
            assert move.sequence == sequence
            assert move.after >= 0
            before = move.after
            total += signed(move)
        if isinstance(op, Reverse):
            reversed_by_target[op.original.id] = reversed_by_target.get(op.original.id, 0) + step.applied
            assert reversed_by_target[op.original.id] <= op.original.amount
        state = step.state
        model = trial
        assert state.balance == total == before
        assert state.entry_count == sequence
        check_invariants(state, model, now)
    return state, model


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(operations, min_size=1, max_size=40))
def test_random_operations_match_the_reference_model(specs):
    simulate(specs)


grant_heavy = st.one_of(
    st.tuples(st.just("grant"), st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=10)),
    st.tuples(st.just("debit"), st.integers(min_value=1, max_value=30)),
    st.tuples(st.just("pay"), st.integers(min_value=1, max_value=30)),
    st.tuples(st.just("hold"), st.integers(min_value=1, max_value=20), st.integers(min_value=1, max_value=10)),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=1000), st.none()),
    st.tuples(st.just("capture"), st.integers(min_value=0, max_value=1000), st.none()),
    st.tuples(st.just("void"), st.integers(min_value=0, max_value=1000)),
    st.tuples(st.just("tick"), st.integers(min_value=1, max_value=4)),
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.tuples(st.just("credit"), st.integers(min_value=0, max_value=20), st.none()), max_size=2),
    st.lists(grant_heavy, min_size=1, max_size=40),
)
def test_grants_expiring_under_debits_and_holds(free, specs):
    """Short-lived grants and holds, with the clock moving across their expiry."""
    free = [s for s in free if s[1] > 0]
    simulate(free + specs)


# --- Examples ---------------------------------------------------------------------------------


def test_debits_take_soonest_expiring_grants_first_then_free_money():
    state, model = simulate(
        [
            ("credit", 10, None),
            ("grant", 5, 60),
            ("grant", 7, 30),
            ("debit", 9),
        ]
    )
    debit_entry = model.entries["e0003"]
    assert debit_entry["draws"] == [["e0002", 7], ["e0001", 2]]
    assert state.granted == 3
    assert state.balance == 13


def test_expired_money_never_funds_a_debit():
    state = WalletState()
    now = T0
    state = machine.run(state, Post(credit(3), "free"), now).state
    state = machine.run(state, Post(credit(10), "g", now + timedelta(seconds=5)), now).state
    later = now + timedelta(seconds=5)
    refused = machine.run(state, Post(debit(4), "d"), later)
    assert refused.code is Code.INSUFFICIENT_FUNDS
    assert refused.available == 3
    paid = machine.run(state, Pay(13, "p"), later)
    assert paid.code is Code.OK
    assert paid.applied == 3
    assert [(m.kind, m.amount) for m in paid.moves] == [(Kind.EXPIRY, 10), (Kind.PAYMENT, 3)]
    assert paid.state.balance == 0
    assert paid.state.granted == 0


def test_a_reversed_debit_gives_back_to_an_expired_grant_and_it_expires_again():
    now = T0
    state = machine.run(WalletState(), Post(credit(10), "g", now + timedelta(seconds=5)), now).state
    spent = machine.run(state, Post(debit(4), "d"), now)
    state = spent.state
    later = now + timedelta(seconds=6)
    original = Original("d", 4, False, True, draws=spent.moves[-1].draws)
    step = machine.run(state, Reverse(original, None, "r"), later)
    assert step.code is Code.OK
    assert [(m.kind, m.amount, m.is_credit) for m in step.moves] == [
        (Kind.EXPIRY, 6, False),
        (Kind.REVERSAL, 4, True),
        (Kind.EXPIRY, 4, False),
    ]
    assert step.state.balance == 0
    assert step.state.granted == 0
    assert {g.id: g.expired for g in step.state.grants} == {"g": 10}


def test_a_hold_capture_spends_its_grant_money_and_releases_the_rest():
    now = T0
    state = machine.run(WalletState(), Post(credit(5), "free"), now).state
    state = machine.run(state, Post(credit(4), "g", now + timedelta(seconds=60)), now).state
    held = machine.run(state, CreateHold("h", 7, now + timedelta(seconds=30)), now)
    assert held.state.available == 2
    assert held.state.granted == 0
    captured = machine.run(held.state, Capture("h", 3, "c"), now)
    assert captured.moves[-1].draws == (("g", 3),)
    assert captured.state.held == 0
    assert captured.state.granted == 1
    assert captured.state.balance == 6
    again = machine.run(captured.state, Void("h"), now)
    assert again.code is Code.HOLD_NOT_ACTIVE


def test_reversing_a_spent_grant_and_then_its_debit_leaves_the_customer_whole():
    now = T0
    steps, state = machine.fold(
        WalletState(),
        [Post(credit(8), "free"), Post(credit(10), "g", now + timedelta(seconds=5)), Post(debit(8), "d")],
        now,
    )
    draws = steps[-1].moves[-1].draws
    grant_reversal = machine.run(state, Reverse(Original("g", 10, True, True, is_grant=True), None, "rg"), now)
    assert grant_reversal.code is Code.OK
    state = grant_reversal.state
    debit_reversal = machine.run(state, Reverse(Original("d", 8, False, True, draws=draws), None, "rd"), now)
    assert debit_reversal.code is Code.OK
    swept = machine.run(debit_reversal.state, Sweep(), now + timedelta(seconds=5))
    # every credit and debit but the free 8 was reversed: the customer should have 8
    assert swept.state.balance == 8


def test_the_machine_module_does_no_io():
    """Pure: no database, no clock of its own, no network."""
    source = machine.__loader__.get_source(machine.__name__)
    for forbidden in ("django.db", "connection", "timezone", "import time", "datetime.now", "socket", "httpx"):
        assert forbidden not in source, forbidden


def test_a_grant_due_but_not_yet_swept_cannot_be_reversed_beyond_what_is_left():
    """What of a grant has expired is judged after the step expires what is due."""
    specs = [("credit", 20, None), ("grant", 10, 5), ("tick", 6), ("reverse", 1, None)]
    state, model = simulate(specs)
    assert model.entries["e0001"]["reversed"] == 0
    # the refused reversal wrote nothing (not even the expiry); the sweep then expires the grant
    assert machine.run(state, Sweep(), T0 + timedelta(seconds=6)).state.balance == 20
