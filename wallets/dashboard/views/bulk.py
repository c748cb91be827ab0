"""Bulk credit from the browser: upload a CSV, read the preview, confirm, watch the run, download
the refused rows.

The file is read, checked and posted by ``wallets.services.bulk`` (the service of ``manage.py
bulk_credit``) through ``wallets.services.bulk_runs``; the run itself is a task of the worker, never
this request. Viewers see the runs; operators and approvers upload, confirm and resume
(``operator_required``). Another business's run is a 404.
"""

import contextlib
import datetime

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wallets.csv_cells import csv_safe_text
from wallets.dashboard.access import dashboard_view, operator_required
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.forms_bulk import BulkUploadForm
from wallets.dashboard.views.common import page_of, render_page
from wallets.exceptions import InvalidInput
from wallets.models import BulkCreditRun
from wallets.money import format_money
from wallets.selectors import bulk_runs as bulk_selectors
from wallets.services import bulk_runs
from wallets.services.security_events import request_actor

RUNS_PER_PAGE = 25
REJECTIONS_PER_PAGE = 50
POLL_SECONDS = 2


def _run_url(run_id: str) -> str:
    return reverse("dashboard:bulk_run", args=[run_id])


def _run_or_404(request, run_id: str, *, with_rows: bool = True) -> BulkCreditRun:
    run = bulk_selectors.bulk_run_find(business_id=request.access.business_id, run_id=run_id, with_rows=with_rows)
    if run is None:
        raise Http404("No such bulk credit run.")
    return run


@require_http_methods(["GET", "POST"])
@dashboard_view
def bulk_list(request):
    """The upload form (operators) and the past runs."""
    if request.method == "POST":
        return _upload(request)
    return _list_page(request, BulkUploadForm() if request.access.can_post else None)


def _list_page(request, form, status: int = 200):
    runs = bulk_selectors.bulk_run_list(business_id=request.access.business_id)
    return render_page(request, "dashboard/bulk.html", {
        "nav": "bulk", "form": form, "page": page_of(request, runs, RUNS_PER_PAGE),
    }, status=status)


@operator_required
def _upload(request):
    form = BulkUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            run, created = bulk_runs.bulk_run_upload(
                business_id=request.access.business_id, file_name=upload.name or "upload.csv",
                data=form.data_bytes(), user=request.user, actor_name=request.user.get_username())
        except InvalidInput as exc:
            form.add_error("file", exc.message)
        else:
            if run.status != BulkCreditRun.Status.PREVIEWED:
                messages.warning(request, f"This file was already uploaded as “{run.file_name}” and confirmed by "
                                          f"{run.confirmed_by_name or 'someone'}: nothing new will be posted. "
                                          "This is that run.")
            elif not created:
                messages.info(request, "This file was uploaded before and is awaiting confirmation: the preview "
                                       "below is checked again against the balances now.")
            return HttpResponseRedirect(_run_url(run.pk), status=303)
    return _list_page(request, form, status=422)


@require_GET
@dashboard_view
def bulk_run(request, run_id: str):
    """One run: the preview and the confirm step, the progress, or the outcome."""
    run = _run_or_404(request, run_id)
    rows = run.preview if run.status == BulkCreditRun.Status.PREVIEWED else run.result
    rejections = rows.get("rejections", [])
    page = page_of(request, rejections, REJECTIONS_PER_PAGE)
    preview = run.preview
    checked_at = preview.get("checked_at")
    return render_page(request, "dashboard/bulk_run.html", {
        "nav": "bulk", "run": run, "preview": preview, "page": page,
        "rejections": [_rejection_row(r, previewed=run.status == BulkCreditRun.Status.PREVIEWED)
                       for r in page.object_list],
        "currencies": [_money_row(c) for c in preview.get("currencies", [])],
        "moved": _moved_rows(run.result) if run.status in (BulkCreditRun.Status.FINISHED,
                                                           BulkCreditRun.Status.FAILED) else [],
        "checked_at": datetime.datetime.fromisoformat(checked_at) if checked_at else None,
        "resumable": bulk_runs.bulk_run_resumable(run), "poll_seconds": POLL_SECONDS,
    })


