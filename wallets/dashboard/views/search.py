"""The top bar's search box: one results page, grouped by kind; an exact id goes straight to its page."""

from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from walletproject.db_router import reads_from_replica
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.views.common import render_page
from wallets.selectors.search import search


@require_GET
@dashboard_view
@reads_from_replica
def search_page(request):
    results = search(business_id=request.access.business_id, query=request.GET.get("q", ""))
    if results.exact_entry is not None:
        return redirect("dashboard:entry", results.exact_entry.customer_id, results.exact_entry.pk)
    if results.exact_customer is not None:
        return redirect("dashboard:customer", results.exact_customer.pk)
    return render_page(request, "dashboard/search.html", {"nav": "search", "results": results})
