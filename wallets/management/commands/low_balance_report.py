import csv

from django.core.management.base import CommandError

from wallets.csv_cells import csv_safe_text
from wallets.management.base import WalletsCommand, business_or_error, non_negative_int
from wallets.models import Business
from wallets.money import format_money, is_supported_currency
from wallets.selectors import wallet_low_balance_list

COLUMNS = ["business_id", "customer_id", "email", "name", "currency", "balance", "balance_display", "threshold",
           "threshold_display", "updated_at"]


class Command(WalletsCommand):
    help = """\
Write a CSV of low wallets to standard output: wallets whose balance is below their currency's
threshold (the business's own low-balance threshold for the currency, else the default
WALLET_LOW_BALANCE_DEFAULT major units), or below --below.

--below is in MINOR units of the currency (cents, paise; 1000 is 10.00 USD, ¥1000, KWD 1.000)
and therefore needs --currency. Wallets that never had an entry are left out unless
--include-unused. Columns: business_id, customer_id, email, name, currency, balance (minor
units), balance_display, threshold (minor units), threshold_display, updated_at. Names and
emails that a spreadsheet could read as a formula (= + - @ first) start with a ' (see
wallets.csv_cells).

Examples:
  python manage.py low_balance_report > low.csv
  python manage.py low_balance_report --business bus_TV52uJWWXt2yIoBBxpjaa --currency USD
  python manage.py low_balance_report --business bus_TV52uJWWXt2yIoBBxpjaa --currency INR --below 50000
"""

    def add_arguments(self, parser):
        parser.add_argument("--business", help="Only this business id (bus_…); default: every business.")
        parser.add_argument("--currency", help="Only this currency, an upper-case ISO 4217 code (e.g. USD).")
        parser.add_argument("--below", type=non_negative_int, metavar="MINOR_UNITS",
                            help="Low means below this many minor units of --currency (overrides the thresholds).")
        parser.add_argument("--include-unused", action="store_true",
                            help="Also list wallets that never had an entry (balance 0 since creation).")

    def handle(self, *args, business, currency, below, include_unused, **options):
        if currency is not None and not is_supported_currency(currency.strip()):
            raise CommandError(f"Unknown currency {currency!r}: use an upper-case ISO 4217 code such as USD.")
        currency = currency.strip() if currency else None
        if below is not None and currency is None:
            raise CommandError("--below is in minor units of one currency: give --currency too (e.g. --currency USD).")
        businesses = [business_or_error(business)] if business is not None else list(Business.objects.order_by("id"))
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for biz in businesses:
            wallets = wallet_low_balance_list(
                business_id=biz.id, currency=currency, below=below, include_unused=include_unused
            )
            for wallet in wallets.order_by("currency", "balance", "customer_id"):
                threshold = below if below is not None else wallet.threshold
                writer.writerow([
                    biz.id, wallet.customer_id, csv_safe_text(wallet.customer.email),
                    csv_safe_text(wallet.customer.name), wallet.currency,
                    wallet.balance, format_money(wallet.balance, wallet.currency), threshold,
                    format_money(threshold, wallet.currency), wallet.updated_at.isoformat(),
                ])
