"""The customer list and a customer's page (balances, chart, ledger, the adjustment form)."""

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.adjustments import flow as adjustments
from wallets.dashboard.access import dashboard_view, operator_required
from wallets.dashboard.currencies import business_currencies, order_currency_field
from wallets.dashboard.date_presets import as_of_choice
from wallets.dashboard.views.common import customer_or_404, page_of, render_page
from wallets.dashboard.views.ledger import export_query, filtered_totals
from wallets.filters import DashboardCustomerFilterSet, LedgerEntryFilterSet
from wallets.models import Customer, Wallet
from wallets.money import format_spec, minor_unit_exponent, to_major
from wallets.selectors import approvals as approvals_selectors
from wallets.selectors import movements
from wallets.selectors.activity import wallet_last_entry_times

CUSTOMERS_PER_PAGE = 25
CUSTOMER_LEDGER_PER_PAGE = 20


@require_GET
@dashboard_view
@reads_from_replica
def customer_list(request):
    business_id = request.access.business_id
    filterset = DashboardCustomerFilterSet(
        request.GET, queryset=selectors.customer_list(business_id=business_id), request=request
    )
    as_of_form, as_of = as_of_choice(request.GET)
    customers = filterset.qs
    if as_of is None:
        customers = customers.prefetch_related(
            Prefetch("wallets", queryset=Wallet.objects.only("id", "customer_id", "currency", "balance")
                     .order_by("currency"))
        )
    page = page_of(request, customers, CUSTOMERS_PER_PAGE)
    if as_of is not None:  # every wallet of the page's customers at the end of that day: one query
        then = selectors.wallets_as_of(business_id=business_id, customer_ids=[c.pk for c in page.object_list],
                                       as_of=as_of)
        for c in page.object_list:
            c.wallets_then = then.get(c.pk, [])  # type: ignore[attr-defined]  # for the template
    return render_page(request, "dashboard/customers.html", {
        "nav": "customers",
        "filter": filterset,
        "page": page,
        "as_of_form": as_of_form,
        "as_of": as_of,
    })


def _customer_page(request, customer: Customer, *, form=None, status: int = 200) -> HttpResponse:
    business_id = request.access.business_id
    wallets = selectors.wallet_list(business_id=business_id, customer_id=customer.pk)
    last_entry_at = wallet_last_entry_times(business_id=business_id, wallets=wallets)
    for w in wallets:
        w.last_entry_at = last_entry_at.get(w.pk)  # type: ignore[attr-defined]
    ledger = LedgerEntryFilterSet(
        request.GET, queryset=selectors.ledger_entry_list(business_id=business_id, customer_id=customer.pk),
        request=request,
    )
    own_currencies = business_currencies(business_id=business_id)  # one read for both pickers
    order_currency_field(ledger.form, business_id=business_id, own=own_currencies)
    page = page_of(request, ledger.qs, CUSTOMER_LEDGER_PER_PAGE)
    page.object_list = selectors.ledger_entries_with_actor_labels(business_id=business_id, entries=page.object_list)
    as_of_form, as_of = as_of_choice(request.GET)
    if as_of is not None:
        then = {w.currency: w.balance for w in
                selectors.wallet_list_as_of(business_id=business_id, customer_id=customer.pk, as_of=as_of)}
        for w in wallets:
            w.balance_then = then.get(w.currency, 0)  # type: ignore[attr-defined]
    if form is None and request.access.can_post:
        form = adjustments.adjustment_form_new(business_id=business_id, customer=customer, wallets=wallets,
                                               business_currencies=own_currencies)
    return render_page(request, "dashboard/customer_detail.html", {
        "nav": "customers",
        "customer": customer,
        "wallets": wallets,
        "ledger": ledger,
        "page": page,
        "form": form,
        "chart_data": _chart_data(business_id, customer, wallets),
        "usd_total": selectors.total_balance_usd(wallets),
        "holds": movements.hold_list_active(business_id=business_id, customer_id=customer.pk),
        "pending_requests": approvals_selectors.pending_requests_of_customer(business_id=business_id,
                                                                            customer_id=customer.pk),
        "grants": movements.grant_list_active(business_id=business_id, customer_id=customer.pk),
        **filtered_totals(request, ledger, page.paginator.count),
        "as_of_form": as_of_form,
        "as_of": as_of,
        "csv_query": export_query(request.GET, customer=customer.pk),
    }, status=status)


def _chart_data(business_id: str, customer: Customer, wallets: list[Wallet]) -> list[dict]:
    """Balance over time per currency: one series of (unix time, balance in major units) per
    currency with entries, ending at the current balance."""
    history = selectors.balance_history(business_id=business_id, customer_id=customer.pk)
    series = []
    for currency, points in sorted(history.items()):
        wallet = next((w for w in wallets if w.currency == currency), None)
        times = [int(at.timestamp()) for at, _ in points]
        values = [float(to_major(balance, currency)) for _, balance in points]
        if wallet is not None:  # extend the line to now at the current balance
            times.append(max(int(timezone.now().timestamp()), times[-1]))
            values.append(float(to_major(wallet.balance, currency)))
        series.append({"currency": currency, "decimals": minor_unit_exponent(currency), "format": format_spec(currency),
                       "t": times, "v": values})
    return series


@require_GET
@dashboard_view
@reads_from_replica
def customer_detail(request, customer_id: str):
    return _customer_page(request, customer_or_404(request, customer_id))


@require_http_methods(["GET", "POST"])
@dashboard_view
@operator_required
def customer_adjust(request, customer_id: str):
    customer = customer_or_404(request, customer_id)
    if request.method == "GET":  # e.g. a sort link on a page re-rendered with form errors
        query = request.GET.urlencode()
        return redirect(reverse("dashboard:customer", args=[customer.pk]) + (f"?{query}" if query else ""))
    step = adjustments.adjustment_handle(
        data=request.POST, business_id=request.access.business_id, customer=customer, user=request.user,
        business_currencies=business_currencies(business_id=request.access.business_id),
    )
    if step.stage == adjustments.DONE:
        level = messages.INFO if step.outcome.held else messages.SUCCESS
        messages.add_message(request, level, step.summary())
        return HttpResponseRedirect(reverse("dashboard:customer", args=[customer.pk]), status=303)
    if step.stage == adjustments.CONFIRM:
        return render_page(request, "dashboard/adjust_confirm.html", {"nav": "customers", "step": step,
                                                                 "customer": customer})
    return _customer_page(request, customer, form=step.form)
