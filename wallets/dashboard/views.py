"""The dashboard's pages. Each view: resolve the business (``access``), read through selectors and
the shared FilterSets, render. Money changes only through ``adjustments`` (the service layer)."""

import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wallets import selectors
from wallets.adjustments import flow as adjustments
from wallets.csv_cells import csv_safe_text
from wallets.dashboard.access import SESSION_BUSINESS_KEY, dashboard_view, operator_required
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.forms import (
    AddCurrencyForm,
    BusinessSwitchForm,
    LowBalanceThresholdFormSet,
    TimeZoneForm,
)
from wallets.dashboard.middleware import SESSION_KEY as TZ_SESSION_KEY
from wallets.dashboard.middleware import time_zone_names
from wallets.exceptions import CustomerNotFound, WalletError
from wallets.filters import (
    AdjustmentRequestFilterSet,
    DashboardCustomerFilterSet,
    LedgerEntryFilterSet,
    WalletFilterSet,
)
from wallets.models import ApiKey, Business, Customer, LedgerEntry, Wallet
from wallets.money import format_money, minor_unit_exponent, to_major
from wallets.services.approvals import adjustment_approve, adjustment_reject
from wallets.services.policies import currency_policy_set_low_balance

CUSTOMERS_PER_PAGE = 25
LEDGER_PER_PAGE = 50
CUSTOMER_LEDGER_PER_PAGE = 20
LOW_BALANCE_PER_PAGE = 50
RECENT_ACTIVITY = 10
EXPORT_CHUNK_SIZE = 2000
APPROVALS_PER_PAGE = 25


# --- helpers --------------------------------------------------------------------------------


