"""A dated snapshot of exchange rates, so total_balance_usd works on a fresh, offline install."""

import csv
import datetime
from decimal import Decimal

from django.db import migrations

from wallets.services.exchange_rates import SNAPSHOT_PATH, SNAPSHOT_SOURCE


def load_snapshot(apps, schema_editor):
    ExchangeRate = apps.get_model("wallets", "ExchangeRate")
    with open(SNAPSHOT_PATH, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    ExchangeRate.objects.using(schema_editor.connection.alias).bulk_create(
        [
            ExchangeRate(
                currency=row["currency"], rate_to_usd=Decimal(row["rate_to_usd"]),
                as_of=datetime.date.fromisoformat(row["as_of"]), source=SNAPSHOT_SOURCE,
            )
            for row in rows
        ],
        ignore_conflicts=True,
    )


def unload_snapshot(apps, schema_editor):
    ExchangeRate = apps.get_model("wallets", "ExchangeRate")
    ExchangeRate.objects.using(schema_editor.connection.alias).filter(source=SNAPSHOT_SOURCE).delete()


class Migration(migrations.Migration):
    dependencies = [("wallets", "0002_immutable_ledger")]
    operations = [migrations.RunPython(load_snapshot, unload_snapshot)]