@require_GET
@dashboard_view
def bulk_run_progress(request, run_id: str):
    """The progress panel alone (htmx polls it); once the run has ended, the whole page reloads."""
    run = _run_or_404(request, run_id, with_rows=False)
    response = render_page(request, "dashboard/_bulk_progress.html", {
        "run": run, "poll_seconds": POLL_SECONDS, "resumable": bulk_runs.bulk_run_resumable(run)})
    if not run.is_active:
        response["HX-Refresh"] = "true"
    return response


@require_POST
@dashboard_view
@operator_required
def bulk_run_confirm(request, run_id: str):
    _run_or_404(request, run_id, with_rows=False)
    try:
        run, queued = bulk_runs.bulk_run_confirm(business_id=request.access.business_id, run_id=run_id,
                                                 user=request.user, **request_actor(request))
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        if queued:
            messages.success(request, f"Confirmed: the {run.total_rows:,} rows of “{run.file_name}” are queued and "
                                      "will be posted by the worker.")
        else:
            messages.info(request, "This run was already confirmed; nothing was queued twice.")
    return HttpResponseRedirect(_run_url(run_id), status=303)


@require_POST
@dashboard_view
@operator_required
def bulk_run_resume(request, run_id: str):
    _run_or_404(request, run_id, with_rows=False)
    if bulk_runs.bulk_run_resume(business_id=request.access.business_id, run_id=run_id):
        messages.success(request, "Resumed: the worker posts the rows not yet in the ledger (rows already posted "
                                  "are skipped, never posted twice).")
    else:
        messages.info(request, "This run is not stopped: there is nothing to resume.")
    return HttpResponseRedirect(_run_url(run_id), status=303)


@require_GET
@dashboard_view
def bulk_run_report(request, run_id: str):
    """The refused rows as CSV (the run's, or before it runs, the preview's): line, column, reason,
    whether it is an estimate, then the row's own cells."""
    run = _run_or_404(request, run_id)
    previewed = run.status == BulkCreditRun.Status.PREVIEWED
    rejections = (run.preview if previewed else run.result).get("rejections", [])
    columns = list(run.preview.get("columns", []))
    header = ["line", "column", "reason", "estimate", *columns]

    def rows():
        for r in rejections:
            cells = r.get("cells", {})
            yield [r["line"], csv_safe_text(r.get("column", "")), csv_safe_text(r["reason"]),
                   "yes" if previewed and r.get("estimate") else "no",
                   *(csv_safe_text(cells.get(name, "")) for name in columns)]

    kind = "preview-refusals" if previewed else "errors"
    return csv_stream_response(f"bulk-credit-{run.pk}-{kind}.csv", header, rows())


def _rejection_row(rejection: dict, *, previewed: bool) -> dict:
    cells = rejection.get("cells", {})
    column = rejection.get("column", "")
    shown = rejection["reason"]
    if rejection.get("balance") is not None:  # the service's text is in minor units, like the file
        currency, amount = cells.get("currency", "").strip(), cells.get("amount", "").strip()
        with contextlib.suppress(ValueError, KeyError):
            balance, debit = format_money(rejection["balance"], currency), format_money(int(amount), currency)
            shown = (f"Insufficient funds: the {currency} balance would be {balance} when this row posts (after the "
                     f"file's earlier rows), and the debit is {debit}." if previewed else
                     f"Insufficient funds: the {currency} balance was {balance} when this row came to post, and the "
                     f"debit is {debit}.")
    return {**rejection, "cell": cells.get(column, "") if column else "", "shown": shown}


def _money_row(totals: dict) -> dict:
    currency = totals["currency"]
    return {**totals, "credited_text": format_money(totals["credited"], currency),
            "debited_text": format_money(totals["debited"], currency),
            "net_text": format_money(totals["credited"] - totals["debited"], currency)}


def _moved_rows(result: dict) -> list[dict]:
    credited, debited = result.get("credited", {}), result.get("debited", {})
    return [_money_row({"currency": code, "credited": credited.get(code, 0), "debited": debited.get(code, 0)})
            for code in sorted(credited.keys() | debited.keys())]

