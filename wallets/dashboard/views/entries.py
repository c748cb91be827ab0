"""One ledger entry with everything linked to it, and its reversal (form → confirmation → the
approvals policy, ``wallets.adjustments.reversals``)."""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.adjustments import reversals
from wallets.dashboard.access import dashboard_view, operator_required
from wallets.dashboard.views.common import customer_or_404, render_page
from wallets.selectors.movements import EntryDetail, entry_detail
from wallets.selectors.webhooks import events_for_entry


def _detail_or_404(request, customer_id: str, entry_id: str) -> EntryDetail:
    customer = customer_or_404(request, customer_id)
    detail = entry_detail(business_id=request.access.business_id, customer_id=customer.pk, entry_id=entry_id)
    if detail is None:
        raise Http404("No such entry.")
    return detail


def _entry_page(request, detail: EntryDetail, *, form=None, status: int = 200):
    business_id = request.access.business_id
    labelled = selectors.ledger_entries_with_actor_labels(
        business_id=business_id, entries=[detail.entry, *detail.reversals, *detail.expiries]
    )
    detail.entry = labelled[0]
    if form is None and request.access.can_post and detail.left_to_reverse:
        form = reversals.reversal_form_new(detail=detail)
    return render_page(request, "dashboard/entry_detail.html", {
        "nav": "ledger", "customer": detail.entry.customer, "detail": detail, "entry": detail.entry, "form": form,
        "webhook_events": events_for_entry(business_id=business_id, entry_id=detail.entry.pk),
    }, status=status)


@require_GET
@dashboard_view
@reads_from_replica
def entry_detail_page(request, customer_id: str, entry_id: str):
    return _entry_page(request, _detail_or_404(request, customer_id, entry_id))


@require_http_methods(["GET", "POST"])
@dashboard_view
@operator_required
def entry_reverse(request, customer_id: str, entry_id: str):
    detail = _detail_or_404(request, customer_id, entry_id)
    entry_url = reverse("dashboard:entry", args=[detail.entry.customer_id, detail.entry.pk])
    if request.method == "GET":
        return redirect(entry_url)
    step = reversals.reversal_handle(data=request.POST, business_id=request.access.business_id, detail=detail,
                                     user=request.user)
    if step.stage == reversals.DONE:
        assert step.outcome is not None
        messages.add_message(request, messages.INFO if step.outcome.held else messages.SUCCESS, step.summary())
        return HttpResponseRedirect(entry_url, status=303)
    if step.stage == reversals.CONFIRM:
        return render_page(request, "dashboard/reverse_confirm.html", {
            "nav": "ledger", "step": step, "entry": detail.entry, "customer": detail.entry.customer,
        })
    return _entry_page(request, detail, form=step.form)
