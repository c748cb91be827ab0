"""The security audit log: appending ``SecurityEvent`` rows. Nothing updates or deletes them.

``security_event_record`` runs in the caller's transaction when there is one, so an event and the
change it records (a key created, a key revoked, an adjustment approved) commit or roll back
together. Logins and failed logins are recorded by ``wallets.audit`` from Django's auth signals.
"""

from typing import Any

from wallets.http.client_ip import client_ip
from wallets.models import LedgerEntry, SecurityEvent
from wallets.services.actors import Actor

SYSTEM = Actor(LedgerEntry.ActorType.SYSTEM, "")


def security_event_record(
    *,
    kind: str,
    business_id: str | None = None,
    actor: Actor | None = None,
    actor_name: str = "",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> SecurityEvent:
    actor = actor or SYSTEM
    return SecurityEvent.objects.create(
        kind=kind, business_id=business_id, actor_type=actor.type, actor_id=actor.id, actor_name=actor_name[:255],
        ip=ip, details=details or {},
    )


def request_actor(request) -> dict[str, Any]:
    """``actor``, ``actor_name`` and ``ip`` of a logged-in user's request, for the services that
    record security events (``api_key_create(..., **request_actor(request))``)."""
    return {"actor": Actor.user(request.user.pk), "actor_name": request.user.get_username(), "ip": client_ip(request)}
