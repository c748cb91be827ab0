"""The overview: totals per currency and their USD equivalent, counts, the latest entries."""

from typing import NamedTuple

from django.views.decorators.http import require_GET

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.views.common import render_page

RECENT_ACTIVITY = 10


class _CurrencySum(NamedTuple):
    """One currency's total over every wallet, in the shape ``total_balance_usd`` reads."""

    currency: str
    balance: int


@require_GET
@dashboard_view
@reads_from_replica
def overview(request):
    business_id = request.access.business_id
    totals = selectors.wallet_totals_by_currency(business_id=business_id)
    recent = selectors.ledger_entries_with_actor_labels(
        business_id=business_id, entries=selectors.ledger_entry_list_business(business_id=business_id)[:RECENT_ACTIVITY]
    )
    return render_page(request, "dashboard/overview.html", {
        "nav": "overview",
        "totals": totals,
        # Converted per currency sum, rounded once: as the API converts one customer's wallets.
        "usd_total": selectors.total_balance_usd([_CurrencySum(row["currency"], row["total"]) for row in totals]),
        "customer_count": selectors.customer_list(business_id=business_id).count(),
        "wallet_count": sum(row["wallets"] for row in totals),
        "low_count": selectors.wallet_low_balance_list(business_id=business_id).count(),
        "pending_count": selectors.adjustment_request_list(business_id=business_id).filter(status="pending").count(),
        "recent": recent,
    })
