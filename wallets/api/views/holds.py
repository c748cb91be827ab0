"""``/customers/{customer_id}/wallets/holds``: money reserved in a wallet until it is captured (one
``payment`` debit of up to the held amount), voided, or expires. A hold resolves once: capturing or
voiding one that is not active is ``409 HOLD_NOT_ACTIVE``. Every movement is ``wallets.ledger``'s."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.decorators import action
from rest_framework.response import Response

from wallets import ledger
from wallets.api import serializers_holds as h
from wallets.api.pagination import DodoPagination
from wallets.api.serializers import ErrorResponse
from wallets.api.views.base import ERROR_RESPONSES, ID_REGEX, WRITE_ERROR_RESPONSES, CustomerScopedViewSet
from wallets.api.views.ledger_entries import _idempotency_key
from wallets.filters import CustomerHoldFilterSet
from wallets.models import Hold, LedgerEntry
from wallets.money import DODO_CURRENCIES
from wallets.selectors.entries import wallet_view_of
from wallets.selectors.holds import hold_get, hold_list

HOLD_ERRORS = {
    404: OpenApiResponse(ErrorResponse, description="Unknown customer or hold, or another business's (NOT_FOUND)"),
    409: OpenApiResponse(ErrorResponse, description="The hold was captured, voided or has expired "
                                                    "(HOLD_NOT_ACTIVE)"),
}


class ApiKeyWrites(permissions.BasePermission):
    """Holds and payments move money outside the dashboard's maker–checker flow, so only an API key
    may write them; a dashboard session may read."""

    message = "Holds and payments from the wallet are API-only: use an API key."

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS or request.auth.actor.type != LedgerEntry.ActorType.USER


class HoldViewSet(CustomerScopedViewSet):
    """A customer's holds, newest first; creating, capturing and voiding one."""

    serializer_class = h.HoldResponse
    filterset_class = CustomerHoldFilterSet
    pagination_class = DodoPagination
    queryset = Hold.objects.none()
    lookup_url_kwarg = "hold_id"
    lookup_value_regex = ID_REGEX

    def get_permissions(self):
        return [*super().get_permissions(), ApiKeyWrites()]

    def get_serializer_class(self):
        """The body a write accepts: what the browsable API's raw-data form and OPTIONS show."""
        return {"create": h.HoldCreateRequest, "capture": h.HoldCaptureRequest}.get(self.action, h.HoldResponse)

    @extend_schema(operation_id="list_customer_wallet_holds",
                   description=(
                       "Lists a customer's holds, newest first, filtered by status or currency."
                   ),
                   parameters=[OpenApiParameter("currency", OpenApiTypes.STR, enum=DODO_CURRENCIES,
                                                description="Only this currency")],
                   responses={200: h.HoldListResponse, **ERROR_RESPONSES})
    def list(self, request, customer_id: str):
        customer = self.customer()
        holds = hold_list(business_id=self.business_id, customer_id=customer.id)
        page = self.paginate_queryset(self.filter_queryset(holds))
        return self.get_paginated_response(h.HoldResponse(page, many=True).data)

    @extend_schema(operation_id="get_customer_wallet_hold",
                   description=(
                       "Returns one of the customer's holds by id, with its status and the amount "
                       'captured.'
                   ), responses={200: h.HoldResponse, **ERROR_RESPONSES,
                                                                       404: HOLD_ERRORS[404]})
    def retrieve(self, request, customer_id: str, hold_id: str):
        hold = hold_get(business_id=self.business_id, customer_id=customer_id, hold_id=hold_id)
        return Response(h.HoldResponse(hold).data)

    @extend_schema(operation_id="create_customer_wallet_hold",
                   description=(
                       "Reserves money in one of the customer's wallets until it is captured, voided "
                       'or expires: the available balance drops, the booked balance does not.'
                   ), request=h.HoldCreateRequest,
                   parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="Used as idempotency_key when the body has none")],
                   responses={200: h.HoldResponse,
                              400: OpenApiResponse(ErrorResponse, description="The available balance is short "
                                                                              "(INSUFFICIENT_WALLET_FUNDS)"),
                              **WRITE_ERROR_RESPONSES})
    def create(self, request, customer_id: str):
        body = h.HoldCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = ledger.create_hold(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"], amount=data["amount"],
            actor=request.auth.actor, expires_at=data["expires_at"],
            reference_object_id=data.get("reference_object_id"), reason=data.get("reason"),
            idempotency_key=_idempotency_key(request, data.get("idempotency_key")),
            expiry_given=request.data.get("expires_at") is not None,
        )
        return _replayable(Response(h.HoldResponse(result.hold).data), result)

    @extend_schema(operation_id="capture_customer_wallet_hold",
                   description=(
                       'Captures an active hold, in full or in part: the captured amount is debited '
                       'from the wallet and the rest is released.'
                   ), request=h.HoldCaptureRequest,
                   responses={200: h.HoldCaptureResponse, **WRITE_ERROR_RESPONSES, **HOLD_ERRORS})
    @action(detail=True, methods=["post"])
    def capture(self, request, customer_id: str, hold_id: str):
        body = h.HoldCaptureRequest(data=request.data)
        body.is_valid(raise_exception=True)
        result = ledger.capture_hold(business_id=self.business_id, customer_id=customer_id, hold_id=hold_id,
                                     actor=request.auth.actor, amount=body.validated_data.get("amount"))
        context = {"wallet": wallet_view_of(business_id=self.business_id, wallet=result.wallet), "entry": result.entry}
        return Response(h.HoldCaptureResponse(result.hold, context=context).data)

    @extend_schema(operation_id="void_customer_wallet_hold",
                   description=(
                       'Voids an active hold: its reserved money is available again and nothing is '
                       'debited. Voiding a hold that is not active is 409 HOLD_NOT_ACTIVE.'
                   ), request=None,
                   responses={200: h.HoldWithWalletResponse, **WRITE_ERROR_RESPONSES, **HOLD_ERRORS})
    @action(detail=True, methods=["post"])
    def void(self, request, customer_id: str, hold_id: str):
        result = ledger.void_hold(business_id=self.business_id, customer_id=customer_id, hold_id=hold_id,
                                  actor=request.auth.actor)
        wallet = wallet_view_of(business_id=self.business_id, wallet=result.wallet)
        return Response(h.HoldWithWalletResponse(result.hold, context={"wallet": wallet}).data)


def _replayable(response: Response, result) -> Response:
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
