"""Times are shown in the user's time zone: the one chosen on the dashboard, or the browser's
(sent once by ``static/dashboard/app.js``), kept in the session. API paths are left alone (they
answer in UTC and must not load a session)."""

import functools
import zoneinfo

from django.utils import timezone

from wallets.http.paths import is_api_path

SESSION_KEY = "django_timezone"


@functools.cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_time_zone(name: str) -> bool:
    return name in time_zone_names()


class TimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        if not is_api_path(request.path) and hasattr(request, "session"):
            name = request.session.get(SESSION_KEY)
        if name and valid_time_zone(name):
            timezone.activate(zoneinfo.ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
