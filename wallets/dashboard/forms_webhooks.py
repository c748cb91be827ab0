"""Forms of the webhook pages: an endpoint (add and edit), the delivery log's filters and "replay
failed". They only parse; the rules (https, private addresses, header names, limits) are the
service's (``wallets.services.webhooks``), whose field errors the views put next to the fields."""

from __future__ import annotations

from django import forms

from wallets.exceptions import InvalidInput
from wallets.models import WebhookDelivery
from wallets.services.webhooks import is_sensitive
from wallets.webhooks.outbox import TYPES

#: What a sensitive header's value is shown as; sent back unchanged, it keeps the value.
MASK = "••••••••"
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def headers_text(headers: dict[str, str]) -> str:
    """``Name: value`` lines, sensitive values masked."""
    return "\n".join(f"{name}: {MASK if is_sensitive(name) else value}" for name, value in headers.items())


class EndpointForm(forms.Form):
    url = forms.CharField(label="URL", max_length=2048, widget=forms.URLInput(attrs={
        "placeholder": "https://example.com/webhooks/wallets", "autocomplete": "off", "spellcheck": "false"}))
    description = forms.CharField(label="Description", required=False, max_length=500,
                                  widget=forms.TextInput(attrs={"placeholder": "Production receiver"}))
    filter_types = forms.MultipleChoiceField(
        label="Event types", required=False, choices=[(t, t) for t in TYPES], widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type is sent.")
    headers = forms.CharField(
        label="Headers", required=False, max_length=20 * 4200,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": "X-Team: payments"}),
        help_text="One “Name: value” per line, sent with every delivery. Secret values are shown masked; "
                  "leave the mask to keep one.")
    rate_limit = forms.IntegerField(label="Rate limit", required=False, min_value=1, max_value=100_000,
                                    help_text="Deliveries per second at most; blank: no limit.")

    def __init__(self, *args, current_headers: dict[str, str] | None = None, **kwargs):
        self.current_headers = dict(current_headers or {})
        super().__init__(*args, **kwargs)

    def clean_headers(self) -> dict[str, str]:
        parsed: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["headers"].splitlines(), start=1):
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            name, value = name.strip(), value.strip()
            if not colon or not name:
                raise forms.ValidationError(f"Line {number}: write “Name: value”.")
            if value == MASK and name in self.current_headers:
                value = self.current_headers[name]
            parsed[name] = value
        return parsed

    def headers_changes(self) -> dict[str, str]:
        """What ``endpoint_headers_update`` needs: new or changed values, and "" for removed names."""
        new = self.cleaned_data["headers"]
        changes = {name: "" for name in self.current_headers if name not in new}
        changes.update({name: value for name, value in new.items() if self.current_headers.get(name) != value})
        return changes

    def add_service_errors(self, error: InvalidInput) -> None:
        """Put the service's field errors next to their fields (the rest above the form)."""
        for name, messages in (error.errors or {}).items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        if not error.errors:
            self.add_error(None, str(error))


STATUS_CHOICES = [("", "Any status"), *WebhookDelivery.Status.choices]
TYPE_CHOICES = [("", "Any type"), *((t, t) for t in TYPES)]


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False, choices=STATUS_CHOICES)
    type = forms.ChoiceField(label="Event type", required=False, choices=TYPE_CHOICES)


class ReplayFailedForm(forms.Form):
    since = forms.DateTimeField(
        label="From", input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Events at or after this time (your time zone).")
    until = forms.DateTimeField(
        label="To", input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Events before this time.")
    endpoint = forms.ChoiceField(label="Endpoint", required=False)

    def __init__(self, *args, endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "Every endpoint"),
                                           *((e.pk, e.description or e.url) for e in endpoints)]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            self.add_error("until", "The end must be after the start.")
        return cleaned
