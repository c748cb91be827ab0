from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from wallets.http.errors import not_found
from wallets.http.health import health

PUBLIC = {"authentication_classes": [], "throttle_classes": []}

urlpatterns = [
    path("", lambda request: redirect("/dashboard/"), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("dashboard", lambda request: redirect("/dashboard/")),
    path("dashboard/", include("wallets.dashboard.urls")),
    path("healthz", health, name="health"),
    # Browsers ask for /favicon.ico on pages that name no icon (JSON, the API's error pages): the
    # dashboard's icon answers, rather than a 404 in every log.
    path("favicon.ico", RedirectView.as_view(url=static("dashboard/favicon.svg")), name="favicon"),
    # The API's documentation is public: no authentication (a logged-in admin outside any business
    # would otherwise be refused by the session authentication), no rate limit.
    path("api/schema", SpectacularAPIView.as_view(**PUBLIC), name="openapi-schema"),
    # Redoc at both addresses: Swagger UI's markup nests interactive controls (axe-core: serious), which no
    # theme can fix; /api/docs stays for the links already out there.
    path("api/docs", SpectacularRedocView.as_view(url_name="openapi-schema", **PUBLIC), name="api-docs"),
    path("api/redoc", SpectacularRedocView.as_view(url_name="openapi-schema", **PUBLIC), name="api-redoc"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("wallets.api.urls")),
    re_path(r"^(?P<rest>.*)$", not_found),
]

handler403 = "wallets.http.errors.permission_denied"
handler404 = "wallets.http.errors.page_not_found"
handler500 = "wallets.http.errors.server_error"
