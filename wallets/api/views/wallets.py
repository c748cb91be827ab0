"""``/customers/{customer_id}/wallets``: every wallet of the customer and their total in USD."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from wallets import selectors
from wallets.api import serializers as s
from wallets.api.views.base import ERROR_RESPONSES, CustomerScopedViewSet
from wallets.models import Wallet
from wallets.selectors.entries import wallet_views


class WalletViewSet(CustomerScopedViewSet):
    """A customer's wallets, ordered by currency, and their total in USD (not paginated). A missing
    exchange rate never fails the list: that wallet is left out of the total and named."""

    serializer_class = s.WalletResponse
    queryset = Wallet.objects.none()

    @extend_schema(operation_id="get_customer_wallets", responses={200: s.WalletListResponse, **ERROR_RESPONSES})
    def list(self, request, customer_id: str):
        customer = self.customer()
        wallets = selectors.wallet_list(business_id=self.business_id, customer_id=customer.id)
        total = selectors.total_balance_usd(wallets)
        return Response({
            "items": s.WalletResponse(
                wallet_views(business_id=self.business_id, customer_id=customer.id, wallets=wallets), many=True
            ).data,
            "total_balance_usd": total.amount,
            "total_balance_usd_capped": total.capped,
            "unconverted_currencies": total.unconverted,
        })
