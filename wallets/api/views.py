"""The Dodo-compatible REST API. Views parse, call a service or selector, and render."""

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from wallets import ledger, selectors, services
from wallets.api import schema as _schema  # noqa: F401  (registers the OpenAPI auth extensions)
from wallets.api import serializers as s
from wallets.filters import CustomerFilterSet, CustomerLedgerFilterSet
from wallets.models import Customer
from wallets.money import DODO_CURRENCIES

# Formats the posting's timestamps exactly as WalletResponse does, without building that
# ModelSerializer (and its fields from the model) twice per request.
_TIMESTAMP = serializers.DateTimeField()

ERROR_RESPONSES = {
    401: OpenApiResponse(s.ErrorResponse, description="Missing, unknown or revoked API key (UNAUTHORIZED)"),
    404: OpenApiResponse(s.ErrorResponse, description="Unknown customer, or another business's (NOT_FOUND)"),
    422: OpenApiResponse(s.ErrorResponse, description="Invalid request (INVALID_REQUEST_BODY and others)"),
    429: OpenApiResponse(s.ErrorResponse, description="Rate limit exceeded (TOO_MANY_REQUESTS), with Retry-After"),
}
WRITE_ERROR_RESPONSES = {
    **ERROR_RESPONSES,
    403: OpenApiResponse(s.ErrorResponse, description="A read-only key or role writes (FORBIDDEN)"),
}
PAGE_PARAMETERS = [
    OpenApiParameter("page_number", OpenApiTypes.INT, description="0-based page number (default 0)"),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Items per page, 0..100 (default 10)"),
]


def _paginate(request, queryset: QuerySet) -> list:
    params = s.PageParams(data=request.query_params)
    params.is_valid(raise_exception=True)
    size = params.validated_data["page_size"]
    start = params.validated_data["page_number"] * size
    return list(queryset[start : start + size]) if size else []


def _filter(filterset_class, request, queryset: QuerySet) -> QuerySet:
    repeated = {name: ["Give this parameter once."] for name in filterset_class.base_filters
                if len(request.query_params.getlist(name)) > 1}
    if repeated:
        raise exceptions.ValidationError(repeated)
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise exceptions.ValidationError(filterset.errors)
    return filterset.qs


