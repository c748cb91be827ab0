"""A customer's statement: one currency over a range of days (opening and closing balances, the
range's totals, its entries oldest first, and the same as a CSV and as a PDF), and every wallet's
balance at the end of a chosen day. The figures are the API's (``selectors.wallet_statement``,
``wallet_list_as_of``).

The CSV streams any length. The PDF is laid out in memory (WeasyPrint), so it is refused above
``statement_pdf.MAX_ENTRIES`` entries: the statement page is shown again (status 422) saying so,
with the CSV of the same choice one click away.

Days are the user's time zone's, as everywhere in the dashboard: ``From`` starts at its midnight and
``To`` is included whole, so the statement's interval is ``[From 00:00, the day after To 00:00)``,
the API's half-open ``[from, to)``; a blank ``To`` is now."""

import datetime
from dataclasses import dataclass

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.csv_cells import csv_safe_text
from wallets.dashboard import statement_pdf
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.forms import StatementForm
from wallets.dashboard.views.common import EXPORT_CHUNK_SIZE, customer_or_404, iso_utc, page_of, render_page
from wallets.models import Customer
from wallets.money import to_major

STATEMENT_PER_PAGE = 50


def _midnight(day: datetime.date) -> datetime.datetime:
    """The start of ``day`` in the user's time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@dataclass(frozen=True)
class _Choice:
    form: StatementForm
    statement: selectors.Statement | None  # None when the form is invalid or there is no wallet
    as_of: datetime.datetime | None  # the end of the chosen day (its last microsecond)


def _choose(request, customer: Customer) -> _Choice:
    business_id = request.access.business_id
    wallets = selectors.wallet_list(business_id=business_id, customer_id=customer.pk)
    form = StatementForm(request.GET, currencies=[w.currency for w in wallets])
    if not form.is_valid():
        return _Choice(form, None, None)
    data = form.cleaned_data
    start = _midnight(data["from_date"]) if data["from_date"] else None
    end = _midnight(data["to_date"] + datetime.timedelta(days=1)) if data["to_date"] else timezone.now()
    if start is not None and start > end:  # a From later than today, with To blank
        form.add_error("from_date", "The start date is in the future.")
        return _Choice(form, None, None)
    statement = selectors.wallet_statement(business_id=business_id, customer_id=customer.pk,
                                           currency=data["currency"], start=start, end=end)
    as_of = _midnight(data["as_of"] + datetime.timedelta(days=1)) - datetime.timedelta(microseconds=1) \
        if data["as_of"] else None
    return _Choice(form, statement, as_of)


@require_GET
@dashboard_view
@reads_from_replica
def customer_statement(request, customer_id: str):
    customer = customer_or_404(request, customer_id)
    return _statement_page(request, customer, _choose(request, customer))


def _statement_page(request, customer: Customer, choice: _Choice, *, pdf_refused: bool = False):
    business_id = request.access.business_id
    context: dict = {"nav": "customers", "customer": customer, "form": choice.form, "statement": choice.statement,
                     "pdf_max_entries": statement_pdf.MAX_ENTRIES, "pdf_refused": pdf_refused}
    if choice.statement is not None:
        page = page_of(request, choice.statement.entries, STATEMENT_PER_PAGE)
        page.object_list = selectors.ledger_entries_with_actor_labels(business_id=business_id,
                                                                      entries=page.object_list)
        context["page"] = page
    if choice.as_of is not None:
        then = selectors.wallet_list_as_of(business_id=business_id, customer_id=customer.pk, as_of=choice.as_of)
        now = {w.currency: w.balance for w in selectors.wallet_list(business_id=business_id, customer_id=customer.pk)}
        context["as_of"] = choice.as_of
        context["balances_then"] = [{"currency": w.currency, "then": w.balance, "now": now.get(w.currency, 0)}
                                    for w in then]
        context["total_then"] = selectors.total_balance_usd(then, on=choice.as_of.astimezone(datetime.UTC).date())
    return render_page(request, "dashboard/statement.html", context, status=422 if pdf_refused else 200)


def _invalid_choice(choice: _Choice) -> HttpResponse:
    errors = choice.form.errors or {"currency": ["The customer has no wallets."]}
    message = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in errors.items())
    return HttpResponse(f"Invalid choice: {message}", status=400, content_type="text/plain; charset=utf-8")


@require_GET
@dashboard_view
@reads_from_replica
def customer_statement_pdf(request, customer_id: str):
    """The statement as a PDF: the page's figures, every entry of the range oldest first with its
    running balance and id, page numbers. Above ``MAX_ENTRIES`` entries: refused (see above)."""
    customer = customer_or_404(request, customer_id)
    choice = _choose(request, customer)
    statement = choice.statement
    if statement is None:
        return _invalid_choice(choice)
    if statement.entry_count > statement_pdf.MAX_ENTRIES:
        return _statement_page(request, customer, choice, pdf_refused=True)
    data = choice.form.cleaned_data
    now = timezone.now()
    pdf = statement_pdf.statement_pdf({
        "business": request.access.business, "customer": customer, "statement": statement,
        "entries": list(statement.entries[:statement_pdf.MAX_ENTRIES]),
        "period_from": data["from_date"], "period_to": data["to_date"],
        "time_zone": timezone.get_current_timezone_name(), "generated_at": now,
    })
    name = f"statement-{customer.pk}-{statement.currency}-{statement_pdf.generated_stamp(now)}.pdf"
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@dashboard_view
@reads_from_replica
def customer_statement_export(request, customer_id: str):
    """The statement as CSV: an ``opening`` row (at ``from``, blank from the beginning), every entry of
    the range oldest first, a ``closing`` row (at the exclusive end). Amounts in major units (the
    currency's own decimals) and minor units, times in UTC, typed text made spreadsheet-safe."""
    customer = customer_or_404(request, customer_id)
    choice = _choose(request, customer)
    statement = choice.statement
    if statement is None:
        return _invalid_choice(choice)
    currency = statement.currency
    entries = statement.entries.values_list(
        "id", "created_at", "is_credit", "amount", "before_balance", "after_balance", "event_type", "reason",
        "reference_object_id", "actor_type", "actor_id",
    )

    def rows():
        start = iso_utc(statement.start) if statement.start else ""
        blank = ["", "", "", "", ""]
        yield ["opening", "", start, currency, "", "", "", "", to_major(statement.opening_balance, currency),
               statement.opening_balance, *blank]
        for (entry_id, created_at, is_credit, amount, before, after, event_type, reason, reference, actor_type,
             actor_id) in entries.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield ["entry", entry_id, iso_utc(created_at), currency, "credit" if is_credit else "debit",
                   to_major(amount, currency), amount, to_major(before, currency), to_major(after, currency), after,
                   event_type, csv_safe_text(reason), csv_safe_text(reference), actor_type, csv_safe_text(actor_id)]
        yield ["closing", "", iso_utc(statement.end), currency, "", "", "", "", to_major(statement.closing_balance,
               currency), statement.closing_balance, *blank]

    header = ["row", "entry_id", "at_utc", "currency", "direction", "amount", "amount_minor", "balance_before",
              "balance_after", "balance_after_minor", "event_type", "reason", "reference_object_id", "actor_type",
              "actor_id"]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return csv_stream_response(f"statement-{customer.pk}-{currency}-{stamp}.csv", header, rows())
