"""Held adjustments (maker–checker): approved or rejected through ``wallets.services.approvals``."""

from django.contrib import admin, messages

from wallets.admin.common import CurrencyInUseFilter, IdSearchMixin, ReadOnlyMixin, UtcTimesMixin
from wallets.exceptions import WalletError
from wallets.models import AdjustmentRequest
from wallets.money import format_money
from wallets.services.approvals import adjustment_approve, adjustment_reject


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["requested_at", "customer", "direction", "amount_display", "status", "requested_by",
                    "decided_by", "decided_at"]
    list_filter = ["status", CurrencyInUseFilter, "business"]
    list_select_related = ["customer", "requested_by", "decided_by"]
    search_fields = ["reason"]
    id_lookups = {"adj": "id", "cus": "customer_id"}
    actions = ["approve", "reject"]

    @admin.display(description="direction")
    def direction(self, obj):
        return "credit" if obj.is_credit else "debit"

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.currency)

    def _decide(self, request, queryset, decide, verb):
        done = 0
        for pk, business_id in queryset.values_list("pk", "business_id"):
            try:
                decide(business_id=business_id, request_id=pk, approver=request.user)
                done += 1
            except WalletError as exc:
                self.message_user(request, f"{pk}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} request{'s' if done != 1 else ''}.", messages.SUCCESS)

    @admin.action(description="Approve the selected requests (posts them)")
    def approve(self, request, queryset):
        self._decide(request, queryset, adjustment_approve, "Approved")

    @admin.action(description="Reject the selected requests")
    def reject(self, request, queryset):
        self._decide(request, queryset, adjustment_reject, "Rejected")
