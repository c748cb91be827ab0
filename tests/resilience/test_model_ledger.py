"""Model-based test of the service layer: a Hypothesis state machine drives customers, credits,
debits, replayed keys, keys reused with other bodies and cross-business calls against an
in-memory model, and checks after every step that the service accepted and refused exactly what
the model did and that the books are sound.

Examples: ``WALLETS_MODEL_PROFILE=ci`` (default, modest for CI) or ``=long`` (many more, longer
programs): ``WALLETS_MODEL_PROFILE=long pytest tests/resilience/test_model_ledger.py``.
"""

import hashlib
import os
from collections import Counter
from dataclasses import dataclass

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tests.ledger.coalescing import Posters, held, lock_wallet_row
from tests.support import oracle
from wallets import ledger, services
from wallets.exceptions import BalanceOverflow, CustomerNotFound, IdempotencyKeyReused, InsufficientFunds
from wallets.ledger import coalesce
from wallets.models import LedgerEntry, Wallet
from wallets.money import INT64_MAX
from wallets.services.actors import Actor
from wallets.services.api_keys import business_get_or_create
from wallets.services.bulk import bulk_credit_file

settings.register_profile(
    "wallets-model-ci", max_examples=25, stateful_step_count=30, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "wallets-model-long", max_examples=200, stateful_step_count=60, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILE = "wallets-model-" + os.environ.get("WALLETS_MODEL_PROFILE", "ci")
#: The coalescing variant runs fewer programs: each commits (its threads need to see the rows).
COALESCED_EXAMPLES = {"wallets-model-ci": 8}.get(PROFILE, 100)


def settings_for(profile: str, **changes):
    return settings(settings.get_profile(profile), **changes)

ACTOR = Actor.command("model")
CURRENCIES = ["USD", "INR", "JPY"]  # USD and INR exist at creation, JPY on the first credit
EMAILS = ["ann@example.com", "ANN@example.com", "bob@example.com", "cy@example.com"]
KEYS = ["k1", "k2", "k3"]
REASONS = [None, "top-up", "refund"]
amounts = st.one_of(
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=1, max_value=INT64_MAX),
    st.just(INT64_MAX),
)


@dataclass(frozen=True)
class Customer:
    id: str
    business: int


