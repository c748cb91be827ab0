"""Request and response shapes of the extensions "Paying from the wallet" and "Holds".

Amounts, currencies and free text reuse the fields of ``wallets.api.serializers`` (strict types,
int64 bounds, Dodo's currency enum, lengths on the string as sent). Entries in these responses are
``LedgerEntryResponse``, exactly as the ledger list shows them.
"""

import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from wallets.api import serializers as s
from wallets.models import Hold
from wallets.money import INT64_MAX

#: A hold's expiry: 7 days when not given, at most 30 days ahead.
HOLD_DEFAULT_TTL = datetime.timedelta(days=7)
HOLD_MAX_TTL = datetime.timedelta(days=30)


def _amount(**kwargs) -> s.StrictIntegerField:
    return s.StrictIntegerField(min_value=1, max_value=INT64_MAX, **kwargs)


def _text(max_length: int, **kwargs) -> s.StrictCharField:
    return s.StrictCharField(max_length=max_length, trim_whitespace=False, **kwargs)


def _optional_text(max_length: int) -> s.StrictCharField:
    return _text(max_length, required=False, allow_null=True, allow_blank=True)


# --- The wallet after an operation -----------------------------------------------------------


# --- Paying from the wallet -------------------------------------------------------------------


class PaymentCreateRequest(serializers.Serializer):
    currency = s.CurrencyField()
    amount = _amount(help_text="What is to be paid; the wallet pays what it can of it")
    reference_object_id = _text(255, help_text="The merchant's invoice or payment id: paid once per customer "
                                               "and currency")
    reason = _optional_text(500)


# OpenAPI 3.0 ignores ``nullable`` beside a ``$ref`` (validators check null against the entry
# itself), so "an entry or null" is spelled as a oneOf with the null-only schema of OAS 3.0.
@extend_schema_field({
    "oneOf": [{"$ref": "#/components/schemas/LedgerEntryResponse"},
              {"type": "object", "nullable": True, "enum": [None]}],
    "description": "The payment's ledger entry; null when 0 was applied",
})
class EntryOrNullField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value):
        return s.LedgerEntryResponse(value).data

    def get_attribute(self, instance):
        return instance["entry"]


class PaymentResponse(serializers.Serializer):
    reference_object_id = serializers.CharField()
    currency = s.CurrencyField()
    requested = serializers.IntegerField()
    applied = serializers.IntegerField(help_text="What the wallet paid: min(requested, available_balance)")
    remaining = serializers.IntegerField(help_text="What is still to charge elsewhere: requested - applied")
    entry = EntryOrNullField()
    wallet = s.WalletResponse(help_text="The wallet after the payment")


def payment_body(result, wallet) -> dict:
    """A ``ledger.pay`` result as the response body (the same for the first answer and a replay);
    ``wallet``: its wallet as the API renders wallets (``selectors.entries.wallet_view_of``)."""
    payment = result.payment
    return PaymentResponse({
        "reference_object_id": payment.reference_object_id,
        "currency": payment.currency,
        "requested": payment.requested,
        "applied": payment.applied,
        "remaining": payment.requested - payment.applied,
        "entry": result.entry,
        "wallet": wallet,
    }).data


# --- Holds ------------------------------------------------------------------------------------


class HoldCreateRequest(serializers.Serializer):
    currency = s.CurrencyField()
    amount = _amount()
    expires_at = serializers.DateTimeField(required=False, allow_null=True,
                                           help_text="In the future, at most 30 days ahead; default 7 days")
    reference_object_id = _optional_text(255)
    reason = _optional_text(500)
    idempotency_key = _text(255, required=False, allow_null=True)

    def validate_expires_at(self, value: datetime.datetime | None) -> datetime.datetime | None:
        if value is None:
            return None
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("Must be in the future.")
        if value > now + HOLD_MAX_TTL:
            raise serializers.ValidationError("Must be at most 30 days ahead.")
        return value

    def validate(self, attrs: dict) -> dict:
        if attrs.get("expires_at") is None:
            attrs["expires_at"] = timezone.now() + HOLD_DEFAULT_TTL
        return attrs


class HoldCaptureRequest(serializers.Serializer):
    amount = _amount(required=False, allow_null=True, help_text="At most the held amount; default all of it")


class HoldResponse(serializers.ModelSerializer):
    customer_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Hold.Status.choices)

    class Meta:
        model = Hold
        fields = ["id", "customer_id", "currency", "amount", "captured_amount", "status", "expires_at",
                  "reference_object_id", "reason", "created_at", "updated_at"]


@extend_schema_serializer(many=False)  # the list action returns this object, not an array of it
class HoldListResponse(serializers.Serializer):
    items = HoldResponse(many=True)


class HoldWithWalletResponse(HoldResponse):
    """A voided hold, with the wallet after the release."""

    wallet = serializers.SerializerMethodField()

    class Meta(HoldResponse.Meta):
        fields = [*HoldResponse.Meta.fields, "wallet"]

    @extend_schema_field(s.WalletResponse)
    def get_wallet(self, hold) -> dict:
        return s.WalletResponse(self.context["wallet"]).data


class HoldCaptureResponse(HoldWithWalletResponse):
    """A captured hold, with the capture's ledger entry and the wallet after it."""

    entry = serializers.SerializerMethodField()

    class Meta(HoldWithWalletResponse.Meta):
        fields = [*HoldWithWalletResponse.Meta.fields, "entry"]

    @extend_schema_field(s.LedgerEntryResponse)
    def get_entry(self, hold) -> dict:
        return s.LedgerEntryResponse(self.context["entry"]).data
