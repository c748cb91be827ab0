"""Posting many ledger entries at once (``bulk_credit``): the batch path of the ledger.

It keeps every invariant of ``ledger_entry_post``, in batches instead of one row at a time:
- batches hold all the rows of their customers (``_batches_by_customer``), so each wallet is
  locked and updated once per batch; every wallet's rows are applied in file order;
- one short ``atomic(durable=True)`` transaction per batch; the batch's existing wallets are
  locked ``FOR NO KEY UPDATE`` in ascending wallet id order (so a batch cannot deadlock with
  another batch or with single postings), missing ones are created (``ON CONFLICT DO NOTHING``)
  and then locked;
- under those locks: idempotency keys already used are found (same body: "already done", skipped;
  another body: the row is refused), rows are applied with before/after balances computed in
  memory, a debit never overdraws and a credit never overflows int64, each entry gets the
  wallet's next sequence; entries are inserted in one statement (``COPY`` on PostgreSQL) and the
  wallets' balance/entry_count/updated_at in one more;
- the database constraints (non-negative balances, balances agree, unique sequence, unique
  idempotency key per customer) remain the last line of defence; a batch that hits one is
  rolled back whole and retried once (a concurrent posting took the key, a deadlock was broken,
  a lock wait timed out), else the run stops there.

Every row has an idempotency key: its own, or one derived from the file and the line
(``bulk:<first 16 hex of the file's SHA-256>:<line>``). Running the same file again, or again
after a crash, posts each row exactly once. An edited file is a new file: its rows get new keys.
"""

import csv
import datetime
import hashlib
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from wallets import ids
from wallets.exceptions import InvalidInput
from wallets.models import Customer, LedgerEntry, Wallet
from wallets.money import INT64_MAX, is_supported_currency
from wallets.services.actors import Actor

COLUMNS = ("customer_id", "email", "amount", "currency", "reason", "idempotency_key", "entry_type")
DEFAULT_BATCH_SIZE = 2000
DERIVED_KEY_PREFIX = "bulk:"
_REASON_MAX = LedgerEntry._meta.get_field("reason").max_length
_KEY_MAX = LedgerEntry._meta.get_field("idempotency_key").max_length
_DIGITS = re.compile(r"[0-9]+")
_LOOKUP_CHUNK = 2000
_BATCH_ATTEMPTS = 2


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
    # Per-row overrides for callers that replay history (seed_demo): the file path never sets them.
    # A caller giving ``created_at`` orders rows by it and posts into wallets without later entries.
    event_type: str | None = None
    created_at: datetime.datetime | None = None


@dataclass(frozen=True, slots=True)
class RowRejection:
    line: int
    reason: str
    raw: dict[str, str]


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
    credited: Counter = field(default_factory=Counter)  # currency -> minor units
    debited: Counter = field(default_factory=Counter)
    batches: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejections

    @property
    def rejected(self) -> int:
        return len(self.rejections)


class BulkInterrupted(Exception):
    """The run was interrupted (Ctrl-C): the batches counted in ``result`` are committed, the one
    under way was rolled back. Running the same file again posts the rest."""

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
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:  # more cells than header columns
                rejections.append(RowRejection(line, "more cells than the header has columns", _clean(raw)))
                continue
            row_or_problem = _parse_row(line, raw, file_key)
            if isinstance(row_or_problem, str):
                rejections.append(RowRejection(line, row_or_problem, _clean(raw)))
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


