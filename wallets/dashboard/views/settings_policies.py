"""Settings → Approval policies: per currency, the amount above which a manual adjustment waits
for an approver (``CurrencyPolicy.approval_above``), beside the low-balance threshold (edited on
General). Everyone sees them; approvers and superusers change them, in major units per currency.
The service (``wallets.services.policies``) logs each change with its before and after."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from wallets.dashboard.access import dashboard_view
from wallets.dashboard.forms_settings import ApprovalThresholdForm
from wallets.dashboard.views.common import render_page
from wallets.money import DODO_CURRENCIES, to_major
from wallets.selectors.policies import currency_policy_rows
from wallets.services.policies import currency_policy_set_approval
from wallets.services.security_events import request_actor


def _initial(row) -> str:
    return "" if row["approval_above"] is None else f"{to_major(row['approval_above'], row['currency']):f}"


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view
def policies(request):
    business_id = request.access.business_id
    rows = currency_policy_rows(business_id=business_id)
    known = {row["currency"] for row in rows}
    bound: dict[str, ApprovalThresholdForm] = {}
    add_form = None
    if request.method == "POST":
        if not request.access.can_manage:
            raise PermissionDenied("Only an approver may change approval policies.")
        if request.POST.get("form") == "add":
            add_form = ApprovalThresholdForm(request.POST, prefix="add")
            forms_to_save = [add_form]
        else:
            # The rows the page showed (a currency that appeared since is left alone).
            bound = {row["currency"]: ApprovalThresholdForm(request.POST, prefix=row["currency"]) for row in rows
                     if f"{row['currency']}-currency" in request.POST}
            forms_to_save = list(bound.values())
        # A row's hidden currency must be its own (a forged one would edit another row's policy).
        for currency, form in bound.items():
            if form.is_valid() and form.cleaned_data["currency"] != currency:
                form.add_error("currency", "The form was changed; reload the page.")
        if all(form.is_valid() for form in forms_to_save):
            for form in forms_to_save:
                currency_policy_set_approval(business_id=business_id, currency=form.cleaned_data["currency"],
                                             approval_above=form.cleaned_data["approval_minor"],
                                             **request_actor(request))
            messages.success(request, "Saved the approval thresholds.")
            return redirect("dashboard:settings_policies")
    for row in rows:
        row["form"] = bound.get(row["currency"]) or ApprovalThresholdForm(
            prefix=row["currency"], initial={"currency": row["currency"], "approval_above": _initial(row)})
    add_form = add_form or ApprovalThresholdForm(prefix="add")
    # Every currency the business uses is a row above: the picker offers the others.
    add_form.fields["currency"].choices = [("", "Choose a currency"),
                                           *((code, code) for code in DODO_CURRENCIES if code not in known)]
    return render_page(request, "dashboard/settings/policies.html", {
        "nav": "settings", "settings_nav": "policies", "rows": rows, "add_form": add_form,
    }, status=400 if request.method == "POST" else 200)
