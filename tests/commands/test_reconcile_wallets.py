"""reconcile_wallets: the books are proven right, and drift injected past the ORM (raw SQL,
dropped constraints, a disabled trigger) is found and named. DDL runs inside the test's
transaction on PostgreSQL, so it is rolled back with it."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from tests.commands.helpers import run_command
from tests.ledger.bypass import execute_behind_the_ledger
from wallets import ids
from wallets.models import LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="injects drift with PostgreSQL DDL (DROP INDEX, DISABLE TRIGGER)"
)


def execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def alter(sql: str) -> None:
    """DDL inside the test's transaction: run the deferred foreign-key checks first (PostgreSQL
    refuses to ALTER a table with pending trigger events)."""
    execute("SET CONSTRAINTS ALL IMMEDIATE")
    execute(sql)


def insert_entry(wallet: Wallet, *, sequence: int, before: int, amount: int, is_credit: bool = True,
                 currency: str | None = None, key: str | None = None, after: int | None = None) -> str:
    """An entry written with raw SQL, the chain guard off: only the constraints check it."""
    entry_id = ids.ledger_entry_id()
    if after is None:
        after = before + amount if is_credit else before - amount
    execute_behind_the_ledger(
        """INSERT INTO wallets_ledgerentry (id, business_id, customer_id, wallet_id, currency, sequence, amount,
               is_credit, event_type, reason, reference_object_id, idempotency_key, before_balance, after_balance,
               actor_type, actor_id, created_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'merchant_adjustment', 'raw', NULL, %s, %s, %s, 'system',
                   'test', %s)""",
        [entry_id, wallet.business_id, wallet.customer_id, wallet.id, currency or wallet.currency, sequence, amount,
         is_credit, key, before, after, timezone.now()],
    )
    return entry_id


def set_wallet(wallet: Wallet, **fields) -> None:
    assignments = ", ".join(f"{name} = %s" for name in fields)
    execute_behind_the_ledger(f"UPDATE wallets_wallet SET {assignments} WHERE id = %s",
                              [*fields.values(), wallet.id])


@pytest.fixture
def funded(customer, post):
    """Ann's USD wallet with three entries: +1000, -300, +50 (balance 750)."""
    post(customer, 1000, idempotency_key="k1")
    post(customer, 300, credit=False)
    post(customer, 50)
    return Wallet.objects.get(customer=customer, currency="USD")


def checks(problems) -> set[str]:
    return {p.check for p in problems}


def test_right_books_pass(funded, make_customer, post):
    post(make_customer(), 125, currency="JPY")
    ran = run_command("reconcile_wallets")
    assert ran.code == 0, ran.text
    assert "The books are right: checked" in ran.out
    assert "4 entries of every business" in ran.out


def test_a_balance_changed_behind_the_ledger(funded):
    set_wallet(funded, balance=751)
    ran = run_command("reconcile_wallets")
    assert ran.code == 1
    assert f"[balance] {funded.id}: balance is 751 but its entries sum to 750" in ran.out
    assert "the last after_balance 750 != the wallet's balance 751" in ran.out
    assert "2 problem(s) found" in ran.error


def test_an_entry_count_changed_behind_the_ledger(funded):
    set_wallet(funded, entry_count=2)
    problems = ledger_drift()
    assert [str(p) for p in problems] == [f"[entry_count] {funded.id}: entry_count is 2 but it has 3 entries"]


def test_an_entry_inserted_with_a_broken_chain(funded):
    entry_id = insert_entry(funded, sequence=4, before=700, amount=10)  # the wallet held 750
    set_wallet(funded, balance=760, entry_count=4)  # the cached balance agrees with the sum
    problems = ledger_drift()
    assert checks(problems) == {"chain", "last_balance"}
    chain = next(p for p in problems if p.check == "chain")
    assert chain.entry_id == entry_id
    assert "before_balance 700 != the previous entry's after_balance 750" in chain.detail


