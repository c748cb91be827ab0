"""Settings → Activity log: the business's security events (logins, keys, approvals, policy,
settings and team changes, webhooks, bulk credits), newest first, filtered by kind and by days in
the user's time zone, paginated; and the same rows as CSV (UTC, ``_utc`` columns, BOM). Everyone
in the business may read it. Two queries a page (count and rows) whatever the number of events."""

import datetime

from django.utils import timezone
from django.views.decorators.http import require_http_methods

from wallets.csv_cells import csv_safe_text
from wallets.dashboard.access import dashboard_view
from wallets.dashboard.activity_text import describe
from wallets.dashboard.csv_export import csv_stream_response
from wallets.dashboard.forms_settings import ActivityFilterForm
from wallets.dashboard.views.common import EXPORT_CHUNK_SIZE, iso_utc, page_of, render_page
from wallets.selectors.security_events import security_event_list

EVENTS_PER_PAGE = 50


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _filtered(request):
    form = ActivityFilterForm(request.GET or None)
    kind = since = until = None
    if form.is_bound and form.is_valid():
        kind = form.cleaned_data["kind"] or None
        if form.cleaned_data["from_date"]:
            since = _start_of(form.cleaned_data["from_date"])
        if form.cleaned_data["to_date"]:
            until = _start_of(form.cleaned_data["to_date"] + datetime.timedelta(days=1))
    events = security_event_list(business_id=request.access.business_id, kind=kind, since=since, until=until)
    return form, events


@require_http_methods(["GET", "HEAD"])
@dashboard_view
def activity(request):
    form, events = _filtered(request)
    page = page_of(request, events, EVENTS_PER_PAGE)
    for event in page.object_list:
        event.description = describe(event)
    return render_page(request, "dashboard/settings/activity.html", {
        "nav": "settings", "settings_nav": "activity", "form": form, "page": page,
        "filtered": bool(request.GET.get("kind") or request.GET.get("from_date") or request.GET.get("to_date")),
    }, status=400 if form.is_bound and not form.is_valid() else 200)


@require_http_methods(["GET", "HEAD"])
@dashboard_view
def activity_export(request):
    _form, events = _filtered(request)

    def rows():
        for event in events.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield [iso_utc(event.created_at), event.kind, csv_safe_text(event.get_kind_display()),
                   event.actor_type, csv_safe_text(event.actor_name), event.ip or "",
                   csv_safe_text(describe(event))]

    return csv_stream_response(
        "activity.csv", ["created_at_utc", "kind", "kind_label", "actor_type", "actor_name", "ip", "details"], rows())
