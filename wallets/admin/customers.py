"""Customers, wallets and the ledger: read-only; a balance changes only through the domain's
adjustment flow (``wallets.adjustments``, the same form and confirmation as the dashboard),
recorded with the admin user as the actor."""

from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join

from wallets import selectors
from wallets.adjustments import flow as adjustments
from wallets.admin.common import CurrencyInUseFilter, IdSearchMixin, ReadOnlyMixin, UtcTimesMixin
from wallets.models import Customer, LedgerEntry, Wallet
from wallets.money import format_money

ADJUST_PERMISSION = "wallets.add_ledgerentry"


def _entry_links(entries):
    return format_html_join(", ", '<a href="{}">{}</a> ({})', (
        (reverse("admin:wallets_ledgerentry_change", args=[quote(e.pk)]), e.pk, format_money(e.amount, e.currency))
        for e in entries
    )) or "—"


class WalletInline(ReadOnlyMixin, admin.TabularInline):
    model = Wallet
    fields = ["currency", "balance_display", "entry_count", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="balance")
    def balance_display(self, obj):
        return format_money(obj.balance, obj.currency)


@admin.register(Customer)
class CustomerAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "email", "id", "business", "balances", "created_at"]
    list_filter = ["business"]
    list_select_related = ["business"]
    search_fields = ["^email", "name"]
    id_lookups = {"cus": "id"}
    show_full_result_count = False
    fields = ["id", "business", "name", "email", "phone_number", "metadata", "created_at", "updated_at"]
    readonly_fields = fields
    inlines = [WalletInline]
    actions = ["adjust_balance"]
    change_form_template = "admin/wallets/customer/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            Prefetch("wallets", queryset=Wallet.objects.only("id", "customer_id", "currency", "balance")
                     .order_by("currency"))
        )

    @admin.display(description="balances")
    def balances(self, obj):
        return format_html_join(", ", "{}", ((format_money(w.balance, w.currency),) for w in obj.wallets.all()))

    def get_urls(self):
        return [
            path("<path:object_id>/adjust/", self.admin_site.admin_view(self.adjust_view),
                 name="wallets_customer_adjust"),
            *super().get_urls(),
        ]

    def has_adjust_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(ADJUST_PERMISSION)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        if not self.has_adjust_permission(request):
            actions.pop("adjust_balance", None)
        return actions

    @admin.action(description="Adjust the balance of the selected customer")
    def adjust_balance(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Select exactly one customer to adjust.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:wallets_customer_adjust", args=[ids[0]]))

    def adjust_view(self, request, object_id):
        """The dashboard's adjustment flow (form → confirmation → posting) inside the admin."""
        if not self.has_adjust_permission(request):
            raise PermissionDenied("You may not adjust balances.")
        customer = selectors.customer_find_any_business(customer_id=object_id)
        if customer is None:
            raise Http404("No such customer.")
        business_id = customer.business_id
        step = None
        if request.method == "POST":
            step = adjustments.adjustment_handle(data=request.POST, business_id=business_id, customer=customer,
                                                 user=request.user)
            if step.stage == adjustments.DONE:
                self.message_user(request, step.summary(),
                                  messages.INFO if step.outcome.held else messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:wallets_customer_change", args=[customer.pk]))
        form = step.form if step is not None else adjustments.adjustment_form_new(business_id=business_id,
                                                                                  customer=customer)
        wallets = step.wallets if step is not None else selectors.wallet_list(business_id=business_id,
                                                                              customer_id=customer.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Adjust the balance of {customer.name}",
            "customer": customer,
            "wallets": wallets,
            "form": form,
            "step": step if step is not None and step.stage == adjustments.CONFIRM else None,
            "adjust_url": reverse("admin:wallets_customer_adjust", args=[customer.pk]),
        }
        return TemplateResponse(request, "admin/wallets/customer/adjust.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_adjust": self.has_adjust_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)


class LowBalanceFilter(admin.SimpleListFilter):
    """Under the business's threshold for the currency (or the default): one query."""

    title = "low balance"
    parameter_name = "low"

    def lookups(self, request, model_admin):
        return [("yes", "Low"), ("no", "Not low")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=selectors.wallet_low_balance_all().values("pk"))
        if self.value() == "no":
            return queryset.exclude(pk__in=selectors.wallet_low_balance_all().values("pk"))
        return queryset


@admin.register(Wallet)
class WalletAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["customer", "currency", "balance_display", "entry_count", "business", "updated_at"]
    list_filter = [CurrencyInUseFilter, LowBalanceFilter, "business"]
    list_select_related = ["customer", "business"]
    search_fields = ["^customer__email", "customer__name"]
    id_lookups = {"wal": "id", "cus": "customer_id"}
    show_full_result_count = False
    fields = ["id", "business", "customer", "currency", "balance_display", "entry_count", "created_at", "updated_at"]
    readonly_fields = fields

    @admin.display(description="balance", ordering="balance")
    def balance_display(self, obj):
        return format_money(obj.balance, obj.currency)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(UtcTimesMixin, IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    """The audit trail: read-only for everyone. Corrections are new entries (adjust balance)."""

    list_display = ["created_at", "id", "customer", "currency", "direction", "amount_display", "after_display",
                    "event_type", "actor_type", "actor_id"]
    list_filter = [CurrencyInUseFilter, "is_credit", "event_type", "actor_type", "business"]
    list_select_related = ["customer"]
    search_fields = ["=idempotency_key", "=reference_object_id", "=actor_id"]
    id_lookups = {"wle": "id", "cus": "customer_id", "wal": "wallet_id", "key": "actor_id"}
    show_full_result_count = False
    fields = ["id", "business", "customer", "wallet", "currency", "sequence", "direction", "amount_display",
              "before_display", "after_display", "event_type", "reason", "reference_object_id", "idempotency_key",
              "actor_type", "actor_id", "created_at", "metadata", "reversal_of", "reversals_links", "expires_at",
              "expired_grant", "expiries_links", "hold"]
    readonly_fields = fields

    @admin.display(description="reversed by")
    def reversals_links(self, obj):
        return _entry_links(obj.reversals.order_by("created_at"))

    @admin.display(description="expired by")
    def expiries_links(self, obj):
        return _entry_links(obj.expiries.order_by("created_at"))

    @admin.display(description="direction", ordering="is_credit")
    def direction(self, obj):
        return obj.entry_type

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.currency)

    @admin.display(description="balance before")
    def before_display(self, obj):
        return format_money(obj.before_balance, obj.currency)

    @admin.display(description="balance after")
    def after_display(self, obj):
        return format_money(obj.after_balance, obj.currency)