def _render(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render a dashboard page with what every page's chrome needs."""
    context = {"access": request.access, "current_time_zone": timezone.get_current_timezone_name(), **context}
    if request.access.is_superuser:
        context["businesses"] = list(Business.objects.order_by("name").only("id", "name"))
    return render(request, template, context, status=status)


def _page(request, queryset, per_page: int):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _customer_or_404(request, customer_id: str) -> Customer:
    try:
        return selectors.customer_get(business_id=request.access.business_id, customer_id=customer_id)
    except CustomerNotFound as exc:
        raise Http404("No such customer.") from exc


def _actor_labels(business_id: str, entries) -> dict[tuple[str, str], str]:
    """Readable names of who made the entries: usernames and API key names, two queries at most
    whatever the number of entries."""
    user_ids = {e.actor_id for e in entries if e.actor_type == LedgerEntry.ActorType.USER and e.actor_id.isdigit()}
    key_ids = {e.actor_id for e in entries if e.actor_type == LedgerEntry.ActorType.API_KEY}
    labels: dict[tuple[str, str], str] = {}
    if user_ids:
        for pk, username in get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"):
            labels[(LedgerEntry.ActorType.USER, str(pk))] = username
    if key_ids:
        for pk, name, prefix in ApiKey.objects.filter(business_id=business_id, pk__in=key_ids).values_list(
            "pk", "name", "prefix"
        ):
            labels[(LedgerEntry.ActorType.API_KEY, pk)] = name or f"{prefix}…"
    return labels


def _with_actor_labels(business_id: str, entries) -> list[LedgerEntry]:
    entries = list(entries)
    labels = _actor_labels(business_id, entries)
    for entry in entries:
        entry.actor_label = labels.get((entry.actor_type, entry.actor_id), entry.actor_id)
    return entries


def _iso_utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# --- pages ----------------------------------------------------------------------------------


@require_GET
@dashboard_view
def overview(request):
    business_id = request.access.business_id
    totals = selectors.wallet_totals_by_currency(business_id=business_id)
    recent = _with_actor_labels(
        business_id, selectors.ledger_entry_list_business(business_id=business_id)[:RECENT_ACTIVITY]
    )
    return _render(request, "dashboard/overview.html", {
        "nav": "overview",
        "totals": totals,
        "customer_count": selectors.customer_list(business_id=business_id).count(),
        "wallet_count": sum(row["wallets"] for row in totals),
        "low_count": selectors.wallet_low_balance_list(business_id=business_id).count(),
        "pending_count": selectors.adjustment_request_list(business_id=business_id).filter(status="pending").count(),
        "recent": recent,
    })


@require_GET
@dashboard_view
def customer_list(request):
    business_id = request.access.business_id
    filterset = DashboardCustomerFilterSet(
        request.GET, queryset=selectors.customer_list(business_id=business_id), request=request
    )
    customers = filterset.qs.prefetch_related(
        Prefetch("wallets", queryset=Wallet.objects.only("id", "customer_id", "currency", "balance")
                 .order_by("currency"))
    )
    return _render(request, "dashboard/customers.html", {
        "nav": "customers",
        "filter": filterset,
        "page": _page(request, customers, CUSTOMERS_PER_PAGE),
    })


def _customer_page(request, customer: Customer, *, form=None, status: int = 200) -> HttpResponse:
    business_id = request.access.business_id
    wallets = selectors.wallet_list(business_id=business_id, customer_id=customer.pk)
    ledger = LedgerEntryFilterSet(
        request.GET, queryset=selectors.ledger_entry_list(business_id=business_id, customer_id=customer.pk),
        request=request,
    )
    page = _page(request, ledger.qs, CUSTOMER_LEDGER_PER_PAGE)
    page.object_list = _with_actor_labels(business_id, page.object_list)
    if form is None and request.access.can_post:
        form = adjustments.adjustment_form_new(business_id=business_id, customer=customer, wallets=wallets)
    return _render(request, "dashboard/customer_detail.html", {
        "nav": "customers",
        "customer": customer,
        "wallets": wallets,
        "ledger": ledger,
        "page": page,
        "form": form,
        "chart_data": _chart_data(business_id, customer, wallets),
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
        series.append({"currency": currency, "decimals": minor_unit_exponent(currency), "t": times, "v": values})
    return series


@require_GET
@dashboard_view
def customer_detail(request, customer_id: str):
    return _customer_page(request, _customer_or_404(request, customer_id))


@require_http_methods(["GET", "POST"])
@dashboard_view
@operator_required
def customer_adjust(request, customer_id: str):
    customer = _customer_or_404(request, customer_id)
    if request.method == "GET":  # e.g. a sort link on a page re-rendered with form errors
        query = request.GET.urlencode()
        return redirect(reverse("dashboard:customer", args=[customer.pk]) + (f"?{query}" if query else ""))
    step = adjustments.adjustment_handle(
        data=request.POST, business_id=request.access.business_id, customer=customer, user=request.user
    )
    if step.stage == adjustments.DONE:
        level = messages.INFO if step.outcome.held else messages.SUCCESS
        messages.add_message(request, level, step.summary())
        return HttpResponseRedirect(reverse("dashboard:customer", args=[customer.pk]), status=303)
    if step.stage == adjustments.CONFIRM:
        return _render(request, "dashboard/adjust_confirm.html", {"nav": "customers", "step": step,
                                                                 "customer": customer})
    return _customer_page(request, customer, form=step.form)


@require_GET
@dashboard_view
def ledger(request):
    business_id = request.access.business_id
    filterset = LedgerEntryFilterSet(
        request.GET, queryset=selectors.ledger_entry_list_business(business_id=business_id), request=request
    )
    page = _page(request, filterset.qs, LEDGER_PER_PAGE)
    page.object_list = _with_actor_labels(business_id, page.object_list)
    return _render(request, "dashboard/ledger.html", {"nav": "ledger", "filter": filterset, "page": page})


@require_GET
@dashboard_view
def ledger_export(request):
    """Exactly the rows of the ledger page's filters, every page, streamed."""
    business_id = request.access.business_id
    filterset = LedgerEntryFilterSet(
        request.GET, queryset=selectors.ledger_entry_list_business(business_id=business_id), request=request
    )
    if not filterset.is_valid():
        return HttpResponse("Invalid filters: " + "; ".join(
            f"{name}: {' '.join(errs)}" for name, errs in filterset.errors.items()), status=400,
            content_type="text/plain; charset=utf-8")
    # Tuples, not model instances: a million rows stream at several times the speed.
    entries = filterset.qs.values_list(
        "id", "created_at", "customer_id", "customer__name", "customer__email", "currency", "amount", "is_credit",
        "before_balance", "after_balance", "event_type", "reason", "reference_object_id", "actor_type", "actor_id",
    )
    # Who may appear as an actor: the business's members and staff (admin adjustments).
    users = dict(get_user_model().objects.filter(Q(membership__business_id=business_id) | Q(is_staff=True)
                                                 | Q(is_superuser=True))
                 .values_list("pk", "username"))
    keys = dict(ApiKey.objects.filter(business_id=business_id).values_list("pk", "name"))
    exponents: dict[str, int] = {}

    def major(amount: int, currency: str) -> Decimal:
        exponent = exponents.get(currency)
        if exponent is None:
            exponent = exponents[currency] = minor_unit_exponent(currency)
        return Decimal(amount).scaleb(-exponent)

    def actor(actor_type: str, actor_id: str) -> str:
        if actor_type == LedgerEntry.ActorType.USER and actor_id.isdigit():
            return users.get(int(actor_id), "")
        if actor_type == LedgerEntry.ActorType.API_KEY:
            return keys.get(actor_id, "")
        return actor_id

    def rows():
        for (entry_id, created_at, customer_id, name, email, currency, amount, is_credit, before, after, event_type,
             reason, reference, actor_type, actor_id) in entries.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield [
                entry_id, _iso_utc(created_at), customer_id, csv_safe_text(name), csv_safe_text(email),
                currency, "credit" if is_credit else "debit", major(amount, currency), amount,
                major(before, currency), major(after, currency), event_type, csv_safe_text(reason),
                csv_safe_text(reference), actor_type, csv_safe_text(actor_id),
                csv_safe_text(actor(actor_type, actor_id)),
            ]

    header = ["entry_id", "created_at_utc", "customer_id", "customer_name", "customer_email", "currency",
              "direction", "amount", "amount_minor", "balance_before", "balance_after", "event_type", "reason",
              "reference_object_id", "actor_type", "actor_id", "actor"]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return csv_stream_response(f"ledger-{stamp}.csv", header, rows())


def _low_balance_filterset(request):
    business_id = request.access.business_id
    wallets = selectors.wallet_low_balance_list(
        business_id=business_id, include_unused=request.GET.get("include_unused") == "1"
    )
    filterset = WalletFilterSet(request.GET, queryset=wallets, request=request)
    qs = filterset.qs
    if not request.GET.get("sort"):
        qs = qs.order_by("balance", "pk")
    return filterset, qs


@require_GET
@dashboard_view
def low_balance(request):
    filterset, wallets = _low_balance_filterset(request)
    # The page's 50 customers by primary key after the wallets are sorted and cut, rather than a
    # join that reads every customer of the business first (at 100,000 wallets the join was most
    # of the query's time).
    wallets = wallets.select_related(None).prefetch_related("customer")
    return _render(request, "dashboard/low_balance.html", {
        "nav": "low", "filter": filterset, "page": _page(request, wallets, LOW_BALANCE_PER_PAGE),
    })


@require_GET
@dashboard_view
def low_balance_export(request):
    filterset, wallets = _low_balance_filterset(request)
    wallets = wallets.only("id", "currency", "balance", "updated_at", "customer_id", "customer__name",
                           "customer__email")

    def rows():
        for w in wallets.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield [w.customer_id, csv_safe_text(w.customer.name), csv_safe_text(w.customer.email),
                   w.currency, to_major(w.balance, w.currency), w.balance, to_major(w.threshold, w.currency),
                   _iso_utc(w.updated_at)]

    header = ["customer_id", "customer_name", "customer_email", "currency", "balance", "balance_minor",
              "low_below", "last_activity_utc"]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return csv_stream_response(f"low-balance-{stamp}.csv", header, rows())


@require_GET
@dashboard_view
def approvals(request):
    """Manual adjustments held above the approval threshold; approvers decide them here."""
    business_id = request.access.business_id
    data = request.GET.copy()
    data.setdefault("status", "pending")
    filterset = AdjustmentRequestFilterSet(data, queryset=selectors.adjustment_request_list(business_id=business_id),
                                           request=request)
    return _render(request, "dashboard/approvals.html", {
        "nav": "approvals", "filter": filterset, "page": _page(request, filterset.qs, APPROVALS_PER_PAGE),
        "can_decide": request.access.role in ("approver", "superuser"),
    })


@require_POST
@dashboard_view
def approval_decide(request, request_id: str):
    """Approve (posts the entry) or reject one held adjustment. The service checks the role and
    that the approver is not the requester; the role is checked here first for a clear 403."""
    if request.access.role not in ("approver", "superuser"):
        raise PermissionDenied("Only an approver may approve or reject adjustments.")
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        return HttpResponse("Unknown decision.", status=400, content_type="text/plain; charset=utf-8")
    note = request.POST.get("note", "").strip()[:500]
    decide = adjustment_approve if decision == "approve" else adjustment_reject
    try:
        held = decide(business_id=request.access.business_id, request_id=request_id, approver=request.user,
                      note=note)
    except CustomerNotFound as exc:
        raise Http404("No such request.") from exc
    except WalletError as exc:
        messages.error(request, f"Not {decision}d: {exc.message}")
    else:
        amount = format_money(held.amount, held.currency)
        messages.success(request, f"{'Approved and posted' if decision == 'approve' else 'Rejected'}: "
                                  f"{'credit' if held.is_credit else 'debit'} of {amount} for {held.customer.name}.")
    return _redirect_back(request, "dashboard:approvals")


@dashboard_view
def settings_page(request):
    """Time zone for everyone; low-balance thresholds, editable by operators."""
    business_id = request.access.business_id
    rows = selectors.low_balance_threshold_rows(business_id=business_id)
    formset = add_form = None
    if request.method == "POST":
        if not request.access.can_post:
            raise PermissionDenied("Your role may view but not change settings.")
        if request.POST.get("form") == "add":
            add_form = AddCurrencyForm(request.POST, prefix="add")
            if add_form.is_valid():
                currency = add_form.cleaned_data["currency"]
                currency_policy_set_low_balance(business_id=business_id, currency=currency,
                                                low_balance_below=add_form.cleaned_data["threshold_minor"])
                messages.success(request, f"Saved the {currency} threshold.")
                return redirect("dashboard:settings")
        else:
            formset = LowBalanceThresholdFormSet(request.POST, prefix="t")
            if formset.is_valid():
                for form in formset:
                    currency_policy_set_low_balance(business_id=business_id, currency=form.cleaned_data["currency"],
                                                    low_balance_below=form.cleaned_data["threshold_minor"])
                messages.success(request, "Saved the low-balance thresholds.")
                return redirect("dashboard:settings")
    elif request.method != "GET":
        return HttpResponse(status=405)
    if formset is None:
        initial = [{"currency": r["currency"],
                    "low_balance_below": "" if r["own"] is None else f"{to_major(r['own'], r['currency']):f}"}
                   for r in rows]
        formset = LowBalanceThresholdFormSet(initial=initial, prefix="t")
    for row, form in zip(rows, formset.forms, strict=False):
        row["form"] = form
    return _render(request, "dashboard/settings.html", {
        "nav": "settings", "rows": rows, "formset": formset,
        "add_form": add_form or AddCurrencyForm(prefix="add"),
        "time_zones": sorted(time_zone_names()),
    })


@require_POST
@dashboard_view
def set_time_zone(request):
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        if request.POST.get("detected"):
            return HttpResponse(status=204)
        messages.error(request, form.errors["time_zone"][0])
        return redirect("dashboard:settings")
    if form.cleaned_data["detected"]:
        # The browser's zone, sent once; a zone the person chose wins.
        request.session.setdefault(TZ_SESSION_KEY, form.cleaned_data["time_zone"])
        return HttpResponse(status=204)
    request.session[TZ_SESSION_KEY] = form.cleaned_data["time_zone"]
    messages.success(request, f"Times are now shown in {form.cleaned_data['time_zone']}.")
    return _redirect_back(request, "dashboard:settings")


@require_POST
@dashboard_view
def switch_business(request):
    if not request.access.is_superuser:
        raise PermissionDenied("Only a superuser may switch between businesses.")
    form = BusinessSwitchForm(request.POST)
    business = Business.objects.filter(pk=form.data.get("business_id", "")).first() if form.is_valid() else None
    if business is None:
        raise Http404("No such business.")
    request.session[SESSION_BUSINESS_KEY] = business.pk
    messages.success(request, f"Now showing {business.name}.")
    return redirect("dashboard:overview")


def _redirect_back(request, fallback: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)

