"""Where a delivery may go: the SSRF rule, checked at every attempt (not only when the endpoint is
saved: what a name resolves to may change, DNS rebinding).

``resolve_target(url)`` resolves the URL's host (``resolve``, one small function tests replace) and
refuses it, unless ``WEBHOOK_ALLOW_PRIVATE_TARGETS``, when ANY of its addresses is not globally
routable: loopback, private, link-local (169.254.169.254, the cloud metadata address, among them),
CGNAT 100.64/10, unspecified, multicast, reserved, and IPv4-mapped IPv6 forms of those; IPv6 ::1,
fc00::/7, fe80::/10. The request then goes to the address that was checked (``Target.address``),
pinned: a second DNS answer cannot differ. ``request_args`` says how, for httpx: the IP in the URL,
the original ``Host`` header, and for https ``sni_hostname`` (the certificate is verified against
the host name).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be delivered to (its message says why; no request was sent)."""


@dataclasses.dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    scheme: str
    address: str

    def request_args(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """``(url, headers, extensions)`` for httpx: the URL with the pinned address, the ``Host``
        header, and the TLS server name."""
        parts = urlsplit(self.url)
        default_port = 443 if self.scheme == "https" else 80
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = literal if self.port == default_port else f"{literal}:{self.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = self.host if self.port == default_port else f"{_bracket(self.host)}:{self.port}"
        extensions = {"sni_hostname": self.host} if self.scheme == "https" else {}
        return pinned, {"Host": host_header}, extensions


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (replaced in tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    """Globally routable, also through an IPv4-mapped or 6to4/NAT64-free form."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified or address.is_reserved or address.is_loopback:
        return False
    if address.is_link_local or address.is_private:
        return False
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return False
    return address.is_global


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def resolve_target(url: str) -> Target:
    """The checked address to send ``url`` to; raises ``Refused``."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise Refused("invalid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise Refused("invalid URL")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise Refused(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise Refused(f"cannot resolve {host}")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not is_public(address):
                raise Refused(f"refused: {host} resolves to {address}, which is not a public address "
                              f"(private, loopback, link-local or reserved)")
    return Target(url=url, host=host, port=port, scheme=parts.scheme, address=addresses[0])
