"""Two held debits racing for the same available money on PostgreSQL (real threads, each with its
own connection, released together): the wallet lock taken by the hold serialises them, so exactly
one is accepted and the other is refused in money."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tests.services.test_concurrency import run_together
from wallets.exceptions import InsufficientFunds
from wallets.models import AdjustmentRequest, CurrencyPolicy, Hold, Membership, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.approvals import adjustment_submit

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite serializes every writer (BEGIN IMMEDIATE): there are no concurrent row locks to prove",
    ),
]


@pytest.mark.parametrize("rounds", range(3))
def test_two_requests_for_the_same_available_money_one_is_accepted(customer, business, post, rounds):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=5000)
    post(customer, 10625)
    makers = []
    for n in range(2):
        user = get_user_model().objects.create_user(f"maker{n}", password="pw-123456789")
        Membership.objects.create(user=user, business=business, role="operator")
        makers.append(user)
    amounts = [6000, 10000]

    def work(i):
        return adjustment_submit(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=amounts[i],
                                 is_credit=False, reason=f"Chargeback {i}", idempotency_key=f"dash_race{rounds}{i}xx",
                                 user=makers[i])

    results = run_together(2, work)
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(accepted) == 1, results
    assert len(refused) == 1, results
    assert isinstance(refused[0], InsufficientFunds)
    assert "available in USD" in refused[0].message
    request = AdjustmentRequest.objects.get()
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    assert (wallet.balance, wallet.held_balance) == (10625, request.amount)
    assert list(Hold.objects.values_list("pk", flat=True)) == [request.hold_id]
    assert ledger_drift(business_id=business.pk) == []


def test_a_double_submit_racing_itself_makes_one_request_and_one_hold(customer, business, post):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=5000)
    post(customer, 10625)
    maker = get_user_model().objects.create_user("maker", password="pw-123456789")
    Membership.objects.create(user=maker, business=business, role="operator")

    def work(i):
        return adjustment_submit(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=6000,
                                 is_credit=False, reason="Chargeback", idempotency_key="dash_doubleclick1",
                                 user=maker).request.pk

    results = run_together(4, work)
    request = AdjustmentRequest.objects.get()
    assert results == [request.pk] * 4
    assert list(Hold.objects.values_list("pk", flat=True)) == [request.hold_id]
    assert Wallet.objects.get(customer=customer, currency="USD").held_balance == 6000
