"""What every API viewset shares: the calling business, the customer of the URL, the error
responses the OpenAPI document lists."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import viewsets

from wallets import selectors
from wallets.api import schema as _schema  # noqa: F401  (registers the OpenAPI auth extensions)
from wallets.api import serializers as s
from wallets.models import Customer

# Ids are a prefix and base62 (``cus_TV52uJWWXt2yIoBBxpjaa``); anything else cannot exist and
# is a JSON 404 from the catch-all route, before a byte of it (e.g. a NUL) reaches the database.
ID_REGEX = "[A-Za-z0-9_-]{1,64}"

ERROR_RESPONSES = {
    401: OpenApiResponse(s.ErrorResponse, description="Missing, unknown or revoked API key (UNAUTHORIZED)"),
    404: OpenApiResponse(s.ErrorResponse, description="Unknown customer, or another business's (NOT_FOUND)"),
    422: OpenApiResponse(s.ErrorResponse, description="Invalid request (INVALID_REQUEST_BODY and others)"),
    429: OpenApiResponse(s.ErrorResponse, description="Rate limit exceeded (TOO_MANY_REQUESTS), with Retry-After"),
}
WRITE_ERROR_RESPONSES = {
    **ERROR_RESPONSES,
    403: OpenApiResponse(s.ErrorResponse, description="A read-only key or role writes (FORBIDDEN); plain HTTP "
                                                      "when HTTPS is required (HTTPS_REQUIRED)"),
    413: OpenApiResponse(s.ErrorResponse, description="The body is over 2.5 MB (PAYLOAD_TOO_LARGE)"),
}


class BusinessViewSet(viewsets.GenericViewSet):
    """A viewset over one business's data: the key's or the session user's business."""

    @property
    def business_id(self) -> str:
        return self.request.auth.business_id


class CustomerScopedViewSet(BusinessViewSet):
    """Routes under ``customers/{customer_id}/``: the customer must be the business's (else 404)."""

    def customer(self) -> Customer:
        return selectors.customer_get(business_id=self.business_id, customer_id=self.kwargs["customer_id"])
