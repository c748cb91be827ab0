"""Businesses, users and their dashboard memberships."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count

from wallets.admin.common import IdSearchMixin, UtcTimesMixin
from wallets.models import Business, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Business)
class BusinessAdmin(UtcTimesMixin, IdSearchMixin, admin.ModelAdmin):
    list_display = ["name", "id", "member_count", "created_at"]
    search_fields = ["name"]
    id_lookups = {"bus": "id"}
    # Runway days change on the dashboard's Settings → General, through the service that logs it.
    readonly_fields = ["id", "created_at", "runway_days"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_members=Count("memberships")).order_by("name")

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj):
        return obj._members

    def has_delete_permission(self, request, obj=None):
        return False  # customers and the ledger are PROTECTed; a business is never deleted here


@admin.register(Membership)
class MembershipAdmin(UtcTimesMixin, admin.ModelAdmin):
    list_display = ["user", "business", "role", "created_at"]
    list_filter = ["role", "business"]
    list_select_related = ["user", "business"]
    search_fields = ["user__username", "user__email", "business__name"]
    autocomplete_fields = ["user", "business"]


class UserMembershipInline(admin.StackedInline):
    model = Membership
    fk_name = "user"
    extra = 0
    max_num = 1
    can_delete = True
    fields = ["business", "role"]
    verbose_name = "dashboard membership"


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class WalletsUserAdmin(UserAdmin):
    inlines = [UserMembershipInline]
    list_display = ["username", "email", "is_staff", "is_superuser", "business", "role"]
    list_select_related = ["membership__business"]

    @admin.display(ordering="membership__business__name")
    def business(self, obj):
        membership = getattr(obj, "membership", None)
        return membership.business if membership else "—"

    @admin.display(ordering="membership__role")
    def role(self, obj):
        membership = getattr(obj, "membership", None)
        return membership.get_role_display() if membership else "—"
