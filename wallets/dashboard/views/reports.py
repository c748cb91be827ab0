"""Breakage: money that expired unspent, per currency and month (or day), and its CSV export.
The query is ``wallets.selectors.breakage``, shared with ``manage.py breakage_report``."""

import datetime

from django import forms
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from walletproject.db_router import reads_from_replica
from wallets.csv_cells import csv_safe_text
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.views.common import render_page
from wallets.money import format_money, to_major
from wallets.selectors.breakage import PERIODS, breakage_by_period


class BreakageFilterForm(forms.Form):
    date_from = forms.DateField(label="From (UTC day)", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To (UTC day)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    period = forms.ChoiceField(label="Per", choices=[(p, p.title()) for p in PERIODS], required=False)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end is before the start.")
        return cleaned


def _rows(request):
    form = BreakageFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    d = form.cleaned_data
    rows = breakage_by_period(business_id=request.access.business_id, start=d["date_from"], end=d["date_to"],
                              period=d["period"] or "month")
    return form, rows


@require_GET
@dashboard_view
@reads_from_replica
def breakage(request):
    form, rows = _rows(request)
    totals: dict[str, int] = {}
    for row in rows or ():
        totals[row.currency] = totals.get(row.currency, 0) + row.amount
    return render_page(request, "dashboard/breakage.html", {
        "nav": "analytics", "form": form, "rows": rows, "period": form.cleaned_data.get("period") or "month",
        "totals": sorted(totals.items()),
    }, status=200 if rows is not None else 400)


@require_GET
@dashboard_view
@reads_from_replica
def breakage_export(request):
    form, rows = _rows(request)
    if rows is None:
        return HttpResponse("Invalid filters: " + "; ".join(
            f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()), status=400,
            content_type="text/plain; charset=utf-8")
    period = form.cleaned_data.get("period") or "month"

    def lines():
        for row in rows:
            yield [_period_label(row.period, period), row.currency, to_major(row.amount, row.currency), row.amount,
                   csv_safe_text(format_money(row.amount, row.currency)), row.entries]

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    header = ["period_utc", "currency", "expired", "expired_minor", "expired_display", "expiry_entries"]
    return csv_stream_response(f"breakage-{stamp}.csv", header, lines())


def _period_label(day: datetime.date, period: str) -> str:
    return day.strftime("%Y-%m") if period == "month" else day.isoformat()
