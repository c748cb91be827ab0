"""Secrets and signatures, by the Standard Webhooks specification (the ``standardwebhooks`` library,
which Dodo's SDK verifies with).

A secret is ``whsec_`` + base64 of 24 random bytes (``standardwebhooks`` strips the prefix). A
delivery is signed with every secret that is valid at that moment (after a rotation, the new one and,
for 24 hours, the previous one): ``webhook-signature`` then carries one ``v1,…`` per secret,
space-separated, and a receiver that knows either one verifies it.
"""

from __future__ import annotations

import base64
import datetime
import secrets

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"
#: How long the previous secret still signs after a rotation.
ROTATION_OVERLAP = datetime.timedelta(hours=24)


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def signature(secrets_: list[str], *, msg_id: str, timestamp: datetime.datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets_)


def headers(secrets_: list[str], *, msg_id: str, timestamp: datetime.datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(secrets_, msg_id=msg_id, timestamp=timestamp, body=body),
    }
