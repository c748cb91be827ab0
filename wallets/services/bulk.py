"""Bulk credit files (``bulk_credit``): reading the file, checking its rows, batching and reporting.

The posting itself is ``wallets.ledger.post_many``, with the same rules as every other posting:
- batches hold all the rows of their customers (``_batches_by_customer``), so each wallet is
  locked once per batch; every wallet's rows are applied in file order;
- one short transaction per batch (the engine's); a row refused under the lock (overdraft, a key
  used with another body, overflow) is reported with its line and the others post;
- a batch the database refuses is rolled back whole and retried once by the engine, else the run
  stops there (``BulkBatchFailed``): the batches before it stay posted.

Every row has an idempotency key: its own, or one derived from the file and the line
(``bulk:<first 16 hex of the file's SHA-256>:<line>``). Running the same file again, or again
after a crash, posts each row exactly once. An edited file is a new file: its rows get new keys.
Every cell is checked before any batch (a NUL byte, which no database text may hold, rejects its
line and nothing else).

A credit row with ``expires_at`` (ISO 8601 with an offset, in the future, at most 10 years ahead,
checked against one instant read when the file is read) posts a grant: ``Posting.expires_at``, the
engine's own rule. ``expires_at`` is not part of a row's idempotency body (the engine's rule): a rerun
of the same file replays its grants and creates none.
"""

import csv
import datetime
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.db.models.functions import Lower
from django.utils import timezone

from wallets import ledger
from wallets.exceptions import InvalidInput, raised_during_interrupt
from wallets.models import Customer, LedgerEntry
from wallets.money import INT64_MAX, is_supported_currency
from wallets.services.actors import Actor

COLUMNS = (
    "customer_id", "email", "amount", "currency", "reason", "idempotency_key", "entry_type", "expires_at",
)
#: How far ahead a grant may expire (the API's rule for ``expires_at``).
MAX_EXPIRY_AHEAD = datetime.timedelta(days=3653)
DEFAULT_BATCH_SIZE = 2000
DERIVED_KEY_PREFIX = "bulk:"
_REASON_MAX: int = LedgerEntry._meta.get_field("reason").max_length or 0
_KEY_MAX: int = LedgerEntry._meta.get_field("idempotency_key").max_length or 0
_DIGITS = re.compile(r"[0-9]+")
_LOOKUP_CHUNK = 2000


@dataclass(slots=True)
class BulkRow:
    """One valid-looking line of the file. ``customer_id`` is filled in by resolution."""

    line: int
    customer_ref: str
    by_email: bool
    amount: int
    currency: str
    is_credit: bool
    reason: str | None
    idempotency_key: str
    raw: dict[str, str]
    customer_id: str = ""
    #: A credit that expires then (a grant).
    expires_at: datetime.datetime | None = None


@dataclass(frozen=True, slots=True)
class RowRejection:
    line: int
    reason: str
    raw: dict[str, str]
    #: The column at fault ("" when the line as a whole is, e.g. too many cells).
    column: str = ""
    #: Decided by the engine under the wallet's lock (overdraft, a key used with another body,
    #: overflow): in a dry run, against the balances of that moment, so an estimate of the real run.
    under_lock: bool = False
    #: For an overdraft: the balance the debit met (minor units).
    balance: int | None = None


@dataclass
class BulkFile:
    rows: list[BulkRow]
    rejections: list[RowRejection]
    digest: str
    fieldnames: list[str]


@dataclass
class BulkResult:
    """What a run did (or, with ``dry_run``, would do)."""

    total_rows: int
    dry_run: bool = False
    all_or_nothing: bool = False
    posted: int = 0
    already_done: int = 0
    rejections: list[RowRejection] = field(default_factory=list)
    #: ``(line, first line)`` of lines identical to an earlier one (see ``bulk_credit_file``).
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    credited: Counter = field(default_factory=Counter)  # currency -> minor units
    debited: Counter = field(default_factory=Counter)
    #: How many rows of each currency were (or would be) posted, credits and debits apart.
    credit_rows: Counter = field(default_factory=Counter)  # currency -> rows
    debit_rows: Counter = field(default_factory=Counter)
    batches: int = 0
    #: Rows of the batch under way when the run was cut short mid-batch (a second Ctrl-C): that
    #: batch may or may not have committed, so it is in neither ``posted`` nor a rejection.
    in_flight: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejections

    @property
    def rejected(self) -> int:
        return len(self.rejections)


