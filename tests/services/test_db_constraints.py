"""The database as the last line of defence: with the ORM and the services bypassed (raw SQL), the
tables still refuse what would lose or invent money."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tests.ledger.bypass import execute_behind_the_ledger
from wallets import ids
from wallets.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db


def execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def assert_refused(sql: str, params: list, *names: str, chain_guard: bool = True) -> None:
    """The statement fails with an integrity error naming one of ``names`` (the constraint's name on
    PostgreSQL; SQLite names CHECKs but lists the columns of a UNIQUE), and changes nothing.
    ``chain_guard=False`` runs it with the chain guard's triggers off, to prove that a CHECK behind
    them still holds on its own."""
    run = execute if chain_guard else execute_behind_the_ledger
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        run(sql, params)
    assert any(name in str(caught.value) for name in names), str(caught.value)


INSERT_ENTRY = """
    INSERT INTO wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, sequence, amount, is_credit,
        event_type, reason, reference_object_id, idempotency_key, before_balance, after_balance, actor_type, actor_id,
        created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'merchant_adjustment', NULL, NULL, %s, %s, %s, 'system', 'raw-sql', %s)
"""


@pytest.fixture
def usd(customer) -> Wallet:
    return Wallet.objects.get(customer=customer, currency="USD")


def insert_entry(wallet: Wallet, *, sequence=1, amount=5, is_credit=True, before=0, after=None, key=None):
    after = before + (amount if is_credit else -amount) if after is None else after
    return INSERT_ENTRY, [
        ids.ledger_entry_id(),
        wallet.business_id,
        wallet.customer_id,
        wallet.id,
        wallet.currency,
        sequence,
        amount,
        is_credit,
        key,
        before,
        after,
        timezone.now(),
    ]


def test_a_well_formed_raw_entry_is_accepted(usd):
    # The control: the statement used below is valid when its values are.
    execute(*insert_entry(usd, amount=5))
    assert LedgerEntry.objects.filter(wallet=usd).count() == 1


def test_negative_wallet_balance_is_refused(usd):
    assert_refused("UPDATE wallets_wallet SET balance = -1 WHERE id = %s", [usd.id], "wallet_balance_non_negative",
                   chain_guard=False)
    usd.refresh_from_db()
    assert usd.balance == 0


def test_negative_entry_count_is_refused(usd):
    assert_refused(
        "UPDATE wallets_wallet SET entry_count = -1 WHERE id = %s", [usd.id], "wallet_entry_count_non_negative",
        chain_guard=False,
    )


@pytest.mark.parametrize(("amount", "before"), [(0, 0), (-5, 10)], ids=["zero", "negative"])
def test_non_positive_amount_is_refused(usd, amount, before):
    # before/after agree with the amount, so only the amount's own check can refuse it.
    assert_refused(*insert_entry(usd, amount=amount, before=before), "ledger_entry_amount_positive")
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("is_credit", "before", "after"),
    [(True, 0, 6), (True, 10, 5), (False, 10, 15), (False, 10, 6)],
    ids=["credit too much", "credit backwards", "debit backwards", "debit too little"],
)
def test_before_and_after_disagreeing_with_the_amount_is_refused(usd, is_credit, before, after):
    assert_refused(
        *insert_entry(usd, amount=5, is_credit=is_credit, before=before, after=after), "ledger_entry_balances_agree"
    )


def test_entry_below_zero_is_refused(usd):
    assert_refused(*insert_entry(usd, amount=5, is_credit=False, before=0), "ledger_entry_after_non_negative")


def test_sequence_below_one_is_refused(usd):
    assert_refused(*insert_entry(usd, sequence=0), "ledger_entry_sequence_positive")


def test_duplicate_sequence_in_a_wallet_is_refused(usd):
    execute(*insert_entry(usd, sequence=1))
    assert_refused(*insert_entry(usd, sequence=1, before=5), "ledger_entry_wallet_sequence", "wallet_id, wallets_")


def test_duplicate_idempotency_key_per_customer_is_refused_across_wallets(customer, usd):
    inr = Wallet.objects.get(customer=customer, currency="INR")
    execute(*insert_entry(usd, key="order-1"))
    assert_refused(*insert_entry(inr, key="order-1"), "ledger_entry_idempotency_key_per_customer", "idempotency_key")
    # No key at all may repeat, and another customer may use the same key.
    execute(*insert_entry(usd, sequence=2, before=5))
    execute(*insert_entry(inr, sequence=1))
    assert LedgerEntry.objects.filter(customer=customer).count() == 3


def test_same_idempotency_key_for_another_customer_is_accepted(make_customer, usd):
    other = Wallet.objects.get(customer=make_customer(email="bo@example.com"), currency="USD")
    execute(*insert_entry(usd, key="order-1"))
    execute(*insert_entry(other, key="order-1"))
    assert LedgerEntry.objects.filter(idempotency_key="order-1").count() == 2


def test_duplicate_wallet_per_customer_and_currency_is_refused(usd):
    assert_refused(
        "INSERT INTO wallets_wallet (id, business_id, customer_id, currency, balance, entry_count, created_at,"
        " updated_at) VALUES (%s, %s, %s, 'USD', 0, 0, %s, %s)",
        [ids.wallet_id(), usd.business_id, usd.customer_id, timezone.now(), timezone.now()],
        "wallet_unique_per_customer_currency",
        "wallets_wallet.currency",
    )


def test_duplicate_email_in_a_business_is_refused_case_insensitively(customer, other_business):
    insert = (
        "INSERT INTO wallets_customer (id, business_id, email, name, phone_number, metadata, created_at, updated_at)"
        " VALUES (%s, %s, %s, 'Dup', NULL, '{}', %s, %s)"
    )
    now = timezone.now()
    assert_refused(
        insert,
        [ids.customer_id(), customer.business_id, "ANN@EXAMPLE.COM", now, now],
        "customer_email_unique_per_business",
    )
    # The same address in another business is another customer.
    execute(insert, [ids.customer_id(), other_business.id, "ANN@EXAMPLE.COM", now, now])


def test_updating_an_entry_is_refused_by_the_trigger(customer, post):
    entry = post(customer, 500).entry
    assert_refused(
        "UPDATE wallets_ledgerentry SET amount = 1, after_balance = 1 WHERE id = %s", [entry.id], "immutable"
    )
    assert_refused("UPDATE wallets_ledgerentry SET reason = 'edited' WHERE id = %s", [entry.id], "immutable")
    assert LedgerEntry.objects.get(id=entry.id).amount == 500


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite's trigger refuses UPDATE only: the test database must be flushable there (migration 0002)",
)
def test_deleting_an_entry_is_refused_by_the_trigger(customer, post):
    entry = post(customer, 500).entry
    assert_refused("DELETE FROM wallets_ledgerentry WHERE id = %s", [entry.id], "immutable")
    assert_refused("DELETE FROM wallets_ledgerentry", [], "immutable")
    assert LedgerEntry.objects.filter(id=entry.id).exists()
