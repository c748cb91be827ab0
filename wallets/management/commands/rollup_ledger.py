"""Fill analytics' ledger rollup (``LedgerRollup``) of every business up to the last closed slot, so
that a business's first analytics page does not build it. Safe to run at any time, and again."""

from wallets.management.base import WalletsCommand
from wallets.services.rollups import ledger_rollup_refresh_all


class Command(WalletsCommand):
    help = """\
Fill the analytics rollup of every business up to the last closed 15-minute slot, so that a
business's first analytics page does not build it. Safe to run at any time, and again.

Examples:
  python manage.py rollup_ledger
"""

    def handle(self, *args, **options):
        count = ledger_rollup_refresh_all()
        self.stdout.write(f"Rolled up {count} business{'es' if count != 1 else ''}.")
