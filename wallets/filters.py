"""FilterSets shared by the API and the dashboard lists."""

import django_filters
from django.db.models.functions import Lower

from wallets.models import Customer, LedgerEntry
from wallets.money import CURRENCY_CHOICES


class CustomerFilterSet(django_filters.FilterSet):
    email = django_filters.CharFilter(method="filter_email", help_text="Exact email, case-insensitive")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains",
                                     help_text="Part of the name, case-insensitive")
    created_at_gte = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                      help_text="Created on or after (ISO 8601)")
    created_at_lte = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte",
                                                      help_text="Created on or before (ISO 8601)")

    class Meta:
        model = Customer
        fields = ["email", "name", "created_at_gte", "created_at_lte"]

    def filter_email(self, queryset, name, value):
        # Matches the functional unique index on lower(email).
        return queryset.alias(email_lower=Lower("email")).filter(email_lower=value.lower())


class CustomerLedgerFilterSet(django_filters.FilterSet):
    currency = django_filters.ChoiceFilter(choices=CURRENCY_CHOICES, help_text="Only this currency's entries")

    class Meta:
        model = LedgerEntry
        fields = ["currency"]
