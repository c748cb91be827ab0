"""Helpers for the command tests: run a command (in process, or as ``manage.py`` in a child) and
get its exit status and output, write CSV text, read balances, and check the whole books with
``ledger_drift``."""

import csv
import io
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from wallets.models import LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift

HEADER = ("customer_id", "amount", "currency", "reason")


@dataclass
class Ran:
    code: int
    out: str
    err: str
    error: str = ""  # the CommandError's message, if any

    @property
    def text(self) -> str:
        return self.out + self.err + self.error


def run_command(name: str, *args, stdin: str | bytes | None = None, **options) -> Ran:
    """Run a command in-process like ``manage.py`` would: exit status 0, or the CommandError's."""
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        raw = stdin.encode() if isinstance(stdin, str) else stdin
        options["stdin"] = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    try:
        call_command(name, *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        return Ran(exc.returncode, out.getvalue(), err.getvalue(), str(exc))
    return Ran(0, out.getvalue(), err.getvalue())


def csv_text(rows: list[list], header=HEADER) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def balance(customer, currency="USD") -> int:
    wallet = Wallet.objects.filter(customer=customer, currency=currency).first()
    return wallet.balance if wallet else 0


def entry_count(**filters) -> int:
    return LedgerEntry.objects.filter(**filters).count()


def assert_books_right(business_id: str | None = None) -> None:
    problems = ledger_drift(business_id=business_id)
    assert problems == [], [str(p) for p in problems]


def start_manage(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python manage.py *args`` in a child process on the test database (``env`` added to the
    environment), its output piped (text)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace("@", f":{db['PASSWORD']}@", 1)
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell that starts jobs in the background (CI runners, nohup) ignores SIGINT, and a
        # Python started with SIGINT ignored never raises KeyboardInterrupt: restore Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 - the only way to un-ignore it before exec
    )
