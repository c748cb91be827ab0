"""Bulk credit from the dashboard: upload (with a preview), confirm, run in the worker, resume.

Everything that reads the file or posts is ``wallets.services.bulk`` (``bulk_credit_file``), the
service of ``manage.py bulk_credit``: the same parser, checks, derived keys and engine. This module
keeps the run's state in ``BulkCreditRun``:

- ``bulk_run_upload``: the preview is the service's dry run (every check, and each debit decided by
  the engine against the balances of that moment, writing nothing), stored on the run. The same file
  again (same SHA-256) is the same run: a run already confirmed is never started twice.
- ``bulk_run_confirm``: previewed → queued and a task enqueued, under the run's row lock, so a double
  submit enqueues once; records ``BULK_CREDIT_STARTED``.
- ``bulk_run_execute`` (the task ``wallets.tasks.bulk_credit_run``): queued → running, posts the file
  in batches, moving ``rows_done`` and ``heartbeat_at`` after each, then finished (or failed) with the
  counts; records ``BULK_CREDIT_FINISHED``.
- Resuming: a worker killed mid-file leaves the run running without a heartbeat; the sweep
  (``bulk_runs_resume_stalled``) or an operator (``bulk_run_resume``) queues it again, and the new
  attempt runs the whole file: rows already in the ledger are replays (their derived keys), so each
  row is posted exactly once. Each attempt has a number; only the latest may write progress or the
  outcome, so a slow attempt that was given up on cannot overwrite its successor.

The counts are read from the ledger when the run ends, not added up across attempts (an attempt
killed after a batch committed and before its progress was saved would be miscounted): ``posted`` is
the run's rows whose entry was created after the run first started, ``replayed`` the rows that were in
the ledger before, ``refused`` the rows that were not posted.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from wallets.exceptions import InvalidInput
from wallets.models import BulkCreditRun, LedgerEntry, SecurityEvent
from wallets.services.actors import Actor
from wallets.services.bulk import (
    BulkBatchFailed,
    BulkResult,
    RowRejection,
    bulk_credit_file,
    bulk_file_parse,
    bulk_rows_resolve,
)
from wallets.services.security_events import security_event_record

logger = logging.getLogger(__name__)

_KEY_CHUNK = 2000


# --- Upload and preview -------------------------------------------------------------------------


def bulk_run_upload(
    *, business_id: str, file_name: str, data: bytes, user, actor_name: str = "",
) -> tuple[BulkCreditRun, bool]:
    """The run of this file (a new one, or the earlier run of the same file), and whether it is new.

    A file that cannot be read at all, or is over the caps, raises ``InvalidInput`` and nothing is
    stored. A file already confirmed comes back as it is (never previewed or run again); one still
    awaiting confirmation gets a fresh preview."""
    if len(data) > settings.WALLETS_BULK_MAX_BYTES:
        raise InvalidInput(f"The file is {_size(len(data))}; the largest accepted is "
                           f"{_size(settings.WALLETS_BULK_MAX_BYTES)}. Split it into smaller files.")
    parsed = bulk_file_parse(data=data)  # InvalidInput: not UTF-8, no header, unknown columns
    rows = len(parsed.rows) + len(parsed.rejections)
    if rows > settings.WALLETS_BULK_MAX_ROWS:
        raise InvalidInput(f"The file has {rows:,} rows; the most accepted is {settings.WALLETS_BULK_MAX_ROWS:,}. "
                           "Split it into smaller files (or use manage.py bulk_credit).")
    if rows == 0:
        raise InvalidInput("The file has a header but no rows.")
    existing = BulkCreditRun.objects.filter(business_id=business_id, digest=parsed.digest).first()
    if existing is not None and existing.status != BulkCreditRun.Status.PREVIEWED:
        return existing, False
    preview = preview_data(business_id=business_id, data=data, user_id=user.pk, columns=parsed.fieldnames)
    if existing is not None:
        existing.preview, existing.total_rows, existing.file_name = preview, rows, file_name[:255]
        existing.save(update_fields=["preview", "total_rows", "file_name"])
        return existing, False
    try:
        with transaction.atomic():
            run = BulkCreditRun.objects.create(
                business_id=business_id, file_name=file_name[:255], digest=parsed.digest, data=data,
                preview=preview, total_rows=rows, created_by=user, created_by_name=actor_name or user.get_username(),
            )
    except IntegrityError:  # the same file uploaded twice at once: the other upload's run
        return BulkCreditRun.objects.get(business_id=business_id, digest=parsed.digest), False
    return run, True


def preview_data(*, business_id: str, data: bytes, user_id, columns: list[str]) -> dict[str, Any]:
    """The service's dry run, as stored on the run: counts, the money per currency, refused rows."""
    result = bulk_credit_file(business_id=business_id, data=data, actor=Actor.user(user_id), dry_run=True)
    return {
        "checked_at": timezone.now().isoformat(),
        "columns": columns,
        "rows": result.total_rows,
        "to_post": result.posted,
        "already_done": result.already_done,
        "refused": result.rejected,
        "estimated_refusals": sum(1 for r in result.rejections if r.under_lock),
        "currencies": _currency_totals(result),
        "rejections": _rejections_data(result.rejections),
        "duplicates": [list(pair) for pair in result.duplicates],
    }


