"""Wallets running low, and their CSV export."""

from django.utils import timezone
from django.views.decorators.http import require_GET

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.csv_cells import csv_safe_text
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.currencies import order_currency_field
from wallets.dashboard.views.common import EXPORT_CHUNK_SIZE, iso_utc, page_of, render_page
from wallets.filters import WalletFilterSet
from wallets.money import to_major
from wallets.selectors.activity import wallet_with_last_entry_at
from wallets.selectors.analytics import wallet_runways

LOW_BALANCE_PER_PAGE = 50


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
@reads_from_replica
def low_balance(request):
    filterset, wallets = _low_balance_filterset(request)
    order_currency_field(filterset.form, business_id=request.access.business_id)
    # The page's 50 customers by primary key after the wallets are sorted and cut, rather than a
    # join that reads every customer of the business first (at 100,000 wallets the join was most
    # of the query's time).
    wallets = wallet_with_last_entry_at(wallets.select_related(None).prefetch_related("customer"))
    page = page_of(request, wallets, LOW_BALANCE_PER_PAGE)
    # Runway at the last 14 days' spend (the wallet.runway_low rule), for the page's wallets only.
    runways = wallet_runways(page.object_list, now=timezone.now())
    for wallet in page.object_list:
        wallet.runway_now = runways[wallet.pk]
    return render_page(request, "dashboard/low_balance.html", {"nav": "analytics", "filter": filterset, "page": page})


@require_GET
@dashboard_view
@reads_from_replica
def low_balance_export(request):
    _filterset, wallets = _low_balance_filterset(request)
    wallets = wallet_with_last_entry_at(wallets.only("id", "business_id", "currency", "balance", "entry_count",
                                                     "customer_id", "customer__name", "customer__email"))

    def rows():
        for w in wallets.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield [w.customer_id, csv_safe_text(w.customer.name), csv_safe_text(w.customer.email),
                   w.currency, to_major(w.balance, w.currency), w.balance, to_major(w.threshold, w.currency),
                   iso_utc(w.last_entry_at) if w.last_entry_at else ""]

    header = ["customer_id", "customer_name", "customer_email", "currency", "balance", "balance_minor",
              "low_below", "last_activity_utc"]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return csv_stream_response(f"low-balance-{stamp}.csv", header, rows())
