"""Held adjustments (maker–checker): the list, and an approver's decision."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from wallets import selectors
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.views.common import page_of, redirect_back, render_page
from wallets.exceptions import CustomerNotFound, WalletError
from wallets.filters import AdjustmentRequestFilterSet
from wallets.money import format_money
from wallets.selectors import approvals as approvals_selectors
from wallets.services.approvals import adjustment_approve, adjustment_reject

APPROVALS_PER_PAGE = 25


@require_GET
@dashboard_view
def approvals(request):
    """Manual adjustments held above the approval threshold; approvers decide them here."""
    business_id = request.access.business_id
    data = request.GET.copy()
    data.setdefault("status", "pending")
    filterset = AdjustmentRequestFilterSet(data, queryset=selectors.adjustment_request_list(business_id=business_id),
                                           request=request)
    page = page_of(request, approvals_selectors.adjustment_requests_with_wallets(filterset.qs), APPROVALS_PER_PAGE)
    page.object_list = list(page.object_list)
    for held in page.object_list:  # the balance now → after, and why it cannot post (pending ones)
        held.preview = approvals_selectors.approval_preview(held) if held.status == "pending" else None
    return render_page(request, "dashboard/approvals.html", {
        "nav": "approvals", "filter": filterset, "page": page,
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
    return redirect_back(request, "dashboard:approvals")
