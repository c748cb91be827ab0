"""The manual adjustment form, shared by the dashboard and the admin's *adjust balance* page."""

import secrets
from collections.abc import Sequence

from django import forms
from django.core.validators import RegexValidator

from wallets.money import CURRENCY_CHOICES, MoneyParseError, parse_major

FORM_KEY_PREFIX = "dash_"


def new_form_key() -> str:
    """A fresh idempotency key, made when a form is rendered: the same form posted twice (a double
    click, a refresh, a retry) makes one entry."""
    return FORM_KEY_PREFIX + secrets.token_urlsafe(18)


class AdjustmentForm(forms.Form):
    """A manual credit or debit: amount typed in major units, parsed exactly for the currency."""

    direction = forms.ChoiceField(
        label="Type",
        choices=[("credit", "Credit (add money)"), ("debit", "Debit (take money)")],
        initial="credit",
        widget=forms.RadioSelect,
    )
    amount = forms.CharField(
        label="Amount",
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "50.00"}),
        help_text="In major units, e.g. 50.00",
    )
    currency = forms.ChoiceField(label="Currency")
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why is this adjustment made?"}),
        help_text="Required. Kept with the entry in the audit trail.",
    )
    expires_at = forms.DateTimeField(
        label="Expires at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Optional, credits only: the unspent part of the credit expires then (your time zone).",
    )
    form_key = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]{8,64}$", "This form is damaged; reload the page.")],
    )
    # The balance the person saw on the confirmation step; posting needs it (see flow.py).
    seen_balance = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args, wallet_currencies: Sequence[str] = (), business_currencies: Sequence[str] = (), **kwargs):
        # Own ids: the customer page also has the ledger's filter form, with a "currency" field.
        kwargs.setdefault("auto_id", "adj_%s")
        super().__init__(*args, **kwargs)
        # Grouped as the other pickers (``dashboard.currencies``): the customer's wallets, then the
        # business's other currencies, then every other code; the same codes are valid either way.
        own = list(dict.fromkeys(wallet_currencies))
        business = [code for code in dict.fromkeys(business_currencies) if code not in own]
        others = [(code, code) for code, _ in CURRENCY_CHOICES if code not in own and code not in business]
        groups = [("This customer's wallets", own), ("This business's currencies", business)]
        choices: list = [(label, [(code, code) for code in codes]) for label, codes in groups if codes]
        self.fields["currency"].choices = [*choices, ("Other currencies", others)] if choices else others
        if own:
            self.fields["currency"].initial = own[0]
        if not self.is_bound and not self.initial.get("form_key"):
            self.initial["form_key"] = new_form_key()

    @property
    def is_credit(self) -> bool:
        return self.cleaned_data["direction"] == "credit"

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason for the adjustment.")
        return reason

    def clean(self):
        cleaned = super().clean()
        currency, text = cleaned.get("currency"), cleaned.get("amount")
        if currency and text is not None:
            try:
                cleaned["amount_minor"] = parse_major(text, currency)
            except MoneyParseError as exc:
                self.add_error("amount", str(exc))
        if cleaned.get("expires_at") is not None and cleaned.get("direction") == "debit":
            self.add_error("expires_at", "Only a credit can expire; leave this empty for a debit.")
        return cleaned


class ReversalForm(forms.Form):
    """A reversal of one entry: an amount in major units (default: what is left), parsed exactly like
    the adjustment's, a reason, and the same form key (a double submit posts once)."""

    amount = AdjustmentForm.base_fields["amount"]
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why is this entry reversed?"}),
        help_text="Required. Kept with the reversal in the audit trail.",
    )
    form_key = AdjustmentForm.base_fields["form_key"]
    seen_balance = AdjustmentForm.base_fields["seen_balance"]

    def __init__(self, *args, currency: str, **kwargs):
        kwargs.setdefault("auto_id", "rev_%s")
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].help_text = f"In {currency} major units; at most what is left to reverse."
        if not self.is_bound and not self.initial.get("form_key"):
            self.initial["form_key"] = new_form_key()

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason for the reversal.")
        return reason

    def clean(self):
        cleaned = super().clean()
        text = cleaned.get("amount")
        if text is not None:
            try:
                cleaned["amount_minor"] = parse_major(text, self.currency)
            except MoneyParseError as exc:
                self.add_error("amount", str(exc))
        return cleaned
