"""The schema is ready to distribute by ``business_id`` (Citus), checked on Django's models and on
PostgreSQL's catalog (``tests/scaleout/shard_rules.py`` has the plan; docs/sharding.md the commands).

1. every table is classified: distributed, reference or local, or another app's table with no business data;
2. every distributed table has a NOT NULL ``business_id``;
3. every unique key of a distributed table includes ``business_id``, but for the listed keys on one
   random id (primary keys and one-to-ones) that the distribution migration rewrites; a new unique
   key without ``business_id`` fails here (shown on a synthetic model and a synthetic index);
4. every foreign key between distributed tables can become composite ``(business_id, x_id)``, and
   every other one points at a reference table.
"""

from pathlib import Path

import pytest
from django.db import connection, models
from django.test.utils import isolate_apps

from tests.scaleout import shard_rules as rules

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "sharding.md"
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalog")


def _catalog_tables(cursor) -> set[str]:
    cursor.execute("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')")
    return {r[0] for r in cursor.fetchall()}


def test_every_wallets_table_is_distributed_reference_or_local():
    tables = {m._meta.db_table for m in rules.wallets_models()}
    assert set(rules.REFERENCE_TABLES) <= tables
    assert set(rules.LOCAL_TABLES) <= tables
    assert rules.distributed_tables() >= {"wallets_customer", "wallets_wallet", "wallets_ledgerentry"}


@postgres_only
def test_every_table_in_the_database_is_classified():
    with connection.cursor() as cursor:
        tables = _catalog_tables(cursor)
    wallets = {m._meta.db_table for m in rules.wallets_models()}
    unclassified = {t for t in tables - wallets if not any(t.startswith(p) for p in rules.OTHER_APPS)}
    assert not unclassified, f"tables with no place in tests/scaleout/shard_rules.py's plan: {unclassified}"


def test_distributed_models_have_a_required_business_foreign_key():
    for table in rules.distributed_tables():
        model = next(m for m in rules.wallets_models() if m._meta.db_table == table)
        field = model._meta.get_field("business")
        assert field.column == rules.SHARD_KEY, table
        assert not field.null, table
        assert field.related_model._meta.db_table == "wallets_business", table


@postgres_only
def test_distributed_tables_have_not_null_business_id_in_the_catalog():
    with connection.cursor() as cursor:
        missing = [t for t in sorted(rules.distributed_tables()) if not rules.has_not_null_shard_key(cursor, t)]
    assert not missing


def test_model_unique_keys_include_business_id_but_the_listed_random_ids():
    keys = [k for m in rules.wallets_models() if m._meta.db_table in rules.distributed_tables()
            for k in rules.model_unique_keys(m)]
    without = {(k.table, k.columns) for k in rules.unique_keys_without_shard_key(keys)}
    assert without == set(rules.UNIQUE_REWRITTEN_AT_DISTRIBUTION), (
        "a unique key without business_id (add business_id to it) or a stale entry in "
        f"UNIQUE_REWRITTEN_AT_DISTRIBUTION: {without ^ set(rules.UNIQUE_REWRITTEN_AT_DISTRIBUTION)}")


@postgres_only
def test_catalog_unique_indexes_include_business_id_but_the_listed_random_ids():
    with connection.cursor() as cursor:
        keys = rules.catalog_unique_keys(cursor, rules.distributed_tables())
    without = {(k.table, k.columns) for k in rules.unique_keys_without_shard_key(keys)}
    assert without == set(rules.UNIQUE_REWRITTEN_AT_DISTRIBUTION), without ^ set(rules.UNIQUE_REWRITTEN_AT_DISTRIBUTION)
    # Every exception is a single random-id column, either the primary key or a one-to-one.
    for table, columns in rules.UNIQUE_REWRITTEN_AT_DISTRIBUTION:
        assert len(columns) == 1, (table, columns)
        assert columns == ("id",) or columns[0].endswith("_id"), (table, columns)


@isolate_apps("wallets")
def test_the_model_check_fails_on_a_unique_key_without_business_id():
    class Bad(models.Model):  # noqa: DJ008
        business = models.ForeignKey("wallets.Business", on_delete=models.PROTECT)
        id = models.CharField(primary_key=True, max_length=30)
        reference = models.CharField(max_length=30)
        slug = models.CharField(max_length=30, unique=True)

        class Meta:
            app_label = "wallets"
            constraints = [
                models.UniqueConstraint(fields=["reference"], name="bad_reference_unique"),
                models.UniqueConstraint(fields=["business", "reference"], name="good_reference_unique"),
            ]

    flagged = {k.name for k in rules.unique_keys_without_shard_key(rules.model_unique_keys(Bad))}
    assert flagged == {"primary key", "slug (unique=True)", "bad_reference_unique"}


@postgres_only
def test_the_catalog_check_fails_on_a_unique_index_without_business_id():
    with connection.cursor() as cursor:
        # Inside the test's transaction: rolled back afterwards.
        cursor.execute("CREATE UNIQUE INDEX shard_ready_bad ON wallets_ledgerentry (reference_object_id)")
        cursor.execute("CREATE UNIQUE INDEX shard_ready_good ON wallets_ledgerentry (business_id, reference_object_id)")
        keys = rules.catalog_unique_keys(cursor, {"wallets_ledgerentry"})
    flagged = {k.name for k in rules.unique_keys_without_shard_key(keys)}
    assert "shard_ready_bad" in flagged
    assert "shard_ready_good" not in flagged


@postgres_only
def test_every_foreign_key_of_a_distributed_table_can_be_colocated():
    reference = set(rules.REFERENCE_TABLES) | {"auth_user"}
    with connection.cursor() as cursor:
        fks = rules.catalog_foreign_keys(cursor, rules.distributed_tables())
        assert rules.foreign_key_problems(cursor, fks, rules.distributed_tables(), reference) == []
    between = [fk for fk in fks if fk.target in rules.distributed_tables()]
    assert len(between) >= 20
    # None is composite today (Django's ForeignKey is one column): docs/sharding.md lists each one
    # with the composite FK that the distribution migration creates.
    text = DOC.read_text()
    undocumented = [f"{fk.table}.{fk.columns[0]}" for fk in between if f"{fk.table}.{fk.columns[0]}" not in text]
    assert not undocumented, f"FKs missing from docs/sharding.md's table: {undocumented}"


@postgres_only
def test_the_foreign_key_check_fails_on_a_key_that_cannot_be_colocated():
    reference = set(rules.REFERENCE_TABLES) | {"auth_user"}
    distributed = rules.distributed_tables()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE shard_ready_local (id varchar(40) PRIMARY KEY)")
        cursor.execute("ALTER TABLE wallets_hold ADD CONSTRAINT shard_ready_bad_local "
                       "FOREIGN KEY (customer_id) REFERENCES shard_ready_local (id) NOT VALID")
        cursor.execute("CREATE UNIQUE INDEX shard_ready_ref ON wallets_ledgerentry (reference_object_id)")
        cursor.execute("ALTER TABLE wallets_hold ADD CONSTRAINT shard_ready_bad_column "
                       "FOREIGN KEY (idempotency_key) REFERENCES wallets_ledgerentry (reference_object_id) NOT VALID")
        fks = rules.catalog_foreign_keys(cursor, {"wallets_hold"})
        problems = rules.foreign_key_problems(cursor, fks, distributed, reference)
    assert len(problems) == 2
    assert any("shard_ready_bad_local" in p for p in problems)
    assert any("shard_ready_bad_column" in p and "not its primary key" in p for p in problems)
