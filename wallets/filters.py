"""FilterSets shared by the API and the dashboard lists."""

import datetime
import math
import re
from decimal import Decimal

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import CharField, Q, Subquery
from django.db.models.functions import Cast, Lower
from django.utils import timezone
from django_filters.constants import EMPTY_VALUES
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from wallets.models import AdjustmentRequest, ApiKey, Customer, Hold, LedgerEntry, Wallet
from wallets.money import CURRENCY_CHOICES, minor_unit_exponent

_OFFSET_AFTER_SPACE = re.compile(r"^(\S+T\S+) (\d{2}(?::?\d{2})?)$")


class QueryIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with ``Z`` or an offset. A ``+`` typed unescaped in a query string arrives as a
    space (``…T10:00:00 05:30``): read it back as the ``+`` it was."""

    def to_python(self, value):
        if isinstance(value, str):
            if value and not value.strip():  # only whitespace (even U+0085): not "not given", not a date
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            value = _OFFSET_AFTER_SPACE.sub(r"\1+\2", value.strip())
        parsed = super().to_python(value)
        if parsed is None:
            return parsed
        # Compare in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts (a 500
        # found by fuzzing), and an instant outside years 1..9999 in UTC is out of range.
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise forms.ValidationError("Enter a date and time between the years 1 and 9999.",
                                        code="invalid") from exc


class QueryIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = QueryIsoDateTimeField


@extend_schema_field(OpenApiTypes.BOOL)
class QueryBooleanFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false`` exactly (anything else is a 422, never "not given"), documented as the
    boolean it is (a query string carries it as those two words)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true",
                         **kwargs)


# A day filter means midnight to midnight in the user's time zone: 9999-12-31 would end in year
# 10000, and a day near year 1 starts in year 0 in UTC east of Greenwich (both OverflowError, a
# 500). One day of margin at each end covers every time zone (at most ±14 hours).
FIRST_FILTER_DATE = datetime.date.min + datetime.timedelta(days=1)
LAST_FILTER_DATE = datetime.date.max - datetime.timedelta(days=1)


class BoundedDateField(forms.DateField):
    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is not None and not FIRST_FILTER_DATE <= parsed <= LAST_FILTER_DATE:
            raise forms.ValidationError(
                f"Enter a date between {FIRST_FILTER_DATE.isoformat()} and {LAST_FILTER_DATE.isoformat()}.",
                code="out_of_range")
        return parsed


class BoundedDateFilter(django_filters.DateFilter):
    field_class = BoundedDateField


class CustomerFilterSet(django_filters.FilterSet):
    email = django_filters.CharFilter(method="filter_email", help_text="Exact email, case-insensitive")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains",
                                     help_text="Part of the name, case-insensitive")
    created_at_gte = QueryIsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                            help_text="Created on or after (ISO 8601)")
    created_at_lte = QueryIsoDateTimeFilter(field_name="created_at", lookup_expr="lte",
                                            help_text="Created on or before (ISO 8601)")

    class Meta:
        model = Customer
        fields = ["email", "name", "created_at_gte", "created_at_lte"]

    def filter_email(self, queryset, name, value):
        # Matches the functional unique index on lower(email).
        return queryset.alias(email_lower=Lower("email")).filter(email_lower=value.lower())


class LedgerCurrencyFilterSet(django_filters.FilterSet):
    currency = django_filters.ChoiceFilter(choices=CURRENCY_CHOICES, help_text="Only this currency's entries")

    class Meta:
        model = LedgerEntry
        fields = ["currency"]


class CustomerLedgerFilterSet(LedgerCurrencyFilterSet):
    """The API's customer ledger: Dodo's ``currency``, and the extensions (API-NOTES, "Ledger
    entries"). The dashboard's ledger lists have their own filters for the same columns."""

    event_type = django_filters.ChoiceFilter(choices=LedgerEntry.EventType.choices,
                                             help_text="Extension: only entries of this kind")
    reference_object_id = django_filters.CharFilter(field_name="reference_object_id",
                                                    help_text="Extension: only entries with this reference")
    created_at_gte = QueryIsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                            help_text="Extension: created on or after (ISO 8601)")
    created_at_lte = QueryIsoDateTimeFilter(field_name="created_at", lookup_expr="lte",
                                            help_text="Extension: created on or before (ISO 8601)")
    is_credit = QueryBooleanFilter(help_text="Extension: true for credits, false for debits")

    class Meta(LedgerCurrencyFilterSet.Meta):
        fields = ["currency", "event_type", "reference_object_id", "created_at_gte", "created_at_lte", "is_credit"]


# --- The dashboard's lists (they extend the API's FilterSets where the two overlap) -----------


