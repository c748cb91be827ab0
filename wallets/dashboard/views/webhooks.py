"""Webhooks: the business's endpoints (add, edit, enable/disable, reveal and rotate the secret, send
a test, delete), each endpoint's delivery log, one delivery's attempts (replay it), one event's
deliveries across endpoints, and "replay everything that failed" in a time range.

Viewers read; operators and approvers change (``operator_required``), revealing a secret included.
Every change goes through ``wallets.services.webhooks``; another business's endpoint, delivery or
event is a 404.
"""

import functools
import json

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wallets.dashboard.access import dashboard_view, operator_required
from wallets.dashboard.forms_webhooks import DeliveryFilterForm, EndpointForm, ReplayFailedForm, headers_text
from wallets.dashboard.views.common import page_of, render_page
from wallets.exceptions import InvalidInput, WebhookNotFound
from wallets.models import WebhookEndpoint
from wallets.selectors import webhooks as webhook_selectors
from wallets.services import webhooks as webhook_services
from wallets.webhooks.signing import ROTATION_OVERLAP

DELIVERIES_PER_PAGE = 25
OVERLAP_HOURS = int(ROTATION_OVERLAP.total_seconds() // 3600)


def _payload_text(event) -> str:
    """The body as sent, indented for reading (the stored bytes are what the receiver got); before
    the worker renders it, what the event knows."""
    if not event.payload:
        return json.dumps(event.data, indent=2, sort_keys=True)
    try:
        return json.dumps(json.loads(event.payload), indent=2)
    except ValueError:
        return event.payload


def _gone_is_404(view):
    """An endpoint or delivery deleted between the page's lookup and the service call is a 404."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except WebhookNotFound as exc:
            raise Http404("No such webhook endpoint or delivery.") from exc

    return wrapper


def _endpoint_or_404(request, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_selectors.endpoint_find(business_id=request.access.business_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def _endpoint_url(endpoint_id: str) -> str:
    return reverse("dashboard:webhook", args=[endpoint_id])


@require_GET
@dashboard_view
def webhook_list(request):
    endpoints = webhook_selectors.endpoint_list(business_id=request.access.business_id)
    return render_page(request, "dashboard/webhooks.html", {"nav": "webhooks", "endpoints": endpoints})


@require_http_methods(["GET", "POST"])
@dashboard_view
@operator_required
def webhook_new(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_services.endpoint_create(
                business_id=request.access.business_id, url=form.cleaned_data["url"],
                description=form.cleaned_data["description"], filter_types=form.cleaned_data["filter_types"],
                headers=form.cleaned_data["headers"], rate_limit=form.cleaned_data["rate_limit"])
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Added the endpoint {endpoint.url}. Its signing secret is on this page.")
            return HttpResponseRedirect(_endpoint_url(endpoint.pk), status=303)
    return render_page(request, "dashboard/webhooks_new.html", {"nav": "webhooks", "form": form},
                       status=422 if form.is_bound else 200)


def _endpoint_page(request, endpoint: WebhookEndpoint, *, form=None, secret=None, status=200):
    business_id = request.access.business_id
    filters = DeliveryFilterForm(request.GET)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    deliveries = webhook_selectors.delivery_list_for_endpoint(
        business_id=business_id, endpoint_id=endpoint.pk, status=chosen.get("status", ""),
        event_type=chosen.get("type", ""))
    if form is None and request.access.can_post:
        form = EndpointForm(current_headers=endpoint.headers, initial={
            "url": endpoint.url, "description": endpoint.description, "filter_types": endpoint.filter_types,
            "headers": headers_text(endpoint.headers), "rate_limit": endpoint.rate_limit})
    return render_page(request, "dashboard/webhooks_endpoint.html", {
        "nav": "webhooks", "endpoint": endpoint, "form": form, "secret": secret, "filters": filters,
        "page": page_of(request, deliveries, DELIVERIES_PER_PAGE), "headers": headers_text(endpoint.headers),
        "overlap_hours": OVERLAP_HOURS, "previous_valid": len(endpoint.signing_secrets(timezone.now())) > 1,
    }, status=status)


@require_http_methods(["GET", "POST"])
@dashboard_view
@_gone_is_404
def webhook_detail(request, endpoint_id: str):
    """The endpoint (its settings, the edit form for operators) and its delivery log."""
    endpoint = _endpoint_or_404(request, endpoint_id)
    if request.method == "GET":
        return _endpoint_page(request, endpoint)
    return _webhook_edit(request, endpoint)


@operator_required
def _webhook_edit(request, endpoint: WebhookEndpoint):
    form = EndpointForm(request.POST, current_headers=endpoint.headers)
    if form.is_valid():
        business_id = request.access.business_id
        try:
            # Headers have their own service (a merge), so two transactions: check everything
            # first (the services' own rules), so that refused input changes nothing.
            webhook_services.clean_url(form.cleaned_data["url"])
            webhook_services.clean_filter_types(form.cleaned_data["filter_types"])
            webhook_services.clean_headers(form.cleaned_data["headers"])
            changes = form.headers_changes()
            if changes:
                webhook_services.endpoint_headers_update(business_id=business_id, endpoint_id=endpoint.pk,
                                                         headers=changes)
            webhook_services.endpoint_update(
                business_id=business_id, endpoint_id=endpoint.pk, url=form.cleaned_data["url"],
                description=form.cleaned_data["description"], filter_types=form.cleaned_data["filter_types"],
                rate_limit=form.cleaned_data["rate_limit"])
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Saved the endpoint.")
            return HttpResponseRedirect(_endpoint_url(endpoint.pk), status=303)
    endpoint.refresh_from_db()
    return _endpoint_page(request, endpoint, form=form, status=422)


@require_POST
@dashboard_view
@operator_required
@_gone_is_404
def webhook_toggle(request, endpoint_id: str):
    endpoint = _endpoint_or_404(request, endpoint_id)
    disable = request.POST.get("disabled") == "1"
    webhook_services.endpoint_update(business_id=request.access.business_id, endpoint_id=endpoint.pk,
                                     disabled=disable)
    messages.success(request, "Disabled the endpoint: nothing is sent to it until you enable it." if disable
                     else "Enabled the endpoint: its pending deliveries go out again.")
    return HttpResponseRedirect(_endpoint_url(endpoint.pk), status=303)


@require_POST
@dashboard_view
@operator_required
@_gone_is_404
def webhook_secret(request, endpoint_id: str):
    """Reveal the signing secret: shown in this response only (never in a URL or a redirect)."""
    endpoint = _endpoint_or_404(request, endpoint_id)
    response = _endpoint_page(request, endpoint, secret=endpoint.secret)
    response["Cache-Control"] = "no-store"
    return response


def _confirm_page(request, endpoint, action: str, **extra):
    """The confirmation step of a destructive action (it posts again with ``confirm=1``)."""
    return render_page(request, "dashboard/webhooks_confirm.html", {
        "nav": "webhooks", "endpoint": endpoint, "action": action, **extra,
        "post_url": reverse(f"dashboard:webhook_{action}", args=[endpoint.pk])})


@require_POST
@dashboard_view
@operator_required
@_gone_is_404
def webhook_rotate(request, endpoint_id: str):
    endpoint = _endpoint_or_404(request, endpoint_id)
    if request.POST.get("confirm") != "1":
        return _confirm_page(request, endpoint, "rotate", overlap_hours=OVERLAP_HOURS)
    webhook_services.endpoint_rotate_secret(business_id=request.access.business_id, endpoint_id=endpoint.pk)
    messages.success(request, f"Rotated the secret. The old one still signs deliveries for {OVERLAP_HOURS} hours, "
                              "beside the new one; reveal the new one to update your receiver.")
    return HttpResponseRedirect(_endpoint_url(endpoint.pk), status=303)


@require_POST
@dashboard_view
@operator_required
@_gone_is_404
def webhook_delete(request, endpoint_id: str):
    endpoint = _endpoint_or_404(request, endpoint_id)
    if request.POST.get("confirm") != "1":
        return _confirm_page(request, endpoint, "delete")
    webhook_services.endpoint_delete(business_id=request.access.business_id, endpoint_id=endpoint.pk)
    messages.success(request, f"Deleted the endpoint {endpoint.url} and its delivery log.")
    return HttpResponseRedirect(reverse("dashboard:webhooks"), status=303)


@require_POST
@dashboard_view
@operator_required
@_gone_is_404
def webhook_test(request, endpoint_id: str):
    endpoint = _endpoint_or_404(request, endpoint_id)
    delivery = webhook_services.endpoint_send_test(business_id=request.access.business_id, endpoint_id=endpoint.pk)
    messages.success(request, f"Queued a webhook.test event ({delivery.event_id}) to this endpoint.")
    return HttpResponseRedirect(reverse("dashboard:webhook_delivery", args=[endpoint.pk, delivery.pk]), status=303)


@require_GET
@dashboard_view
def webhook_delivery(request, endpoint_id: str, delivery_id: str):
    detail = webhook_selectors.delivery_detail(business_id=request.access.business_id, endpoint_id=endpoint_id,
                                               delivery_id=delivery_id)
    if detail is None:
        raise Http404("No such delivery.")
    return render_page(request, "dashboard/webhooks_delivery.html", {
        "nav": "webhooks", "delivery": detail.delivery, "event": detail.delivery.event,
        "endpoint": detail.delivery.endpoint, "attempts": detail.attempts,
        "payload": _payload_text(detail.delivery.event)})


@require_POST
@dashboard_view
@operator_required
@_gone_is_404
def webhook_delivery_replay(request, endpoint_id: str, delivery_id: str):
    detail = webhook_selectors.delivery_detail(business_id=request.access.business_id, endpoint_id=endpoint_id,
                                               delivery_id=delivery_id)
    if detail is None:
        raise Http404("No such delivery.")
    webhook_services.delivery_replay(business_id=request.access.business_id, delivery_id=detail.delivery.pk)
    messages.success(request, f"Replaying {detail.delivery.event_id}: it is sent again now, with the same "
                              "webhook-id and body.")
    return HttpResponseRedirect(reverse("dashboard:webhook_delivery", args=[endpoint_id, delivery_id]), status=303)


@require_GET
@dashboard_view
def webhook_event(request, event_id: str):
    detail = webhook_selectors.event_detail(business_id=request.access.business_id, event_id=event_id)
    if detail is None:
        raise Http404("No such event.")
    return render_page(request, "dashboard/webhooks_event.html", {
        "nav": "webhooks", "event": detail.event, "deliveries": detail.deliveries,
        "payload": _payload_text(detail.event)})


@require_http_methods(["GET", "POST"])
@dashboard_view
def webhook_replay_failed(request):
    business_id = request.access.business_id
    endpoints = webhook_selectors.endpoint_list(business_id=business_id)
    if request.method == "POST":
        return _replay_failed_post(request, endpoints)
    form = ReplayFailedForm(initial={"endpoint": request.GET.get("endpoint", "")}, endpoints=endpoints)
    return render_page(request, "dashboard/webhooks_replay.html", {
        "nav": "webhooks", "form": form, "endpoints": endpoints})


@operator_required
def _replay_failed_post(request, endpoints):
    form = ReplayFailedForm(request.POST, endpoints=endpoints)
    if form.is_valid():
        try:
            count = webhook_services.deliveries_replay_failed(
                business_id=request.access.business_id, since=form.cleaned_data["since"],
                until=form.cleaned_data["until"], endpoint_id=form.cleaned_data["endpoint"] or None)
        except InvalidInput as exc:
            for name, problems in exc.errors.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        except WebhookNotFound:
            form.add_error("endpoint", "No such endpoint.")
        else:
            if count:
                messages.success(request, f"Replaying {count} failed deliver{'y' if count == 1 else 'ies'}.")
            else:
                messages.info(request, "No failed deliveries in that range: nothing to replay.")
            return redirect("dashboard:webhook_replay_failed")
    return render_page(request, "dashboard/webhooks_replay.html", {
        "nav": "webhooks", "form": form, "endpoints": endpoints}, status=422)
