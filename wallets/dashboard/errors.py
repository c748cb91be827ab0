"""Error pages for the web UI in the dashboard's style; API paths keep their JSON errors."""

from django.http import HttpResponseForbidden, HttpResponseServerError, JsonResponse
from django.template import loader

from wallets.api.errors import error_body, json_server_error
from wallets.middleware import is_api_path


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
