"""Date presets for the list filters (today, this month, last month, all time) and the "As of"
choice of the customer list and a customer's page.

A preset is a plain link: the current query string with the two date fields set to explicit days
(and ``page`` dropped), so a preset works without JavaScript, lands in the URL, and a bookmarked or
shared link means the same days to whoever opens it. Days are the user's time zone's
(``timezone.localdate``), as every day filter of the dashboard (``From`` and ``To`` both included).
A custom range is the date fields themselves.
"""

import datetime
from dataclasses import dataclass

from django import forms
from django.utils import timezone

from wallets.filters import BoundedDateField


@dataclass(frozen=True, slots=True)
class DatePreset:
    key: str
    label: str
    start: datetime.date | None
    end: datetime.date | None
    query: str  # the whole query string for this preset, without the "?"
    active: bool


def preset_ranges(today: datetime.date) -> list[tuple[str, str, datetime.date | None, datetime.date | None]]:
    """(key, label, first day, last day) of each preset, for ``today`` in the user's zone."""
    month_start = today.replace(day=1)
    last_month_end = month_start - datetime.timedelta(days=1)
    return [
        ("today", "Today", today, today),
        ("this_month", "This month", month_start, today),
        ("last_month", "Last month", last_month_end.replace(day=1), last_month_end),
        ("all", "All time", None, None),
    ]


def date_presets(query, *, from_name: str = "created_from", to_name: str = "created_to",
                 today: datetime.date | None = None) -> list[DatePreset]:
    """The presets as links over ``query`` (a ``QueryDict``, e.g. ``request.GET``); the one whose
    days are the current filter's is ``active``."""
    today = today or timezone.localdate()
    current = (query.get(from_name, ""), query.get(to_name, ""))
    presets = []
    for key, label, start, end in preset_ranges(today):
        target = query.copy()
        target.pop("page", None)
        days = (start.isoformat() if start else "", end.isoformat() if end else "")
        for name, day in zip((from_name, to_name), days, strict=True):
            if day:
                target[name] = day
            else:
                target.pop(name, None)
        presets.append(DatePreset(key=key, label=label, start=start, end=end, query=target.urlencode(),
                                  active=current == days))
    return presets


class AsOfForm(forms.Form):
    """ "Balances at the end of" a day (the user's time zone): blank shows today's balances."""

    as_of = BoundedDateField(label="Balances as of", required=False, widget=forms.DateInput(attrs={"type": "date"}),
                             help_text="Each wallet's balance at the end of this day")


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last microsecond of ``day`` in the user's time zone (balances "at the end of" it)."""
    next_midnight = timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min))
    return next_midnight - datetime.timedelta(microseconds=1)


def as_of_choice(query) -> tuple[AsOfForm, datetime.datetime | None]:
    """The ``as_of`` form bound to ``query`` and the instant it means (None: today's balances)."""
    form = AsOfForm(query)
    if form.is_valid() and form.cleaned_data["as_of"]:
        return form, end_of_day(form.cleaned_data["as_of"])
    return form, None
