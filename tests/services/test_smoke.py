from wallets.models import LedgerEntry, Wallet


def test_credit_then_debit_keeps_chain(customer, post):
    post(customer, 500)
    result = post(customer, 200, credit=False)
    assert result.balance == 300
    entries = list(LedgerEntry.objects.filter(customer=customer).order_by("sequence"))
    assert [(e.before_balance, e.after_balance) for e in entries] == [(0, 500), (500, 300)]
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 300