class BulkInterrupted(Exception):
    """The run was interrupted: the batches counted in ``result`` are committed. Asked to stop
    (``should_stop``), it stops between batches; cut short by ``KeyboardInterrupt`` mid-batch, the
    batch under way (``result.in_flight`` rows) may or may not have committed. Either way,
    running the same file again posts the rest, each row once."""

    def __init__(self, result: "BulkResult"):
        self.result = result
        super().__init__("interrupted")


class BulkBatchFailed(Exception):
    """A batch failed in the database; earlier batches are committed, this one and later are not."""

    def __init__(self, lines: list[int], result: BulkResult, cause: Exception):
        self.lines, self.result, self.cause = sorted(lines), result, cause
        shown = ", ".join(map(str, self.lines[:5])) + (", …" if len(self.lines) > 5 else "")
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]  # not the CONTEXT lines
        super().__init__(f"a batch of {len(lines)} row(s) (lines {shown}) failed in the database: {reason}")


Progress = Callable[[int, int], None]


# --- Reading the file -------------------------------------------------------------------------


def bulk_file_parse(*, data: bytes) -> BulkFile:
    """Check every line's shape (no database). Raises ``InvalidInput`` for a file that cannot be
    read at all (encoding, header); a bad line becomes a ``RowRejection`` naming the line."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"The file is not UTF-8: byte 0x{data[exc.start]:02x} on line {line}.") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fieldnames = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = fieldnames
    _check_header(fieldnames)
    rows: list[BulkRow] = []
    rejections: list[RowRejection] = []
    file_key = f"{DERIVED_KEY_PREFIX}{digest[:16]}:"
    now = timezone.now()  # one instant for the whole file: every expires_at is checked against it
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:  # more cells than header columns
                rejections.append(RowRejection(line, "more cells than the header has columns", _clean(raw)))
                continue
            row_or_problem = _parse_row(line, raw, file_key, now)
            if isinstance(row_or_problem, tuple):
                column, problem = row_or_problem
                rejections.append(RowRejection(line, problem, _clean(raw), column=column))
            else:
                rows.append(row_or_problem)
    except csv.Error as exc:
        raise InvalidInput(f"Line {reader.line_num}: the CSV cannot be read ({exc}).") from exc
    return BulkFile(rows=rows, rejections=rejections, digest=digest, fieldnames=fieldnames)


def _check_header(fieldnames: list[str]) -> None:
    if not fieldnames:
        raise InvalidInput("The file is empty: it needs a header row like customer_id,amount,currency,reason.")
    unknown = [name for name in fieldnames if name not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"Unknown column(s) {', '.join(map(repr, unknown))} in the header; the columns are "
            f"{', '.join(COLUMNS)}."
        )
    duplicated = sorted({name for name in fieldnames if fieldnames.count(name) > 1})
    if duplicated:
        raise InvalidInput(f"Column(s) {', '.join(duplicated)} appear more than once in the header.")
    missing = [name for name in ("amount", "currency") if name not in fieldnames]
    if not {"customer_id", "email"} & set(fieldnames):
        missing.insert(0, "customer_id (or email)")
    if missing:
        raise InvalidInput(f"The header lacks the column(s) {', '.join(missing)}.")


def _clean(raw: dict) -> dict[str, str]:
    return {k: v for k, v in raw.items() if k is not None and v is not None}


def _parse_row(line: int, raw: dict[str, str], file_key: str, now: datetime.datetime) -> BulkRow | tuple[str, str]:
    """The row, or ``(column at fault, problem)``."""
    with_nul = [name for name, value in raw.items() if value and "\x00" in value]
    if with_nul:
        return with_nul[0], f"{', '.join(with_nul)} contains a NUL character (byte 0x00), which no ledger text may hold"
    customer_id = (raw.get("customer_id") or "").strip()
    email = (raw.get("email") or "").strip()
    if not customer_id and not email:
        return "customer_id", "no customer_id or email"
    amount_text = (raw.get("amount") or "").strip()
    if not _DIGITS.fullmatch(amount_text) or int(amount_text) == 0:
        return "amount", (
            f"amount must be a positive whole number of minor units (e.g. 1050 for 10.50 USD), "
            f"got {amount_text!r}"
        )
    amount = int(amount_text)
    if amount > INT64_MAX:
        return "amount", f"amount {amount_text} is larger than the maximum (2^63-1)"
    currency = (raw.get("currency") or "").strip()
    if not is_supported_currency(currency):
        return "currency", f"unknown currency {currency!r} (use an upper-case ISO 4217 code such as USD)"
    entry_type = (raw.get("entry_type") or "").strip() or "credit"
    if entry_type not in ("credit", "debit"):
        return "entry_type", f"entry_type must be credit or debit, got {entry_type!r}"
    reason = (raw.get("reason") or "").strip() or None
    if reason is not None and len(reason) > _REASON_MAX:
        return "reason", f"reason is longer than {_REASON_MAX} characters"
    key = (raw.get("idempotency_key") or "").strip()
    if len(key) > _KEY_MAX:
        return "idempotency_key", f"idempotency_key is longer than {_KEY_MAX} characters"
    expires_at = _parse_expiry((raw.get("expires_at") or "").strip(), is_credit=entry_type == "credit", now=now)
    if isinstance(expires_at, str):
        return "expires_at", expires_at
    return BulkRow(
        line=line, customer_ref=customer_id or email, by_email=not customer_id, amount=amount,
        currency=currency, is_credit=entry_type == "credit", reason=reason,
        idempotency_key=key or f"{file_key}{line}", raw=_clean(raw), expires_at=expires_at,
    )


def _parse_expiry(text: str, *, is_credit: bool, now: datetime.datetime) -> datetime.datetime | str | None:
    """The row's ``expires_at`` (None when blank), or the problem with it."""
    if not text:
        return None
    if not is_credit:
        return "expires_at is only for credits (a debit cannot expire)"
    try:
        expires_at = datetime.datetime.fromisoformat(text)
    except ValueError:
        return f"expires_at must be an ISO 8601 date and time with an offset (e.g. 2027-01-31T23:59:59Z), got {text!r}"
    if expires_at.tzinfo is None:
        return f"expires_at {text!r} has no UTC offset (add Z or +HH:MM)"
    if expires_at <= now:
        return f"expires_at {text!r} is not in the future"
    if expires_at > now + MAX_EXPIRY_AHEAD:
        return f"expires_at {text!r} is more than 10 years ahead"
    return expires_at


