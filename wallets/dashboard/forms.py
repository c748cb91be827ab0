"""Forms of the dashboard's own pages (settings, time zone, business switch, a customer's
statement). The manual adjustment form is the domain's (``wallets.adjustments.forms``), shared
with the admin."""

from django import forms

from wallets.dashboard.middleware import canonical_time_zone, time_zone_names
from wallets.filters import BoundedDateField
from wallets.money import CURRENCY_CHOICES, MoneyParseError, parse_major


def clean_threshold(form: forms.Form, cleaned: dict, field: str, key: str) -> None:
    """A threshold typed in major units of the form's ``currency`` into ``cleaned[key]`` in minor
    units (None when blank), or the parse error next to ``field``: one rule for every threshold form."""
    currency, text = cleaned.get("currency"), (cleaned.get(field) or "").strip()
    cleaned[key] = None
    if currency and text:
        try:
            cleaned[key] = parse_major(text, currency, allow_zero=True)
        except MoneyParseError as exc:
            form.add_error(field, str(exc))



class LowBalanceThresholdForm(forms.Form):
    """One currency's threshold in major units; blank means the default, 0 means never low."""

    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, widget=forms.HiddenInput)
    low_balance_below = forms.CharField(
        label="Low below", required=False, max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def clean(self):
        cleaned = super().clean()
        clean_threshold(self, cleaned, "low_balance_below", "threshold_minor")
        return cleaned


class AddCurrencyForm(forms.Form):
    currency = forms.ChoiceField(choices=[("", "Choose a currency"), *CURRENCY_CHOICES], label="Currency")
    low_balance_below = forms.CharField(
        label="Low below", max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "25.00"}),
    )

    def clean(self):
        cleaned = super().clean()
        clean_threshold(self, cleaned, "low_balance_below", "threshold_minor")
        return cleaned


class RunwayDaysForm(forms.Form):
    """``wallet.runway_low`` fires when, at its trailing 14-day burn rate, a wallet empties within
    this many days. The range is the service's (``business_set_runway_days``)."""

    runway_days = forms.IntegerField(
        label="Runway days", min_value=1, max_value=365,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "input-amount"}),
        help_text="Alert (wallet.runway_low) when a wallet would run out within this many days at its "
                  "last 14 days' spending. 1 to 365.")


LowBalanceThresholdFormSet = forms.formset_factory(LowBalanceThresholdForm, extra=0)


class TimeZoneForm(forms.Form):
    time_zone = forms.CharField(label="Time zone", max_length=64)
    # Sent by the browser's first visit; it never overrides a zone the person picked.
    detected = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"].strip()
        if name not in time_zone_names():
            raise forms.ValidationError("Unknown time zone; pick one from the list.")
        return canonical_time_zone(name)


class BusinessSwitchForm(forms.Form):
    business_id = forms.CharField(max_length=32)


class StatementForm(forms.Form):
    """The statement page's choices: one of the customer's currencies, a range of days (``From`` and
    ``To`` both included, in the user's time zone; blank ``From``: the first entry, blank ``To``: now)
    and the day whose closing balances to show (``Balances as of``: the end of that day)."""

    currency = forms.ChoiceField(label="Currency")
    from_date = BoundedDateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    to_date = BoundedDateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    as_of = BoundedDateField(label="Balances at end of", required=False,
                             widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, *, currencies: list[str]):
        data = data.copy()
        if currencies and not data.get("currency"):
            data["currency"] = currencies[0]
        super().__init__(data)
        self.fields["currency"].choices = [(code, code) for code in currencies]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from_date"), cleaned.get("to_date")
        if start and end and start > end:
            self.add_error("to_date", "The end date is before the start date.")
        return cleaned
