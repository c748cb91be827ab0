"""Analytics: money in and out per period and the balance held, per currency (charts with their
tables and CSVs), the top customers by balance and by spend, breakage (the breakage report's
query) and the wallets running low with their runway. Reads are in ``wallets.selectors.analytics``."""

from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.csv_cells import csv_safe_text
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.forms_analytics import AnalyticsRangeForm
from wallets.dashboard.views.common import iso_utc, render_page
from wallets.money import format_money, format_spec, to_major
from wallets.selectors import analytics
from wallets.selectors.breakage import breakage_by_period

LOW_SHOWN = 10


def _form(request) -> AnalyticsRangeForm:
    form = AnalyticsRangeForm(request.GET)
    form.is_valid()
    return form


LABELS = {"day": "%b %-d", "week": "%b %-d", "month": "%b %Y"}


def _chart_data(flows: list[analytics.CurrencyFlows], period: str) -> list[dict]:
    """Per currency: the periods' labels (their first local day, as the table's rows) and the figures
    in major units (the chart only draws them; the table beside it has the exact amounts)."""
    return [{
        "currency": f.currency, "format": format_spec(f.currency),
        "labels": [r.bucket.label_day.strftime(LABELS[period]) for r in f.rows],
        "credits": [float(to_major(r.credits, f.currency)) for r in f.rows],
        "debits": [float(to_major(r.debits, f.currency)) for r in f.rows],
        "balance": [float(to_major(r.balance_at_end, f.currency)) for r in f.rows],
    } for f in flows]


@require_GET
@dashboard_view
@reads_from_replica
def analytics_page(request):
    business_id = request.access.business_id
    form = _form(request)
    context: dict = {"nav": "analytics", "form": form}
    if not form.is_valid():
        return render_page(request, "dashboard/analytics.html", context, status=400)
    window = form.range()
    flows = analytics.flows_by_period(business_id=business_id, window=window)
    currencies = [f.currency for f in flows]
    low = list(selectors.wallet_low_balance_list(business_id=business_id).select_related(None)
               .prefetch_related("customer").order_by("balance", "pk")[:LOW_SHOWN])
    runways = analytics.wallet_runways(low, now=window.now)
    breakage: dict[str, int] = {}
    for row in breakage_by_period(business_id=business_id, start=window.start, end=window.end, tz=window.zone):
        breakage[row.currency] = breakage.get(row.currency, 0) + row.amount
    context.update({
        "window": window, "flows": flows, "chart_data": _chart_data(flows, window.period),
        "top_balance": analytics.top_customers_by_balance(business_id=business_id, currencies=currencies),
        "top_spend": analytics.top_customers_by_spend(business_id=business_id, window=window)
        if window.days <= analytics.MAX_SPEND_DAYS else None,
        "max_spend_days": analytics.MAX_SPEND_DAYS,
        "low": [analytics.LowWallet(w, runways[w.pk]) for w in low],
        "breakage": sorted(breakage.items()),
        "query": request.GET.urlencode(),
    })
    return render_page(request, "dashboard/analytics.html", context)


def _flows_csv(request, form):
    flows = analytics.flows_by_period(business_id=request.access.business_id, window=form.range())
    header = ["period_start_utc", "period_end_utc", "currency", "credits", "credits_minor", "credit_count",
              "debits", "debits_minor", "debit_count", "net", "net_minor", "balance_at_end",
              "balance_at_end_minor", "balance_at_end_display"]

    def rows():
        for f in flows:
            c = f.currency
            for r in f.rows:
                yield [iso_utc(r.bucket.starts_at), iso_utc(r.bucket.ends_at), c, to_major(r.credits, c), r.credits,
                       r.credit_count, to_major(r.debits, c), r.debits, r.debit_count, to_major(r.net, c), r.net,
                       to_major(r.balance_at_end, c), r.balance_at_end,
                       csv_safe_text(format_money(r.balance_at_end, c))]

    return header, rows()


def _top_csv(request, form):
    business_id = request.access.business_id
    window = form.range()
    currencies = [f.currency for f in analytics.flows_by_period(business_id=business_id, window=window)]
    by_balance = analytics.top_customers_by_balance(business_id=business_id, currencies=currencies)
    by_spend = (analytics.top_customers_by_spend(business_id=business_id, window=window)
                if window.days <= analytics.MAX_SPEND_DAYS else [])
    header = ["ranking", "range_start_utc", "range_end_utc", "currency", "rank", "customer_id", "customer_name",
              "customer_email", "amount", "amount_minor", "debit_count"]

    def rows():
        for ranking, items in (("balance", by_balance), ("spend", by_spend)):
            rank, currency = 0, None
            for t in items:
                rank = rank + 1 if t.currency == currency else 1
                currency = t.currency
                yield [ranking, iso_utc(window.start_at), iso_utc(window.end_at), t.currency, rank, t.customer_id,
                       csv_safe_text(t.name), csv_safe_text(t.email), to_major(t.amount, t.currency), t.amount,
                       t.entries if ranking == "spend" else ""]

    return header, rows()


EXPORTS = {"flows": _flows_csv, "top-customers": _top_csv}


@require_GET
@dashboard_view
@reads_from_replica
def analytics_export(request, table: str):
    if table not in EXPORTS:
        raise Http404("No such export.")
    form = _form(request)
    if not form.is_valid():
        return HttpResponse("Invalid range: " + "; ".join(
            f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()), status=400,
            content_type="text/plain; charset=utf-8")
    header, rows = EXPORTS[table](request, form)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return csv_stream_response(f"analytics-{table}-{stamp}.csv", header, rows)