# --- Checks that need the database, before posting --------------------------------------------


def bulk_rows_resolve(*, business_id: str, rows: list[BulkRow]) -> tuple[list[BulkRow], list[RowRejection]]:
    """Find each row's customer in the business; refuse unknown customers (another business's
    customer is unknown here) and keys used twice for one customer inside the file (the first
    use stays). Returns the rows to post and the rejections, in file order."""
    by_id = _customers_by_id(business_id, {r.customer_ref for r in rows if not r.by_email})
    by_email = _customers_by_email(business_id, {r.customer_ref.lower() for r in rows if r.by_email})
    emails_of_ids = {}
    rows_with_both = [r for r in rows if not r.by_email and (r.raw.get("email") or "").strip()]
    if rows_with_both:
        emails_of_ids = _customers_by_email(
            business_id, {r.raw["email"].strip().lower() for r in rows_with_both}
        )
    good: list[BulkRow] = []
    rejections: list[RowRejection] = []
    first_use: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.by_email:
            customer_id = by_email.get(row.customer_ref.lower())
            if customer_id is None:
                rejections.append(RowRejection(row.line, f"no customer with email {row.customer_ref!r} in this "
                                                         "business", row.raw, column="email"))
                continue
        else:
            customer_id = row.customer_ref if row.customer_ref in by_id else None
            if customer_id is None:
                rejections.append(RowRejection(row.line, f"no customer {row.customer_ref!r} in this business",
                                               row.raw, column="customer_id"))
                continue
            email = (row.raw.get("email") or "").strip()
            if email and emails_of_ids.get(email.lower()) != customer_id:
                rejections.append(RowRejection(
                    row.line, f"customer_id {row.customer_ref!r} and email {email!r} are not the same customer",
                    row.raw, column="email",
                ))
                continue
        row.customer_id = customer_id
        scope = (customer_id, row.idempotency_key)
        if scope in first_use:
            rejections.append(RowRejection(
                row.line,
                f"idempotency_key {row.idempotency_key!r} is already used on line {first_use[scope]} "
                "for this customer",
                row.raw, column="idempotency_key",
            ))
            continue
        first_use[scope] = row.line
        good.append(row)
    return good, rejections