class StableOrderingFilter(django_filters.OrderingFilter):
    """Sorting by a column, with the primary key as tiebreak so pages never overlap."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        ordering = [self.get_ordering_value(param) for param in value]
        last = ordering[-1] if ordering else ""
        return qs.order_by(*ordering, "-pk" if last.startswith("-") else "pk")


class DashboardCustomerFilterSet(CustomerFilterSet):
    """The customers page: the API's filters, plus one search box and sortable columns."""

    q = django_filters.CharFilter(method="filter_q", label="Search",
                                  help_text="Name, email or customer id")
    sort = StableOrderingFilter(fields=(("name", "name"), ("email", "email"), ("created_at", "created")))

    class Meta(CustomerFilterSet.Meta):
        fields = [*CustomerFilterSet.Meta.fields, "q"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(id=value) | Q(name__icontains=value) | Q(email__icontains=value))


DIRECTION_CHOICES = [("credit", "Credit"), ("debit", "Debit")]

CUSTOMER_MATCH_LIMIT = 500  # customers a name may match before the filter becomes a subquery
AMOUNT_NEEDS_CURRENCY = "Choose a currency first: amounts in different currencies (₹, $, ¥) are not comparable."


def _amount_bound(value: Decimal, currency: str, lookup: str) -> int:
    """An amount in major units as the currency's minor units, rounded inwards: amount >= 1.005 USD
    means amount >= 101 cents; amount <= 1.005 USD means <= 100 cents."""
    bound = value.scaleb(minor_unit_exponent(currency))
    return math.ceil(bound) if lookup == "gte" else math.floor(bound)


class LedgerEntryFilterForm(forms.Form):
    """The ledger filters' cross-field rule: an amount bound only means something in one currency."""

    def clean(self):
        cleaned = super().clean() or {}
        if not cleaned.get("currency"):
            for name in ("amount_min", "amount_max"):
                if cleaned.get(name) is not None:
                    self.add_error(name, AMOUNT_NEEDS_CURRENCY)
        return cleaned


class AmountWithinCurrencyOrdering(StableOrderingFilter):
    """Sorting by amount compares like with like: without a currency filter, entries are grouped by
    currency first (₹100 is never "more" than $50), then sorted by amount within each."""

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        fields = [self.get_ordering_value(param) for param in value]
        if any(f.lstrip("-") == "amount" for f in fields) and not self.parent.form.cleaned_data.get("currency"):
            fields = ["currency", *(f for f in fields if f.lstrip("-") != "currency")]
        last = fields[-1] if fields else ""
        return qs.order_by(*fields, "-pk" if last.startswith("-") else "pk")


def _made_by_q(value: str, business_id: str | None) -> Q:
    """Entries made by the actor people see in the "Made by" column (``selectors.actors``): a user's
    username, an API key's name (or its ``wsk_…`` prefix label), a command's or the system's name;
    all case-insensitive. The raw actor id (e.g. a deleted user's) still matches exactly."""
    users = (get_user_model().objects.filter(username__iexact=value)
             .annotate(pk_text=Cast("pk", output_field=CharField())).values("pk_text"))
    keys = ApiKey.objects.filter(Q(name__iexact=value) | Q(prefix=value.rstrip("…")))
    if business_id is not None:
        keys = keys.filter(business_id=business_id)
    matches = (
        Q(actor_type=LedgerEntry.ActorType.USER, actor_id__in=Subquery(users))
        | Q(actor_type=LedgerEntry.ActorType.API_KEY, actor_id__in=Subquery(keys.values("id")))
        | Q(actor_type__in=[LedgerEntry.ActorType.COMMAND, LedgerEntry.ActorType.SYSTEM], actor_id__iexact=value)
        | Q(actor_id=value)
    )
    if value.lower() == LedgerEntry.ActorType.SYSTEM:  # "system": every automatic entry (e.g. expiries)
        matches |= Q(actor_type=LedgerEntry.ActorType.SYSTEM)
    return matches


