"""Request and response shapes, mirroring Dodo's schema (field names, types, nullability).

Inputs are strict: a JSON string is not an integer, a number is not a string, a boolean is
neither. ``null`` for a nullable field means "not given".
"""

import datetime
import functools
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from wallets.exceptions import MaximumKeysReached
from wallets.filters import QueryIsoDateTimeField
from wallets.locales import DODO_LOCALES
from wallets.models import Customer, LedgerEntry, Wallet
from wallets.money import DODO_CURRENCIES, INT64_MAX

METADATA_MAX_KEYS = 50


@functools.cache
def prebuilt[S: serializers.Serializer](serializer_class: type[S]) -> S:
    """One instance of ``serializer_class`` per process, its fields bound once, for the hot paths:
    ``prebuilt(X).run_validation(data)`` answers what ``X(data=data).is_valid(raise_exception=True)``
    does (the same ``ValidationError``, the same validated data) and ``prebuilt(X).to_representation(obj)``
    what ``X(obj).data`` does, without DRF deep-copying every declared field for each request (about
    half a millisecond a posting). Only for serializers that keep no state between calls and need no
    context; tests/api/test_prebuilt_serializers.py checks both against DRF's own path."""
    instance = serializer_class()
    instance.fields  # noqa: B018 - binds the fields now, once, before any thread shares the instance
    return instance


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def _check_raw_length(field: serializers.CharField, data: str) -> None:
    """``maxLength`` is on the string as sent (the OpenAPI documents say so), not on what is left
    after surrounding whitespace is trimmed: 201 characters with a leading space were accepted."""
    if field.max_length is not None and len(data) > field.max_length:
        field.fail("max_length", max_length=field.max_length)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        _check_raw_length(self, data)
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        _check_raw_length(self, data)
        return super().to_internal_value(data)


class CurrencyField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=DODO_CURRENCIES, **kwargs)


@extend_schema_field({
    "type": "object",
    "description": "Up to 50 keys; values are strings, numbers or booleans.",
    "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
})
class MetadataField(serializers.DictField):
    """Up to 50 keys; values are strings, numbers or booleans (no null, lists or objects)."""

    default_error_messages = {
        "value": "Metadata values must be strings, numbers or booleans (key {name!r}).",
        "null_characters": "Metadata keys and values may not contain null characters (key {name!r}).",
    }

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > METADATA_MAX_KEYS:
            raise MaximumKeysReached(f"Metadata may have at most {METADATA_MAX_KEYS} keys; got {len(value)}.")
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool):
                self.fail("value", name=key)
            # PostgreSQL's jsonb cannot store U+0000; refuse it here rather than fail in the database.
            if "\x00" in key or (isinstance(item, str) and "\x00" in item):
                self.fail("null_characters", name=key)
        return value


# --- Customers ----------------------------------------------------------------------------


class LocaleField(serializers.ChoiceField):
    """One of Dodo's ``Locale`` codes (lower case, as the SDKs send them)."""

    def __init__(self, **kwargs):
        super().__init__(choices=DODO_LOCALES, **kwargs)