def _batches_by_customer(rows: list[BulkRow], size: int) -> Iterator[list[BulkRow]]:
    """Batches of about ``size`` rows holding all the rows of their customers (a customer with
    more rows than ``size`` spans consecutive batches), each customer's rows in file order.

    Rows of different customers are independent (balances are per wallet, keys per customer), so
    grouping them changes no outcome; it makes a batch touch fewer wallets, and each wallet row
    is updated (and locked) once per batch instead of once per few rows."""
    by_customer: dict[str, list[BulkRow]] = {}
    for row in rows:
        by_customer.setdefault(row.customer_id, []).append(row)
    batch: list[BulkRow] = []
    for customer_rows in by_customer.values():
        for chunk in _chunks(customer_rows, size):
            if batch and len(batch) + len(chunk) > size:
                yield batch
                batch = []
            batch.extend(chunk)
    if batch:
        yield batch


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _customers_by_id(business_id: str, customer_ids: set[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(customer_ids), _LOOKUP_CHUNK):
        found.update(
            Customer.objects.filter(business_id=business_id, id__in=chunk).values_list("id", flat=True)
        )
    return found


def _customers_by_email(business_id: str, emails_lower: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(emails_lower), _LOOKUP_CHUNK):
        found.update(
            Customer.objects.alias(email_lower=Lower("email"))
            .filter(business_id=business_id, email_lower__in=chunk)
            .annotate(lower=Lower("email"))
            .values_list("lower", "id")
        )
    return found


# --- Posting (through the ledger engine) --------------------------------------------------------


def bulk_credit_file(
    *,
    business_id: str,
    data: bytes,
    actor: Actor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    refuse_duplicates: bool = False,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BulkResult:
    """Parse, check and post a bulk file (see ``ledger_bulk_post``). Rejections in file order.

    Lines identical to an earlier line (every cell the same, no ``idempotency_key`` of their own)
    are reported in ``duplicates``; they post (repeated credits can be intended) unless
    ``refuse_duplicates``, which rejects them."""
    parsed = bulk_file_parse(data=data)
    rows, resolve_rejections = bulk_rows_resolve(business_id=business_id, rows=parsed.rows)
    duplicates = _identical_lines(rows)
    if refuse_duplicates and duplicates:
        refused = dict(duplicates)
        resolve_rejections += [
            RowRejection(r.line, f"identical to line {refused[r.line]} (--refuse-duplicates)", r.raw)
            for r in rows if r.line in refused
        ]
        rows = [r for r in rows if r.line not in refused]
    early = sorted(parsed.rejections + resolve_rejections, key=lambda r: r.line)
    total = len(parsed.rows) + len(parsed.rejections)
    if all_or_nothing and early:
        return BulkResult(total_rows=total, dry_run=dry_run, all_or_nothing=True, rejections=early,
                          duplicates=duplicates)
    result = ledger_bulk_post(
        business_id=business_id, rows=rows, actor=actor, batch_size=batch_size, event_type=event_type,
        dry_run=dry_run, all_or_nothing=all_or_nothing, on_progress=on_progress, total_rows=total,
        rejections=early, should_stop=should_stop,
    )
    result.duplicates = duplicates
    return result


def _identical_lines(rows: list[BulkRow]) -> list[tuple[int, int]]:
    """``(line, first line)`` of rows whose cells equal an earlier row's (derived keys only: a
    row with its own key is already refused when the key repeats)."""
    first: dict[tuple, int] = {}
    found = []
    for row in rows:
        if (row.raw.get("idempotency_key") or "").strip():
            continue
        cells = tuple(sorted((k, v.strip()) for k, v in row.raw.items()))
        if cells in first:
            found.append((row.line, first[cells]))
        else:
            first[cells] = row.line
    return found


def ledger_bulk_post(
    *,
    business_id: str,
    rows: list[BulkRow],
    actor: Actor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    on_progress: Progress | None = None,
    total_rows: int | None = None,
    rejections: list[RowRejection] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BulkResult:
    """Post resolved rows (``bulk_rows_resolve``) with ``wallets.ledger.post_many``, each wallet's
    rows in their given order.

    - default: batches of about ``batch_size`` rows grouped by customer (see
      ``_batches_by_customer``), one short transaction each; a row refused under the lock
      (overdraft, key used with another body, overflow) is reported, the others post.
    - ``all_or_nothing``: one transaction locking every wallet of the file first; any refused
      row rolls everything back. Holds the locks for the whole run: meant for modest files.
    - ``dry_run``: decides every row as one batch under the same locks and writes nothing.

    Raises ``BulkBatchFailed`` if the database refuses a batch (earlier batches stay posted, and
    each row is posted whole or not at all: run the same rows again to resume), and
    ``BulkInterrupted`` when ``should_stop()`` turns true (checked before each batch, so the
    counts are exact) or on ``KeyboardInterrupt`` (see ``BulkResult.in_flight``).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = BulkResult(
        total_rows=total_rows if total_rows is not None else len(rows), dry_run=dry_run,
        all_or_nothing=all_or_nothing, rejections=list(rejections or []),
    )
    done = len(result.rejections)
    batches = [rows] if (dry_run or all_or_nothing) and rows else list(_batches_by_customer(rows, batch_size))
    # A rerun after a crash starts with batches that are already in the ledger: those rows are
    # settled before any lock, until the first batch with nothing already there (for a new file:
    # after one batch); from then on the batches are new.
    settle_first = True
    try:
        for batch in batches:
            if should_stop is not None and should_stop():
                raise BulkInterrupted(result)
            settled = result.already_done + result.rejected
            result.in_flight = len(batch)
            _post_batch(business_id, batch, actor, event_type, result, dry_run=dry_run,
                        all_or_nothing=all_or_nothing, settle_first=settle_first)
            result.in_flight = 0
            settle_first = settle_first and result.already_done + result.rejected > settled
            done += len(batch)
            if on_progress:
                on_progress(done, result.total_rows)
    except KeyboardInterrupt as exc:
        raise BulkInterrupted(result) from exc
    finally:
        result.rejections.sort(key=lambda r: r.line)
    return result


def _post_batch(
    business_id: str, batch: list[BulkRow], actor: Actor, event_type: str, result: BulkResult, *,
    dry_run: bool, all_or_nothing: bool, settle_first: bool,
) -> None:
    postings = [
        ledger.Posting(
            customer_id=row.customer_id,
            request=ledger.Request(row.currency, row.amount, row.is_credit, row.reason, row.idempotency_key),
            event_type=event_type,
            expires_at=row.expires_at,
        )
        for row in batch
    ]
    try:
        batch_result = ledger.post_many(business_id=business_id, postings=postings, actor=actor,
                                        all_or_nothing=all_or_nothing, dry_run=dry_run,
                                        settle_known_first=settle_first)
    except DatabaseError as exc:
        if raised_during_interrupt(exc):  # Ctrl-C mid-batch, not the database refusing it
            raise KeyboardInterrupt from exc
        raise BulkBatchFailed([r.line for r in batch], result, exc) from exc
    rejections = []
    accepted: list[BulkRow] = []
    for row, outcome in zip(batch, batch_result.outcomes, strict=True):
        code = outcome.decision.code
        if code is ledger.Code.OK:
            accepted.append(row)
        elif code is ledger.Code.REPLAYED:
            result.already_done += 1
        else:
            rejections.append(RowRejection(
                row.line, _refusal(row, outcome.decision), row.raw, column=_REFUSAL_COLUMNS.get(code, ""),
                under_lock=True, balance=outcome.decision.before if code is ledger.Code.INSUFFICIENT_FUNDS else None,
            ))
    result.rejections += rejections
    if all_or_nothing and rejections:
        return  # nothing was written
    result.batches += 1
    result.posted += len(accepted)
    for row in accepted:
        (result.credited if row.is_credit else result.debited)[row.currency] += row.amount
        (result.credit_rows if row.is_credit else result.debit_rows)[row.currency] += 1


_REFUSAL_COLUMNS = {
    ledger.Code.INSUFFICIENT_FUNDS: "amount", ledger.Code.BALANCE_OVERFLOW: "amount",
    ledger.Code.KEY_REUSED: "idempotency_key", ledger.Code.INVALID_EXPIRY: "expires_at",
}


def _refusal(row: BulkRow, decision) -> str:
    code = decision.code
    if code is ledger.Code.INSUFFICIENT_FUNDS:
        return f"insufficient funds: the {row.currency} balance is {decision.before}, the debit is {row.amount}"
    if code is ledger.Code.BALANCE_OVERFLOW:
        return f"the credit would make the {row.currency} balance larger than 2^63-1"
    if code is ledger.Code.KEY_REUSED:
        return (f"idempotency_key {row.idempotency_key!r} was already used for this customer with a different "
                "amount, currency, entry_type or reason")
    if code is ledger.Code.INVALID_EXPIRY:  # checked when the file is read; only a slow run gets here
        return f"expires_at {row.raw.get('expires_at', '')!r} is no longer in the future"
    return f"refused ({code})"
