"""Settings → General: the time zone for everyone, low-balance thresholds and runway days for operators; and the two
per-session choices (time zone, the business a superuser looks at)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from wallets import selectors
from wallets.dashboard.access import SESSION_BUSINESS_KEY, dashboard_view
from wallets.dashboard.currencies import order_currency_field
from wallets.dashboard.forms import (
    AddCurrencyForm,
    BusinessSwitchForm,
    LowBalanceThresholdFormSet,
    RunwayDaysForm,
    TimeZoneForm,
)
from wallets.dashboard.middleware import SESSION_KEY as TZ_SESSION_KEY
from wallets.dashboard.middleware import picker_time_zones
from wallets.dashboard.views.common import redirect_back, render_page
from wallets.exceptions import InvalidInput
from wallets.money import to_major
from wallets.services.policies import business_set_runway_days, currency_policy_set_low_balance
from wallets.services.security_events import request_actor


@dashboard_view
def settings_page(request):
    """Time zone for everyone; low-balance thresholds, editable by operators."""
    business_id = request.access.business_id
    rows = selectors.low_balance_threshold_rows(business_id=business_id)
    formset = add_form = runway_form = None
    if request.method == "POST":
        if not request.access.can_post:
            raise PermissionDenied("Your role may view but not change settings.")
        if request.POST.get("form") == "runway":
            runway_form = RunwayDaysForm(request.POST, prefix="runway")
            if runway_form.is_valid():
                try:
                    days = business_set_runway_days(business_id=business_id,
                                                    runway_days=runway_form.cleaned_data["runway_days"],
                                                    **request_actor(request))
                except InvalidInput as exc:
                    for problem in exc.errors.get("runway_days", [str(exc)]):
                        runway_form.add_error("runway_days", problem)
                else:
                    messages.success(request, f"Saved: runway alerts {days} day{'s' if days != 1 else ''} ahead.")
                    return redirect("dashboard:settings")
        elif request.POST.get("form") == "add":
            add_form = AddCurrencyForm(request.POST, prefix="add")
            if add_form.is_valid():
                currency = add_form.cleaned_data["currency"]
                currency_policy_set_low_balance(business_id=business_id, currency=currency,
                                                low_balance_below=add_form.cleaned_data["threshold_minor"],
                                                **request_actor(request))
                messages.success(request, f"Saved the {currency} threshold.")
                return redirect("dashboard:settings")
        else:
            formset = LowBalanceThresholdFormSet(request.POST, prefix="t")
            if formset.is_valid():
                for form in formset:
                    currency_policy_set_low_balance(business_id=business_id, currency=form.cleaned_data["currency"],
                                                    low_balance_below=form.cleaned_data["threshold_minor"],
                                                    **request_actor(request))
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
    add_form = add_form or AddCurrencyForm(prefix="add")
    order_currency_field(add_form, business_id=business_id)
    return render_page(request, "dashboard/settings.html", {
        "nav": "settings", "settings_nav": "general", "rows": rows, "formset": formset,
        "add_form": add_form,
        "runway_form": runway_form or RunwayDaysForm(prefix="runway",
                                                     initial={"runway_days": request.access.business.runway_days}),
        "time_zones": picker_time_zones(),
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
    return redirect_back(request, "dashboard:settings")


@require_POST
@dashboard_view
def switch_business(request):
    if not request.access.is_superuser:
        raise PermissionDenied("Only a superuser may switch between businesses.")
    form = BusinessSwitchForm(request.POST)
    business = selectors.business_find(business_id=form.cleaned_data["business_id"]) if form.is_valid() else None
    if business is None:
        raise Http404("No such business.")
    request.session[SESSION_BUSINESS_KEY] = business.pk
    messages.success(request, f"Now showing {business.name}.")
    return redirect("dashboard:overview")
