"""ledger_entry_balances_agree without bigint overflow.

The old condition computed ``before_balance + amount`` for every row; PostgreSQL evaluates both
sides of the OR, so a debit from a balance near 2^63-1 (before + amount > 2^63-1) failed with
"bigint out of range" instead of being stored. Differences of the two balances cannot overflow.

On SQLite, changing a CHECK rebuilds the table, which drops its triggers: the immutability
trigger of 0002 is created again after the rebuild (and after the reverse rebuild).
"""

import django.db.models.expressions
from django.db import migrations, models

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS ledger_entry_immutable BEFORE UPDATE ON wallets_ledgerentry
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END;
"""


def recreate_sqlite_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0005_adjustment_request'),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, recreate_sqlite_trigger),
        migrations.RemoveConstraint(
            model_name='ledgerentry',
            name='ledger_entry_balances_agree',
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('amount', django.db.models.expressions.CombinedExpression(models.F('after_balance'), '-', models.F('before_balance'))), ('is_credit', True)), models.Q(('amount', django.db.models.expressions.CombinedExpression(models.F('before_balance'), '-', models.F('after_balance'))), ('is_credit', False)), _connector='OR'), name='ledger_entry_balances_agree'),
        ),
        migrations.RunPython(recreate_sqlite_trigger, migrations.RunPython.noop),
    ]
