"""Settings → API keys: the business's keys (prefix, name, read-only, created, revoked), create
(the secret shown once, in that response only, never stored) and revoke (after a confirmation
step). Managing keys is for approvers and superusers; the service (``wallets.services.api_keys``)
records both in the activity log. "Last used" is not tracked: authentication never writes."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from wallets.dashboard.access import dashboard_view, manager_required
from wallets.dashboard.forms_settings import ApiKeyCreateForm
from wallets.dashboard.views.common import page_of, render_page
from wallets.selectors.api_keys import api_key_get, api_key_list
from wallets.services.api_keys import api_key_create, api_key_revoke
from wallets.services.security_events import request_actor

KEYS_PER_PAGE = 50


def _keys_page(request, *, form=None, created=None, status=200):
    response = render_page(request, "dashboard/settings/api_keys.html", {
        "nav": "settings", "settings_nav": "api_keys",
        "page": page_of(request, api_key_list(business_id=request.access.business_id), KEYS_PER_PAGE),
        "form": form or ApiKeyCreateForm(), "created": created,
    }, status=status)
    if created:
        response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD"])
@dashboard_view
@manager_required
def api_keys(request):
    return _keys_page(request)


@require_http_methods(["POST"])
@dashboard_view
@manager_required
def api_key_new(request):
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form=form, status=400)
    api_key, raw_key = api_key_create(business=request.access.business, name=form.cleaned_data["name"],
                                      read_only=form.cleaned_data["read_only"], **request_actor(request))
    return _keys_page(request, created={"key": api_key, "secret": raw_key})


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view
@manager_required
def api_key_revoke_page(request, key_id):
    api_key = api_key_get(business_id=request.access.business_id, key_id=key_id)
    if api_key is None:
        raise Http404("No such API key.")
    if request.method == "POST" and request.POST.get("confirm") == "1":
        if api_key.revoked_at is None:
            api_key_revoke(key_id=api_key.pk, **request_actor(request))
            messages.success(request, f"Revoked the key {api_key.prefix}…; requests with it now fail.")
        return redirect("dashboard:settings_api_keys")
    return render_page(request, "dashboard/settings/api_key_revoke.html", {
        "nav": "settings", "settings_nav": "api_keys", "key": api_key,
    })