class LedgerEntryFilterSet(LedgerCurrencyFilterSet):
    """The audit trail across customers (dashboard ledger page and its CSV export), and a
    customer's ledger on the customer page. ``currency`` is the API's filter. Every filter matches
    what the page shows: "Made by" the name in the column, the customer by name, email or id, and
    amounts only within one currency."""

    created_from = BoundedDateFilter(method="filter_created_from", label="From",
                                     widget=forms.DateInput(attrs={"type": "date"}))
    created_to = BoundedDateFilter(method="filter_created_to", label="To",
                                   widget=forms.DateInput(attrs={"type": "date"}))
    customer = django_filters.CharFilter(method="filter_customer", label="Customer",
                                         help_text="Name, email or customer id",
                                         widget=forms.TextInput(attrs={"placeholder": "Name, email or cus_…"}))
    direction = django_filters.ChoiceFilter(choices=DIRECTION_CHOICES, method="filter_direction",
                                            label="Direction", empty_label="Any direction")
    event_type = django_filters.ChoiceFilter(choices=LedgerEntry.EventType.choices, label="Event",
                                             empty_label="Any event")
    actor_type = django_filters.ChoiceFilter(choices=LedgerEntry.ActorType.choices, label="Source",
                                             empty_label="Anyone")
    made_by = django_filters.CharFilter(method="filter_made_by", label="Made by",
                                        help_text="The name shown: a user, an API key, a command or system",
                                        widget=forms.TextInput(attrs={"list": "made-by-names", "autocomplete": "off"}))
    # The raw id (kept for links made before "Made by" took names); not shown as a field.
    actor_id = django_filters.CharFilter(field_name="actor_id", label="Actor id",
                                         help_text="User id, API key id or command name")
    amount_min = django_filters.NumberFilter(method="filter_amount_min", label="Min amount",
                                             min_value=0, help_text="In the chosen currency, e.g. 50.00")
    amount_max = django_filters.NumberFilter(method="filter_amount_max", label="Max amount",
                                             min_value=0, help_text="In the chosen currency, e.g. 50.00")
    reason = django_filters.CharFilter(field_name="reason", lookup_expr="icontains", label="Reason contains")
    sort = AmountWithinCurrencyOrdering(fields=(("created_at", "created"), ("amount", "amount"),
                                                ("currency", "currency")))

    class Meta(LedgerCurrencyFilterSet.Meta):
        form = LedgerEntryFilterForm
        fields = [
            "currency", "created_from", "created_to", "customer", "direction", "event_type", "actor_type",
            "made_by", "actor_id", "amount_min", "amount_max", "reason",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["currency"].extra["empty_label"] = "Any currency"
        self.filters["currency"].label = "Currency"

    @property
    def amount_sorted_within_currency(self) -> bool:
        """True when the rows are sorted by amount within each currency (no currency chosen)."""
        if not self.is_valid():
            return False
        sort = self.form.cleaned_data.get("sort") or []
        return any(s.lstrip("-") == "amount" for s in sort) and not self.form.cleaned_data.get("currency")

    def _business_id(self) -> str | None:
        access = getattr(self.request, "access", None)
        return getattr(access, "business_id", None)

    def filter_created_from(self, queryset, name, value):
        start = timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))
        return queryset.filter(created_at__gte=start)

    def filter_created_to(self, queryset, name, value):
        # The whole day, in the user's time zone.
        end = timezone.make_aware(datetime.datetime.combine(value + datetime.timedelta(days=1), datetime.time.min))
        return queryset.filter(created_at__lt=end)

    def filter_customer(self, queryset, name, value):
        """An exact email (the lower(email) index), else an exact customer id or part of the name."""
        value = value.strip()
        if not value:
            return queryset
        if "@" in value:
            return queryset.alias(customer_email_lower=Lower("customer__email")).filter(
                customer_email_lower=value.lower()
            )
        customers = Customer.objects.filter(Q(pk=value) | Q(name__icontains=value))
        business_id = self._business_id()
        if business_id is not None:
            customers = customers.filter(business_id=business_id)
        # The matching customers first (a scan of the customers, not of the ledger), then their
        # entries through the per-customer index; a name as broad as a whole business falls back to
        # the subquery.
        found = list(customers.values_list("pk", flat=True)[: CUSTOMER_MATCH_LIMIT + 1])
        if len(found) <= CUSTOMER_MATCH_LIMIT:
            return queryset.filter(customer_id__in=found)
        return queryset.filter(customer_id__in=Subquery(customers.values("pk")))

    def filter_made_by(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(_made_by_q(value, self._business_id()))

    def filter_direction(self, queryset, name, value):
        return queryset.filter(is_credit=(value == "credit"))

    def filter_amount_min(self, queryset, name, value):
        currency = self.form.cleaned_data["currency"]
        return queryset.filter(amount__gte=_amount_bound(Decimal(value), currency, "gte"))

    def filter_amount_max(self, queryset, name, value):
        currency = self.form.cleaned_data["currency"]
        return queryset.filter(amount__lte=_amount_bound(Decimal(value), currency, "lte"))


class WalletFilterSet(django_filters.FilterSet):
    """The low-balance list: one currency or all, sorted by balance or last activity."""

    currency = django_filters.ChoiceFilter(choices=CURRENCY_CHOICES, label="Currency", empty_label="Any currency")
    sort = StableOrderingFilter(fields=(("balance", "balance"), ("updated_at", "activity"),
                                        ("currency", "currency"), ("customer__name", "customer")))

    class Meta:
        model = Wallet
        fields = ["currency"]


class AdjustmentRequestFilterSet(django_filters.FilterSet):
    """The approvals page: pending first, or any status."""

    status = django_filters.ChoiceFilter(choices=AdjustmentRequest.Status.choices, label="Status",
                                         empty_label="Any status")
    # One customer's requests (the customer page links here); the queryset is the business's already.
    customer = django_filters.CharFilter(field_name="customer_id", label="Customer id",
                                         widget=forms.HiddenInput)

    class Meta:
        model = AdjustmentRequest
        fields = ["status", "customer"]


class CustomerHoldFilterSet(django_filters.FilterSet):
    """A customer's holds in the API: by status and currency (both exact)."""

    status = django_filters.ChoiceFilter(choices=Hold.Status.choices, help_text="Only holds in this status")
    currency = django_filters.ChoiceFilter(choices=CURRENCY_CHOICES, help_text="Only this currency's holds")

    class Meta:
        model = Hold
        fields = ["status", "currency"]