def _currency_totals(result: BulkResult) -> list[dict[str, Any]]:
    codes = sorted(result.credited.keys() | result.debited.keys())
    return [{"currency": code, "credited": result.credited[code], "debited": result.debited[code],
             "credit_rows": result.credit_rows[code], "debit_rows": result.debit_rows[code]} for code in codes]


def _rejections_data(rejections: Iterable[RowRejection]) -> list[dict[str, Any]]:
    return [{"line": r.line, "column": r.column, "reason": r.reason, "cells": r.raw, "estimate": r.under_lock,
             "balance": r.balance} for r in rejections]


# --- Confirm, resume ------------------------------------------------------------------------------


def bulk_run_confirm(*, business_id: str, run_id: str, user, actor: Actor | None = None, actor_name: str = "",
                     ip: str | None = None) -> tuple[BulkCreditRun, bool]:
    """Queue a previewed run; returns the run and whether this call queued it (a second submit does
    nothing). Raises ``BulkCreditRun.DoesNotExist`` for another business's run."""
    with transaction.atomic(durable=True):
        run = _locked(business_id, run_id)
        if run.status != BulkCreditRun.Status.PREVIEWED:
            return run, False
        if not run.preview.get("to_post") and not run.preview.get("already_done"):
            raise InvalidInput("Every row of this file would be refused: fix the file and upload it again.")
        now = timezone.now()
        run.status, run.confirmed_by, run.confirmed_at, run.heartbeat_at = BulkCreditRun.Status.QUEUED, user, now, now
        run.confirmed_by_name = actor_name or user.get_username()
        run.save(update_fields=["status", "confirmed_by", "confirmed_by_name", "confirmed_at", "heartbeat_at"])
        security_event_record(
            kind=SecurityEvent.Kind.BULK_CREDIT_STARTED, business_id=business_id, actor=actor, actor_name=actor_name,
            ip=ip, details={"run_id": run.pk, "file_name": run.file_name, "sha256": run.digest,
                            "rows": run.total_rows, "currencies": run.preview.get("currencies", [])},
        )
        _enqueue_on_commit(run.pk)
    return run, True


def bulk_run_resume(*, business_id: str, run_id: str) -> bool:
    """Queue again a run that stopped (a database error) or stalled (its worker was killed); returns
    whether it did. A run that is progressing, finished or not confirmed is left alone."""
    with transaction.atomic(durable=True):
        run = _locked(business_id, run_id)
        if not bulk_run_resumable(run):
            return False
        _requeue(run)
    return True


def bulk_run_resumable(run: BulkCreditRun, *, now: datetime.datetime | None = None) -> bool:
    if run.status == BulkCreditRun.Status.FAILED:
        return True
    return run.is_active and _stalled(run.heartbeat_at, now or timezone.now())


