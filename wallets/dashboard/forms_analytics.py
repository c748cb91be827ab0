"""The analytics range picker: a preset (today, this month, last month) or a custom range of days,
in the user's time zone, and the kind of period. Everything is a GET parameter, so a view can be
bookmarked and shared; the number of days per request is bounded (``MAX_DAYS``)."""

import datetime

from django import forms
from django.utils import timezone

from wallets.filters import BoundedDateField
from wallets.selectors.analytics import MAX_DAYS, PERIODS, AnalyticsRange

PRESETS = [("today", "Today"), ("this_month", "This month"), ("last_month", "Last month"), ("custom", "Custom")]


class AnalyticsRangeForm(forms.Form):
    preset = forms.ChoiceField(label="Range", choices=PRESETS, required=False)
    date_from = BoundedDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = BoundedDateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    period = forms.ChoiceField(label="Per", choices=[(p, p.title()) for p in PERIODS], required=False)

    def __init__(self, data, *, now: datetime.datetime | None = None):
        data = data.copy()
        if not data.get("preset"):  # what the page shows when nothing is chosen: this month
            data["preset"] = "custom" if data.get("date_from") or data.get("date_to") else "this_month"
        super().__init__(data)
        self.now = now or timezone.now()
        self.zone = timezone.get_current_timezone()

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        today = self.now.astimezone(self.zone).date()
        preset = cleaned.get("preset") or ("custom" if cleaned.get("date_from") or cleaned.get("date_to")
                                           else "this_month")
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if preset == "today":
            start = end = today
        elif preset == "this_month":
            start, end = today.replace(day=1), today
        elif preset == "last_month":
            end = today.replace(day=1) - datetime.timedelta(days=1)
            start = end.replace(day=1)
        else:
            if start is None:
                self.add_error("date_from", "Enter the first day of the range.")
                return cleaned
            end = end or today
            if end < start:
                self.add_error("date_to", "The end date is before the start date.")
                return cleaned
        period = cleaned.get("period") or "day"
        days = (end - start).days + 1
        if days > MAX_DAYS[period]:
            self.add_error("date_from" if preset == "custom" else "period", (
                f"At most {MAX_DAYS[period]:,} days per request with one row per {period} "
                f"(this range has {days:,}): choose a shorter range or longer periods."))
            return cleaned
        cleaned.update(preset=preset, date_from=start, date_to=end, period=period)
        # The inputs show the days a preset stands for.
        for name, value in (("date_from", start.isoformat()), ("date_to", end.isoformat()), ("period", period)):
            self.data[name] = value
        return cleaned

    def range(self) -> AnalyticsRange:
        """The resolved range (only after ``is_valid()``)."""
        d = self.cleaned_data
        return AnalyticsRange(start=d["date_from"], end=d["date_to"], period=d["period"], zone=self.zone,
                              now=self.now)
