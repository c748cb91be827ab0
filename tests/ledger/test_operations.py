"""The engine's movements beyond a plain posting, on the real database: grants, holds, payments,
reversals and expiry, each followed by a proof of the books (``ledger_drift``, holds and grants
included)."""

import datetime
import time
from unittest import mock

import pytest
from django.utils import timezone

from wallets import ledger
from wallets.exceptions import (
    HoldNotActive,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotReversible,
    ReversalExceedsOriginal,
)
from wallets.models import CreditGrant, GrantDraw, Hold, LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor.command("test")
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def books_balance():
    yield
    assert ledger_drift() == []


def credit(customer, amount, **kwargs):
    return ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=amount,
                       is_credit=True, actor=ACTOR, **kwargs)


def debit(customer, amount, **kwargs):
    return ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=amount,
                       is_credit=False, actor=ACTOR, **kwargs)


def wallet(customer):
    return Wallet.objects.get(customer=customer, currency="USD")


def ids(customer):
    return {"business_id": customer.business_id, "customer_id": customer.id}


def test_a_debit_draws_from_the_soonest_grant_first_then_free_money(customer):
    now = timezone.now()
    credit(customer, 1000)
    late = credit(customer, 300, expires_at=now + 10 * DAY).entry
    soon = credit(customer, 200, expires_at=now + 2 * DAY).entry
    spent = debit(customer, 350).entry
    draws = dict(GrantDraw.objects.filter(entry_id=spent.id).values_list("grant_id", "amount"))
    assert draws == {soon.id: 200, late.id: 150}
    assert wallet(customer).granted_balance == 150
    assert CreditGrant.objects.get(pk=soon.id).remaining == 0
    assert wallet(customer).next_grant_expiry_at is not None


def test_a_grants_remainder_expires_in_its_own_entry_and_is_never_spent(customer):
    now = timezone.now()
    credit(customer, 100)
    grant = credit(customer, 50, expires_at=now + DAY).entry
    debit(customer, 20)
    result = ledger.sweep_due(now=now + 2 * DAY)
    assert (result.wallets, result.grants_expired) == (1, 1)
    expiry = LedgerEntry.objects.get(expired_grant_id=grant.id)
    assert (expiry.amount, expiry.is_credit, expiry.actor_type) == (30, False, "system")
    assert expiry.reason == f"Expired credit {grant.id}"
    w = wallet(customer)
    assert (w.balance, w.granted_balance, w.next_grant_expiry_at) == (100, 0, None)
    assert CreditGrant.objects.get(pk=grant.id).expired_amount == 30
    assert ledger.sweep_due(now=now + 3 * DAY).wallets == 0


def test_a_posting_expires_what_is_due_first_under_the_same_lock(customer):
    past = timezone.now() + datetime.timedelta(milliseconds=300)
    credit(customer, 40, expires_at=past)
    time.sleep(0.4)
    with pytest.raises(InsufficientFunds):
        debit(customer, 1)
    credit(customer, 5)
    assert wallet(customer).balance == 5
    assert LedgerEntry.objects.filter(customer=customer, expired_grant__isnull=False).count() == 1


def test_holds_reserve_available_balance_and_resolve_once(customer):
    credit(customer, 100)
    hold = ledger.create_hold(**ids(customer), currency="USD", amount=70, actor=ACTOR,
                              expires_at=timezone.now() + DAY).hold
    assert (wallet(customer).held_balance, hold.status) == (70, "active")
    with pytest.raises(InsufficientFunds):
        debit(customer, 31)
    captured = ledger.capture_hold(**ids(customer), hold_id=hold.id, actor=ACTOR, amount=50)
    assert (captured.entry.event_type, captured.entry.hold_id) == ("payment", hold.id)
    assert (captured.hold.status, captured.hold.captured_amount) == ("captured", 50)
    assert (wallet(customer).balance, wallet(customer).held_balance) == (50, 0)
    with pytest.raises(HoldNotActive):
        ledger.void_hold(**ids(customer), hold_id=hold.id, actor=ACTOR)


def test_a_hold_on_grant_money_returns_it_when_voided(customer):
    grant = credit(customer, 60, expires_at=timezone.now() + DAY).entry
    hold = ledger.create_hold(**ids(customer), currency="USD", amount=60, actor=ACTOR,
                              expires_at=timezone.now() + 2 * DAY).hold
    assert CreditGrant.objects.get(pk=grant.id).remaining == 0
    ledger.void_hold(**ids(customer), hold_id=hold.id, actor=ACTOR)
    assert CreditGrant.objects.get(pk=grant.id).remaining == 60
    assert (wallet(customer).held_balance, wallet(customer).granted_balance) == (0, 60)


def test_an_expired_hold_is_released_by_the_sweep(customer):
    credit(customer, 10)
    hold = ledger.create_hold(**ids(customer), currency="USD", amount=10, actor=ACTOR,
                              expires_at=timezone.now() + DAY).hold
    assert ledger.sweep_due(now=timezone.now() + 2 * DAY).holds_expired == 1
    assert Hold.objects.get(pk=hold.id).status == "expired"
    assert wallet(customer).held_balance == 0


def test_a_payment_applies_what_is_available_once_per_reference(customer):
    credit(customer, 30)
    first = ledger.pay(**ids(customer), currency="USD", amount=50, reference_object_id="inv_1", actor=ACTOR)
    assert (first.payment.applied, first.wallet.balance, first.entry.event_type) == (30, 0, "payment")
    again = ledger.pay(**ids(customer), currency="USD", amount=50, reference_object_id="inv_1", actor=ACTOR)
    assert again.replayed
    assert again.payment.pk == first.payment.pk
    with pytest.raises(IdempotencyKeyReused):
        ledger.pay(**ids(customer), currency="USD", amount=51, reference_object_id="inv_1", actor=ACTOR)
    nothing = ledger.pay(**ids(customer), currency="USD", amount=5, reference_object_id="inv_2", actor=ACTOR)
    assert (nothing.payment.applied, nothing.entry) == (0, None)


