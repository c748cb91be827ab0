"""Ledger entries are append-only: the database refuses UPDATE and DELETE on them.

PostgreSQL: a trigger raising an exception. SQLite: a trigger refusing UPDATE (DELETE stays
possible there only so the test database can be flushed; the ORM refuses deletes through
PROTECT foreign keys and the read-only admin).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION wallets_ledger_entry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are immutable: % refused on %', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_entry_immutable
    BEFORE UPDATE OR DELETE ON wallets_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION wallets_ledger_entry_immutable();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_immutable ON wallets_ledgerentry;
DROP FUNCTION IF EXISTS wallets_ledger_entry_immutable();
"""
SQLITE_FORWARD = """
CREATE TRIGGER ledger_entry_immutable BEFORE UPDATE ON wallets_ledgerentry
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
"""
SQLITE_REVERSE = "DROP TRIGGER IF EXISTS ledger_entry_immutable;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial")]
    operations = [migrations.RunPython(forward, reverse)]
