"""Indexes no query uses, dropped: every posting wrote 12 B-trees on the ledger table, now 6 (8 with an
idempotency key; 20 indexes in all, now 14). ``tests/ledger/test_indexes.py`` lists every remaining index with the read it serves.

- The single-column indexes Django makes for a foreign key (``business_id``, ``customer_id``)
  where a composite index starts with the same columns and every read names the business first
  (the parents are never deleted: PROTECT, and the admin deletes none). The ledger's ``wallet_id``
  keeps its own: joins on the wallet alone (tests/support/oracle.py's invariants, under LIMIT)
  would otherwise be a nested loop over the whole (business, wallet, sequence) index.
- On PostgreSQL, the ``_like`` copies (``varchar_pattern_ops``) Django makes beside every indexed
  varchar column, primary keys included: they serve ``LIKE 'x%'``, and no query filters an id by a
  prefix (the search box and the admin look ids up exactly).
- ``ledger_customer_recent`` becomes ``ledger_customer_newest`` with ``id`` as its last key, the
  tiebreaker of the customer ledger's order: a page at any depth is read in index order, without
  a sort, and its ids come from the index alone.

On PostgreSQL everything is built and dropped CONCURRENTLY (the ledger may hold millions of rows, and
writes go on); the new index is built before the old one goes. Every step has its reverse.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.models import deletion

# (model, field) whose own index goes (db_index=False); on PostgreSQL its _like copy goes with it.
UNINDEXED = [
    ("ledgerentry", "business"), ("ledgerentry", "customer"),
    ("wallet", "business"), ("hold", "business"), ("hold", "customer"), ("creditgrant", "customer"),
    ("walletpayment", "business"), ("walletpayment", "customer"), ("webhookevent", "business"),
]
# (model, field) that keep their index (primary keys, unique keys, foreign keys still looked up
# alone) but lose its _like copy (PostgreSQL only).
LIKE_ONLY = [
    ("ledgerentry", "id"), ("ledgerentry", "wallet"), ("wallet", "id"), ("wallet", "customer"), ("hold", "id"), ("hold", "wallet"),
    ("creditgrant", "entry"), ("creditgrant", "business"), ("creditgrant", "wallet"),
    ("grantdraw", "business"), ("grantdraw", "grant"), ("grantdraw", "entry"), ("grantdraw", "hold"),
    ("walletpayment", "id"), ("walletpayment", "entry"), ("webhookevent", "id"),
]


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
    """CONCURRENTLY on PostgreSQL, a plain DROP INDEX elsewhere (SQLite)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def _names(schema_editor, model, field_name: str, *, like_only: bool) -> list[tuple[str, str]]:
    """``(index name, CREATE INDEX body)`` of the field's index and (PostgreSQL) its _like copy, as
    Django names them (``BaseDatabaseSchemaEditor._create_index_name``)."""
    field = model._meta.get_field(field_name)
    table, column = model._meta.db_table, field.column
    quote = schema_editor.quote_name
    out = []
    if not like_only:
        out.append((schema_editor._create_index_name(table, [column], suffix=""), f"{quote(table)} ({quote(column)})"))
    if schema_editor.connection.vendor == "postgresql":
        out.append((schema_editor._create_index_name(table, [column], suffix="_like"),
                    f"{quote(table)} ({quote(column)} varchar_pattern_ops)"))
    return out


def _each(apps, schema_editor):
    for group, like_only in ((UNINDEXED, False), (LIKE_ONLY, True)):
        for model_name, field_name in group:
            model = apps.get_model("wallets", model_name)
            yield from _names(schema_editor, model, field_name, like_only=like_only)


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def drop_unused(apps, schema_editor):
    for name, _ in _each(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX{_concurrently(schema_editor)} IF EXISTS {schema_editor.quote_name(name)}")


def restore_unused(apps, schema_editor):
    for name, body in _each(apps, schema_editor):
        schema_editor.execute(
            f"CREATE INDEX{_concurrently(schema_editor)} IF NOT EXISTS {schema_editor.quote_name(name)} ON {body}"
        )


def _fk(to: str, related_name: str, on_delete=deletion.PROTECT) -> models.ForeignKey:
    return models.ForeignKey(db_index=False, on_delete=on_delete, related_name=related_name, to=to)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('wallets', '0021_shard_webhook_delivery_unique'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='ledgerentry',
            index=models.Index(fields=['business', 'customer', '-created_at', '-sequence', '-id'],
                               name='ledger_customer_newest'),
        ),
        RemoveIndexConcurrentlyOnPostgres(
            model_name='ledgerentry',
            name='ledger_customer_recent',
        ),
        # The fields' state says db_index=False; the database side is the explicit, concurrent drop
        # below (AlterField would drop them one by one without CONCURRENTLY).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name='ledgerentry', name='business', field=_fk('wallets.business', '+')),
                migrations.AlterField(model_name='ledgerentry', name='customer',
                                      field=_fk('wallets.customer', 'ledger_entries')),
                migrations.AlterField(model_name='wallet', name='business', field=_fk('wallets.business', '+')),
                migrations.AlterField(model_name='hold', name='business', field=_fk('wallets.business', '+')),
                migrations.AlterField(model_name='hold', name='customer', field=_fk('wallets.customer', 'holds')),
                migrations.AlterField(model_name='creditgrant', name='customer', field=_fk('wallets.customer', '+')),
                migrations.AlterField(model_name='walletpayment', name='business', field=_fk('wallets.business', '+')),
                migrations.AlterField(model_name='walletpayment', name='customer',
                                      field=_fk('wallets.customer', 'wallet_payments')),
                migrations.AlterField(model_name='webhookevent', name='business',
                                      field=_fk('wallets.business', '+', on_delete=deletion.CASCADE)),
            ],
            database_operations=[migrations.RunPython(drop_unused, restore_unused)],
        ),
    ]
