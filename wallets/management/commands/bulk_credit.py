import csv
import signal
import sys
import threading
import time
from pathlib import Path

from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from wallets.exceptions import InvalidInput
from wallets.management.base import EXIT_INTERRUPTED, WalletsCommand, business_or_error, positive_int
from wallets.models import LedgerEntry
from wallets.money import format_money
from wallets.services.actors import Actor
from wallets.services.bulk import (
    DEFAULT_BATCH_SIZE,
    BulkBatchFailed,
    BulkInterrupted,
    BulkResult,
    bulk_credit_file,
)

EXIT_REJECTED = 1  # some rows were refused (the others are posted)
EXIT_BAD_INPUT = 2  # bad arguments or an unreadable file: nothing posted
EXIT_DB_FAILURE = 3  # a batch failed in the database: rerun the same file to resume
SHOWN_REJECTIONS = 20


class Command(WalletsCommand):
    help = """\
Credit (or debit) many wallets of one business from a CSV file, posting each row exactly once.

The file is UTF-8 with a header row. Columns:
  customer_id      the customer's id (cus_…), or instead:
  email            the customer's email (case-insensitive)
  amount           a positive whole number of minor units: 1050 is 10.50 USD, 500 is ¥500
  currency         an upper-case ISO 4217 code: USD, INR, EUR, JPY, KWD …
  reason           free text, up to 500 characters (optional)
  idempotency_key  optional; without one, a row's key is bulk:<sha256 of the file>[:16]:<line>
  entry_type       credit (default) or debit (optional)
  expires_at       optional, credits only: an ISO 8601 time with a UTC offset, in the future and at
                   most 10 years ahead (2027-01-31T23:59:59Z); the credit is then a grant whose unspent
                   remainder leaves the wallet at that time (debits spend the soonest-expiring first)

Running the same file twice, or again after a crash, posts each row once: rows already in the
ledger are skipped as "already done". An edited file is a new file (its rows get new keys), so
give rows explicit idempotency keys if you may edit and rerun a file.

Every row is checked (unknown customer, bad currency or amount, a bad or past expires_at, a NUL
byte, duplicate key in the file, a debit larger than the balance); bad rows are reported with
their line and never posted, good rows are.

Two identical lines without their own idempotency_key both post (a repeated credit can be
intended): the command warns about them and names the lines; --refuse-duplicates rejects the
repeats instead.

Exit status: 0 every row posted or already done; 1 some rows rejected; 2 bad arguments or file
(nothing posted); 3 a batch failed in the database (earlier batches are posted: rerun to resume);
130 interrupted with Ctrl-C: the run stops after the batch under way and prints exactly what was
posted (a second Ctrl-C stops at once; that batch may then be posted or not); rerun to resume.

Examples:
  python manage.py bulk_credit refunds.csv --business bus_TV52uJWWXt2yIoBBxpjaa --errors bad.csv
  python manage.py bulk_credit refunds.csv --business bus_TV52uJWWXt2yIoBBxpjaa --dry-run
  cat bonus.csv | python manage.py bulk_credit - --business bus_TV52uJWWXt2yIoBBxpjaa --all-or-nothing

  customer_id,amount,currency,reason
  cus_TV52uJWWXt2yIoBBxpjaa,1000,USD,Welcome bonus - $10 promotional balance
  cus_Q2k8XGmZsfS3o1dYcVb0n,50000,INR,Refund for payment pay_8Hs2kd01

  customer_id,amount,currency,reason,expires_at
  cus_TV52uJWWXt2yIoBBxpjaa,500,USD,Spring promotion,2027-04-30T23:59:59+00:00
"""
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file, or - to read standard input.")
        parser.add_argument("--business", required=True, help="The business id (bus_…) whose customers are credited.")
        parser.add_argument("--errors", metavar="FILE",
                            help="Write rejected rows to this CSV: line, error, then the row's own columns.")
        parser.add_argument("--all-or-nothing", action="store_true",
                            help="Post nothing if any row is bad (one transaction; locks every wallet of the "
                                 "file until the end, so keep such files modest).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check every row against the current balances and report; write nothing.")
        parser.add_argument("--refuse-duplicates", action="store_true",
                            help="Reject a line identical to an earlier one (without this, both post and "
                                 "the command warns).")
        parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                            help=f"Rows per transaction (default {DEFAULT_BATCH_SIZE}).")
        parser.add_argument(
            "--event-type", default=LedgerEntry.EventType.MERCHANT_ADJUSTMENT, metavar="TYPE",
            choices=LedgerEntry.EventType.values,
            help="The entries' event_type, one of: %(choices)s (default merchant_adjustment; "
                 "e.g. refund for refunds to wallet).",
        )

    def handle(self, *args, file, business, errors, all_or_nothing, dry_run, batch_size, event_type,
               refuse_duplicates, **options):
        business_obj = business_or_error(business)
        data = self._read(file, options.get("stdin"))
        if errors:
            if file != "-" and Path(errors).resolve() == Path(file).resolve():
                raise CommandError("--errors must not be the input file.", returncode=EXIT_BAD_INPUT)
            self._write_errors(errors, None)  # fail now, before posting, if it cannot be written
        quiet = options["verbosity"] == 0
        with self._progress(quiet) as on_progress, _StopAfterBatch(self.stderr) as stop:
            try:
                result = bulk_credit_file(
                    business_id=business_obj.id, data=data, actor=Actor.command("bulk_credit"),
                    batch_size=batch_size, event_type=event_type, dry_run=dry_run,
                    all_or_nothing=all_or_nothing, refuse_duplicates=refuse_duplicates, on_progress=on_progress,
                    should_stop=stop.is_set,
                )
            except InvalidInput as exc:
                raise CommandError(f"Nothing posted: {exc}", returncode=EXIT_BAD_INPUT) from exc
            except BulkBatchFailed as exc:
                failure = exc
                result = exc.result
            except BulkInterrupted as exc:
                failure = exc
                result = exc.result
            else:
                failure = None
        if errors:
            self._write_errors(errors, result)
        self._summary(result, business_obj, show_rejections=not errors, stopped=failure is not None)
        if isinstance(failure, BulkInterrupted):
            in_flight = (
                f" The batch under way when it stopped ({result.in_flight:,} rows) may or may not be posted."
                if result.in_flight else ""
            )
            raise CommandError(
                f"Interrupted. The batches counted above are posted.{in_flight} Run the same file again to post "
                "the rest (rows already posted are skipped).",
                returncode=EXIT_INTERRUPTED,
            )
        if failure is not None:
            raise CommandError(
                f"Stopped: {failure}. The batches before it are posted; run the same file again to post "
                "the rest (rows already posted are skipped).",
                returncode=EXIT_DB_FAILURE,
            )
        if result.rejections:
            where = f" (see {errors})" if errors else ""
            verb = "would be rejected" if dry_run else "rejected"
            nothing = "; nothing was posted" if all_or_nothing and not dry_run else ""
            raise CommandError(f"{result.rejected} row(s) {verb}{where}{nothing}.", returncode=EXIT_REJECTED)

    # Input and output

    def _read(self, file: str, stdin) -> bytes:
        if file == "-":
            stream = stdin or sys.stdin
            data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
            return data.encode() if isinstance(data, str) else data
        try:
            return Path(file).read_bytes()
        except FileNotFoundError:
            raise CommandError(f"No such file: {file}", returncode=EXIT_BAD_INPUT) from None
        except (IsADirectoryError, PermissionError) as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}", returncode=EXIT_BAD_INPUT) from None

    def _write_errors(self, path: str, result: BulkResult | None) -> None:
        rejections = result.rejections if result else []
        extra = []
        for rejection in rejections:
            extra += [k for k in rejection.raw if k not in extra]
        try:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["line", "error", *extra])
                for rejection in rejections:
                    writer.writerow([rejection.line, rejection.reason, *(rejection.raw.get(k, "") for k in extra)])
        except OSError as exc:
            raise CommandError(f"Cannot write the error report {path}: {exc.strerror}",
                               returncode=EXIT_BAD_INPUT) from exc

    def _summary(self, result: BulkResult, business, show_rejections: bool, stopped: bool) -> None:
        out = self.stdout
        if result.duplicates and not any("--refuse-duplicates" in r.reason for r in result.rejections):
            duplicates = result.duplicates
            shown = ", ".join(f"{line} (= line {first})" for line, first in duplicates[:SHOWN_REJECTIONS])
            more = f" and {len(duplicates) - SHOWN_REJECTIONS} more" if len(duplicates) > SHOWN_REJECTIONS else ""
            self.stderr.write(self.style.WARNING(
                f"Warning: {len(result.duplicates)} line(s) identical to an earlier line, each posted as its own "
                f"entry: {shown}{more}. Use --refuse-duplicates if they are mistakes."
            ))
        if show_rejections and result.rejections:
            for rejection in result.rejections[:SHOWN_REJECTIONS]:
                self.stderr.write(f"line {rejection.line}: {rejection.reason}")
            if result.rejected > SHOWN_REJECTIONS:
                self.stderr.write(f"… and {result.rejected - SHOWN_REJECTIONS} more (use --errors FILE for all).")
        if stopped:
            head = "Stopped by a database error"
            posted = "posted"
        elif result.dry_run:
            head = "Dry run, nothing written"
            posted = "would post"
        elif result.all_or_nothing and result.rejections:
            head = "All or nothing: nothing posted"
            posted = "would have posted"
        else:
            head = "Done"
            posted = "posted"
        out.write(
            f"{head} ({business.name}, {business.id}): {result.total_rows:,} rows; {posted} {result.posted:,}, "
            f"already done {result.already_done:,}, rejected {result.rejected:,}."
        )
        for currency in sorted(result.credited.keys() | result.debited.keys()):
            credited, debited = result.credited[currency], result.debited[currency]
            out.write(
                f"  {currency}: credited {format_money(credited, currency)} ({credited:,} minor units), "
                f"debited {format_money(debited, currency)} ({debited:,} minor units)"
            )
        if not result.rejections and not stopped:
            out.write(self.style.SUCCESS("Every row is valid." if result.dry_run else "Every row is in the ledger."))

    # Progress: a bar on a terminal, plain lines (at most every few seconds) otherwise.

    def _progress(self, quiet: bool):
        if quiet:
            return _NoProgress()
        if self.stdout.isatty():
            return _BarProgress(self.stdout._out)
        return _LineProgress(self.stdout)


