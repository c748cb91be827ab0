"""Holds, grants, grant draws and wallet payments: read-only, like the ledger (they change only
through the engine, ``wallets.ledger``)."""

from django.contrib import admin

from wallets.admin.common import CurrencyInUseFilter, IdSearchMixin, ReadOnlyMixin, UtcTimesMixin
from wallets.models import CreditGrant, GrantDraw, Hold, WalletPayment
from wallets.money import format_money


def _money(field: str, description: str):
    @admin.display(description=description, ordering=field)
    def show(self, obj):
        return format_money(getattr(obj, field), obj.currency)

    return show


@admin.register(Hold)
class HoldAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "id", "customer", "currency", "amount_display", "captured_display", "status",
                    "expires_at", "reference_object_id"]
    list_filter = ["status", CurrencyInUseFilter, "business"]
    list_select_related = ["customer"]
    search_fields = ["=reference_object_id", "=idempotency_key"]
    id_lookups = {"hld": "id", "cus": "customer_id", "wal": "wallet_id"}
    show_full_result_count = False
    fields = ["id", "business", "customer", "wallet", "currency", "amount_display", "captured_display", "status",
              "expires_at", "reference_object_id", "reason", "idempotency_key", "actor_type", "actor_id",
              "created_at", "updated_at"]
    readonly_fields = fields
    amount_display = _money("amount", "amount")
    captured_display = _money("captured_amount", "captured")


@admin.register(CreditGrant)
class CreditGrantAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["entry", "customer", "currency", "amount_display", "remaining_display", "expired_display",
                    "expires_at"]
    list_filter = [CurrencyInUseFilter, "business"]
    list_select_related = ["customer", "entry"]
    id_lookups = {"wle": "entry_id", "cus": "customer_id", "wal": "wallet_id"}
    show_full_result_count = False
    fields = ["entry", "business", "customer", "wallet", "currency", "amount_display", "remaining_display",
              "expired_display", "expires_at", "updated_at"]
    readonly_fields = fields
    amount_display = _money("amount", "granted")
    remaining_display = _money("remaining", "remaining")
    expired_display = _money("expired_amount", "expired")


@admin.register(GrantDraw)
class GrantDrawAdmin(UtcTimesMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "grant", "entry", "hold", "amount_display"]
    list_select_related = ["grant", "entry", "hold"]
    list_filter = ["business"]
    show_full_result_count = False
    fields = ["id", "business", "grant", "entry", "hold", "amount_display", "created_at"]
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.grant.currency)


@admin.register(WalletPayment)
class WalletPaymentAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "id", "customer", "currency", "reference_object_id", "requested_display",
                    "applied_display", "entry"]
    list_filter = [CurrencyInUseFilter, "business"]
    list_select_related = ["customer", "entry"]
    search_fields = ["=reference_object_id"]
    id_lookups = {"cus": "customer_id", "wle": "entry_id"}
    show_full_result_count = False
    fields = ["id", "business", "customer", "currency", "reference_object_id", "requested_display",
              "applied_display", "reason", "entry", "balance_after", "held_after", "created_at"]
    readonly_fields = fields
    requested_display = _money("requested", "requested")
    applied_display = _money("applied", "applied")