class LedgerMachine(RuleBasedStateMachine):
    customers = Bundle("customers")

    def __init__(self):
        super().__init__()
        self.run = LedgerMachine.runs = getattr(LedgerMachine, "runs", 0) + 1
        self.business_ids: list[str] = []
        self.emails: dict[tuple[int, str], str] = {}  # (business, lower email) -> customer id
        self.balances: dict[tuple[str, str], int] = {}
        self.keys: dict[tuple[str, str], tuple] = {}  # (customer, key) -> (body, balance after)
        self.entries = 0
        self.steps = {"accepted": 0, "refused": 0}

    @initialize()
    def businesses(self):
        for n in range(2):
            self.business_ids.append(business_get_or_create(name=f"Model {self.run}-{n}")[0].id)

    @rule(target=customers, business=st.integers(0, 1), email=st.sampled_from(EMAILS))
    def create_customer(self, business, email):
        customer, created = services.customer_create(
            business_id=self.business_ids[business], email=email, name="Model"
        )
        known = self.emails.get((business, email.lower()))
        assert created == (known is None)
        if known is not None:
            assert customer.id == known
        else:
            self.emails[(business, email.lower())] = customer.id
            for currency in ("USD", "INR"):
                self.balances[(customer.id, currency)] = 0
        return Customer(customer.id, business)

    def _post(self, customer: Customer, currency, amount, is_credit, key, reason, business=None):
        business_id = self.business_ids[customer.business if business is None else business]
        return ledger.post(
            business_id=business_id, customer_id=customer.id, currency=currency, amount=amount,
            is_credit=is_credit, actor=ACTOR, reason=reason, idempotency_key=key,
        )

    @rule(customer=customers, currency=st.sampled_from(CURRENCIES), amount=amounts, is_credit=st.booleans(),
          key=st.one_of(st.none(), st.sampled_from(KEYS)), reason=st.sampled_from(REASONS))
    def post(self, customer, currency, amount, is_credit, key, reason):
        body = (currency, amount, is_credit, reason)
        balance = self.balances.get((customer.id, currency), 0)
        prior = self.keys.get((customer.id, key)) if key else None
        if prior is not None:
            expected = "replay" if prior[0] == body else IdempotencyKeyReused
        elif not is_credit and amount > balance:
            expected = InsufficientFunds
        elif is_credit and balance + amount > INT64_MAX:
            expected = BalanceOverflow
        else:
            expected = "post"

        if isinstance(expected, type):
            with pytest.raises(expected):
                self._post(customer, currency, amount, is_credit, key, reason)
            self.steps["refused"] += 1
            return
        result = self._post(customer, currency, amount, is_credit, key, reason)
        self.steps["accepted"] += 1
        if expected == "replay":
            assert result.replayed
            assert result.balance == prior[1]
            return
        after = balance + amount if is_credit else balance - amount
        assert not result.replayed
        assert result.balance == after
        self.balances[(customer.id, currency)] = after
        self.entries += 1
        if key:
            self.keys[(customer.id, key)] = (body, after)

    @rule(customer=customers, key=st.sampled_from(KEYS))
    def replay_a_used_key(self, customer, key):
        prior = self.keys.get((customer.id, key))
        if prior is None:
            return
        currency, amount, is_credit, reason = prior[0]
        result = self._post(customer, currency, amount, is_credit, key, reason)
        assert result.replayed
        assert result.balance == prior[1]

    @rule(customer=customers, key=st.sampled_from(KEYS), delta=st.integers(1, 5))
    def reuse_a_key_with_another_body(self, customer, key, delta):
        prior = self.keys.get((customer.id, key))
        if prior is None:
            return
        currency, amount, is_credit, reason = prior[0]
        other_currency = CURRENCIES[(CURRENCIES.index(currency) + 1 + delta % 2) % len(CURRENCIES)]
        for variant in ((currency, amount + delta, is_credit, reason), (currency, amount, not is_credit, reason),
                        (currency, amount, is_credit, f"{reason}-other"), (other_currency, amount, is_credit, reason)):
            with pytest.raises(IdempotencyKeyReused):
                self._post(customer, *variant[:3], key, variant[3])

    @rule(rows=st.lists(st.tuples(customers, st.sampled_from(CURRENCIES), st.integers(1, 10_000) | st.just(INT64_MAX),
                                  st.booleans(), st.one_of(st.none(), st.sampled_from(KEYS)),
                                  st.sampled_from(REASONS)), min_size=1, max_size=6),
          runs=st.integers(1, 2))
    def bulk_credit(self, rows, runs):
        """A bulk file for business 0 (rows of business 1's customers are unknown customers), run
        once or twice: the model applies its rows in file order like single postings, with a
        key derived from the file and the line when the row has none."""
        lines = ["customer_id,amount,currency,entry_type,idempotency_key,reason"]
        for customer, currency, amount, is_credit, key, reason in rows:
            lines.append(f"{customer.id},{amount},{currency},{'credit' if is_credit else 'debit'},{key or ''},"
                         f"{reason or ''}")
        data = ("\n".join(lines) + "\n").encode()
        derived = f"bulk:{hashlib.sha256(data).hexdigest()[:16]}:"
        for _ in range(runs):
            expected_posted, expected_done, expected_rejected = 0, 0, []
            used_in_file = set()
            for line, (customer, currency, amount, is_credit, row_key, reason) in enumerate(rows, start=2):
                key = row_key or f"{derived}{line}"
                if customer.business != 0 or (customer.id, key) in used_in_file:
                    expected_rejected.append(line)
                    continue
                used_in_file.add((customer.id, key))
                outcome = self._apply(customer, currency, amount, is_credit, key, reason)
                if outcome == "post":
                    expected_posted += 1
                elif outcome == "replay":
                    expected_done += 1
                else:
                    expected_rejected.append(line)
            result = bulk_credit_file(business_id=self.business_ids[0], data=data, actor=ACTOR)
            assert (result.posted, result.already_done, sorted(r.line for r in result.rejections)) == (
                expected_posted, expected_done, expected_rejected
            ), result.rejections

    def _apply(self, customer, currency, amount, is_credit, key, reason) -> str:
        """The model's verdict on one posting, applied to the model: post, replay or a refusal."""
        body = (currency, amount, is_credit, reason)
        balance = self.balances.get((customer.id, currency), 0)
        prior = self.keys.get((customer.id, key)) if key else None
        if prior is not None:
            return "replay" if prior[0] == body else "reused"
        if not is_credit and amount > balance:
            return "insufficient"
        if is_credit and balance + amount > INT64_MAX:
            return "overflow"
        after = balance + amount if is_credit else balance - amount
        self.balances[(customer.id, currency)] = after
        self.entries += 1
        if key:
            self.keys[(customer.id, key)] = (body, after)
        return "post"

    @rule(customer=customers, amount=amounts)
    def post_as_another_business(self, customer, amount):
        with pytest.raises(CustomerNotFound):
            self._post(customer, "USD", amount, True, None, None, business=1 - customer.business)

    @invariant()
    def books_agree_with_the_model(self):
        if not self.business_ids:
            return
        stored = {
            (w.customer_id, w.currency): w.balance
            for w in Wallet.objects.filter(business_id__in=self.business_ids)
        }
        assert stored == self.balances
        assert LedgerEntry.objects.filter(business_id__in=self.business_ids).count() == self.entries
        with connection.cursor() as cursor:
            assert oracle.violations(cursor) == []


