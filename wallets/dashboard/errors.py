"""Moved to ``wallets.http.errors`` (403/404/500 for the web UI and the API in one place); kept so
old dotted paths and imports work."""

from wallets.http.errors import permission_denied, server_error

__all__ = ["permission_denied", "server_error"]
