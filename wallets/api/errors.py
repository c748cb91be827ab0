"""Moved to ``wallets.http.errors`` (the one home of error bodies); kept so old imports work."""

from wallets.http.errors import error_body, exception_handler, json_not_found, json_server_error

__all__ = ["error_body", "exception_handler", "json_not_found", "json_server_error"]
