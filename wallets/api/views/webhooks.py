"""``/webhooks``: a business's webhook endpoints in Dodo's shapes, so that Dodo's SDK
(``client.webhooks.create / retrieve / update / list / delete / retrieve_secret`` and
``client.webhooks.headers.retrieve / update``) manages them unchanged. Extension:
``POST /webhooks/{id}/secret/rotate`` (the old secret still signs for 24 hours).

Every change is ``wallets.services.webhooks``'s (it validates; ``InvalidInput`` is a 422); another
business's endpoint does not exist here (404). The signing secret is a credential: a read-only key
or role may list and read endpoints, but not reveal the secret (403).
"""

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from wallets.api import serializers_webhooks as w
from wallets.api.serializers import ErrorResponse
from wallets.api.views.base import ERROR_RESPONSES, ID_REGEX, WRITE_ERROR_RESPONSES, BusinessViewSet
from wallets.api.views.ledger_entries import _idempotency_key
from wallets.exceptions import WebhookNotFound
from wallets.models import WebhookEndpoint
from wallets.services import webhooks as service

NOT_FOUND = {404: OpenApiResponse(ErrorResponse, description="Unknown webhook, or another business's (NOT_FOUND)")}
READ_ERRORS = {**ERROR_RESPONSES, **NOT_FOUND}
WRITE_ERRORS = {**WRITE_ERROR_RESPONSES, **NOT_FOUND}
SECRET_ERRORS = {**READ_ERRORS, 403: OpenApiResponse(ErrorResponse, description="A read-only key or role "
                                                                                 "(FORBIDDEN)")}


class SecretNeedsWriteAccess(permissions.BasePermission):
    """The secret lets its holder sign deliveries the merchant trusts: only those who may write see it."""

    message = "The signing secret needs a key or role that may write."

    def has_permission(self, request, view) -> bool:
        return view.action not in ("secret", "rotate_secret") or not request.auth.read_only


