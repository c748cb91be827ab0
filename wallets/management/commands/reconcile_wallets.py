import time

from django.core.management.base import CommandError

from wallets.management.base import WalletsCommand, business_or_error, positive_int
from wallets.models import LedgerEntry, Wallet
from wallets.selectors.reconcile import DEFAULT_LIMIT, ledger_drift


class Command(WalletsCommand):
    help = """\
Prove the books: every wallet's balance equals the sum of its entries and its entry_count their
number; per wallet the entries run sequence 1..n, the first starts at 0 and each before_balance
is the previous after_balance, ending at the wallet's balance; nothing is negative; every
idempotency key is used once per customer. Reads only (no locks), with set-based SQL.

Prints each problem and exits with status 1 if there is any; 0 when the books are right.

Examples:
  python manage.py reconcile_wallets
  python manage.py reconcile_wallets --business bus_TV52uJWWXt2yIoBBxpjaa --limit 50
"""

    def add_arguments(self, parser):
        parser.add_argument("--business", help="Only this business id (bus_…); default: every business.")
        parser.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT,
                            help=f"Report at most this many problems per check (default {DEFAULT_LIMIT}).")

    def handle(self, *args, business, limit, **options):
        business_id = business_or_error(business).id if business is not None else None
        started = time.perf_counter()
        problems = ledger_drift(business_id=business_id, limit=limit)
        elapsed = time.perf_counter() - started
        wallets, entries = Wallet.objects.all(), LedgerEntry.objects.all()
        if business_id:
            wallets, entries = wallets.filter(business_id=business_id), entries.filter(business_id=business_id)
        scope = f"business {business_id}" if business_id else "every business"
        checked = f"{wallets.count():,} wallets and {entries.count():,} entries of {scope} in {elapsed:.2f}s"
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"The books are right: checked {checked}."))
            return
        for problem in problems:
            self.stdout.write(self.style.ERROR(str(problem)))
        raise CommandError(f"{len(problems)} problem(s) found; checked {checked}.")
