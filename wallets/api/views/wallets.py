"""``/customers/{customer_id}/wallets``: every wallet of the customer and their total in USD, now or
``?as_of=`` an instant; and ``…/wallets/statement``, one currency's statement over an interval
(extensions: API-NOTES, "Balances in time"; the definitions are ``wallets.selectors.statements``')."""

import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from walletproject.db_router import reads_from_replica
from wallets import selectors
from wallets.api import serializers as s
from wallets.api.pagination import DodoPagination
from wallets.api.views.base import ERROR_RESPONSES, CustomerScopedViewSet
from wallets.models import Wallet
from wallets.money import DODO_CURRENCIES
from wallets.selectors.entries import WalletView, wallet_views

AS_OF = OpenApiParameter(
    "as_of", OpenApiTypes.DATETIME,
    description="Extension: the balances at this instant (ISO 8601, inclusive) and the total at the rates in force "
                "on its UTC date; the response then carries `as_of`",
)
STATEMENT_PARAMETERS = [
    OpenApiParameter("currency", OpenApiTypes.STR, enum=DODO_CURRENCIES, required=True,
                     description="The wallet's currency (a currency without a wallet has an all-zero statement)"),
    OpenApiParameter("from", OpenApiTypes.DATETIME,
                     description="Start of the interval, inclusive (ISO 8601); default: the first entry"),
    OpenApiParameter("to", OpenApiTypes.DATETIME,
                     description="End of the interval, exclusive (ISO 8601); default: now. After `from`, or equal"),
    *[OpenApiParameter(p["name"], OpenApiTypes.INT, description=p["description"])
      for p in DodoPagination().get_schema_operation_parameters(None)],
]


class WalletViewSet(CustomerScopedViewSet):
    """A customer's wallets, ordered by currency, and their total in USD (not paginated). A missing
    exchange rate never fails the list: that wallet is left out of the total and named."""

    serializer_class = s.WalletResponse
    queryset = Wallet.objects.none()

    @extend_schema(operation_id="get_customer_wallets", parameters=[AS_OF],
                   responses={200: s.WalletListResponse, **ERROR_RESPONSES})
    @reads_from_replica(when=lambda request: "as_of" in request.GET)  # current balances: the primary
    def list(self, request, customer_id: str):
        customer = self.customer()
        params = s.AsOfParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        as_of: datetime.datetime | None = params.validated_data.get("as_of")
        if as_of is None:
            wallets: list = selectors.wallet_list(business_id=self.business_id, customer_id=customer.id)
            total = selectors.total_balance_usd(wallets)
            views = wallet_views(business_id=self.business_id, customer_id=customer.id, wallets=wallets)
        else:
            wallets = selectors.wallet_list_as_of(business_id=self.business_id, customer_id=customer.id, as_of=as_of)
            total = selectors.total_balance_usd(wallets, on=as_of.astimezone(datetime.UTC).date())
            # Booked balances then: holds and grants are not kept in time (held 0, nothing expiring).
            views = [WalletView(w.customer_id, w.currency, w.balance, 0, w.created_at, w.updated_at, [])
                     for w in wallets]
        body = {
            "items": s.WalletResponse(views, many=True).data,
            "total_balance_usd": total.amount,
            "total_balance_usd_capped": total.capped,
            "unconverted_currencies": total.unconverted,
        }
        if as_of is not None:
            body["as_of"] = params.data["as_of"]
        return Response(body)

    @extend_schema(operation_id="get_customer_wallet_statement", parameters=STATEMENT_PARAMETERS,
                   responses={200: s.StatementResponse, **ERROR_RESPONSES})
    @action(detail=False, methods=["get"], url_path="statement")
    @reads_from_replica
    def statement(self, request, customer_id: str):
        """Extension: one currency's statement over [from, to): opening and closing balances, the
        interval's totals (every page) and its entries, oldest first, paged like the ledger."""
        customer = self.customer()
        params = s.StatementParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        statement = selectors.wallet_statement(business_id=self.business_id, customer_id=customer.id,
                                               **params.validated_data)
        page = DodoPagination().paginate_queryset(statement.entries, request, view=self)
        return Response(s.StatementResponse({
            "currency": statement.currency, "start": statement.start, "end": statement.end,
            "opening_balance": statement.opening_balance, "closing_balance": statement.closing_balance,
            "total_credits": statement.total_credits, "total_debits": statement.total_debits,
            "entry_count": statement.entry_count, "items": page,
        }).data)
