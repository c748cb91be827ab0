"""The posting rules, exhaustively and by property: pure functions, no database."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallets.ledger import rules
from wallets.ledger.rules import Body, Code, Decision, Request, WalletState, apply, decide, decide_all
from wallets.money import INT64_MAX

balances = st.integers(min_value=0, max_value=INT64_MAX)
amounts = st.integers(min_value=1, max_value=INT64_MAX)
counts = st.integers(min_value=0, max_value=10**12)


def credit(amount, key=None, reason=None, currency="USD"):
    return Request(currency, amount, True, reason, key)


def debit(amount, key=None, reason=None, currency="USD"):
    return Request(currency, amount, False, reason, key)


# --- Each result code, at its edges ------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "request_", "expected"),
    [
        (0, credit(1), Decision(Code.OK, 1, 0, 1)),
        (5, debit(5), Decision(Code.OK, 1, 5, 0)),
        (5, debit(6), Decision(Code.INSUFFICIENT_FUNDS, before=5)),
        (0, debit(1), Decision(Code.INSUFFICIENT_FUNDS, before=0)),
        (INT64_MAX - 1, credit(1), Decision(Code.OK, 1, INT64_MAX - 1, INT64_MAX)),
        (INT64_MAX, credit(1), Decision(Code.BALANCE_OVERFLOW, before=INT64_MAX)),
        (1, credit(INT64_MAX), Decision(Code.BALANCE_OVERFLOW, before=1)),
        (INT64_MAX, debit(INT64_MAX), Decision(Code.OK, 1, INT64_MAX, 0)),
        (10, credit(0), Decision(Code.AMOUNT_NOT_POSITIVE)),
        (10, debit(-3), Decision(Code.AMOUNT_NOT_POSITIVE)),
        (10, credit(INT64_MAX + 1), Decision(Code.AMOUNT_TOO_LARGE)),
    ],
)
def test_each_code_at_its_edge(balance, request_, expected):
    assert decide(WalletState(balance, 0), request_) == expected


def test_sequence_is_the_next_one():
    assert decide(WalletState(100, 41), debit(1)).sequence == 42


def test_a_known_key_with_the_same_body_replays_whatever_the_balance():
    prior = Body("USD", 500, False, "fee")
    assert decide(WalletState(0, 3), debit(500, "k", "fee"), prior) == Decision(Code.REPLAYED)


@pytest.mark.parametrize("other", [
    debit(501, "k", "fee"), credit(500, "k", "fee"), debit(500, "k", "other"), debit(500, "k", None),
    debit(500, "k", "fee", currency="EUR"),
])
def test_a_known_key_with_another_body_is_refused(other):
    prior = Body("USD", 500, False, "fee")
    assert decide(WalletState(10**6, 3), other, prior).code is Code.KEY_REUSED


def test_only_an_accepted_decision_changes_the_state():
    state = WalletState(10, 2)
    assert apply(state, decide(state, debit(11))) == state
    assert apply(state, Decision(Code.REPLAYED)) == state
    assert apply(state, decide(state, debit(4))) == WalletState(6, 3)


# --- Properties --------------------------------------------------------------------------------


@settings(max_examples=500)
@given(balance=balances, count=counts, amount=amounts, is_credit=st.booleans())
def test_an_accepted_posting_keeps_every_invariant(balance, count, amount, is_credit):
    state = WalletState(balance, count)
    decision = decide(state, Request("USD", amount, is_credit))
    if decision.code is Code.OK:
        assert decision.before == balance
        assert 0 <= decision.after <= INT64_MAX
        assert decision.after - decision.before == (amount if is_credit else -amount)
        assert decision.sequence == count + 1
    elif is_credit:
        assert decision.code is Code.BALANCE_OVERFLOW
        assert balance + amount > INT64_MAX
    else:
        assert decision.code is Code.INSUFFICIENT_FUNDS
        assert amount > balance


operations = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(["USD", "EUR"]),
        st.integers(min_value=1, max_value=1000),
        st.booleans(),
        st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"])),
        st.sampled_from([None, "r"]),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(ops=operations)
def test_a_batch_is_the_fold_of_single_decisions(ops):
    """decide_all gives exactly what deciding one request at a time, applying each, gives; and the
    books of every wallet add up: balance = Σ accepted signed amounts, sequences 1..n, no key twice."""
    requests = [(customer, Request(cur, amount, is_credit, reason, key))
                for customer, cur, amount, is_credit, key, reason in ops]
    wallets = {(c, cur) for c in ("c1", "c2") for cur in ("USD", "EUR")}
    states = {w: WalletState() for w in wallets}
    decisions, final = decide_all(states, requests, {})

    expected_states = dict(states)
    used: dict = {}
    applied_keys = []
    sums = dict.fromkeys(wallets, 0)
    sequences: dict = {w: [] for w in wallets}
    for (customer, request), decision in zip(requests, decisions, strict=True):
        wallet = (customer, request.currency)
        scoped = (customer, request.idempotency_key)
        one = decide(expected_states[wallet], request, used.get(scoped) if request.idempotency_key else None)
        assert one == decision
        if decision.code is Code.OK:
            expected_states[wallet] = apply(expected_states[wallet], decision)
            sums[wallet] += request.amount if request.is_credit else -request.amount
            sequences[wallet].append(decision.sequence)
            if request.idempotency_key:
                applied_keys.append(scoped)
                used[scoped] = request.body
    assert final == expected_states
    for wallet in wallets:
        assert final[wallet].balance == sums[wallet] >= 0
        assert sequences[wallet] == list(range(1, final[wallet].entry_count + 1))
    assert len(applied_keys) == len(set(applied_keys))


def test_a_batch_honours_keys_already_in_the_ledger():
    states = {("c1", "USD"): WalletState(100, 1)}
    priors = {("c1", "k"): Body("USD", 5, True, None)}
    decisions, final = decide_all(states, [("c1", credit(5, "k")), ("c1", credit(6, "k"))], priors)
    assert [d.code for d in decisions] == [Code.REPLAYED, Code.KEY_REUSED]
    assert final == states


def test_keys_are_scoped_per_customer():
    states = {("c1", "USD"): WalletState(), ("c2", "USD"): WalletState()}
    decisions, _ = decide_all(states, [("c1", credit(5, "k")), ("c2", credit(7, "k"))], {})
    assert [d.code for d in decisions] == [Code.OK, Code.OK]


def test_the_rules_module_does_no_io():
    """Pure: it imports nothing that reaches a database, a clock or the network."""
    source = rules.__loader__.get_source(rules.__name__)
    forbidden_names = ("django.db", "connection", "timezone", "import time", "datetime", "socket", "httpx")
    for forbidden in forbidden_names:
        assert forbidden not in source, forbidden