def test_ledger_matches_the_model(db):
    run_state_machine_as_test(LedgerMachine, settings=settings.get_profile(PROFILE))


class CoalescedLedgerMachine(LedgerMachine):
    """The same machine with coalescing on, and one more rule: several postings on one wallet at
    once, from threads of this process, made into one batch (``tests/ledger/coalescing.py``). The
    model applies them in the order they queued; each answer must be the model's."""

    @rule(customer=LedgerMachine.customers, currency=st.sampled_from(["USD", "INR"]),
          postings=st.lists(st.tuples(amounts, st.booleans(), st.one_of(st.none(), st.sampled_from(KEYS)),
                                      st.sampled_from(REASONS)), min_size=2, max_size=6))
    def post_together(self, customer, currency, postings):
        wallet = Wallet.objects.get(customer_id=customer.id, currency=currency)  # made with the customer
        before = Counter(coalesce.batch_sizes)
        posters = Posters(self.business_ids[customer.business], customer.id, currency, actor=ACTOR)
        with held(lock_wallet_row(wallet.id)):
            for amount, is_credit, key, reason in postings:
                posters.start(amount=amount, is_credit=is_credit, idempotency_key=key, reason=reason)
        answers = posters.join()
        # The first alone (it waited on the lock), then the rest as one batch (of one: alone too).
        assert +(coalesce.batch_sizes - before) == Counter([1, len(postings) - 1])
        refusals = {"reused": IdempotencyKeyReused, "insufficient": InsufficientFunds, "overflow": BalanceOverflow}
        for (amount, is_credit, key, reason), got in zip(postings, answers, strict=True):
            verdict = self._apply(customer, currency, amount, is_credit, key, reason)
            if verdict in refusals:
                assert isinstance(got, refusals[verdict]), (verdict, got)
                self.steps["refused"] += 1
                continue
            assert not isinstance(got, Exception), (verdict, got)
            self.steps["accepted"] += 1
            assert got.replayed == (verdict == "replay")
            if verdict == "replay":
                assert got.balance == self.keys[(customer.id, key)][1]
            else:
                assert got.balance == self.balances[(customer.id, currency)]


@pytest.mark.django_db(transaction=True)
def test_ledger_matches_the_model_with_coalescing(reference_data, settings):
    if connection.vendor != "postgresql":
        pytest.skip("coalescing is off on SQLite: test_ledger_matches_the_model covers it there")
    settings.WALLETS_COALESCE_POSTINGS = True
    run_state_machine_as_test(CoalescedLedgerMachine,
                              settings=settings_for(PROFILE, max_examples=COALESCED_EXAMPLES))
