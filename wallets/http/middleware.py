"""The project's middleware.

- ``ApiHttpsRequiredMiddleware``: plain HTTP to the API (when HTTPS is required) is a JSON
  ``403 HTTPS_REQUIRED``, never a redirect: an SDK follows a 301 on a POST as a GET, and the money
  silently does not move. Browser pages keep Django's redirect.
- ``ChunkedBodyMiddleware``: a chunked request body (no ``Content-Length``) is read, up to the size
  limit (``413 PAYLOAD_TOO_LARGE`` beyond it), instead of being seen as empty: Django reads
  ``Content-Length`` bytes only, so a chunked ``POST`` became ``{}``, a silent 422 at best.
- ``RequestIdMiddleware``: a request id on every request and response; API errors that escape
  everything become a JSON 500 carrying that id (logged with the traceback, never sent to the
  client), or a 503 when the database is unreachable.
"""

import io
import logging
import re
import uuid

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import JsonResponse
from django.middleware.security import SecurityMiddleware as DjangoSecurityMiddleware

from wallets.http.errors import error_body, json_server_error
from wallets.http.parsers import max_body_bytes
from wallets.http.paths import is_api_path, is_browser_page

logger = logging.getLogger("wallets.errors")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ApiHttpsRequiredMiddleware:
    """Placed just before Django's ``SecurityMiddleware``, which keeps redirecting browser pages.

    Whether a request would be redirected is decided by Django's own rules (``SECURE_SSL_REDIRECT``,
    ``SECURE_REDIRECT_EXEMPT``, ``SECURE_PROXY_SSL_HEADER``), and the refusal carries the same
    security headers as any other response."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.security = DjangoSecurityMiddleware(get_response)

    def __call__(self, request):
        if not is_browser_page(request.path) and self.security.process_request(request) is not None:
            response = JsonResponse(
                error_body("HTTPS_REQUIRED", "This API answers over HTTPS only; send the request to https://."),
                status=403,
            )
            return self.security.process_response(request, response)
        return self.get_response(request)


class ChunkedBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            and not request.META.get("CONTENT_LENGTH")
            and is_api_path(request.path)
        ):
            limit = max_body_bytes()
            body = request.environ["wsgi.input"].read(limit + 1)  # the server has undone the chunking
            if len(body) > limit:
                return JsonResponse(
                    error_body("PAYLOAD_TOO_LARGE", f"The request body is larger than {limit} bytes."), status=413
                )
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = io.BytesIO(body)  # what Django's request.body and read() take the body from
        return self.get_response(request)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        request_id = getattr(request, "request_id", "-")
        if isinstance(exception, OperationalError | InterfaceError) or (
            isinstance(exception, DatabaseError) and "timeout" in str(exception).lower()
        ):
            logger.error("database unavailable (request %s): %s", request_id, exception)
            return JsonResponse(
                error_body("SERVICE_UNAVAILABLE", f"The database is unavailable; retry. Request id: {request_id}."),
                status=503,
                headers={"Retry-After": "1", "X-Request-Id": request_id},
            )
        logger.error("unhandled error (request %s)", request_id, exc_info=exception)
        return json_server_error(request_id)