class CustomerCreateRequest(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    name = StrictCharField(max_length=200)
    phone_number = StrictCharField(max_length=50, required=False, allow_null=True, allow_blank=True)
    metadata = MetadataField(required=False, allow_null=True)
    preferred_locale = LocaleField(required=False, allow_null=True,
                                   help_text="The language of the customer's emails; null is English")


class CustomerPatchRequest(serializers.Serializer):
    """An omitted field is unchanged. ``null`` clears ``phone_number``, ``metadata`` and
    ``preferred_locale``; ``null`` for ``name`` or ``email`` (which a customer always has, though
    Dodo's schema marks them nullable) leaves them unchanged."""

    email = StrictEmailField(max_length=254, required=False, allow_null=True)
    name = StrictCharField(max_length=200, required=False, allow_null=True)
    phone_number = StrictCharField(max_length=50, required=False, allow_null=True, allow_blank=True)
    metadata = MetadataField(required=False, allow_null=True)
    preferred_locale = LocaleField(required=False, allow_null=True,
                                   help_text="The language of the customer's emails; null removes it")

    def validate(self, attrs):
        return {field: value for field, value in attrs.items()
                if not (value is None and field in ("name", "email"))}


class CustomerResponse(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="id")
    business_id = serializers.CharField()
    metadata = MetadataField(required=False)
    preferred_locale = LocaleField(allow_null=True)
    # Dodo's newest Customer has them; this server does not block customers, so always null.
    blocked_at = serializers.SerializerMethodField()
    blocklist_entry_id = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["blocked_at", "blocklist_entry_id", "business_id", "created_at", "customer_id", "email",
                  "metadata", "name", "phone_number", "preferred_locale"]

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_blocked_at(self, customer) -> None:
        return None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_blocklist_entry_id(self, customer) -> None:
        return None


@extend_schema_serializer(many=False)  # the list action returns this object, not an array of it
class CustomerListResponse(serializers.Serializer):
    items = CustomerResponse(many=True)


# --- Wallets and ledger entries -------------------------------------------------------------


class ExpiringCreditResponse(serializers.Serializer):
    amount = serializers.IntegerField(help_text="What is left of the grant, in minor units")
    expires_at = serializers.DateTimeField()


class WalletResponse(serializers.ModelSerializer):
    """Dodo's wallet, plus the extensions: ``available_balance``, ``held_balance`` and ``expiring``.
    Renders a ``wallets.selectors.entries.WalletView``."""

    customer_id = serializers.CharField()
    available_balance = serializers.IntegerField(
        help_text="Extension: balance less active holds (what a debit, payment or hold may use)")
    held_balance = serializers.IntegerField(help_text="Extension: the sum of the wallet's active holds")
    expiring = ExpiringCreditResponse(
        many=True, help_text="Extension: the next five active expiring credits' remaining amounts, soonest first")

    class Meta:
        model = Wallet
        fields = ["balance", "created_at", "currency", "customer_id", "updated_at",
                  "available_balance", "held_balance", "expiring"]
        extra_kwargs = {"balance": {"required": True}}  # always present, as Dodo's schema says


@extend_schema_serializer(many=False)  # an object, not an array of it
class WalletListResponse(serializers.Serializer):
    items = WalletResponse(many=True)
    total_balance_usd = serializers.IntegerField(
        min_value=0, max_value=INT64_MAX,
        help_text="Every wallet that has an exchange rate, converted to USD minor units (at most int64's maximum)",
    )
    total_balance_usd_capped = serializers.BooleanField(
        help_text="Extension: true when the exact total exceeds int64 and total_balance_usd is capped at 2^63-1",
    )
    unconverted_currencies = serializers.ListField(
        child=CurrencyField(),
        help_text="Extension: currencies with a balance but no exchange rate, left out of total_balance_usd",
    )
    as_of = serializers.DateTimeField(
        required=False,
        help_text="Extension: present when the request gave ?as_of=; every balance is the wallet's at that instant "
                  "(its last entry at or before it; 0 before its first, or for a wallet created since) and "
                  "total_balance_usd uses the rates in force on its UTC date",
    )


class StrictBooleanField(serializers.BooleanField):
    """A JSON ``true`` or ``false``; not ``"true"``, ``1`` or ``"on"``."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class OffsetDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset (``Z`` or ``+05:30``): a time without one is ambiguous."""

    default_error_messages = {
        "offset": "Give an ISO 8601 date and time with a UTC offset, e.g. 2030-01-01T00:00:00Z.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("offset")
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail("offset")
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError:
            self.fail("offset")


#: How far ahead an expiring credit may expire (API-NOTES, "Expiring credit").
MAX_EXPIRY = datetime.timedelta(days=3653)
ET = LedgerEntry.EventType
#: The kinds a merchant may give an entry, and the direction each fits (None: either).
POSTABLE_EVENT_TYPES: dict[str, bool | None] = {
    ET.MERCHANT_ADJUSTMENT: None, ET.REFUND: True, ET.PAYMENT: False, ET.DISPUTE: False,
}
POSTABLE_EVENT_TYPE_CHOICES = [str(kind) for kind in POSTABLE_EVENT_TYPES]


class LedgerEntryCreateRequest(serializers.Serializer):
    amount = StrictIntegerField(min_value=1, max_value=INT64_MAX)
    currency = CurrencyField()
    entry_type = serializers.ChoiceField(choices=["credit", "debit"])
    idempotency_key = StrictCharField(max_length=255, required=False, allow_null=True, trim_whitespace=False)
    reason = StrictCharField(max_length=500, required=False, allow_null=True, allow_blank=True,
                             trim_whitespace=False)
    # Extensions (API-NOTES, "Ledger entries: kinds, links and optional fields"); null is "not given".
    event_type = serializers.ChoiceField(
        choices=POSTABLE_EVENT_TYPE_CHOICES, required=False, allow_null=True,
        help_text="Extension: merchant_adjustment (default); refund for a credit; payment or dispute for a debit")
    reference_object_id = StrictCharField(max_length=255, required=False, allow_null=True, trim_whitespace=False,
                                          help_text="Extension: the merchant's payment, invoice or refund id")
    metadata = MetadataField(required=False, allow_null=True, help_text="Extension: as a customer's metadata")
    expires_at = OffsetDateTimeField(
        required=False, allow_null=True,
        help_text="Extension, credits only: the credit expires then (in the future, at most 10 years ahead)")
    dry_run = StrictBooleanField(
        required=False, allow_null=True,
        help_text="Extension: true validates and answers what would happen, writes nothing (header Dry-Run: true)")

    def validate(self, attrs):
        is_credit = attrs["entry_type"] == "credit"
        event_type = attrs.get("event_type") or ET.MERCHANT_ADJUSTMENT
        fits = POSTABLE_EVENT_TYPES[event_type]
        if fits is not None and fits != is_credit:
            fitting = "credit" if fits else "debit"
            raise serializers.ValidationError(
                {"event_type": [f"{event_type} is for a {fitting}, not a {attrs['entry_type']}."]})
        attrs["event_type"] = event_type
        expires_at = attrs.get("expires_at")
        if expires_at is not None:
            now = timezone.now()
            if not is_credit:
                raise serializers.ValidationError({"expires_at": ["Only a credit may expire."]})
            if expires_at <= now:
                raise serializers.ValidationError({"expires_at": ["Must be in the future."]})
            if expires_at > now + MAX_EXPIRY:
                raise serializers.ValidationError({"expires_at": ["Must be at most 10 years ahead."]})
        attrs["dry_run"] = bool(attrs.get("dry_run"))
        return attrs

    def to_internal_value(self, data):
        # A reversal's kind is the reversal route's to set: say so, rather than "not a valid choice".
        event_type = data.get("event_type") if isinstance(data, dict) else None
        if isinstance(event_type, str) and event_type in REVERSAL_EVENT_TYPES:
            raise serializers.ValidationError(
                {"event_type": ["Reversal kinds are set by POST …/ledger-entries/{entry_id}/reversals."]})
        return super().to_internal_value(data)


REVERSAL_EVENT_TYPES = {ET.PAYMENT_REVERSAL, ET.REFUND_REVERSAL, ET.DISPUTE_REVERSAL}


class ReversalCreateRequest(serializers.Serializer):
    amount = StrictIntegerField(min_value=1, max_value=INT64_MAX, required=False, allow_null=True,
                                help_text="What to reverse; default: what is left of the entry")
    reason = StrictCharField(max_length=500, required=False, allow_null=True, allow_blank=True,
                             trim_whitespace=False)
    idempotency_key = StrictCharField(max_length=255, required=False, allow_null=True, trim_whitespace=False,
                                      help_text="Scoped per customer among reversals")


class AdjustmentPendingResponse(serializers.Serializer):
    """A dashboard user's adjustment above the approval threshold: held, nothing posted."""

    status = serializers.ChoiceField(choices=["pending_approval"])
    adjustment_request_id = serializers.CharField()


class ActorResponse(serializers.Serializer):
    type = serializers.ChoiceField(choices=LedgerEntry.ActorType.values)
    id = serializers.CharField(help_text="API key id, user id, or the command's or system job's name")
    name = serializers.CharField(help_text="The key's name, the user's username, or the id")


class LedgerEntryResponse(serializers.ModelSerializer):
    """Dodo's entry, plus the extensions. Entries come from ``wallets.selectors.entries`` (annotated
    with ``reversed_total`` and ``grant_expired``); the context's ``actor_labels`` names the actors."""

    business_id = serializers.CharField()
    customer_id = serializers.CharField()
    event_type = serializers.ChoiceField(choices=LedgerEntry.EventType.choices)
    sequence = serializers.IntegerField(help_text="Extension: the entry's number in its wallet (1, 2, …)")
    idempotency_key = serializers.CharField(allow_null=True, help_text="Extension")
    metadata = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    reversal_of = serializers.CharField(source="reversal_of_id", allow_null=True,
                                        help_text="Extension: the entry this one reverses")
    reversed_amount = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="Extension: when this credit expires")
    expired_amount = serializers.SerializerMethodField()
    hold_id = serializers.CharField(allow_null=True, help_text="Extension: the hold this entry captured")

    class Meta:
        model = LedgerEntry
        fields = [
            "id", "business_id", "customer_id", "currency", "amount", "is_credit", "event_type", "reason",
            "reference_object_id", "before_balance", "after_balance", "created_at",
            "sequence", "idempotency_key", "metadata", "actor", "reversal_of", "reversed_amount", "expires_at",
            "expired_amount", "hold_id",
        ]

    @extend_schema_field(MetadataField(help_text="Extension: the entry's metadata ({} when none)"))
    def get_metadata(self, entry) -> dict:
        return entry.metadata or {}

    @extend_schema_field(ActorResponse(help_text="Extension: who made the entry"))
    def get_actor(self, entry) -> dict:
        labels = self.context.get("actor_labels")
        name = labels.label(entry.actor_type, entry.actor_id) if labels is not None else entry.actor_id
        return {"type": entry.actor_type, "id": entry.actor_id, "name": name}

    @extend_schema_field({"type": "integer", "description": "Extension: the sum of this entry's reversals"})
    def get_reversed_amount(self, entry) -> int:
        return int(getattr(entry, "reversed_total", 0) or 0)

    @extend_schema_field({"type": "integer", "nullable": True,
                          "description": "Extension: what of this expiring credit expired (null if it never expires)"})
    def get_expired_amount(self, entry) -> int | None:
        if entry.expires_at is None:
            return None
        return int(getattr(entry, "grant_expired", 0) or 0)


class ReversalResponse(LedgerEntryResponse):
    """The reversal entry, and the wallet right after it."""

    wallet = serializers.SerializerMethodField()

    class Meta(LedgerEntryResponse.Meta):
        fields = [*LedgerEntryResponse.Meta.fields, "wallet"]

    @extend_schema_field(WalletResponse)
    def get_wallet(self, entry) -> dict:
        return WalletResponse(self.context["wallet"]).data


@extend_schema_serializer(many=False)  # the list action returns this object, not an array of it
class LedgerEntryListResponse(serializers.Serializer):
    items = LedgerEntryResponse(many=True)


# --- Errors ------------------------------------------------------------------------------------


class ErrorResponse(serializers.Serializer):
    """Every error: ``code`` (e.g. ``INSUFFICIENT_WALLET_FUNDS``), a message, and per-field messages
    on some 422s."""

    code = serializers.CharField()
    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


# --- Paging ------------------------------------------------------------------------------------


class QueryValueMixin:
    """A query-string parameter given once: repeated is a 422 ("Give this parameter once."), an
    empty value is "not given", as for every query parameter (what an HTML form sends for a blank
    field). ``to_internal_value`` of the field receives a list when it was repeated."""

    field_name: str

    def get_value(self, dictionary):
        if self.field_name not in dictionary:
            return serializers.empty
        getlist = getattr(dictionary, "getlist", None)
        values = getlist(self.field_name) if getlist else [dictionary[self.field_name]]
        if len(values) != 1:
            return values
        return serializers.empty if values[0] == "" else values[0]


class QueryIntegerField(QueryValueMixin, serializers.IntegerField):
    """A whole number in the query string: ASCII digits, given once. A sign, a decimal point
    ("0.0"), an exponent or a repeated parameter is a 422, not a guess."""

    default_error_messages = {
        "invalid": "A whole number is required (digits only).",
        "repeated": "Give this parameter once.",
    }

    def to_internal_value(self, data):
        if isinstance(data, list):
            self.fail("repeated")
        if not isinstance(data, str) or not _DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


_DIGITS = re.compile(r"[0-9]+")


class PageParams(serializers.Serializer):
    """0-based page numbers; ``page_size`` 0..100 (0 is an empty page)."""

    page_number = QueryIntegerField(min_value=0, max_value=2**31 - 1, default=0)
    page_size = QueryIntegerField(min_value=0, max_value=100, default=10)


# --- Balances in time ----------------------------------------------------------------------------


class QueryDateTimeField(QueryValueMixin, serializers.Field):
    """An instant in the query string, read exactly as the API's date filters read theirs
    (``created_at_gte``: ISO 8601 with ``Z`` or an offset, a ``+`` sent unescaped taken back, years
    1..9999 in UTC), as an aware UTC datetime; given once."""

    default_error_messages = {"repeated": "Give this parameter once."}

    def to_internal_value(self, data):
        if isinstance(data, list):
            self.fail("repeated")
        try:
            return QueryIsoDateTimeField().clean(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)


class QueryCurrencyField(QueryValueMixin, CurrencyField):
    default_error_messages = {"repeated": "Give this parameter once."}

    def to_internal_value(self, data):
        if isinstance(data, list):
            self.fail("repeated")
        return super().to_internal_value(data)


class AsOfParams(serializers.Serializer):
    as_of = QueryDateTimeField(required=False)


class StatementParams(serializers.Serializer):
    """``currency`` (required), ``from`` and ``to`` (optional instants; ``to`` defaults to now).
    ``from`` after ``to`` is a 422; ``from`` equal to ``to`` is an empty interval."""

    currency = QueryCurrencyField()
    to = QueryDateTimeField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        return {"currency": fields["currency"], "from": QueryDateTimeField(required=False), "to": fields["to"]}

    def validate(self, attrs):
        end = attrs.get("to") or timezone.now()
        start = attrs.get("from")
        if start is not None and start > end:
            which = "to" if "to" in attrs else "now (to's default)"
            raise serializers.ValidationError({"from": [f"from must not be after {which}."]})
        return {"currency": attrs["currency"], "start": start, "end": end}


class StatementResponse(serializers.Serializer):
    """Extension: one currency's statement over the half-open interval [from, to)."""

    currency = CurrencyField()
    start = serializers.DateTimeField(source="start", allow_null=True,
                                      help_text="Inclusive; null: from the first entry")
    end = serializers.DateTimeField(source="end", help_text="Exclusive; now when the request gave none")
    opening_balance = serializers.IntegerField(help_text="The balance just before `from` (0 without `from`)")
    closing_balance = serializers.IntegerField(help_text="The balance just before `to`")
    total_credits = serializers.IntegerField(help_text="Sum of the credits in [from, to), every page")
    total_debits = serializers.IntegerField(help_text="Sum of the debits in [from, to), every page")
    entry_count = serializers.IntegerField(help_text="Entries in [from, to), every page")
    items = LedgerEntryResponse(many=True, help_text="This page of the interval's entries, oldest first")

    def get_fields(self):
        # ``from`` is a Python keyword: declared as start/end, named from/to on the wire.
        fields = super().get_fields()
        renamed = {"start": "from", "end": "to"}
        return {renamed.get(name, name): field for name, field in fields.items()}
