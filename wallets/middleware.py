"""Moved to ``wallets.http`` (middleware and paths); kept so old dotted paths and imports work."""

from wallets.http.middleware import RequestIdMiddleware
from wallets.http.paths import HTML_PREFIXES, is_api_path

__all__ = ["HTML_PREFIXES", "RequestIdMiddleware", "is_api_path"]
