"""Times are shown in the user's time zone: the one chosen on the dashboard, or the browser's
(sent with the sign-in form by ``static/dashboard/login.js``, else once by
``static/dashboard/app.js``), kept in the session. API paths are left alone (they
answer in UTC and must not load a session)."""

import functools
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.shortcuts import resolve_url
from django.utils import timezone

from wallets.http.paths import is_api_path

SESSION_KEY = "django_timezone"


@functools.cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_time_zone(name: str) -> bool:
    return name in time_zone_names()


def _tz_file(name: str) -> Path | None:
    for base in zoneinfo.TZPATH:
        candidate = Path(base) / name
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _links() -> dict[str, str]:
    """Old or alternative zone names and the zone they name (``tzdata.zi``'s ``L`` lines):
    ``Asia/Calcutta`` → ``Asia/Kolkata``. Empty when the file is not there."""
    path = _tz_file("tzdata.zi")
    links: dict[str, str] = {}
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("L "):
                _, target, alias = line.split()[:3]
                links[alias] = target
    return links


@functools.cache
def picker_time_zones() -> list[str]:
    """The zones a person picks from: the current name of each (``zone1970.tab``/``zone.tab``,
    what tzselect offers), sorted, with UTC. No old names such as ``Asia/Calcutta``."""
    names: set[str] = set()
    for table in ("zone1970.tab", "zone.tab"):
        path = _tz_file(table)
        if path is None:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                names.add(line.split("\t")[2])
    names &= time_zone_names()
    if not names:  # no tables on this machine: every zone but the obvious old aliases
        names = {n for n in time_zone_names() if n not in _links()}
    return sorted(names | {"UTC"})


_OLD_NAMES = {"Asia/Calcutta": "Asia/Kolkata", "Asia/Saigon": "Asia/Ho_Chi_Minh", "Asia/Katmandu": "Asia/Kathmandu",
              "Asia/Rangoon": "Asia/Yangon", "Europe/Kiev": "Europe/Kyiv", "Etc/UTC": "UTC", "Etc/GMT": "UTC"}


def canonical_time_zone(name: str) -> str:
    """The current name of a zone: ``Asia/Calcutta`` (what some browsers report) → ``Asia/Kolkata``.
    A name in the picker stays as it is; an alias follows its link (to a picker name when it can)."""
    picker = set(picker_time_zones())
    if name in picker:
        return name
    seen = {name}
    current = _OLD_NAMES.get(name) or _links().get(name)
    while current and current not in picker and current not in seen:
        seen.add(current)
        current = _links().get(current)
    if current in picker:
        return current
    return _OLD_NAMES.get(name, name)


class TimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        if not is_api_path(request.path) and hasattr(request, "session"):
            name = request.session.get(SESSION_KEY)
        if name and valid_time_zone(name):
            timezone.activate(zoneinfo.ZoneInfo(canonical_time_zone(name)))
        else:
            timezone.deactivate()
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        if request.method == "POST" and request.path == resolve_url(settings.LOGIN_URL):
            _zone_from_login(request)
        return response


def _zone_from_login(request) -> None:
    """A sign-in that worked, with the browser's zone: the session's zone from the first page on
    (so that page never reloads itself to show it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return
    name = (request.POST.get("browser_time_zone") or "").strip()
    if name and len(name) <= 64 and valid_time_zone(name):
        request.session.setdefault(SESSION_KEY, canonical_time_zone(name))
