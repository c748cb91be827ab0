"""What every dashboard page shares: the page chrome, pagination, the customer lookup, UTC
timestamps for CSVs and the safe "back" redirect."""

import datetime

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from wallets import selectors
from wallets.exceptions import CustomerNotFound
from wallets.models import Customer

EXPORT_CHUNK_SIZE = 2000


def render_page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render a dashboard page with what every page's chrome needs."""
    context = {"access": request.access, "current_time_zone": timezone.get_current_timezone_name(), **context}
    if request.access.is_superuser:
        context["businesses"] = selectors.business_list()
    return render(request, template, context, status=status)


def page_of(request, queryset, per_page: int):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def customer_or_404(request, customer_id: str) -> Customer:
    try:
        return selectors.customer_get(business_id=request.access.business_id, customer_id=customer_id)
    except CustomerNotFound as exc:
        raise Http404("No such customer.") from exc


def iso_utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def redirect_back(request, fallback: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)
