"""Dodo's paging: ``page_number`` (0-based, default 0) and ``page_size`` (0..100, default 10) in the
query string, the page as ``{"items": [...]}``. A page past the end is ``{"items": []}`` (the SDKs
stop on an empty page); a malformed, negative or repeated parameter is a 422."""

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from wallets.api import serializers as s


class DodoPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None) -> list:
        params = s.PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        size = params.validated_data["page_size"]
        start = params.validated_data["page_number"] * size
        return list(queryset[start : start + size]) if size else []

    def get_paginated_response(self, data) -> Response:
        return Response({"items": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {"type": "object", "required": ["items"], "properties": {"items": schema}}

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": "page_number", "required": False, "in": "query",
             "description": "0-based page number (default 0)", "schema": {"type": "integer"}},
            {"name": "page_size", "required": False, "in": "query",
             "description": "Items per page, 0..100 (default 10)", "schema": {"type": "integer"}},
        ]
