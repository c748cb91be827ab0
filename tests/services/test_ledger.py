"""wallets.ledger.post: the one writer of balances and entries."""

import random

import pytest
from django.db.models import Sum

from wallets import ledger
from wallets.exceptions import BalanceOverflow, CustomerNotFound, IdempotencyKeyReused, InsufficientFunds
from wallets.models import LedgerEntry, Wallet
from wallets.money import INT64_MAX
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        list(Wallet.objects.order_by("id").values_list("id", "currency", "balance", "entry_count", "updated_at")),
        LedgerEntry.objects.count(),
    )


def assert_books_balance(customer):
    """Every wallet: balance == sum of its entries, the chain unbroken, sequences 1..n."""
    for wallet in Wallet.objects.filter(customer=customer):
        entries = list(LedgerEntry.objects.filter(wallet=wallet).order_by("sequence"))
        assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
        assert wallet.entry_count == len(entries)
        running = 0
        for entry in entries:
            assert entry.before_balance == running
            running += entry.signed_amount
            assert entry.after_balance == running >= 0
        assert wallet.balance == running


def test_credit_then_debit_keeps_the_chain(customer, post):
    post(customer, 500)
    result = post(customer, 200, credit=False)
    assert (result.balance, result.currency, result.customer_id, result.replayed) == (300, "USD", customer.id, False)
    entries = list(LedgerEntry.objects.filter(customer=customer).order_by("sequence"))
    assert [(e.sequence, e.before_balance, e.after_balance) for e in entries] == [(1, 0, 500), (2, 500, 300)]
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 300
    assert result.updated_at == entries[-1].created_at


def test_many_random_postings_keep_balance_equal_to_the_sum_of_entries(customer, post):
    rng = random.Random(20261122)
    refused = 0
    for _ in range(200):
        currency = rng.choice(["USD", "INR", "EUR"])
        amount = rng.randint(1, 1000)
        try:
            post(customer, amount, currency, credit=rng.random() < 0.55)
        except InsufficientFunds:
            refused += 1
    assert refused > 0  # the sequence did try overdrafts
    assert_books_balance(customer)
    for wallet in Wallet.objects.filter(customer=customer):
        signed = LedgerEntry.objects.filter(wallet=wallet, is_credit=True).aggregate(s=Sum("amount"))["s"] or 0
        signed -= LedgerEntry.objects.filter(wallet=wallet, is_credit=False).aggregate(s=Sum("amount"))["s"] or 0
        assert wallet.balance == signed


def test_overdraft_raises_and_writes_nothing(customer, post):
    post(customer, 100)
    before = snapshot()
    with pytest.raises(InsufficientFunds) as caught:
        post(customer, 101, credit=False)
    assert caught.value.code == "INSUFFICIENT_WALLET_FUNDS"
    assert snapshot() == before


def test_overflow_raises_and_writes_nothing(customer, post):
    post(customer, INT64_MAX - 1)
    post(customer, 1)
    before = snapshot()
    with pytest.raises(BalanceOverflow):
        post(customer, 1)
    assert snapshot() == before


def test_large_debit_from_a_near_maximum_balance(customer, post):
    # before + amount exceeds int64 here; the database's check must not compute it (it did: a 500).
    post(customer, INT64_MAX, "JPY")
    assert post(customer, INT64_MAX - 5, "JPY", credit=False).balance == 5
    assert post(customer, 5, "JPY", credit=False).balance == 0
    post(customer, INT64_MAX, "JPY")
    assert post(customer, INT64_MAX, "JPY", credit=False).balance == 0
    assert_books_balance(customer)


@pytest.mark.parametrize("amount", [0, -1])
def test_non_positive_amount_is_a_programming_error(customer, post, amount):
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the refusal, not its wording, is the point
        post(customer, amount)
    assert not LedgerEntry.objects.exists()


def test_refused_first_posting_in_a_currency_creates_no_wallet(customer, post):
    with pytest.raises(InsufficientFunds):
        post(customer, 1, "EUR", credit=False)
    assert not Wallet.objects.filter(customer=customer, currency="EUR").exists()
    post(customer, 1, "EUR")
    assert Wallet.objects.get(customer=customer, currency="EUR").balance == 1


def test_another_business_cannot_post_to_the_customer(customer, other_business):
    before = snapshot()
    for currency in ("USD", "EUR"):
        with pytest.raises(CustomerNotFound):
            ledger.post(
                business_id=other_business.id,
                customer_id=customer.id,
                currency=currency,
                amount=5,
                is_credit=True,
                actor=Actor.command("test"),
            )
    assert snapshot() == before


def test_entry_records_actor_event_and_reference(customer):
    result = ledger.post(
        business_id=customer.business_id,
        customer_id=customer.id,
        currency="USD",
        amount=5,
        is_credit=True,
        actor=Actor.user(42),
        reason="goodwill",
        event_type=LedgerEntry.EventType.REFUND,
        reference_object_id="ref_123",
    )
    entry = LedgerEntry.objects.get(id=result.entry.id)
    assert (entry.actor_type, entry.actor_id, entry.event_type, entry.reference_object_id, entry.reason) == (
        "user",
        "42",
        "refund",
        "ref_123",
        "goodwill",
    )


def test_idempotent_replay_returns_the_first_result(customer, post):
    first = post(customer, 700, idempotency_key="k1", reason="r")
    post(customer, 5)
    before = snapshot()
    replay = post(customer, 700, idempotency_key="k1", reason="r")
    assert snapshot() == before
    assert replay.replayed
    assert not first.replayed
    assert (replay.balance, replay.updated_at, replay.created_at, replay.entry.id) == (
        first.balance,
        first.updated_at,
        first.created_at,
        first.entry.id,
    )


@pytest.mark.parametrize(
    "change",
    [{"amount": 701}, {"currency": "INR"}, {"credit": False}, {"reason": None}, {"reason": "other"}],
    ids=["amount", "currency", "direction", "reason removed", "reason"],
)
def test_idempotency_key_with_another_body_is_refused(customer, post, change):
    post(customer, 1000, "INR")
    post(customer, 700, idempotency_key="k1", reason="r")
    before = snapshot()
    with pytest.raises(IdempotencyKeyReused):
        post(customer, **{"amount": 700, "idempotency_key": "k1", "reason": "r", **change})
    assert snapshot() == before
