"""The indexes of the tables every posting writes, each with the read that needs it, and the plans of
the main reads: adding or dropping an index is a conscious change (migration 0021 dropped the ones
nothing used; docs/scaling.md has the figures).

Every index costs every posting a B-tree insert. An entry below names the query that reads the
index; a test further down EXPLAINs the main ones on a few thousand rows."""

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from wallets import ledger, selectors
from wallets.models import LedgerEntry
from wallets.selectors.entries import with_entry_extensions
from wallets.selectors.statements import wallet_list_as_of, wallet_statement
from wallets.services.actors import Actor

PK = "<primary key>"

EXPECTED: dict[str, dict[str, str]] = {
    "wallets_ledgerentry": {
        PK: "an entry by id (API, dashboard, webhooks' render, reversals' original)",
        "ledger_customer_newest": "the customer's ledger, newest first, at any depth (API list and its deep pages "
                                  "as an index-only deferred join, dashboard customer page, balance history)",
        "ledger_customer_ccy_recent": "one wallet's entries by time: statements (totals index-only), as-of "
                                      "balances, the API list filtered on a currency",
        "ledger_business_recent": "the business's entries by time: dashboard ledger, overview, analytics, rollups "
                                  "(covering)",
        "ledger_entry_wallet_sequence": "unique (business, wallet, sequence): the chain; a wallet's last entry "
                                        "(activity)",
        "wallets_ledgerentry_wallet_id_686913ed": "the wallet alone: the oracle's invariants join on it, the "
                                                  "admin's wal_ search, the runway's burn per wallet",
        "ledger_entry_idempotency_key_per_customer": "unique: the posting's idempotency lookup (lock_with_key)",
        "ledger_entry_reversal_key_per_customer": "unique: a reversal's idempotency lookup",
        "ledger_reference": "the customer's ledger filtered on a reference (API filter, payments)",
        "ledger_business_reference": "the search box: a reference across the business's customers",
        "ledger_business_idem_key": "the search box: an idempotency key across the business's customers",
        "ledger_reversal_of": "an entry's reversals (reversed_total, the reversal rule, the admin)",
        "ledger_expired_grant": "a grant's expiry entries (movements, breakage report)",
        "ledger_hold": "a hold's capture entries (movements)",
    },
    "wallets_wallet": {
        PK: "the wallet lock by id, the runway",
        "wallet_unique_per_customer_currency": "unique: the posting's lock by (business, customer, currency)",
        "wallet_business_ccy_balance": "the low-balance page; the loose index scan of the currencies in use",
        "wallets_wallet_customer_id_87ad5620": "the admin's customer list prefetches wallets by customer_id alone",
    },
    "wallets_webhookevent": {
        PK: "an event by id (dispatch)",
        "webhook_event_outbox": "the dispatcher's undelivered events, oldest first",
        "webhook_event_business": "the dashboard's event list of a business",
        "webhook_event_entry": "an entry's events",
    },
    "wallets_hold": {
        PK: "a hold by id (capture, void, render)",
        "hold_customer_recent": "the customer's holds, newest first",
        "hold_idempotency_key_per_customer": "unique: a hold's idempotency lookup",
        "hold_wallet_active": "a wallet's active holds (API)",
        "hold_active_expiry": "the expiry sweep",
        "wallets_hold_wallet_id_0d1a04fe": "the engine loads a wallet's active holds by wallet_id alone",
    },
    "wallets_creditgrant": {
        PK: "a grant by its entry (entry extensions, reversals)",
        "grant_wallet_active": "a wallet's active grants, soonest expiry first",
        "grant_active_expiry": "the expiry sweep",
        "wallets_creditgrant_business_id_062e8f69": "the admin's grant list filtered on a business",
        "wallets_creditgrant_wallet_id_b1ee29c3": "the engine loads a wallet's grants by wallet_id alone",
    },
    "wallets_grantdraw": {
        PK: "a draw by id",
        "wallets_grantdraw_business_id_96ebce46": "the admin's draw list filtered on a business",
        "wallets_grantdraw_entry_id_3a5160b4": "an entry's draws (reversal, movements)",
        "wallets_grantdraw_grant_id_a4182e57": "a grant's draws (reconcile)",
        "wallets_grantdraw_hold_id_896dc6d0": "a hold's draws (capture, void)",
    },
    "wallets_walletpayment": {
        PK: "a payment by id",
        "wallet_payment_once": "unique: one payment per (business, customer, currency, reference)",
        "wallets_walletpayment_entry_id_key": "unique: one payment per entry",
    },
}


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    names = set()
    for name, info in found.items():
        if info["primary_key"]:
            names.add(PK)
        elif info["index"] and not name.startswith("sqlite_autoindex"):
            names.add(name)
        elif info["unique"] and info["columns"] and connection.vendor == "postgresql":
            names.add(name)  # a unique constraint: its index carries its name
    return names


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_each_index_is_the_expected_one_with_its_reason(table):
    expected = set(EXPECTED[table])
    if connection.vendor == "sqlite":
        # SQLite keeps a unique constraint without a condition as an unnamed autoindex.
        expected -= {"ledger_entry_wallet_sequence", "wallet_unique_per_customer_currency", "wallet_payment_once",
                     "wallets_walletpayment_entry_id_key"}
    assert _indexes(table) == expected


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "sqlite", reason="varchar_pattern_ops copies are PostgreSQL's")
def test_no_like_copy_is_left_on_the_tables_the_posting_writes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
                       [list(EXPECTED), "%varchar_pattern_ops%"])
        assert cursor.fetchall() == []
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ledger_customer_newest'")
        (definition,) = cursor.fetchone()
    assert definition.endswith("(business_id, customer_id, created_at DESC, sequence DESC, id DESC)")