def bulk_runs_resume_stalled(*, now: datetime.datetime | None = None) -> int:
    """The sweep's catch-up: queue again every run whose worker stopped moving it (killed); returns
    how many. A failed run waits for an operator (the error may need a look)."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.WALLETS_BULK_STALL_SECONDS)
    stalled = list(BulkCreditRun.objects.filter(
        status__in=[BulkCreditRun.Status.QUEUED, BulkCreditRun.Status.RUNNING], heartbeat_at__lt=cutoff,
    ).values_list("business_id", "pk")[:100])
    return sum(bulk_run_resume(business_id=business_id, run_id=run_id) for business_id, run_id in stalled)


def _stalled(heartbeat: datetime.datetime | None, now: datetime.datetime) -> bool:
    return heartbeat is None or heartbeat < now - datetime.timedelta(seconds=settings.WALLETS_BULK_STALL_SECONDS)


def _requeue(run: BulkCreditRun) -> None:
    run.status, run.heartbeat_at, run.error = BulkCreditRun.Status.QUEUED, timezone.now(), ""
    run.save(update_fields=["status", "heartbeat_at", "error"])
    _enqueue_on_commit(run.pk)


def _locked(business_id: str, run_id: str) -> BulkCreditRun:
    return BulkCreditRun.objects.select_for_update(no_key=True).get(business_id=business_id, pk=run_id)


def _enqueue_on_commit(run_id: str) -> None:
    from wallets.tasks import bulk_credit_run

    transaction.on_commit(lambda: bulk_credit_run.enqueue(run_id))


# --- The run (in the worker) ----------------------------------------------------------------------


def bulk_run_execute(*, run_id: str) -> dict[str, Any]:
    """Run a queued run to its end; returns its counts. A run that is not queued (finished, already
    taken by another attempt) is left alone."""
    with transaction.atomic(durable=True):
        run = BulkCreditRun.objects.select_for_update(no_key=True).filter(pk=run_id).first()
        if run is None or run.status != BulkCreditRun.Status.QUEUED:
            return {"skipped": 1}
        now = timezone.now()
        run.status, run.attempts, run.heartbeat_at = BulkCreditRun.Status.RUNNING, run.attempts + 1, now
        run.started_at = run.started_at or now
        run.save(update_fields=["status", "attempts", "heartbeat_at", "started_at"])
    attempt = BulkCreditRun.objects.filter(pk=run.pk, attempts=run.attempts)
    data = bytes(run.data)

    def on_progress(done: int, total: int) -> None:
        attempt.filter(status=BulkCreditRun.Status.RUNNING).update(rows_done=min(done, run.total_rows),
                                                                   heartbeat_at=timezone.now())

    actor = Actor.user(run.confirmed_by_id) if run.confirmed_by_id else Actor.command("dashboard_bulk_credit")
    error = ""
    try:
        result = bulk_credit_file(business_id=run.business_id, data=data, actor=actor,
                                  batch_size=settings.WALLETS_BULK_BATCH_SIZE, on_progress=on_progress)
    except BulkBatchFailed as exc:
        result, error = exc.result, str(exc)
    except Exception:
        logger.exception("Bulk credit run %s failed", run.pk)
        attempt.filter(status=BulkCreditRun.Status.RUNNING).update(
            status=BulkCreditRun.Status.FAILED, error="An unexpected error stopped the run; the rows posted before it "
                                                      "stay posted. Resume it to post the rest.")
        raise
    return _finish(run, result, error, attempt)


def _finish(run: BulkCreditRun, result: BulkResult, error: str, attempt) -> dict[str, Any]:
    posted_rows, credited, debited = _posted_since_start(run)
    refused = result.rejected
    with transaction.atomic(durable=True):
        current = attempt.select_for_update(no_key=True).filter(status=BulkCreditRun.Status.RUNNING).first()
        if current is None:  # a later attempt took the run over: it writes the outcome
            return {"superseded": 1}
        current.posted = posted_rows
        current.replayed = max(0, result.posted + result.already_done - posted_rows)
        current.refused = refused
        current.result = {
            "credited": dict(credited), "debited": dict(debited),
            "rejections": _rejections_data(result.rejections),
            "duplicates": [list(pair) for pair in result.duplicates],
        }
        current.error = error
        current.status = BulkCreditRun.Status.FAILED if error else BulkCreditRun.Status.FINISHED
        current.finished_at = current.heartbeat_at = timezone.now()
        if not error:
            current.rows_done = current.total_rows
        current.save(update_fields=["posted", "replayed", "refused", "result", "error", "status", "finished_at",
                                    "heartbeat_at", "rows_done"])
        if not error:
            security_event_record(
                kind=SecurityEvent.Kind.BULK_CREDIT_FINISHED, business_id=current.business_id,
                actor=Actor.user(current.confirmed_by_id) if current.confirmed_by_id else None,
                actor_name=current.confirmed_by_name,
                details={"run_id": current.pk, "file_name": current.file_name, "posted": current.posted,
                         "replayed": current.replayed, "refused": current.refused, "attempts": current.attempts,
                         "credited": current.result["credited"], "debited": current.result["debited"]},
            )
    return {"posted": current.posted, "replayed": current.replayed, "refused": current.refused}


def _posted_since_start(run: BulkCreditRun) -> tuple[int, Counter, Counter]:
    """How many of the run's rows have an entry created since the run first started, and their
    money per currency: the run's own postings, whichever attempt made them."""
    parsed = bulk_file_parse(data=bytes(run.data))
    rows, _ = bulk_rows_resolve(business_id=run.business_id, rows=parsed.rows)
    wanted: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        wanted[row.customer_id].add(row.idempotency_key)
    keys = sorted({row.idempotency_key for row in rows})
    customers = sorted(wanted)
    count = 0
    credited: Counter[str] = Counter()
    debited: Counter[str] = Counter()
    for start in range(0, len(keys), _KEY_CHUNK):
        found = LedgerEntry.objects.filter(
            business_id=run.business_id, customer_id__in=customers, idempotency_key__in=keys[start:start + _KEY_CHUNK],
            created_at__gte=run.started_at, reversal_of__isnull=True,
        ).values_list("customer_id", "idempotency_key", "currency", "amount", "is_credit")
        for customer_id, key, currency, amount, is_credit in found:
            if key in wanted[customer_id]:
                count += 1
                (credited if is_credit else debited)[currency] += amount
    return count, credited, debited


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"
