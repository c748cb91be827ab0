"""The one JSON parser every API request body goes through.

What a typed SDK cannot send back, or the database cannot store, is refused here, before any
serializer or service sees it, so no input reaches a ``500`` and a refused request writes nothing:

- a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB): ``413 PAYLOAD_TOO_LARGE``, read no
  further than the limit (a declared ``Content-Length`` above it is refused unread);
- nesting deeper than ``MAX_DEPTH`` (a 100,000-deep array overflowed the recursion limit);
- ``NaN``/``Infinity`` and numbers that overflow a double (``1e400`` became ``inf``);
- integers outside int64 (``74727252263436497715200`` was stored and echoed; SDKs cannot decode it);
- lone UTF-16 surrogates (``"\\ud800"``), which PostgreSQL refuses and SQLite stored, breaking every
  later read of the row.

Malformed JSON and the last four are ``422 INVALID_REQUEST_BODY``; the number and surrogate cases
name the field (``metadata.key``) in ``errors``.
"""

import codecs
import json
import math

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser, get_encoding

from wallets.money import INT64_MAX

MAX_DEPTH = 32
INT64_MIN = -(2**63)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


def max_body_bytes() -> int:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit if limit is not None else 2_621_440


def _strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = max_body_bytes()
        request = parser_context.get("request")
        if request is not None and _declared_length(request) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = get_encoding(parser_context)
        try:
            text = codecs.decode(raw, encoding)
            data = json.loads(text, parse_constant=_strict_constant)
        except RecursionError as exc:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        check_json_value(data)
        return data


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _printable(key) -> str:
    return str(key).encode("utf-8", "backslashreplace").decode("utf-8")


def check_json_value(data) -> None:
    """Walk the parsed value (iteratively: no recursion on hostile input) and refuse what the API
    cannot carry. Raises ``ParseError`` (depth) or ``ValidationError`` naming the field."""
    pending = [(data, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                if _has_lone_surrogate(key):
                    raise exceptions.ValidationError(
                        {_printable(f"{path}{key}"): ["Keys may not contain lone UTF-16 surrogates."]})
                pending.append((item, f"{path}{key}.", depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}{index}.", depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            if _has_lone_surrogate(value):
                raise exceptions.ValidationError(
                    {_field(path): ["Text may not contain lone UTF-16 surrogates (like \\ud800)."]})
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise exceptions.ValidationError(
                    {_field(path): [f"Ensure this value is between {INT64_MIN} and {INT64_MAX} (int64)."]})
        elif isinstance(value, float) and not math.isfinite(value):
            raise exceptions.ValidationError({_field(path): ["Numbers must be finite (this one overflows)."]})


def _field(path: str) -> str:
    return _printable(path.rstrip(".")) or "non_field_errors"


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
