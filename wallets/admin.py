"""The Django admin for support staff: look up anything, manage businesses, users and API keys.

Safety rules:
- the ledger is read-only for everyone, superusers included (no add, change or delete);
- balances are never edited here: customers and wallets are read-only, and the *adjust balance*
  page posts through the service layer with the dashboard's form and confirmation
  (``wallets.adjustments``), recorded with the staff user as the actor;
- API keys are created by ``api_key_create`` (the raw key is shown once, in the response to the
  add form, and stored nowhere) and revoked by ``api_key_revoke``; ``key_hash`` is never shown;
- list pages join what they show (``list_select_related``, one prefetch), so their query count
  stays flat as rows grow.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from wallets import selectors
from wallets.adjustments import flow as adjustments
from wallets.exceptions import WalletError
from wallets.models import (
    AdjustmentRequest,
    ApiKey,
    Business,
    CurrencyPolicy,
    Customer,
    ExchangeRate,
    LedgerEntry,
    Membership,
    Wallet,
)
from wallets.money import MoneyParseError, format_money, parse_major, to_major
from wallets.services.api_keys import api_key_create, api_key_revoke
from wallets.services.approvals import adjustment_approve, adjustment_reject
from wallets.services.security_events import request_actor

ADJUST_PERMISSION = "wallets.add_ledgerentry"
CURRENCIES_IN_USE_CACHE_SECONDS = 300

admin.site.site_header = "Wallets administration"
admin.site.site_title = "Wallets admin"
admin.site.index_title = "Support"


class ReadOnlyMixin:
    """View-only for everyone, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CurrencyInUseFilter(admin.SimpleListFilter):
    """Only the currencies that wallets exist in, not all 145 codes. Every entry and policy of
    interest is in such a currency; the DISTINCT scan is cached for a few minutes."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        codes = cache.get_or_set(
            "wallets:admin:currencies-in-use",
            lambda: list(Wallet.objects.order_by("currency").values_list("currency", flat=True).distinct()),
            CURRENCIES_IN_USE_CACHE_SECONDS,
        )
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


class IdSearchMixin:
    """An id typed in the search box (``cus_…``, ``wle_…``) is looked up exactly, on its index;
    anything else goes to ``search_fields``. (Django's ``=field`` is case-insensitive, which no
    index serves on a table of millions.)"""

    id_lookups: dict[str, str] = {}

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        prefix, sep, rest = term.partition("_")
        field = self.id_lookups.get(prefix) if sep and rest and " " not in term else None
        if field == "customer_id" and hasattr(self.model, "business_id"):
            # With the customer's business the (business, customer, …) indexes serve the query.
            business_id = Customer.objects.filter(pk=term).values_list("business_id", flat=True).first()
            return queryset.filter(business_id=business_id, customer_id=term), False
        if field:
            return queryset.filter(**{field: term}), False
        return super().get_search_results(request, queryset, search_term)


# --- Businesses, users, memberships ---------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Business)
class BusinessAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ["name", "id", "member_count", "created_at"]
    search_fields = ["name"]
    id_lookups = {"bus": "id"}
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_members=Count("memberships")).order_by("name")

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj):
        return obj._members

    def has_delete_permission(self, request, obj=None):
        return False  # customers and the ledger are PROTECTed; a business is never deleted here


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
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


# --- Customers and wallets (read-only; adjustments through the service layer) ---------------


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
class CustomerAdmin(IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
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
        customer = Customer.objects.select_related("business").filter(pk=object_id).first()
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
class WalletAdmin(IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
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
class LedgerEntryAdmin(IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
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
              "actor_type", "actor_id", "created_at"]
    readonly_fields = fields

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


# --- API keys ------------------------------------------------------------------------------


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["business", "name", "read_only"]


@admin.register(ApiKey)
class ApiKeyAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ["prefix_display", "name", "business", "read_only", "active", "created_at", "revoked_at"]
    list_filter = ["read_only", ("revoked_at", admin.EmptyFieldListFilter), "business"]
    list_select_related = ["business"]
    search_fields = ["^prefix", "name", "business__name"]
    id_lookups = {"key": "id"}
    exclude = ["key_hash"]
    actions = ["revoke"]
    autocomplete_fields = ["business"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["business", "name", "read_only"]
        return ["id", "prefix_display", "name", "business", "read_only", "created_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["id", "prefix_display", "name", "business", "read_only", "created_at", "revoked_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: ledger entries name the key that made them

    @admin.display(description="key")
    def prefix_display(self, obj):
        return f"{obj.prefix}…" if obj.prefix else ""

    @admin.display(boolean=True)
    def active(self, obj):
        return obj.is_active

    def add_view(self, request, form_url="", extra_context=None):
        """Create the key through ``api_key_create`` (its own durable transaction, so outside the
        admin's atomic change form) and show the raw key in this response only: it is stored
        nowhere (no session, no cookie) and cannot be shown again."""
        if request.method == "POST" and self.has_add_permission(request):
            form = ApiKeyAddForm(request.POST)
            if form.is_valid():
                api_key, raw_key = api_key_create(
                    business=form.cleaned_data["business"], name=form.cleaned_data["name"],
                    read_only=form.cleaned_data["read_only"], **request_actor(request),
                )
                self.log_addition(request, api_key, [{"added": {}}])
                return self._created_response(request, api_key, raw_key)
        return super().add_view(request, form_url, extra_context)  # the form, or its errors

    def _created_response(self, request, api_key, raw_key):
        messages.warning(request, format_html(
            "Copy the new API key now; it will not be shown again: <code class='new-api-key'>{}</code>", raw_key))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API key created",
            "api_key": api_key,
            "raw_key": raw_key,
        }
        response = TemplateResponse(request, "admin/wallets/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        count = 0
        for key_id in queryset.filter(revoked_at__isnull=True).values_list("pk", flat=True):
            api_key_revoke(key_id=key_id, **request_actor(request))
            count += 1
        self.message_user(request, f"Revoked {count} API key{'s' if count != 1 else ''}.", messages.SUCCESS)


# --- Rates and policies ----------------------------------------------------------------------


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
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
        currency = cleaned.get("currency")
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
class CurrencyPolicyAdmin(admin.ModelAdmin):
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


# --- Held adjustments (maker–checker) ---------------------------------------------------------


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(IdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
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


from wallets import admin_security  # noqa: E402, F401 - the security audit log, read-only
