"""Exchange rates and the businesses' per-currency policies (low balance, approval threshold).

A policy is saved and deleted through ``wallets.services.policies`` (the one place that changes
policies, and logs each change in the business's activity log: ``POLICY_CHANGED`` with before and
after, ``POLICY_DELETED`` with what it held). The service owns its (durable) transaction, so the
change and delete views here run without the admin's own ``atomic`` around them."""

from django import forms
from django.contrib import admin

from wallets import selectors
from wallets.admin.common import CurrencyInUseFilter, UtcTimesMixin
from wallets.models import CurrencyPolicy, ExchangeRate
from wallets.money import MoneyParseError, format_money, parse_major, to_major
from wallets.services.policies import currency_policy_delete, currency_policy_update
from wallets.services.security_events import request_actor


@admin.register(ExchangeRate)
class ExchangeRateAdmin(UtcTimesMixin, admin.ModelAdmin):
    list_display = ["currency", "rate_to_usd", "as_of", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["=currency"]
    date_hierarchy = "as_of"
    ordering = ["currency", "-as_of"]


class CurrencyPolicyForm(forms.ModelForm):
    """Thresholds typed in major units ("25.00"), stored in minor units."""

    low_balance_major = forms.CharField(
        label="Low balance below", required=False,
        help_text="Major units, e.g. 25.00. Empty: the default. 0: never low.",
    )
    approval_above_major = forms.CharField(
        label="Approval needed above", required=False,
        help_text="Major units. Manual adjustments above this wait for an approver. Empty: never.",
    )

    class Meta:
        model = CurrencyPolicy
        fields = ["business", "currency"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        policy = self.instance
        if policy.pk:
            if policy.low_balance_below is not None:
                self.initial["low_balance_major"] = f"{to_major(policy.low_balance_below, policy.currency):f}"
            if policy.approval_above is not None:
                self.initial["approval_above_major"] = f"{to_major(policy.approval_above, policy.currency):f}"

    def clean(self):
        cleaned = super().clean()
        currency = cleaned.get("currency") or self.instance.currency
        for name, target in (("low_balance_major", "low_balance_below"), ("approval_above_major", "approval_above")):
            text = (cleaned.get(name) or "").strip()
            value = None
            if text and currency:
                try:
                    value = parse_major(text, currency, allow_zero=True)
                except MoneyParseError as exc:
                    self.add_error(name, str(exc))
            setattr(self.instance, target, value)
        return cleaned


@admin.register(CurrencyPolicy)
class CurrencyPolicyAdmin(UtcTimesMixin, admin.ModelAdmin):
    form = CurrencyPolicyForm
    list_display = ["business", "currency", "low_display", "approval_display"]
    list_filter = ["business", CurrencyInUseFilter]
    list_select_related = ["business"]
    autocomplete_fields = ["business"]
    fields = ["business", "currency", "low_balance_major", "approval_above_major"]

    @admin.display(description="low balance below")
    def low_display(self, obj):
        if obj.low_balance_below is None:
            return f"default ({format_money(selectors.low_balance_default(obj.currency), obj.currency)})"
        return format_money(obj.low_balance_below, obj.currency)

    @admin.display(description="approval above")
    def approval_display(self, obj):
        return "—" if obj.approval_above is None else format_money(obj.approval_above, obj.currency)

    def get_readonly_fields(self, request, obj=None):
        # A saved policy stays the business's policy for its currency; a new one is a new row.
        return ["business", "currency"] if obj is not None else []

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # No outer atomic: ``save_model`` calls the service, whose transaction is durable.
        return self._changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._delete_view(request, object_id, extra_context)

    def save_model(self, request, obj, form, change):
        policy = currency_policy_update(
            business_id=obj.business_id, currency=obj.currency,
            changes={"low_balance_below": obj.low_balance_below, "approval_above": obj.approval_above},
            **request_actor(request),
        )
        obj.pk = policy.pk
        obj._state.adding = False

    def delete_model(self, request, obj):
        currency_policy_delete(business_id=obj.business_id, currency=obj.currency, **request_actor(request))

    def delete_queryset(self, request, queryset):
        for business_id, currency in queryset.values_list("business_id", "currency"):
            currency_policy_delete(business_id=business_id, currency=currency, **request_actor(request))
