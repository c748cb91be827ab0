"""``/customers/{customer_id}/wallets/ledger-entries``: the customer's ledger, newest first, and
posting a credit or a debit (answered with the wallet after it, as ``GET …/wallets`` shows it)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response

from wallets import ledger, selectors
from wallets.api import serializers as s
from wallets.api.pagination import DodoPagination
from wallets.api.views.base import ERROR_RESPONSES, WRITE_ERROR_RESPONSES, CustomerScopedViewSet
from wallets.filters import CustomerLedgerFilterSet
from wallets.models import LedgerEntry
from wallets.money import DODO_CURRENCIES
from wallets.services.approvals import adjustment_submit


class LedgerEntryViewSet(CustomerScopedViewSet):
    """A customer's ledger entries, newest first; posting one moves money in one wallet."""

    serializer_class = s.LedgerEntryResponse
    filterset_class = CustomerLedgerFilterSet
    pagination_class = DodoPagination
    queryset = LedgerEntry.objects.none()

    def get_serializer_class(self):
        """The body a write accepts: what the browsable API's raw-data form and OPTIONS show."""
        method = self.request.method if self.request is not None else "GET"
        return s.LedgerEntryCreateRequest if method == "POST" else s.LedgerEntryResponse

    @extend_schema(operation_id="get_customer_wallet_transactions",
                   parameters=[OpenApiParameter("currency", OpenApiTypes.STR, enum=DODO_CURRENCIES,
                                                description="Only this currency")],
                   responses={200: s.LedgerEntryListResponse, **ERROR_RESPONSES})
    def list(self, request, customer_id: str):
        customer = self.customer()
        entries = selectors.ledger_entry_list(business_id=self.business_id, customer_id=customer.id)
        page = self.paginate_queryset(self.filter_queryset(entries))
        return self.get_paginated_response(s.LedgerEntryResponse(page, many=True).data)

    @extend_schema(operation_id="create_customer_ledger_entry", request=s.LedgerEntryCreateRequest,
                   parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="Used as idempotency_key when the body has none")],
                   responses={200: s.WalletResponse,
                              202: OpenApiResponse(s.AdjustmentPendingResponse,
                                                   description="Dashboard session only: above the approval "
                                                               "threshold, held for an approver; nothing posted"),
                              400: OpenApiResponse(description="Insufficient balance (INSUFFICIENT_WALLET_FUNDS)"),
                              **WRITE_ERROR_RESPONSES})
    def create(self, request, customer_id: str):
        body = s.LedgerEntryCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = _idempotency_key(request, data.get("idempotency_key"))
        if request.auth.actor.type == LedgerEntry.ActorType.USER:
            return self._user_adjustment(request, customer_id, data, key)
        result = ledger.post(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"],
            amount=data["amount"], is_credit=data["entry_type"] == "credit", reason=data.get("reason"),
            idempotency_key=key, actor=request.auth.actor,
        )
        return _wallet_response(result)

    def _user_adjustment(self, request, customer_id: str, data: dict, key: str | None) -> Response:
        """A dashboard user's session moves money exactly as the dashboard's adjustment flow does:
        the role must allow posting, a reason is required, and above the business's approval
        threshold nothing is posted: the request is held until a different approver approves it
        (``202``). API keys are not subject to maker–checker."""
        # The one policy (role, reason, threshold, form key) is adjustment_submit's, as for the
        # dashboard and the admin; its refusals are domain errors (403, 422) like any other.
        outcome = adjustment_submit(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"],
            amount=data["amount"], is_credit=data["entry_type"] == "credit", reason=data.get("reason") or "",
            idempotency_key=key, user=request.user,
        )
        if outcome.held:
            return Response({"status": "pending_approval", "adjustment_request_id": outcome.request.pk},
                            status=status.HTTP_202_ACCEPTED)
        return _wallet_response(outcome.posting)


def _wallet_response(result) -> Response:
    """The wallet right after the entry, exactly as ``GET …/wallets`` shows it."""
    response = Response(s.WalletResponse(result).data)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _idempotency_key(request, body_key: str | None) -> str | None:
    """The body's ``idempotency_key``, or the ``Idempotency-Key`` header (both given: equal)."""
    header_key = request.headers.get("Idempotency-Key")
    if header_key is None:
        return body_key
    if body_key is not None and body_key != header_key:
        raise exceptions.ValidationError(
            {"idempotency_key": ["Differs from the Idempotency-Key header; send one or make them equal."]}
        )
    # The header obeys the body field's rules: a blank or over-long key is refused, not stored.
    try:
        return s.LedgerEntryCreateRequest().fields["idempotency_key"].run_validation(header_key)
    except exceptions.ValidationError as exc:
        raise exceptions.ValidationError({"idempotency_key": exc.detail}) from exc