# --- the main reads use their index (PostgreSQL's plans, on a few thousand rows) --------------------

ACTOR = Actor.command("test")
WHALE_ENTRIES = 2400


@pytest.fixture
def loaded(business, make_customer):
    """A whale with 2,400 entries in USD and 100 in EUR (each batch at one instant: ties in time, and
    the USD and EUR wallets share sequence numbers), beside 40 small customers; vacuumed (so the
    tests are transactional: VACUUM runs outside a transaction)."""
    whale = make_customer(email="whale@example.com")
    others = [make_customer(email=f"o{i}@example.com") for i in range(40)]
    for batch in range(WHALE_ENTRIES // 400):
        ledger.post_many(business_id=business.pk, actor=ACTOR, postings=[
            ledger.Posting(whale.id, ledger.Request("USD", 1 + i % 7, True, "bulk", idempotency_key=f"k{batch}-{i}"))
            for i in range(400)])
    ledger.post_many(business_id=business.pk, actor=ACTOR, postings=[
        ledger.Posting(whale.id, ledger.Request("EUR", 5, True, "eur")) for _ in range(100)])
    ledger.post_many(business_id=business.pk, actor=ACTOR, postings=[
        ledger.Posting(c.id, ledger.Request("USD", 10, True, "small")) for c in others for _ in range(3)])
    with connection.cursor() as cursor:  # what autovacuum does: statistics, and the visibility map
        cursor.execute("VACUUM ANALYZE wallets_ledgerentry")
    return whale


def _plans(run) -> list[str]:
    """The plan of every query ``run`` sends (EXPLAIN of the SQL exactly as sent), with sequential
    scans off: the question is which index the planner has, not whether a scan of a small table
    would be as fast."""
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in captured.captured_queries:
            if query["sql"].lstrip().upper().startswith("SELECT"):
                cursor.execute("EXPLAIN " + query["sql"])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def _one_plan(run) -> str:
    plans = _plans(run)
    assert len(plans) == 1, plans
    return plans[0]


postgres_plans = pytest.mark.skipif(connection.vendor == "sqlite", reason="PostgreSQL's plans")


@postgres_plans
@pytest.mark.django_db(transaction=True)
def test_the_api_ledger_first_page_is_read_in_index_order(business, loaded):
    plan = _one_plan(lambda: list(with_entry_extensions(
        selectors.ledger_entry_list(business_id=business.pk, customer_id=loaded.pk))[:10]))
    assert "Index Scan using ledger_customer_newest" in plan, plan
    assert "Sort" not in plan, plan  # the index gives the whole order, id included


@postgres_plans
@pytest.mark.django_db(transaction=True)
def test_a_deep_ledger_page_takes_its_ids_from_the_index_alone(business, loaded):
    plan = _one_plan(lambda: list(with_entry_extensions(
        selectors.ledger_entry_list(business_id=business.pk, customer_id=loaded.pk))[2000:2010]))
    assert "Index Only Scan using ledger_customer_newest" in plan, plan
    assert "Index Scan using wallets_ledgerentry_pkey" in plan, plan  # then the page's 10 rows by id
    assert "Incremental Sort" not in plan, plan
    assert "Seq Scan" not in plan, plan


@postgres_plans
@pytest.mark.django_db(transaction=True)
def test_the_statement_totals_come_from_the_covering_index_alone(business, loaded):
    first = LedgerEntry.objects.filter(customer_id=loaded.pk).order_by("created_at").first().created_at
    start, end = first + datetime.timedelta(microseconds=1), first + datetime.timedelta(days=1)
    figures, page = _plans(lambda: list(wallet_statement(
        business_id=business.pk, customer_id=loaded.pk, currency="USD", start=start, end=end).entries[:10]))
    # Opening, closing and the totals, each from a covering index alone (ledger_customer_ccy_recent;
    # on this data, where the whale is most of the business, the planner may take the totals from
    # ledger_business_recent, as covering), never the table.
    assert figures.count("Index Only Scan using ledger_customer_ccy_recent") >= 2, figures
    assert figures.count("Index Only Scan using ledger_") == 3, figures
    assert "Index Scan using ledger_" not in figures, figures
    assert "Seq Scan" not in figures, figures
    assert "Bitmap" not in figures, figures
    assert "Index Scan Backward using ledger_customer_ccy_recent" in page, page
    assert "Sort" not in page, page  # (created_at, sequence) is the index's own order


@postgres_plans
@pytest.mark.django_db(transaction=True)
def test_as_of_balances_are_two_index_probes_per_wallet(business, loaded):
    now = datetime.datetime.now(datetime.UTC)
    plan = _one_plan(lambda: wallet_list_as_of(business_id=business.pk, customer_id=loaded.pk, as_of=now))
    assert plan.count("Index Only Scan using ledger_customer_ccy_recent") == 2, plan
    assert "Seq Scan" not in plan, plan


@postgres_plans
@pytest.mark.django_db(transaction=True)
def test_the_idempotency_lookup_is_a_probe_of_its_unique_index(business, loaded):
    """The engine's lock_with_key joins the wallet to its customer's entry with the key (the ORM
    form of that join's entry side: business, customer, key, not a reversal)."""
    plan = _one_plan(lambda: list(LedgerEntry.objects.filter(
        business_id=business.pk, customer_id=loaded.pk, idempotency_key="k0-7", reversal_of__isnull=True,
    ).order_by()[:1]))
    # The unique index, or (the planner's choice: a key is in one customer's entries only) the
    # search box's (business, key): a probe on the key either way.
    assert ("Index Scan using ledger_entry_idempotency_key_per_customer" in plan
            or "Index Scan using ledger_business_idem_key" in plan), plan
    assert "idempotency_key)::text = 'k0-7'" in plan.split("Index Cond:")[1].splitlines()[0], plan


@postgres_plans
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_ledger_default_order_reads_the_business_index(business, loaded):
    plan = _one_plan(lambda: list(selectors.ledger_entry_list_business(business_id=business.pk)[:25]))
    assert "Index Scan using ledger_business_recent" in plan, plan
    assert "Seq Scan" not in plan, plan
