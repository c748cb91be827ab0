"""Voiding an active hold: a confirmation step (the available balance now and after), then the
engine's ``void_hold``. Operators only; a repeat of a void already done says so and changes nothing."""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from wallets import ledger, selectors
from wallets.dashboard.access import dashboard_view, operator_required
from wallets.dashboard.views.common import customer_or_404, render_page
from wallets.exceptions import HoldNotActive
from wallets.models import AdjustmentRequest, Hold, Wallet
from wallets.money import format_money
from wallets.selectors.movements import hold_get
from wallets.services.actors import Actor


@require_POST
@dashboard_view
@operator_required
def hold_void(request, customer_id: str, hold_id: str):
    customer = customer_or_404(request, customer_id)
    business_id = request.access.business_id
    hold = hold_get(business_id=business_id, customer_id=customer.pk, hold_id=hold_id)
    if hold is None:
        raise Http404("No such hold.")
    back = HttpResponseRedirect(reverse("dashboard:customer", args=[customer.pk]), status=303)
    amount = format_money(hold.amount, hold.currency)
    if AdjustmentRequest.objects.filter(business_id=business_id, hold_id=hold.pk).exists():
        # Its money waits for an approver: the decision releases or captures it, nothing else here.
        messages.error(request, f"Hold {hold.pk} reserves {amount} for a request waiting for approval; "
                                "an approver releases it by rejecting the request.")
        return back
    if request.POST.get("action") != "post":
        if hold.status != Hold.Status.ACTIVE:
            messages.info(request, f"Hold {hold.pk} is already {hold.status}; nothing to void.")
            return back
        wallet = Wallet.objects.get(business_id=business_id, customer_id=customer.pk, currency=hold.currency)
        available = wallet.balance - wallet.held_balance
        return render_page(request, "dashboard/void_confirm.html", {
            "nav": "customers", "customer": customer, "hold": hold,
            "available_before": available, "available_after": available + hold.amount,
            "wallets": selectors.wallet_list(business_id=business_id, customer_id=customer.pk),
        })
    try:
        result = ledger.void_hold(business_id=business_id, customer_id=customer.pk, hold_id=hold.pk,
                                  actor=Actor.user(request.user.pk))
    except HoldNotActive:
        hold.refresh_from_db()
        messages.info(request, f"Hold {hold.pk} is already {hold.status}; nothing was voided twice.")
        return back
    messages.success(request, f"Voided hold {hold.pk} of {amount}. Available {hold.currency} balance: "
                              f"{format_money(result.wallet.available, hold.currency)}.")
    return back