class WebhookViewSet(BusinessViewSet):
    """The business's webhook endpoints, newest first."""

    serializer_class = w.WebhookDetailsResponse
    queryset = WebhookEndpoint.objects.none()
    lookup_url_kwarg = "webhook_id"
    lookup_value_regex = ID_REGEX

    def get_permissions(self):
        return [*super().get_permissions(), SecretNeedsWriteAccess()]

    def get_serializer_class(self):
        """The body a write accepts: what the browsable API's raw-data form and OPTIONS show."""
        return {"create": w.WebhookCreateRequest, "partial_update": w.WebhookUpdateRequest,
                "headers": w.WebhookHeadersUpdateRequest}.get(self.action, w.WebhookDetailsResponse)

    def endpoint(self) -> WebhookEndpoint:
        found = WebhookEndpoint.objects.filter(business_id=self.business_id, pk=self.kwargs["webhook_id"]).first()
        if found is None:
            raise WebhookNotFound()
        return found

    @extend_schema(operation_id="list_webhooks",
                   description=(
                       "Lists the business's webhook endpoints, newest first, one page at a time."
                   ),
                   parameters=[OpenApiParameter("iterator", OpenApiTypes.STR,
                                                description="The iterator of the previous page"),
                               OpenApiParameter("limit", OpenApiTypes.INT,
                                                description=f"Endpoints per page, 1..{w.LIST_MAX_LIMIT} "
                                                            f"(default {w.LIST_DEFAULT_LIMIT})")],
                   responses={200: w.WebhookListResponse, **ERROR_RESPONSES})
    def list(self, request):
        params = w.WebhookListParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit = params.validated_data["limit"]
        endpoints = WebhookEndpoint.objects.filter(business_id=self.business_id).order_by("-created_at", "-id")
        if "iterator" in params.validated_data:
            at, last_id = params.validated_data["iterator"]
            endpoints = endpoints.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=last_id))
        page = list(endpoints[: limit + 1])
        done = len(page) <= limit
        page = page[:limit]
        return Response({
            "data": w.WebhookDetailsResponse(page, many=True).data,
            "iterator": None if done else w.cursor_of(page[-1]),
            "done": done,
        })

    @extend_schema(operation_id="create_webhook",
                   description=(
                       'Registers a webhook endpoint: its URL, the event types it receives and '
                       'whether it is disabled. The signing secret is created with it.'
                   ), request=w.WebhookCreateRequest,
                   parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="Used as idempotency_key when the body has none")],
                   responses={200: w.WebhookDetailsResponse, **WRITE_ERROR_RESPONSES})
    def create(self, request):
        body = w.WebhookCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = {**body.validated_data,
                "idempotency_key": _idempotency_key(request, body.validated_data.get("idempotency_key"))}
        endpoint = service.endpoint_create(business_id=self.business_id, **data)
        return Response(w.WebhookDetailsResponse(endpoint).data)

    @extend_schema(operation_id="get_webhook",
                   description=(
                       'Returns one webhook endpoint of the business by id.'
                   ), responses={200: w.WebhookDetailsResponse, **READ_ERRORS})
    def retrieve(self, request, webhook_id: str):
        return Response(w.WebhookDetailsResponse(self.endpoint()).data)

    @extend_schema(operation_id="update_webhook",
                   description=(
                       "Changes a webhook endpoint's URL, description, event types, metadata, rate "
                       'limit or disabled state; fields left out keep their value.'
                   ), request=w.WebhookUpdateRequest,
                   responses={200: w.WebhookDetailsResponse, **WRITE_ERRORS})
    def partial_update(self, request, webhook_id: str):
        body = w.WebhookUpdateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = service.endpoint_update(business_id=self.business_id, endpoint_id=webhook_id,
                                           **body.validated_data)
        return Response(w.WebhookDetailsResponse(endpoint).data)

    @extend_schema(operation_id="delete_webhook",
                   description=(
                       'Deletes a webhook endpoint: nothing more is delivered to it.'
                   ), request=None,
                   responses={204: OpenApiResponse(description="Deleted, with its deliveries"), **WRITE_ERRORS})
    def destroy(self, request, webhook_id: str):
        service.endpoint_delete(business_id=self.business_id, endpoint_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(operation_id="get_webhook_secret",
                   description=(
                       "Returns the endpoint's signing secret (only to a key that may write)."
                   ), responses={200: w.WebhookSecretResponse, **SECRET_ERRORS})
    @action(detail=True, methods=["get"])
    def secret(self, request, webhook_id: str):
        return Response({"secret": self.endpoint().secret})

    @extend_schema(operation_id="rotate_webhook_secret",
                   description=(
                       "Replaces the endpoint's signing secret with a new one; deliveries are signed "
                       'with the new secret from now on.'
                   ), request=None,
                   responses={200: w.WebhookSecretResponse, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="secret/rotate")
    def rotate_secret(self, request, webhook_id: str):
        endpoint = service.endpoint_rotate_secret(business_id=self.business_id, endpoint_id=webhook_id)
        return Response({"secret": endpoint.secret})

    @extend_schema(methods=["GET"], operation_id="get_webhook_headers",
                   description=(
                       'Returns the headers sent with every delivery to the endpoint; a sensitive '
                       "header's value is never shown, only its name."
                   ),
                   responses={200: w.WebhookHeadersResponse, **READ_ERRORS})
    @extend_schema(methods=["PATCH"], operation_id="update_webhook_headers",
                   description=(
                       'Sets headers sent with every delivery to the endpoint, and which of them are '
                       'sensitive.'
                   ), request=w.WebhookHeadersUpdateRequest,
                   responses={200: w.WebhookHeadersResponse, **WRITE_ERRORS})
    @action(detail=True, methods=["get", "patch"])
    def headers(self, request, webhook_id: str):
        if request.method == "GET":
            endpoint = self.endpoint()
        else:
            body = w.WebhookHeadersUpdateRequest(data=request.data)
            body.is_valid(raise_exception=True)
            endpoint = service.endpoint_headers_update(business_id=self.business_id, endpoint_id=webhook_id,
                                                       headers=body.validated_data["headers"])
        return Response(headers_view(endpoint))


def headers_view(endpoint: WebhookEndpoint) -> dict:
    """Dodo's ``{"headers", "sensitive"}``: a sensitive header's value is never shown, only its name."""
    sensitive = sorted(name for name in endpoint.headers if service.is_sensitive(name))
    shown = {name: value for name, value in endpoint.headers.items() if name not in sensitive}
    return {"headers": shown, "sensitive": sensitive}
