"""A request id on every request and response; API errors that escape everything become a JSON
500 carrying that id (logged with the traceback, never sent to the client)."""

import logging
import re
import uuid

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import JsonResponse

from wallets.http.errors import error_body, json_server_error
from wallets.http.paths import is_api_path

logger = logging.getLogger("wallets.errors")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
        logger.exception("unhandled error (request %s)", request_id, exc_info=exception)
        return json_server_error(request_id)
