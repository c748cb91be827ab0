"""API keys: created by ``api_key_create`` (the raw key shown once, in the response to the add
form, stored nowhere) and revoked by ``api_key_revoke``; ``key_hash`` is never shown."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from wallets.admin.common import IdSearchMixin, UtcTimesMixin
from wallets.models import ApiKey
from wallets.services.api_keys import api_key_create, api_key_revoke
from wallets.services.security_events import request_actor


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["business", "name", "read_only"]


@admin.register(ApiKey)
class ApiKeyAdmin(UtcTimesMixin, IdSearchMixin, admin.ModelAdmin):
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
