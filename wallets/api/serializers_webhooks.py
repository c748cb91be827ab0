"""Request and response shapes of Dodo's ``/webhooks`` routes (``WebhookDetails``, the cursor page,
the secret, the headers), as Dodo's SDK (1.123.0, ``types/webhook_*.py``) reads and writes them.

The serializers check shapes only (a string is a string, a map maps strings to strings, no NUL
character that PostgreSQL could not store); every rule about the values (an https URL, known event
types, reserved headers, the rate limit's range) is ``wallets.services.webhooks``'s, which answers
``InvalidInput`` with the field's message.
"""

import base64
import binascii
import datetime
import re

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from wallets.api import serializers as s
from wallets.models import WebhookEndpoint

LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class StringMapField(serializers.Field):
    """A JSON object of strings to strings (``null`` stands for "not given" where that is allowed)."""

    default_error_messages = {
        "invalid": "Give an object whose values are strings.",
        "null_characters": "Names and values may not contain null characters.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            self.fail("invalid")
        if any("\x00" in k or "\x00" in v for k, v in data.items()):
            self.fail("null_characters")
        return data

    def to_representation(self, value):
        return dict(value)


def _text(max_length: int, **kwargs) -> s.StrictCharField:
    return s.StrictCharField(max_length=max_length, trim_whitespace=False, **kwargs)


def _nullable(field_class, **kwargs):
    return field_class(required=False, allow_null=True, **kwargs)


class EventTypesField(serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(child=_text(100), max_length=100, **kwargs)


class WebhookCreateRequest(serializers.Serializer):
    url = _text(2048, help_text="https (http too where private targets are allowed: local development)")
    description = _nullable(_text, max_length=500, allow_blank=True)
    disabled = _nullable(s.StrictBooleanField, help_text="Create the endpoint disabled (default false)")
    filter_types = EventTypesField(required=False, help_text="Only these event types; empty or absent: all")
    headers = _nullable(StringMapField, help_text="Extra HTTP headers sent with every delivery")
    idempotency_key = _nullable(_text, max_length=255,
                                help_text="The same key and body answer the same endpoint; another body is 422 "
                                          "IDEMPOTENCY_KEY_REUSED")
    metadata = _nullable(StringMapField)
    rate_limit = _nullable(s.StrictIntegerField, help_text="Deliveries per second at most, 1..100000")


class WebhookUpdateRequest(serializers.Serializer):
    """Omitted or ``null``: unchanged; but ``rate_limit: null`` removes the limit."""

    url = _nullable(_text, max_length=2048)
    description = _nullable(_text, max_length=500, allow_blank=True)
    disabled = _nullable(s.StrictBooleanField, help_text="true disables the endpoint; false enables it again")
    filter_types = EventTypesField(required=False, allow_null=True)
    metadata = _nullable(StringMapField)
    rate_limit = _nullable(s.StrictIntegerField, help_text="null removes the limit")


class WebhookDetailsResponse(serializers.Serializer):
    """Dodo's ``WebhookDetails``; ``disabled_reason`` is an extension (``""`` while enabled)."""

    id = serializers.CharField(help_text="whk_…")
    url = serializers.CharField()
    description = serializers.CharField(help_text="\"\" when none")
    disabled = serializers.BooleanField(help_text="true: no event is sent")
    disabled_reason = serializers.ChoiceField(choices=WebhookEndpoint.DisabledReason.values,
                                              help_text="Why it is disabled: manual, gone (the receiver answered "
                                                        "410) or failing; empty while enabled")
    filter_types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every event type")
    metadata = StringMapField()
    rate_limit = serializers.IntegerField(allow_null=True, help_text="Deliveries per second at most; null: no limit")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(many=False)  # the list action returns this object, not an array of it
class WebhookListResponse(serializers.Serializer):
    data = WebhookDetailsResponse(many=True)
    iterator = serializers.CharField(allow_null=True, help_text="Give it as ?iterator= for the next page; null "
                                                                "on the last page")
    done = serializers.BooleanField(help_text="true on the last page")


class WebhookSecretResponse(serializers.Serializer):
    secret = serializers.CharField(help_text="whsec_…: the Standard Webhooks signing secret")


class WebhookHeadersResponse(serializers.Serializer):
    headers = StringMapField(help_text="The headers whose values are not sensitive")
    sensitive = serializers.ListField(child=serializers.CharField(),
                                      help_text="Sensitive headers (credentials): set, value not shown")


class WebhookHeadersUpdateRequest(serializers.Serializer):
    headers = StringMapField(help_text="Added or changed; an empty value removes the header")


# --- The cursor -----------------------------------------------------------------------------------

_CURSOR = re.compile(r"(?P<at>[0-9T:.+-]{19,40})\|(?P<id>[A-Za-z0-9_-]{1,64})")


def cursor_of(endpoint: WebhookEndpoint) -> str:
    """Where the next page starts: after this endpoint, in the list's order (newest first). It names
    a position, not an offset, so endpoints created meanwhile neither repeat nor skip one."""
    raw = f"{endpoint.created_at.astimezone(datetime.UTC).isoformat()}|{endpoint.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class CursorField(s.QueryValueMixin, serializers.Field):
    default_error_messages = {"invalid": "Not an iterator this API returned.", "repeated": "Give this parameter once."}

    def to_internal_value(self, data) -> tuple[datetime.datetime, str]:
        if isinstance(data, list):
            self.fail("repeated")
        if not isinstance(data, str) or len(data) > 200:
            self.fail("invalid")
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("ascii")
        except (binascii.Error, ValueError):
            self.fail("invalid")
        match = _CURSOR.fullmatch(raw)
        if match is None:
            self.fail("invalid")
        try:
            at = datetime.datetime.fromisoformat(match["at"])
        except ValueError:
            self.fail("invalid")
        if at.tzinfo is None:
            self.fail("invalid")
        return at, match["id"]


class WebhookListParams(serializers.Serializer):
    iterator = CursorField(required=False)
    limit = s.QueryIntegerField(min_value=1, max_value=LIST_MAX_LIMIT, default=LIST_DEFAULT_LIMIT)
