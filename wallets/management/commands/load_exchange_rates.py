from django.core.management.base import CommandError

from wallets.exceptions import InvalidInput
from wallets.management.base import WalletsCommand
from wallets.services.exchange_rates import SNAPSHOT_PATH, exchange_rates_load_csv


class Command(WalletsCommand):
    help = """\
Load exchange rates from a CSV with the header currency,rate_to_usd,as_of (rate_to_usd = the USD
value of one major unit). All rows or none: a bad line is named and nothing is written. A rate for
an existing (currency, date) is replaced. An optional fourth column, source, names each row's
origin (else --source). Without FILE, the snapshot shipped with the code is loaded (every currency
of Dodo's enum, dated, sources named).

Examples:
  python manage.py load_exchange_rates
  python manage.py load_exchange_rates rates.csv --source 'treasury 2026-11-21'

  currency,rate_to_usd,as_of
  EUR,1.0841,2026-11-21
  INR,0.01187,2026-11-21
"""

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(SNAPSHOT_PATH),
                            help="Path of the CSV file (default: the shipped snapshot).")
        parser.add_argument("--source", default="", help="Where the rates come from (default: the file name).")

    def handle(self, *args, file: str, source: str, **options):
        try:
            count = exchange_rates_load_csv(path=file, source=source or f"file {file}")
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {file}") from exc
        except (InvalidInput, UnicodeDecodeError) as exc:
            raise CommandError(f"Nothing loaded: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Loaded {count} exchange rates from {file}."))
