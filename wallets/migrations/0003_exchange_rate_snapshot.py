"""A dated snapshot of exchange rates, so total_balance_usd works on a fresh, offline install.

Frozen: a migration must mean the same thing forever, so it imports no live code and reads no
file that may change. The rows and the source label are copied here from
``wallets/data/exchange_rates_2026-10-30.csv`` and ``wallets.services.exchange_rates.SNAPSHOT_SOURCE``
as they were when this migration was written; newer snapshots come in a later migration or through
``load_exchange_rates``.
"""

import datetime
from decimal import Decimal

from django.db import migrations

SNAPSHOT_SOURCE = "ECB reference rates via currency_converter, 2026-10-30"
SNAPSHOT_AS_OF = datetime.date(2026, 10, 30)
# (currency, rate_to_usd): USD per one unit of the currency.
SNAPSHOT_RATES = (
    ("AUD", "0.7024647887"),
    ("BRL", "0.1840769788"),
    ("CAD", "0.7158785083"),
    ("CHF", "1.2151403089"),
    ("CNY", "0.1503107930"),
    ("CZK", "0.0458752515"),
    ("DKK", "0.1494881916"),
    ("EUR", "1.1172000000"),
    ("GBP", "1.3398896618"),
    ("HKD", "0.1274585862"),
    ("HUF", "0.0030497093"),
    ("IDR", "0.0000551019"),
    ("ILS", "0.3196566524"),
    ("INR", "0.0105312771"),
    ("JPY", "0.0063592896"),
    ("KRW", "0.0007489140"),
    ("MXN", "0.0528884618"),
    ("MYR", "0.2464864865"),
    ("NOK", "0.1083397983"),
    ("NZD", "0.5635877516"),
    ("PHP", "0.0157035829"),
    ("PLN", "0.2536899950"),
    ("RON", "0.2090295059"),
    ("SEK", "0.1017671707"),
    ("SGD", "0.7822433833"),
    ("THB", "0.0296473211"),
    ("TRY", "0.0200209672"),
    ("USD", "1.0000000000"),
    ("ZAR", "0.0599179427"),
)


def load_snapshot(apps, schema_editor):
    ExchangeRate = apps.get_model("wallets", "ExchangeRate")
    ExchangeRate.objects.using(schema_editor.connection.alias).bulk_create(
        [
            ExchangeRate(currency=currency, rate_to_usd=Decimal(rate), as_of=SNAPSHOT_AS_OF, source=SNAPSHOT_SOURCE)
            for currency, rate in SNAPSHOT_RATES
        ],
        ignore_conflicts=True,
    )


def unload_snapshot(apps, schema_editor):
    ExchangeRate = apps.get_model("wallets", "ExchangeRate")
    ExchangeRate.objects.using(schema_editor.connection.alias).filter(source=SNAPSHOT_SOURCE).delete()


class Migration(migrations.Migration):
    dependencies = [("wallets", "0002_immutable_ledger")]
    operations = [migrations.RunPython(load_snapshot, unload_snapshot)]
