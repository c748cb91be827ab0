"""The client's IP address, as recorded in the security log."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind our own proxy (``DJANGO_BEHIND_PROXY``) the last
    address the proxy appended to X-Forwarded-For (earlier ones are the client's to forge)."""
    if request is None:
        return None
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops and _valid_ip(hops[-1]):
            return _valid_ip(hops[-1])
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
