"""The database guards the chain (migration 0009), with the ORM and the engine bypassed: raw SQL only.

Each rule is tried on both databases: an entry must follow its wallet (owner, sequence, balance), a
wallet starts empty, and its balance changes only by an entry, which the database itself applies.
"""

import re

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from wallets import ids
from wallets.ledger import sql
from wallets.models import LedgerEntry, Wallet

pytestmark = pytest.mark.django_db

COLUMNS = ("id, business_id, customer_id, wallet_id, currency, sequence, amount, is_credit, event_type, reason, "
           "reference_object_id, idempotency_key, before_balance, after_balance, actor_type, actor_id, created_at")
ONE_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, 'merchant_adjustment', NULL, NULL, NULL, %s, %s, 'system', 'raw', %s)"


def entry_values(wallet, *, sequence, before, amount, is_credit=True, currency=None, customer_id=None):
    after = before + amount if is_credit else before - amount
    return [ids.ledger_entry_id(), wallet.business_id, customer_id or wallet.customer_id, wallet.id,
            currency or wallet.currency, sequence, amount, is_credit, before, after, timezone.now()]


def insert(*rows) -> None:
    """One INSERT statement of one or more rows (a multi-row insert is what a batch sends)."""
    statement = f"INSERT INTO wallets_ledgerentry ({COLUMNS}) VALUES " + ", ".join([ONE_ROW] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(statement, [value for row in rows for value in row])


def execute(statement, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(run, name: str) -> None:
    """``run`` fails with an integrity error naming the rule, and writes nothing."""
    before = (snapshot_wallets(), LedgerEntry.objects.count())
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        run()
    assert name in str(caught.value), str(caught.value)
    assert (snapshot_wallets(), LedgerEntry.objects.count()) == before


def snapshot_wallets():
    return list(Wallet.objects.order_by("id").values_list("id", "balance", "entry_count", "updated_at"))


@pytest.fixture
def usd(customer) -> Wallet:
    return Wallet.objects.get(customer=customer, currency="USD")


def test_a_raw_entry_that_follows_is_applied_by_the_database(usd):
    values = entry_values(usd, sequence=1, before=0, amount=700)
    insert(values)
    usd.refresh_from_db()
    assert (usd.balance, usd.entry_count, usd.updated_at) == (700, 1, values[-1])


def test_several_entries_of_one_wallet_in_one_statement_are_applied_in_order(usd):
    insert(entry_values(usd, sequence=1, before=0, amount=700),
           entry_values(usd, sequence=2, before=700, amount=200, is_credit=False),
           entry_values(usd, sequence=3, before=500, amount=5))
    usd.refresh_from_db()
    assert (usd.balance, usd.entry_count) == (505, 3)


@pytest.mark.parametrize("sequence", [2, 5])
def test_an_entry_whose_sequence_is_not_the_next_is_refused(usd, sequence):
    refused(lambda: insert(entry_values(usd, sequence=sequence, before=0, amount=5)), "ledger_entry_follows_wallet")


def test_an_entry_whose_before_balance_is_not_the_wallets_is_refused(usd):
    insert(entry_values(usd, sequence=1, before=0, amount=700))
    refused(lambda: insert(entry_values(usd, sequence=2, before=600, amount=5)), "ledger_entry_follows_wallet")


def test_one_broken_link_refuses_the_whole_statement(usd):
    refused(lambda: insert(entry_values(usd, sequence=1, before=0, amount=700),
                           entry_values(usd, sequence=2, before=699, amount=1)), "ledger_entry_follows_wallet")


def test_an_entry_in_another_currency_or_for_another_customer_than_its_wallet_is_refused(usd, make_customer):
    refused(lambda: insert(entry_values(usd, sequence=1, before=0, amount=5, currency="EUR")),
            "ledger_entry_follows_wallet")
    other = make_customer(email="other@example.com")
    refused(lambda: insert(entry_values(usd, sequence=1, before=0, amount=5, customer_id=other.id)),
            "ledger_entry_follows_wallet")


@pytest.mark.parametrize("assignment", [
    "balance = 1000",
    "balance = 1000, entry_count = entry_count + 1",  # no entry with that sequence and balance
    "entry_count = entry_count + 1",
    "balance = 0, entry_count = 0",  # back to an earlier state
])
def test_a_balance_change_without_its_entry_is_refused(usd, assignment):
    insert(entry_values(usd, sequence=1, before=0, amount=700))
    refused(lambda: execute(f"UPDATE wallets_wallet SET {assignment} WHERE id = %s", [usd.id]),
            "wallet_changes_only_by_entries")


def test_a_wallet_cannot_change_owner_or_currency(usd, make_customer):
    other = make_customer(email="other@example.com")
    refused(lambda: execute("UPDATE wallets_wallet SET currency = 'EUR' WHERE id = %s", [usd.id]),
            "wallet_changes_only_by_entries")
    refused(lambda: execute("UPDATE wallets_wallet SET customer_id = %s WHERE id = %s", [other.id, usd.id]),
            "wallet_changes_only_by_entries")


def test_other_columns_of_a_wallet_may_change(usd):
    execute("UPDATE wallets_wallet SET updated_at = %s WHERE id = %s", [timezone.now(), usd.id])


def test_a_wallet_starts_empty(customer):
    def create(balance, count):
        execute("INSERT INTO wallets_wallet (id, business_id, customer_id, currency, balance, entry_count, created_at, "
                "updated_at) VALUES (%s, %s, %s, 'EUR', %s, %s, %s, %s)",
                [ids.wallet_id(), customer.business_id, customer.id, balance, count, timezone.now(), timezone.now()])
    refused(lambda: create(500, 0), "wallet_starts_empty")
    refused(lambda: create(0, 3), "wallet_starts_empty")
    create(0, 0)
    assert Wallet.objects.filter(customer=customer, currency="EUR").exists()


def test_the_engine_writes_no_balance_itself():
    """The engine's statements never set a balance: the database applies each entry."""
    statements = sql.statements(connection.vendor)
    texts = [statements.lock, statements.lock_with_key, statements.insert, statements.lock_many,
             statements.used_keys, statements.copy]
    assert not any(re.search(r"\bUPDATE\s+\S+\s+SET\b", text, re.IGNORECASE) for text in texts)
    assert all(text.strip() for text in texts)
