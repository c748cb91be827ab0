from django.contrib import admin
from django.http import Http404
from django.shortcuts import redirect
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from wallets.api.errors import json_not_found
from wallets.middleware import is_api_path
from wallets.views_health import health


@csrf_exempt  # API clients send no CSRF token: an unknown path is a 404 for every method, never a 403
def not_found(request, rest=""):
    """Unknown paths: JSON for the API, the HTML 404 page for the web UI."""
    if not is_api_path(request.path):
        raise Http404(request.path)
    return json_not_found(request)


PUBLIC = {"authentication_classes": [], "throttle_classes": []}

urlpatterns = [
    path("", lambda request: redirect("/dashboard/"), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("dashboard", lambda request: redirect("/dashboard/")),
    path("dashboard/", include("wallets.dashboard.urls")),
    path("healthz", health, name="health"),
    # The API's documentation is public: no authentication (a logged-in admin outside any business
    # would otherwise be refused by the session authentication), no rate limit.
    path("api/schema", SpectacularAPIView.as_view(**PUBLIC), name="openapi-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="openapi-schema", **PUBLIC), name="api-docs"),
    path("api/redoc", SpectacularRedocView.as_view(url_name="openapi-schema", template_name="api/redoc.html",
                                                   **PUBLIC), name="api-redoc"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("wallets.api.urls")),
    re_path(r"^(?P<rest>.*)$", not_found),
]



def handler404(request, exception=None):
    if is_api_path(request.path):
        return json_not_found(request)
    return page_not_found(request, exception)


handler403 = "wallets.dashboard.errors.permission_denied"
handler500 = "wallets.dashboard.errors.server_error"

