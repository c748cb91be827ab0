"""The one place where errors become HTTP responses, in Dodo's error body:
``{"code": "...", "message": "..."}`` plus ``"errors": {field: [...]}`` on validation errors.

API paths always get that JSON body; the web UI's paths get the dashboard's HTML pages
(403, 404, 500). ``exception_handler`` is DRF's hook; ``permission_denied``, ``page_not_found``
and ``server_error`` are Django's ``handler403/404/500``; ``not_found`` is the catch-all route.
"""

import logging
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponseForbidden, HttpResponseServerError, JsonResponse
from django.template import loader
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found as html_page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response

from wallets import exceptions as domain
from wallets.api.auth import REVOKED, unconfirmed_key_revoked
from wallets.http.paths import is_api_path

logger = logging.getLogger("wallets.api")

_DOMAIN_STATUS = {
    domain.CustomerNotFound: status.HTTP_404_NOT_FOUND,
    domain.EntryNotFound: status.HTTP_404_NOT_FOUND,
    domain.HoldNotFound: status.HTTP_404_NOT_FOUND,
    domain.HoldNotActive: status.HTTP_409_CONFLICT,
    domain.InsufficientFunds: status.HTTP_400_BAD_REQUEST,
    domain.IdempotencyKeyReused: status.HTTP_422_UNPROCESSABLE_ENTITY,
    domain.BalanceOverflow: status.HTTP_422_UNPROCESSABLE_ENTITY,
    domain.ExchangeRateNotFound: status.HTTP_422_UNPROCESSABLE_ENTITY,
    domain.MaximumKeysReached: status.HTTP_422_UNPROCESSABLE_ENTITY,
    domain.InvalidInput: status.HTTP_422_UNPROCESSABLE_ENTITY,
    domain.NotAllowed: status.HTTP_403_FORBIDDEN,
    domain.InvalidState: status.HTTP_409_CONFLICT,
    domain.WebhookNotFound: status.HTTP_404_NOT_FOUND,
}


def error_body(code: str, message: str, errors: dict | None = None) -> dict:
    body: dict = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return body


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for field, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{field}.{sub}"] = messages
            else:
                out[str(field)] = [str(m) for m in (value if isinstance(value, list) else [value])]
        return out
    return {"non_field_errors": [str(m) for m in (detail if isinstance(detail, list) else [detail])]}


def _summary(errors: dict[str, list[str]]) -> str:
    parts = [f"{field}: {messages[0]}" if field != "non_field_errors" else messages[0]
             for field, messages in errors.items() if messages]
    return "Invalid request: " + "; ".join(parts) if parts else "Invalid request."


def exception_handler(exc, context):
    """DRF's exception hook. Anything not handled here is a bug: a 500 from the middleware."""
    if isinstance(exc, domain.ApiKeyRevoked):  # found by the posting itself: the same 401 as authentication's
        exc = exceptions.AuthenticationFailed(exc.message)
    elif not isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed) and (
        (request := context.get("request")) is not None and unconfirmed_key_revoked(request)
    ):
        exc = exceptions.AuthenticationFailed(REVOKED)
    if isinstance(exc, domain.WalletError):
        errors = getattr(exc, "errors", None)
        return Response(error_body(exc.code, exc.message, errors), status=_DOMAIN_STATUS.get(type(exc), 422))
    if isinstance(exc, RequestDataTooBig):  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE, read by DRF's request.body
        return Response(error_body("PAYLOAD_TOO_LARGE", "The request body is larger than "
                                   f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."), status=413)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(error_body("NOT_FOUND", "Not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return Response(error_body("INVALID_REQUEST_BODY", _summary(errors), errors), status=422)
    if isinstance(exc, exceptions.ParseError | exceptions.UnsupportedMediaType):
        return Response(error_body("INVALID_REQUEST_BODY", f"Invalid request body: {exc.detail}"), status=422)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response(error_body("UNAUTHORIZED", str(exc.detail)), status=401)
        request = context.get("request")
        view = context.get("view")
        if view is not None and request is not None:
            header = view.get_authenticate_header(request)
            if header:
                response["WWW-Authenticate"] = header
        return response
    if isinstance(exc, exceptions.PermissionDenied):
        return Response(error_body("FORBIDDEN", str(exc.detail)), status=403)
    if isinstance(exc, exceptions.Throttled):
        wait = math.ceil(exc.wait) if exc.wait is not None else 1
        response = Response(error_body("TOO_MANY_REQUESTS", f"Rate limit exceeded; retry in {wait} s."), status=429)
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response(error_body("METHOD_NOT_ALLOWED", str(exc.detail)), status=405)
    if isinstance(exc, exceptions.NotAcceptable):
        return Response(error_body("NOT_ACCEPTABLE", str(exc.detail)), status=406)
    if isinstance(exc, exceptions.APIException):
        return Response(error_body(str(exc.default_code).upper(), str(exc.detail)), status=exc.status_code)
    return None


def json_not_found(request, exception=None):
    return JsonResponse(error_body("NOT_FOUND", f"No route for {request.method} {request.path}."), status=404)


def json_server_error(request_id: str) -> JsonResponse:
    return JsonResponse(
        error_body("INTERNAL_SERVER_ERROR", f"Something went wrong. Request id: {request_id}."),
        status=500,
        headers={"X-Request-Id": request_id},
    )


# --- Django's error handlers and the catch-all route ---------------------------------------------


@csrf_exempt  # API clients send no CSRF token: an unknown path is a 404 for every method, never a 403
def not_found(request, rest=""):
    """Unknown paths: JSON for the API, the HTML 404 page for the web UI."""
    if not is_api_path(request.path):
        raise Http404(request.path)
    return json_not_found(request)


def page_not_found(request, exception=None):
    if is_api_path(request.path):
        return json_not_found(request)
    return html_page_not_found(request, exception)


def permission_denied(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse(error_body("FORBIDDEN", "You are not allowed to do this."), status=403)
    message = str(exception) if exception and str(exception) else ""
    html = loader.render_to_string("403.html", {"message": message}, request=request)
    return HttpResponseForbidden(html)


def server_error(request):
    if is_api_path(request.path):
        return json_server_error(getattr(request, "request_id", "-"))
    # No request context: the page must render even when the database or a context processor fails.
    html = loader.get_template("500.html").render({"request_id": getattr(request, "request_id", "")})
    return HttpResponseServerError(html)
