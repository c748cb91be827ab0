"""Moved to ``wallets.http.health``; kept so old imports work."""

from wallets.http.health import health

__all__ = ["health"]
