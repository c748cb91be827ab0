"""``/customers`` and ``/customers/{customer_id}``."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from wallets import selectors, services
from wallets.api import serializers as s
from wallets.api.pagination import DodoPagination
from wallets.api.views.base import ERROR_RESPONSES, ID_REGEX, WRITE_ERROR_RESPONSES, BusinessViewSet
from wallets.filters import CustomerFilterSet
from wallets.models import Customer


class CustomerViewSet(mixins.ListModelMixin, BusinessViewSet):
    """Customers of the calling business."""

    lookup_url_kwarg = "customer_id"
    lookup_value_regex = ID_REGEX
    serializer_class = s.CustomerResponse
    filterset_class = CustomerFilterSet
    pagination_class = DodoPagination
    queryset = Customer.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Customer.objects.none()
        return selectors.customer_list(business_id=self.business_id)

    def get_serializer_class(self):
        """The body a write accepts: what the browsable API's raw-data form and OPTIONS show."""
        method = self.request.method if self.request is not None else "GET"
        if method == "POST":
            return s.CustomerCreateRequest
        if method == "PATCH":
            return s.CustomerPatchRequest
        return s.CustomerResponse

    @extend_schema(operation_id="list_customers",
                   description=(
                       "Lists the calling business's customers, newest first, one page at a time; "
                       'filter by exact email (case-insensitive), part of the name, or creation time.'
                   ), responses={200: s.CustomerListResponse, **ERROR_RESPONSES})
    def list(self, request):
        customers = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.CustomerResponse(customers, many=True).data)

    @extend_schema(operation_id="create_customer",
                   description=(
                       'Creates a customer of the calling business. Its wallets in the default '
                       'currencies exist at once, with a zero balance.'
                   ), request=s.CustomerCreateRequest,
                   responses={200: s.CustomerResponse, **WRITE_ERROR_RESPONSES})
    def create(self, request):
        body = s.CustomerCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        customer, _ = services.customer_create(
            business_id=self.business_id, email=data["email"], name=data["name"],
            phone_number=data.get("phone_number"), metadata=data.get("metadata"),
            preferred_locale=data.get("preferred_locale"),
        )
        return Response(s.CustomerResponse(customer).data)

    @extend_schema(operation_id="get_customer_handler",
                   description=(
                       "Returns one customer of the calling business by id; another business's "
                       'customer is a 404.'
                   ), responses={200: s.CustomerResponse, **ERROR_RESPONSES})
    def retrieve(self, request, customer_id: str):
        customer = selectors.customer_get(business_id=self.business_id, customer_id=customer_id)
        return Response(s.CustomerResponse(customer).data)

    @extend_schema(operation_id="patch_customer",
                   description=(
                       "Changes a customer's email, name, phone number, metadata or preferred locale;"
                       ' fields left out keep their value.'
                   ), request=s.CustomerPatchRequest,
                   responses={200: s.CustomerResponse, **WRITE_ERROR_RESPONSES})
    def partial_update(self, request, customer_id: str):
        body = s.CustomerPatchRequest(data=request.data)
        body.is_valid(raise_exception=True)
        customer = services.customer_update(
            business_id=self.business_id, customer_id=customer_id, **body.validated_data
        )
        return Response(s.CustomerResponse(customer).data)
