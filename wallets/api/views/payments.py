"""``POST /customers/{customer_id}/wallets/payments``: pay what the wallet can of an amount, once
per customer, currency and ``reference_object_id`` (the wallet-first invoice rule, atomic: the
engine reads the available balance and debits it under one lock)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from wallets import ledger
from wallets.api import serializers_holds as h
from wallets.api.views.base import WRITE_ERROR_RESPONSES, CustomerScopedViewSet
from wallets.api.views.holds import ApiKeyWrites
from wallets.models import WalletPayment
from wallets.selectors.entries import wallet_view_of


class PaymentViewSet(CustomerScopedViewSet):
    """Debits ``min(amount, available_balance)`` as a ``payment`` entry and says what is left to charge."""

    serializer_class = h.PaymentCreateRequest
    queryset = WalletPayment.objects.none()

    def get_permissions(self):
        return [*super().get_permissions(), ApiKeyWrites()]

    @extend_schema(operation_id="create_customer_wallet_payment", request=h.PaymentCreateRequest,
                   responses={200: h.PaymentResponse, **WRITE_ERROR_RESPONSES})
    def create(self, request, customer_id: str):
        body = h.PaymentCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = ledger.pay(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"], amount=data["amount"],
            reference_object_id=data["reference_object_id"], actor=request.auth.actor, reason=data.get("reason"),
        )
        response = Response(h.payment_body(result, wallet_view_of(business_id=self.business_id, wallet=result.wallet)))
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response
