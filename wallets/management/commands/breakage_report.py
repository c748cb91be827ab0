import csv
import datetime

from django.core.management.base import CommandError

from wallets.management.base import WalletsCommand, business_or_error
from wallets.money import format_money
from wallets.selectors.breakage import PERIODS, breakage_by_period

COLUMNS = ["business_id", "period", "currency", "expired", "expired_display", "expiry_entries"]


def _day(option: str, text: str | None) -> datetime.date | None:
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"{option} {text!r} is not a date: use YYYY-MM-DD (a UTC day), e.g. 2026-01-31.") from None


class Command(WalletsCommand):
    help = """\
Write a CSV of breakage to standard output: credit that expired unspent (the expiry entries of
expiring credit, LedgerEntry.expired_grant set), summed per business, UTC period and currency.
The dashboard's Breakage page shows the same numbers (wallets.selectors.breakage).

--from and --to are UTC days (YYYY-MM-DD), both included. Columns: business_id, period (YYYY-MM
for --period month, YYYY-MM-DD for day), currency, expired (minor units), expired_display,
expiry_entries.

Examples:
  python manage.py breakage_report > breakage.csv
  python manage.py breakage_report --business bus_TV52uJWWXt2yIoBBxpjaa --from 2026-01-01 --to 2026-03-31
  python manage.py breakage_report --period day --from 2026-03-01
"""

    def add_arguments(self, parser):
        parser.add_argument("--business", help="Only this business id (bus_…); default: every business.")
        parser.add_argument("--from", dest="date_from", metavar="DATE", help="First UTC day included (YYYY-MM-DD).")
        parser.add_argument("--to", dest="date_to", metavar="DATE", help="Last UTC day included (YYYY-MM-DD).")
        parser.add_argument("--period", choices=PERIODS, default="month",
                            help="Sum per UTC month (default) or per UTC day.")

    def handle(self, *args, business, date_from, date_to, period, **options):
        start, end = _day("--from", date_from), _day("--to", date_to)
        if start and end and start > end:
            raise CommandError(f"--from {start} is after --to {end}.")
        business_id = business_or_error(business).id if business is not None else None
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in breakage_by_period(business_id=business_id, start=start, end=end, period=period):
            label = row.period.strftime("%Y-%m") if period == "month" else row.period.isoformat()
            writer.writerow([row.business_id, label, row.currency, row.amount,
                             format_money(row.amount, row.currency), row.entries])
