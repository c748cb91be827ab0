"""What every admin page of the package shares: read-only pages, the currency filter, id search, UTC
columns."""

import datetime
import logging

from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats

from wallets import selectors

CURRENCIES_IN_USE_CACHE_SECONDS = 300
logger = logging.getLogger(__name__)


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
        try:
            codes = cache.get_or_set(
                "wallets:admin:currencies-in-use",
                selectors.wallet_currencies_in_use,
                CURRENCIES_IN_USE_CACHE_SECONDS,
            )
        except Exception:  # the cache is down: a cache error means "ask the database"
            logger.warning("admin currency filter: the cache is unavailable", exc_info=True)
            codes = selectors.wallet_currencies_in_use()
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
            business_id = selectors.customer_business_id(customer_id=term)
            return queryset.filter(business_id=business_id, customer_id=term), False
        if field:
            return queryset.filter(**{field: term}), False
        return super().get_search_results(request, queryset, search_term)


def utc_column(model, name: str):
    """A list column showing the datetime field ``name`` in UTC, headed "<its name> (UTC)"."""
    field = model._meta.get_field(name)

    @admin.display(description=f"{field.verbose_name} (UTC)", ordering=name)
    def show(obj):
        value = getattr(obj, name)
        return "—" if value is None else formats.localize(value.astimezone(datetime.UTC))

    show.__name__ = f"{name}_utc"
    return show


def _is_datetime(model, name) -> bool:
    if not isinstance(name, str):
        return False
    try:
        return isinstance(model._meta.get_field(name), models.DateTimeField)
    except FieldDoesNotExist:
        return False


class UtcTimesMixin:
    """Date columns say their zone: every admin page shows times in UTC (``walletproject.admin``),
    and each date column of the list is headed "… (UTC)"."""

    def get_list_display(self, request):
        return [utc_column(self.model, name) if _is_datetime(self.model, name) else name
                for name in super().get_list_display(request)]  # type: ignore[misc]
