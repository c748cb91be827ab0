"""The invariant oracle (``tests/support/oracle.py``) has teeth: each invariant, broken behind the
application's back (raw SQL, triggers off), is reported; sound books report nothing."""

import datetime

import pytest
from django.db import connection

from tests.support import oracle

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(customer, post):
    if connection.vendor != "postgresql":
        pytest.fail("the resilience suite runs on PostgreSQL: set DATABASE_URL=postgres://...")
    post(customer, 500, idempotency_key="k1")
    post(customer, 200, credit=False)
    post(customer, 300, currency="EUR", idempotency_key="k2")
    return customer


def broken(sql: str, params=()) -> oracle.Report:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # triggers and FK checks off
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")
        return oracle.check(cursor)


def drop_guard(constraint: str) -> None:
    """The database refuses this break itself: drop its guard inside this test's transaction (rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending deferred checks before the ALTER
        cursor.execute(f"ALTER TABLE wallets_ledgerentry DROP CONSTRAINT IF EXISTS {constraint}")
        cursor.execute(f"DROP INDEX IF EXISTS {constraint}")


def test_sound_books_report_nothing(books):
    with connection.cursor() as cursor:
        report = oracle.check(cursor)
        assert report.ok
        assert report.problems == {}
        assert oracle.violations(cursor) == []
        scoped = oracle.check(cursor, business_id=books.business_id,
                              since=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5))
        assert scoped.ok
        assert "touched since" in scoped.scope


def test_a_balance_without_its_entry(books):
    report = broken("UPDATE wallets_wallet SET balance = balance + 1 WHERE customer_id = %s AND currency = 'USD'",
                    [books.id])
    name = "balance equals the sum of its entries, entry_count their number, never negative"
    assert list(report.problems) == [name]
    assert report.counts[name] == 1
    assert not report.ok


def test_a_gap_in_the_chain(books):
    report = broken("UPDATE wallets_ledgerentry SET sequence = 7 WHERE customer_id = %s AND currency = 'USD' "
                    "AND sequence = 2", [books.id])
    assert "each entry starts where the previous one ended, sequences 1..n without gaps" in report.problems


def test_an_entry_whose_balances_disagree_with_its_amount(books):
    drop_guard("ledger_entry_balances_agree")
    report = broken("UPDATE wallets_ledgerentry SET amount = amount + 1 WHERE customer_id = %s AND sequence = 1 "
                    "AND currency = 'EUR'", [books.id])
    assert "amounts positive and balances agree with them" in report.problems  # and the wallet's sum is off


def test_an_entry_in_another_currency_than_its_wallet(books):
    report = broken("UPDATE wallets_ledgerentry SET currency = 'GBP' WHERE customer_id = %s AND currency = 'EUR'",
                    [books.id])
    assert "an entry belongs to its wallet's business, customer and currency" in report.problems


def test_an_idempotency_key_applied_twice(books):
    drop_guard("ledger_entry_idempotency_key_per_customer")
    report = broken("UPDATE wallets_ledgerentry SET idempotency_key = 'k1' WHERE idempotency_key = 'k2'")
    assert list(report.problems) == ["an idempotency key is applied at most once per customer"]
    assert report.as_dict()["problems"] == {"an idempotency key is applied at most once per customer": 1}


# --- Holds, grants, draws and reversals -----------------------------------------------------------


@pytest.fixture
def movements(books):
    from django.utils import timezone

    from wallets import ledger
    from wallets.services.actors import Actor

    actor = Actor.command("oracle-test")
    ids = {"business_id": books.business_id, "customer_id": books.id}
    later = timezone.now() + datetime.timedelta(days=1)
    grant = ledger.post(**ids, currency="USD", amount=100, is_credit=True, actor=actor, expires_at=later).entry
    spent = ledger.post(**ids, currency="USD", amount=60, is_credit=False, actor=actor).entry
    reversal = ledger.reverse(**ids, entry_id=spent.id, actor=actor, amount=10).entry
    captured = ledger.create_hold(**ids, currency="USD", amount=50, actor=actor, expires_at=later).hold
    ledger.capture_hold(**ids, hold_id=captured.id, actor=actor, amount=20)
    active = ledger.create_hold(**ids, currency="USD", amount=30, actor=actor, expires_at=later).hold
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []
    return {"grant": grant, "spent": spent, "reversal": reversal, "captured": captured, "active": active}


def test_held_money_without_its_hold(movements, books):
    report = broken("UPDATE wallets_wallet SET held_balance = held_balance - 1 WHERE customer_id = %s "
                    "AND currency = 'USD'", [books.id])
    assert list(report.problems) == [
        "held is the active holds, granted the grants' remainders, held + granted <= balance"]


def test_a_grant_remainder_that_its_draws_do_not_explain(movements):
    report = broken("UPDATE wallets_creditgrant SET remaining = remaining + 1 WHERE entry_id = %s",
                    [movements["grant"].id])
    assert "a grant's remainder and draws add up to its amount, its expired amount to its expiry entries" in (
        report.problems)
    assert "held is the active holds, granted the grants' remainders, held + granted <= balance" in report.problems


def test_a_debit_funded_by_expired_money(movements):
    report = broken("UPDATE wallets_creditgrant SET expires_at = now() - interval '1 day' WHERE entry_id = %s",
                    [movements["grant"].id])
    assert "expired money funds nothing, and nothing expires early" in report.problems


def test_a_reversal_of_a_reversal(movements):
    report = broken("UPDATE wallets_ledgerentry SET reversal_of_id = %s WHERE id = %s",
                    [movements["reversal"].id, movements["reversal"].id])
    assert "reversals go the other way, never exceed their entry, and are never reversed" in report.problems


def test_a_hold_resolved_twice(movements):
    report = broken("UPDATE wallets_hold SET status = 'voided', captured_amount = 0 WHERE id = %s",
                    [movements["captured"].id])
    assert "a hold resolves once: one capture entry if captured, none otherwise, its draws returned" in report.problems