class _StopAfterBatch:
    """The first Ctrl-C asks the run to stop after the batch under way, so the summary counts
    exactly what committed (an interrupt during the commit could otherwise leave a posted batch
    uncounted); a second Ctrl-C stops at once. Off the main thread (``call_command`` from a
    thread) signals cannot be caught, and Ctrl-C keeps its usual meaning."""

    def __init__(self, stderr):
        self.stderr = stderr
        self.requested = threading.Event()
        self.previous = None

    def __enter__(self) -> threading.Event:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self.requested

    def _on_interrupt(self, signum, frame) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        self.requested.set()
        self.stderr.write("Stopping after the batch under way (Ctrl-C again to stop now)…")
        self.stderr.flush()

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _RowsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:,.0f} rows/s" if task.speed else "… rows/s", style="progress.data.speed")


class _BarProgress:
    def __init__(self, stream):
        self.progress = Progress(
            TextColumn("[bold]bulk_credit"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            _RowsPerSecond(), TextColumn("ETA"), TimeRemainingColumn(), console=Console(file=stream),
        )
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("rows", total=total)
        self.progress.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        self.progress.stop()
        return False


class _LineProgress:
    INTERVAL = 2.0

    def __init__(self, stdout):
        self.stdout = stdout
        self.started = time.monotonic()
        self.last = None

    def __enter__(self):
        return self.update

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.INTERVAL and done < total:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate else 0
        percent = 100 * done / total if total else 100
        self.stdout.write(f"  {done:,}/{total:,} rows ({percent:.0f}%), {rate:,.0f} rows/s, ETA {eta:.0f}s")
        self.stdout.flush()

    def __exit__(self, *exc):
        return False
