"""The security audit log in the admin: read-only (no add, change or delete, for anyone)."""

from django.contrib import admin

from wallets.admin.common import UtcTimesMixin
from wallets.models import SecurityEvent


@admin.register(SecurityEvent)
class SecurityEventAdmin(UtcTimesMixin, admin.ModelAdmin):
    list_display = ["created_at", "kind", "business", "actor_type", "actor_name", "ip"]
    list_filter = ["kind", "actor_type", "business"]
    search_fields = ["actor_name", "actor_id", "ip", "business__name"]
    date_hierarchy = "created_at"
    list_select_related = ["business"]
    readonly_fields = ["created_at", "kind", "business", "actor_type", "actor_id", "actor_name", "ip", "details"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