def test_a_gap_in_the_sequence(funded):
    insert_entry(funded, sequence=5, before=750, amount=10)  # 4 is missing
    set_wallet(funded, balance=760, entry_count=4)
    problems = ledger_drift()
    assert checks(problems) == {"sequence"}
    assert "entry #4 (sequence 5): expected sequence 4" in str(problems[0])


def test_a_first_entry_that_does_not_start_at_zero(customer):
    wallet = Wallet.objects.get(customer=customer, currency="INR")
    insert_entry(wallet, sequence=1, before=5, amount=10)
    set_wallet(wallet, balance=10, entry_count=1)  # the sum of the entries
    assert checks(ledger_drift()) == {"chain", "last_balance"}
    assert "the first entry starts at 5, not 0" in run_command("reconcile_wallets").out


def test_an_entry_updated_with_the_immutability_trigger_disabled(funded):
    first = LedgerEntry.objects.get(wallet=funded, sequence=1)
    with (
        pytest.raises(DatabaseError, match="immutable"),  # the trigger refuses it while it is on
        connection.cursor() as cursor,
        transaction.atomic(),
    ):
        cursor.execute("UPDATE wallets_ledgerentry SET reason = 'x' WHERE id = %s", [first.id])
    alter("ALTER TABLE wallets_ledgerentry DISABLE TRIGGER ledger_entry_immutable")
    execute("UPDATE wallets_ledgerentry SET amount = 1100, after_balance = 1100 WHERE id = %s", [first.id])
    alter("ALTER TABLE wallets_ledgerentry ENABLE TRIGGER ledger_entry_immutable")
    problems = ledger_drift()
    assert checks(problems) == {"balance", "chain"}
    assert "balance is 750 but its entries sum to 850" in str(problems)


def test_a_duplicate_idempotency_key_once_the_unique_index_is_gone(funded):
    alter("DROP INDEX ledger_entry_idempotency_key_per_customer")
    insert_entry(funded, sequence=4, before=750, amount=1, key="k1")
    set_wallet(funded, balance=751, entry_count=4)
    problems = ledger_drift()
    assert [p.check for p in problems] == ["idempotency_key"]
    assert f"customer {funded.customer_id} of {funded.business_id} used key 'k1' 2 times" in problems[0].detail


def test_a_negative_balance_once_the_check_is_gone(funded):
    alter("ALTER TABLE wallets_wallet DROP CONSTRAINT wallet_balance_non_negative")
    alter("ALTER TABLE wallets_wallet DROP CONSTRAINT wallet_held_within_balance")
    set_wallet(funded, balance=-5)
    assert {"negative_balance", "balance", "last_balance"} <= checks(ledger_drift())


def test_an_entry_posted_in_another_currency_than_its_wallet(funded):
    insert_entry(funded, sequence=4, before=750, amount=5, currency="EUR")
    set_wallet(funded, balance=755, entry_count=4)
    problems = ledger_drift()
    assert checks(problems) == {"wrong_wallet"}


def test_the_business_option_scopes_the_check(funded, other_business, make_customer, post):
    clean = make_customer(email="g@example.com", business_id=other_business.id)
    post(clean, 10)
    set_wallet(funded, balance=1)
    assert run_command("reconcile_wallets", "--business", other_business.id).code == 0
    scoped = run_command("reconcile_wallets", "--business", funded.business_id)
    assert scoped.code == 1
    assert "[balance]" in scoped.out
    assert run_command("reconcile_wallets").code == 1


def test_limit_and_bad_arguments(funded, customer):
    other = Wallet.objects.get(customer=customer, currency="INR")
    set_wallet(funded, balance=1)
    set_wallet(other, balance=2)
    assert len(ledger_drift()) == 3  # two wallet totals and one last balance
    limited = run_command("reconcile_wallets", "--limit", "1")
    assert limited.out.count("[balance]") == 1
    unknown = run_command("reconcile_wallets", "--business", "bus_missing")
    assert "No business with the id 'bus_missing'" in unknown.error
    assert run_command("reconcile_wallets", "--limit", "0").code != 0