def _parse_row(line: int, raw: dict[str, str], file_key: str) -> BulkRow | str:
    customer_id = (raw.get("customer_id") or "").strip()
    email = (raw.get("email") or "").strip()
    if not customer_id and not email:
        return "no customer_id or email"
    amount_text = (raw.get("amount") or "").strip()
    if not _DIGITS.fullmatch(amount_text) or int(amount_text) == 0:
        return (
            f"amount must be a positive whole number of minor units (e.g. 1050 for 10.50 USD), "
            f"got {amount_text!r}"
        )
    amount = int(amount_text)
    if amount > INT64_MAX:
        return f"amount {amount_text} is larger than the maximum (2^63-1)"
    currency = (raw.get("currency") or "").strip()
    if not is_supported_currency(currency):
        return f"unknown currency {currency!r} (use an upper-case ISO 4217 code such as USD)"
    entry_type = (raw.get("entry_type") or "").strip() or "credit"
    if entry_type not in ("credit", "debit"):
        return f"entry_type must be credit or debit, got {entry_type!r}"
    reason = (raw.get("reason") or "").strip() or None
    if reason is not None and len(reason) > _REASON_MAX:
        return f"reason is longer than {_REASON_MAX} characters"
    key = (raw.get("idempotency_key") or "").strip()
    if len(key) > _KEY_MAX:
        return f"idempotency_key is longer than {_KEY_MAX} characters"
    return BulkRow(
        line=line, customer_ref=customer_id or email, by_email=not customer_id, amount=amount,
        currency=currency, is_credit=entry_type == "credit", reason=reason,
        idempotency_key=key or f"{file_key}{line}", raw=_clean(raw),
    )


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
                                                         "business", row.raw))
                continue
        else:
            customer_id = row.customer_ref if row.customer_ref in by_id else None
            if customer_id is None:
                rejections.append(RowRejection(row.line, f"no customer {row.customer_ref!r} in this business",
                                               row.raw))
                continue
            email = (row.raw.get("email") or "").strip()
            if email and emails_of_ids.get(email.lower()) != customer_id:
                rejections.append(RowRejection(
                    row.line, f"customer_id {row.customer_ref!r} and email {email!r} are not the same customer",
                    row.raw,
                ))
                continue
        row.customer_id = customer_id
        scope = (customer_id, row.idempotency_key)
        if scope in first_use:
            rejections.append(RowRejection(
                row.line,
                f"idempotency_key {row.idempotency_key!r} is already used on line {first_use[scope]} "
                "for this customer",
                row.raw,
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


# --- Posting ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _WalletState:
    id: str
    balance: int
    entry_count: int
    changed: bool = False


_ENTRY_FIELDS = [f for f in LedgerEntry._meta.concrete_fields]
_ENTRY_COLUMNS = [f.column for f in _ENTRY_FIELDS]


class _Refused(Exception):
    """Raised inside an all-or-nothing transaction to roll it back."""


def bulk_credit_file(
    *,
    business_id: str,
    data: bytes,
    actor: Actor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    event_type: str = LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    on_progress: Progress | None = None,
) -> BulkResult:
    """Parse, check and post a bulk file (see ``ledger_bulk_post``). Rejections in file order."""
    parsed = bulk_file_parse(data=data)
    rows, resolve_rejections = bulk_rows_resolve(business_id=business_id, rows=parsed.rows)
    early = sorted(parsed.rejections + resolve_rejections, key=lambda r: r.line)
    total = len(parsed.rows) + len(parsed.rejections)
    if all_or_nothing and early:
        return BulkResult(total_rows=total, dry_run=dry_run, all_or_nothing=True, rejections=early)
    return ledger_bulk_post(
        business_id=business_id, rows=rows, actor=actor, batch_size=batch_size, event_type=event_type,
        dry_run=dry_run, all_or_nothing=all_or_nothing, on_progress=on_progress, total_rows=total,
        rejections=early,
    )


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
) -> BulkResult:
    """Post resolved rows (``bulk_rows_resolve``), each wallet's rows in their given order.

    - default: batches of about ``batch_size`` rows grouped by customer (see
      ``_batches_by_customer``), one short transaction each; a row refused under the lock
      (overdraft, key used with another body, overflow) is reported, the others post.
    - ``all_or_nothing``: one transaction locking every wallet of the file first; any refused
      row rolls everything back. Holds the locks for the whole run: meant for modest files.
    - ``dry_run``: reads balances and keys without locks and reports what would happen.

    Raises ``BulkBatchFailed`` if the database refuses a batch (earlier batches stay posted, and
    each row is posted whole or not at all: run the same rows again to resume).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = BulkResult(
        total_rows=total_rows if total_rows is not None else len(rows), dry_run=dry_run,
        all_or_nothing=all_or_nothing, rejections=list(rejections or []),
    )
    early_rejected = len(result.rejections)
    post = _BatchPoster(business_id, actor, event_type, result)
    if dry_run:
        post.simulate(rows, batch_size, on_progress, early_rejected)
    elif all_or_nothing:
        post.all_or_nothing(rows, batch_size, on_progress, early_rejected)
    else:
        try:
            post.batches(rows, batch_size, on_progress, early_rejected)
        except KeyboardInterrupt as exc:
            result.rejections.sort(key=lambda r: r.line)
            raise BulkInterrupted(result) from exc
    result.rejections.sort(key=lambda r: r.line)
    return result


class _BatchPoster:
    def __init__(self, business_id: str, actor: Actor, event_type: str, result: BulkResult):
        self.business_id = business_id
        self.actor = actor
        self.event_type = event_type
        self.result = result
        self.is_postgresql = connection.vendor == "postgresql"

    # Modes

    def batches(self, rows: list[BulkRow], batch_size: int, on_progress: Progress | None, done: int) -> None:
        # A rerun after a crash starts with batches that are already in the ledger. Keys are final
        # (entries never change), so those rows are settled without locks or writes; the check
        # stops at the first batch with nothing already done (for a new file: after one batch).
        settle_first = True
        for batch in _batches_by_customer(rows, batch_size):
            todo: Sequence[BulkRow] = batch
            if settle_first:
                settled, todo = self._settle_used_keys(batch)
                self._count(settled)
                settle_first = bool(settled.already_done or settled.rejections)
            if todo:
                self._count(self._post_batch(todo, batch_size))
            self.result.batches += 1
            done += len(batch)
            if on_progress:
                on_progress(done, self.result.total_rows)

    def _post_batch(self, batch: Sequence[BulkRow], batch_size: int) -> "_Outcome":
        for attempt in range(_BATCH_ATTEMPTS):
            try:
                with transaction.atomic(durable=True):
                    outcome = self._plan_locked(batch)
                    self._write(outcome, batch_size)
                return outcome
            except (IntegrityError, OperationalError) as exc:
                # A concurrent posting took a key first, a deadlock was broken, a lock wait timed
                # out: the batch was rolled back whole; try it once more.
                if attempt + 1 < _BATCH_ATTEMPTS:
                    time.sleep(0.05)
                    continue
                raise BulkBatchFailed([r.line for r in batch], self.result, exc) from exc
            except DatabaseError as exc:
                raise BulkBatchFailed([r.line for r in batch], self.result, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle_used_keys(self, batch: Sequence[BulkRow]) -> tuple["_Outcome", list[BulkRow]]:
        """Rows whose key is already in the ledger (already done, or refused for another body),
        and the rows left to post."""
        used = self._used_keys(batch)
        settled = _Outcome()
        todo = []
        for row in batch:
            prior = used.get((row.customer_id, row.idempotency_key))
            if prior is None:
                todo.append(row)
            elif prior == (row.currency, row.amount, row.is_credit, row.reason):
                settled.already_done += 1
            else:
                settled.rejections.append(_key_reused(row))
        return settled, todo

    def all_or_nothing(self, rows: list[BulkRow], batch_size: int, on_progress: Progress | None,
                       done: int) -> None:
        try:
            with transaction.atomic(durable=True):
                outcome = self._plan_locked(rows)
                if outcome.rejections:
                    raise _Refused()
                self._write(outcome, batch_size)
        except _Refused:
            self.result.rejections += outcome.rejections
            return
        except DatabaseError as exc:
            raise BulkBatchFailed([r.line for r in rows], self.result, exc) from exc
        self._count(outcome)
        self.result.batches = 1
        if on_progress:
            on_progress(done + len(rows), self.result.total_rows)

    def simulate(self, rows: list[BulkRow], batch_size: int, on_progress: Progress | None, done: int) -> None:
        states: dict[tuple[str, str], _WalletState] = {}
        for batch in _batches_by_customer(rows, batch_size):
            pairs = {(r.customer_id, r.currency) for r in batch} - states.keys()
            existing = self._wallets(pairs)
            for pair in pairs:
                states[pair] = existing.get(pair) or _WalletState(id="", balance=0, entry_count=0)
            outcome = self._plan(batch, states, self._used_keys(batch), timezone.now())
            self._count(outcome)
            self.result.batches += 1
            done += len(batch)
            if on_progress:
                on_progress(done, self.result.total_rows)

    # Steps

    def _plan_locked(self, rows: Sequence[BulkRow]) -> "_Outcome":
        pairs = {(r.customer_id, r.currency) for r in rows}
        states = self._wallets(pairs, lock=True)
        missing = pairs - states.keys()
        created: set[str] = set()
        if missing:
            # New wallets: inserted (in a fixed order) and then locked. They are invisible to other
            # transactions until this one commits, so locking them after the others cannot
            # deadlock; a wallet another transaction created meanwhile is locked out of order,
            # which at worst makes PostgreSQL break a deadlock, and the batch is retried.
            new = [Wallet(business_id=self.business_id, customer_id=c, currency=cur) for c, cur in sorted(missing)]
            Wallet.objects.bulk_create(new, ignore_conflicts=True)
            states.update(self._wallets(missing, lock=True))
            ours = {wallet.id for wallet in new}  # ids are made here: a conflicting insert kept the other's
            created = {state.id for state in states.values() if state.id in ours}
        # Read the clock after the locks: every entry of these wallets so far is older.
        outcome = self._plan(rows, states, self._used_keys(rows), timezone.now())
        # A wallet is created by its first posting: one made here for rows that were all refused
        # goes again, so a refused row leaves nothing behind (as a refused single posting).
        unused = [state.id for state in states.values() if state.id in created and not state.changed]
        if unused:
            Wallet.objects.filter(business_id=self.business_id, id__in=unused).delete()
        return outcome

    def _wallets(self, pairs: set[tuple[str, str]], lock: bool = False) -> dict[tuple[str, str], _WalletState]:
        """The wallets of these (customer, currency) pairs; with ``lock``, locked FOR NO KEY UPDATE
        in ascending id order (the house rule) and read under the lock."""
        found: dict[tuple[str, str], _WalletState] = {}
        if self.is_postgresql:
            ordered = sorted(pairs)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    SELECT w.id, w.customer_id, w.currency, w.balance, w.entry_count
                    FROM {Wallet._meta.db_table} w
                    JOIN unnest(%s::text[], %s::text[]) AS p(customer_id, currency)
                      ON w.customer_id = p.customer_id AND w.currency = p.currency
                    WHERE w.business_id = %s
                    ORDER BY w.id
                    {"FOR NO KEY UPDATE OF w" if lock else ""}
                    """,  # noqa: S608 - table names from the models; values are parameters
                    [[c for c, _ in ordered], [cur for _, cur in ordered], self.business_id],
                )
                rows = cursor.fetchall()
        else:
            wallets = Wallet.objects.filter(business_id=self.business_id)
            if lock:
                wallets = wallets.select_for_update(no_key=True)
            rows = []
            currencies = sorted({cur for _, cur in pairs})
            for chunk in _chunks(sorted({c for c, _ in pairs}), _LOOKUP_CHUNK):
                rows += wallets.filter(customer_id__in=chunk, currency__in=currencies).order_by("id").values_list(
                    "id", "customer_id", "currency", "balance", "entry_count"
                )
        for wallet_id, customer_id, currency, balance, entry_count in rows:
            if (customer_id, currency) in pairs:
                found[(customer_id, currency)] = _WalletState(wallet_id, balance, entry_count)
        return found

    def _used_keys(self, rows: Sequence[BulkRow]) -> dict[tuple[str, str], tuple]:
        """Keys of these rows already in the ledger: (customer, key) -> (currency, amount, is_credit, reason)."""
        used: dict[tuple[str, str], tuple] = {}
        for chunk in _chunks(rows, _LOOKUP_CHUNK):
            if self.is_postgresql:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"""
                        SELECT e.customer_id, e.idempotency_key, e.currency, e.amount, e.is_credit, e.reason
                        FROM {LedgerEntry._meta.db_table} e
                        JOIN unnest(%s::text[], %s::text[]) AS k(customer_id, idempotency_key)
                          ON e.customer_id = k.customer_id AND e.idempotency_key = k.idempotency_key
                        WHERE e.business_id = %s AND e.idempotency_key IS NOT NULL
                        """,  # noqa: S608 - table names from the models; values are parameters
                        [[r.customer_id for r in chunk], [r.idempotency_key for r in chunk], self.business_id],
                    )
                    found = cursor.fetchall()
            else:
                wanted = {(r.customer_id, r.idempotency_key) for r in chunk}
                found = [
                    hit for hit in LedgerEntry.objects.filter(
                        business_id=self.business_id, customer_id__in={r.customer_id for r in chunk},
                        idempotency_key__in={r.idempotency_key for r in chunk},
                    ).values_list("customer_id", "idempotency_key", "currency", "amount", "is_credit", "reason")
                    if (hit[0], hit[1]) in wanted
                ]
            for customer_id, key, *body in found:
                used[(customer_id, key)] = tuple(body)
        return used

    def _plan(self, rows, states, used_keys, now) -> "_Outcome":
        outcome = _Outcome()
        for row in rows:
            prior = used_keys.get((row.customer_id, row.idempotency_key))
            if prior is not None:
                if prior == (row.currency, row.amount, row.is_credit, row.reason):
                    outcome.already_done += 1
                else:
                    outcome.rejections.append(_key_reused(row))
                continue
            state = states[(row.customer_id, row.currency)]
            before = state.balance
            if row.is_credit:
                if before > INT64_MAX - row.amount:
                    outcome.rejections.append(RowRejection(
                        row.line, f"the credit would make the {row.currency} balance larger than 2^63-1", row.raw
                    ))
                    continue
                after = before + row.amount
            else:
                if row.amount > before:
                    outcome.rejections.append(RowRejection(
                        row.line,
                        f"insufficient funds: the {row.currency} balance is {before}, the debit is {row.amount}",
                        row.raw,
                    ))
                    continue
                after = before - row.amount
            state.balance = after
            state.entry_count += 1
            state.changed = True
            outcome.entries.append((row, state.id, state.entry_count, before, after))
            # A key is used once per customer: a later row of this batch with it must replay.
            used_keys[(row.customer_id, row.idempotency_key)] = (row.currency, row.amount, row.is_credit,
                                                                  row.reason)
        outcome.wallets = [s for s in states.values() if s.changed]
        outcome.now = now
        return outcome

    def _write(self, outcome: "_Outcome", chunk_size: int) -> None:
        for chunk in _chunks(outcome.entries, max(chunk_size, 1)):
            if self.is_postgresql:
                self._copy_entries(chunk, outcome.now)
            else:
                LedgerEntry.objects.bulk_create([self._entry(item, outcome.now) for item in chunk])
        for chunk in _chunks(outcome.wallets, _LOOKUP_CHUNK):
            if self.is_postgresql:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"""
                        UPDATE {Wallet._meta.db_table} AS w
                        SET balance = v.balance, entry_count = v.entry_count, updated_at = %s
                        FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS v(id, balance, entry_count)
                        WHERE w.id = v.id AND w.business_id = %s
                        """,  # noqa: S608 - table names from the models; values are parameters
                        [outcome.now, [s.id for s in chunk], [s.balance for s in chunk],
                         [s.entry_count for s in chunk], self.business_id],
                    )
            else:
                Wallet.objects.bulk_update(
                    [Wallet(id=s.id, balance=s.balance, entry_count=s.entry_count, updated_at=outcome.now)
                     for s in chunk],
                    ["balance", "entry_count", "updated_at"],
                )

    def _values(self, item, now) -> dict:
        row, wallet_id, sequence, before, after = item
        return dict(
            id=ids.ledger_entry_id(), business_id=self.business_id, customer_id=row.customer_id,
            wallet_id=wallet_id, currency=row.currency, sequence=sequence, amount=row.amount,
            is_credit=row.is_credit, event_type=row.event_type or self.event_type, reason=row.reason,
            reference_object_id=None, idempotency_key=row.idempotency_key, before_balance=before,
            after_balance=after, actor_type=self.actor.type, actor_id=self.actor.id,
            created_at=row.created_at or now,
        )

    def _entry(self, item, now) -> LedgerEntry:
        return LedgerEntry(**self._values(item, now))

    def _copy_entries(self, chunk, now) -> None:
        """COPY is the fastest insert PostgreSQL has; constraints and triggers apply as usual.
        Columns this module does not set (added later) get their model default."""
        attnames = [f.attname for f in _ENTRY_FIELDS]
        defaults = {f.attname: f.get_default() for f in _ENTRY_FIELDS}
        with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg's errors -> Django's
            statement = f"COPY {LedgerEntry._meta.db_table} ({', '.join(_ENTRY_COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(statement) as copy:
                for item in chunk:
                    values = self._values(item, now)
                    copy.write_row([values[name] if name in values else defaults[name] for name in attnames])

    def _count(self, outcome: "_Outcome") -> None:
        self.result.posted += len(outcome.entries)
        self.result.already_done += outcome.already_done
        self.result.rejections += outcome.rejections
        for row, *_ in outcome.entries:
            (self.result.credited if row.is_credit else self.result.debited)[row.currency] += row.amount


def _key_reused(row: BulkRow) -> RowRejection:
    return RowRejection(
        row.line,
        f"idempotency_key {row.idempotency_key!r} was already used for this customer with a different amount, "
        "currency, entry_type or reason",
        row.raw,
    )


@dataclass
class _Outcome:
    entries: list = field(default_factory=list)
    wallets: list = field(default_factory=list)
    rejections: list[RowRejection] = field(default_factory=list)
    already_done: int = 0
    now: object = None