class CustomerViewSet(viewsets.GenericViewSet):
    """Customers of the calling business, their wallets and their ledger."""

    lookup_url_kwarg = "customer_id"
    # Ids are a prefix and base62 (``cus_TV52uJWWXt2yIoBBxpjaa``); anything else cannot exist and
    # is a JSON 404 from the catch-all route, before a byte of it (e.g. a NUL) reaches the database.
    lookup_value_regex = "[A-Za-z0-9_-]{1,64}"
    serializer_class = s.CustomerResponse
    filterset_class = CustomerFilterSet
    queryset = Customer.objects.none()

    @property
    def business_id(self) -> str:
        return self.request.auth.business_id

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Customer.objects.none()
        return selectors.customer_list(business_id=self.business_id)

    def get_serializer_class(self):
        """The body a write accepts: what the browsable API's raw-data form and OPTIONS show."""
        method = self.request.method if self.request is not None else "GET"
        if method == "POST":
            return s.LedgerEntryCreateRequest if self.action == "ledger_entries" else s.CustomerCreateRequest
        if method == "PATCH":
            return s.CustomerPatchRequest
        return s.CustomerResponse

    def _customer(self) -> Customer:
        return selectors.customer_get(business_id=self.business_id, customer_id=self.kwargs["customer_id"])

    @extend_schema(operation_id="list_customers", parameters=PAGE_PARAMETERS,
                   responses={200: s.CustomerListResponse, **ERROR_RESPONSES})
    def list(self, request):
        customers = _paginate(request, _filter(CustomerFilterSet, request, self.get_queryset()))
        return Response({"items": s.CustomerResponse(customers, many=True).data})

    @extend_schema(operation_id="create_customer", request=s.CustomerCreateRequest,
                   responses={200: s.CustomerResponse, **WRITE_ERROR_RESPONSES})
    def create(self, request):
        body = s.CustomerCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        customer, _ = services.customer_create(
            business_id=self.business_id, email=data["email"], name=data["name"],
            phone_number=data.get("phone_number"), metadata=data.get("metadata"),
        )
        return Response(s.CustomerResponse(customer).data)

    @extend_schema(operation_id="get_customer_handler", responses={200: s.CustomerResponse, **ERROR_RESPONSES})
    def retrieve(self, request, customer_id: str):
        return Response(s.CustomerResponse(self._customer()).data)

    @extend_schema(operation_id="patch_customer", request=s.CustomerPatchRequest,
                   responses={200: s.CustomerResponse, **WRITE_ERROR_RESPONSES})
    def partial_update(self, request, customer_id: str):
        body = s.CustomerPatchRequest(data=request.data)
        body.is_valid(raise_exception=True)
        customer = services.customer_update(
            business_id=self.business_id, customer_id=customer_id, **body.validated_data
        )
        return Response(s.CustomerResponse(customer).data)

    @extend_schema(operation_id="get_customer_wallets", responses={200: s.WalletListResponse, **ERROR_RESPONSES})
    @action(detail=True, methods=["get"], url_path="wallets", filterset_class=None)
    def wallets(self, request, customer_id: str):
        customer = self._customer()
        wallets = selectors.wallet_list(business_id=self.business_id, customer_id=customer.id)
        return Response({
            "items": s.WalletResponse(wallets, many=True).data,
            "total_balance_usd": selectors.total_balance_usd(wallets),
        })

    @extend_schema(methods=["GET"], operation_id="get_customer_wallet_transactions",
                   parameters=[*PAGE_PARAMETERS, OpenApiParameter("currency", OpenApiTypes.STR,
                                                                  enum=DODO_CURRENCIES,
                                                                  description="Only this currency")],
                   responses={200: s.LedgerEntryListResponse, **ERROR_RESPONSES})
    @extend_schema(methods=["POST"], operation_id="create_customer_ledger_entry",
                   request=s.LedgerEntryCreateRequest,
                   parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="Used as idempotency_key when the body has none")],
                   responses={200: s.WalletResponse,
                              400: OpenApiResponse(description="Insufficient balance (INSUFFICIENT_WALLET_FUNDS)"),
                              **WRITE_ERROR_RESPONSES})
    @action(detail=True, methods=["get", "post"], url_path="wallets/ledger-entries", filterset_class=None)
    def ledger_entries(self, request, customer_id: str):
        if request.method == "POST":
            return self._post_ledger_entry(request, customer_id)
        customer = self._customer()
        entries = selectors.ledger_entry_list(business_id=self.business_id, customer_id=customer.id)
        entries = _paginate(request, _filter(CustomerLedgerFilterSet, request, entries))
        return Response({"items": s.LedgerEntryResponse(entries, many=True).data})

    def _post_ledger_entry(self, request, customer_id: str) -> Response:
        body = s.LedgerEntryCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = data.get("idempotency_key")
        header_key = request.headers.get("Idempotency-Key")
        if header_key is not None:
            if key is not None and key != header_key:
                raise exceptions.ValidationError(
                    {"idempotency_key": ["Differs from the Idempotency-Key header; send one or make them equal."]}
                )
            # The header obeys the body field's rules: a blank or over-long key is refused, not stored.
            try:
                key = s.LedgerEntryCreateRequest().fields["idempotency_key"].run_validation(header_key)
            except exceptions.ValidationError as exc:
                raise exceptions.ValidationError({"idempotency_key": exc.detail}) from exc
        result = ledger.post(
            business_id=self.business_id, customer_id=customer_id, currency=data["currency"],
            amount=data["amount"], is_credit=data["entry_type"] == "credit", reason=data.get("reason"),
            idempotency_key=key, actor=request.auth.actor,
        )
        response = Response({
            "balance": result.balance,
            "created_at": _TIMESTAMP.to_representation(result.created_at),
            "currency": result.currency,
            "customer_id": result.customer_id,
            "updated_at": _TIMESTAMP.to_representation(result.updated_at),
        })
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response
