"""``webhook_inbox``: a local receiver that verifies and prints the deliveries it gets."""

from __future__ import annotations

import json
import threading
from argparse import ArgumentParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.db import close_old_connections
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from wallets.management.base import WalletsCommand
from wallets.models import WebhookEndpoint


class Command(WalletsCommand):
    help = """\
Run a local webhook receiver (development): it listens on 127.0.0.1:PORT, verifies each delivery's
Standard Webhooks signature, prints one line per delivery (webhook-id, type, customer, what
happened) and answers 204, or 400 when the signature does not verify.

The secret: --secret, or else the secrets of this installation's endpoints whose URL points at
this inbox (http://127.0.0.1:PORT/… or http://localhost:PORT/…), read for every delivery, so a
rotated secret works at once. Deliveries to loopback need WEBHOOK_ALLOW_PRIVATE_TARGETS=true (the
README's run command sets it, starts this inbox and adds an endpoint for it to the demo business).

Examples:
  python manage.py webhook_inbox --port 8765
  python manage.py webhook_inbox --port 8765 --secret whsec_...
"""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="Port on 127.0.0.1 (default: %(default)s).")
        parser.add_argument("--secret", help="Verify with this secret (default: the matching endpoints').")

    def handle(self, *args: Any, port: int, secret: str | None, **options: Any) -> None:
        command = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = command.verify(body, headers, port=port, secret=secret)
                with lock:
                    command.stdout.write(command.describe(body, headers, verified))
                self.send_response(204 if verified else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.stdout.write(f"Webhook inbox on http://127.0.0.1:{port}/ — deliveries print here. Ctrl-C stops it.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    def verify(self, body: str, headers: dict[str, str], *, port: int, secret: str | None) -> bool:
        if secret:
            secrets = [secret]
        else:
            close_old_connections()
            prefixes = (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/")
            now = timezone.now()
            secrets = [s for e in WebhookEndpoint.objects.all() if e.url.startswith(prefixes)
                       for s in e.signing_secrets(now)]
        for candidate in secrets:
            try:
                Webhook(candidate).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    def describe(self, body: str, headers: dict[str, str], verified: bool) -> str:
        try:
            event = json.loads(body)
            data = event.get("data") or {}
        except (ValueError, AttributeError):
            event, data = {}, {}
        mark = self.style.SUCCESS("verified") if verified else self.style.ERROR("SIGNATURE DID NOT VERIFY")
        facts = " ".join(f"{k}={data[k]}" for k in ("customer_id", "currency", "amount", "is_credit", "balance",
                                                     "after_balance", "status", "threshold", "days_left")
                         if k in data)
        return f"{headers.get('webhook-id', '?')}  {event.get('type', '?'):30} {facts}  [{mark}]"