def test_reversals_never_exceed_the_original(customer):
    credit(customer, 100)
    spent = debit(customer, 40, event_type="payment").entry
    first = ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR, amount=15)
    assert (first.entry.event_type, first.entry.reversal_of_id, first.entry.is_credit) == (
        "payment_reversal", spent.id, True)
    rest = ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR)
    assert rest.entry.amount == 25
    with pytest.raises(ReversalExceedsOriginal):
        ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR, amount=1)
    with pytest.raises(NotReversible):
        ledger.reverse(**ids(customer), entry_id=rest.entry.id, actor=ACTOR)
    assert wallet(customer).balance == 100


def test_reversing_a_credit_needs_the_money(customer):
    given = credit(customer, 100).entry
    debit(customer, 90)
    with pytest.raises(InsufficientFunds):
        ledger.reverse(**ids(customer), entry_id=given.id, actor=ACTOR)
    assert ledger.reverse(**ids(customer), entry_id=given.id, actor=ACTOR, amount=10).entry.amount == 10


def test_reversing_a_debit_paid_by_an_expired_grant_expires_it_again(customer):
    now = timezone.now()
    grant = credit(customer, 50, expires_at=now + DAY).entry
    credit(customer, 10)
    spent = debit(customer, 50).entry
    ledger.sweep_due(now=now + 2 * DAY)  # nothing left to expire
    assert CreditGrant.objects.get(pk=grant.id).expired_amount == 0
    # the reversal happens after the grant's expiry: what goes back to it expires at once
    with mock.patch("django.utils.timezone.now", return_value=now + 2 * DAY):
        back = ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR, amount=20)
    assert back.wallet.balance == 10
    assert CreditGrant.objects.get(pk=grant.id).expired_amount == 20


def test_reversal_keys_replay_and_are_scoped_apart_from_entry_keys(customer):
    credit(customer, 100, idempotency_key="k")
    spent = debit(customer, 40).entry
    first = ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR, amount=5, idempotency_key="k")
    again = ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR, amount=5, idempotency_key="k")
    assert again.replayed
    assert again.entry.id == first.entry.id
    with pytest.raises(IdempotencyKeyReused):
        ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR, amount=6, idempotency_key="k")


def test_a_rehearsal_answers_what_would_happen_and_writes_nothing(customer):
    credit(customer, 10)
    entries = LedgerEntry.objects.count()
    result = ledger.rehearse(ledger.post_in_transaction, business_id=customer.business_id, customer_id=customer.id,
                             currency="USD", amount=4, is_credit=False, actor=ACTOR)
    assert (result.balance, result.entry.before_balance, result.entry.after_balance) == (6, 10, 6)
    assert (wallet(customer).balance, LedgerEntry.objects.count()) == (10, entries)
    with pytest.raises(InsufficientFunds):
        ledger.rehearse(ledger.post_in_transaction, business_id=customer.business_id, customer_id=customer.id,
                        currency="USD", amount=11, is_credit=False, actor=ACTOR)


def test_reversing_a_spent_grant_then_its_debit_leaves_the_customer_whole(customer):
    """The grant's reversal took free money for what the debit had spent of it: reversing the debit
    gives that back as free money, not to the reversed grant (where it would expire)."""
    now = timezone.now()
    credit(customer, 8)
    grant = credit(customer, 10, expires_at=now + DAY).entry
    spent = debit(customer, 8).entry
    ledger.reverse(**ids(customer), entry_id=grant.id, actor=ACTOR)
    ledger.reverse(**ids(customer), entry_id=spent.id, actor=ACTOR)
    assert CreditGrant.objects.get(pk=grant.id).reversed_amount == 10
    ledger.sweep_due(now=now + 2 * DAY)
    assert wallet(customer).balance == 8


def test_a_key_reused_with_another_kind_of_entry_is_refused(customer):
    credit(customer, 100, idempotency_key="k1", event_type="refund", reference_object_id="re_1")
    again = credit(customer, 100, idempotency_key="k1", event_type="refund", reference_object_id="re_1")
    assert again.replayed
    with pytest.raises(IdempotencyKeyReused):
        credit(customer, 100, idempotency_key="k1", reference_object_id="re_1")  # a plain adjustment
    with pytest.raises(IdempotencyKeyReused):
        credit(customer, 100, idempotency_key="k1", event_type="refund", reference_object_id="re_2")
    soon = timezone.now() + DAY
    credit(customer, 5, idempotency_key="g", expires_at=soon)
    assert credit(customer, 5, idempotency_key="g", expires_at=soon).replayed
    with pytest.raises(IdempotencyKeyReused):
        credit(customer, 5, idempotency_key="g", expires_at=soon + DAY)


def test_a_batch_replays_and_refuses_by_the_same_kind_rule(customer):
    from wallets.ledger import Posting, Request

    first = [Posting(customer.id, Request("USD", 7, True, "r", "b1"), event_type="refund")]
    ledger.post_many(business_id=customer.business_id, postings=first, actor=ACTOR)
    again = ledger.post_many(business_id=customer.business_id, postings=first, actor=ACTOR)
    assert [o.decision.code for o in again.outcomes] == [ledger.Code.REPLAYED]
    other = [Posting(customer.id, Request("USD", 7, True, "r", "b1"))]
    refused = ledger.post_many(business_id=customer.business_id, postings=other, actor=ACTOR)
    assert [o.decision.code for o in refused.outcomes] == [ledger.Code.KEY_REUSED]
