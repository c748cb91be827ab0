"""Forms of the settings section's pages: the team, API keys, approval policies, the activity log."""

from django import forms

from wallets.dashboard.forms import clean_threshold
from wallets.filters import BoundedDateField
from wallets.models import Membership, SecurityEvent
from wallets.money import CURRENCY_CHOICES


class InviteForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150, required=False,
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    email = forms.EmailField(label="Email", max_length=150, widget=forms.EmailInput(attrs={"autocomplete": "off"}),
                             help_text="Also their user name for signing in.")
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, required=False,
                           help_text="What uses it, e.g. “Checkout server”.",
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    read_only = forms.BooleanField(label="Read-only (may read, never move money)", required=False)


class ApprovalThresholdForm(forms.Form):
    """One currency's approval threshold in major units; blank: no approval needed; 0: every
    manual adjustment waits for an approver."""

    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, label="Currency")
    approval_above = forms.CharField(
        label="Approval needed above", required=False, max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def clean(self):
        cleaned = super().clean()
        clean_threshold(self, cleaned, "approval_above", "approval_minor")
        return cleaned


ACTIVITY_KINDS = [("", "All kinds"), *SecurityEvent.Kind.choices]


class ActivityFilterForm(forms.Form):
    """``From`` and ``To`` are days in the user's time zone, both included."""

    kind = forms.ChoiceField(label="Kind", choices=ACTIVITY_KINDS, required=False)
    from_date = BoundedDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    to_date = BoundedDateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from_date"), cleaned.get("to_date")
        if start and end and start > end:
            self.add_error("to_date", "The end date is before the start date.")
        return cleaned
