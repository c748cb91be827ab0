"""A real webhook receiver: an HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` in a thread) that
records every request (method, path, headers, body, when) and answers as scripted.

    with Receiver() as receiver:
        receiver.script(500, 500, 200)      # the next answers, in order; then ``default``
        receiver.delay = 2.0                # seconds before each answer (a slow receiver)
        ... receiver.url ...
        receiver.wait_for(3)                # until 3 requests arrived
        receiver.requests[0].headers["webhook-id"]

``answer`` may instead be a function of the request returning ``(status, body)`` or
``(status, body, delay)``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.time()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # The worker opens up to 32 connections at once; http.server's default backlog of 5 would refuse
    # some of them on a loaded machine (a failed attempt, retried later), which no real receiver does.
    request_queue_size = 128
    daemon_threads = True


class Receiver:
    def __init__(self, *, default: int = 200, delay: float = 0.0, host: str = "127.0.0.1"):
        self.default = default
        self.delay = delay
        self.answer: Callable[[Request], tuple] | None = None
        self.requests: list[Request] = []
        #: Requests read and not yet answered (a slow receiver's backlog).
        self.in_flight = 0
        self._script: collections.deque[int | tuple] = collections.deque()
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The status line and headers, then the body, are separate writes: without this, Nagle's
            # algorithm and the client's delayed ACK stall every answer by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                # The client may go away mid-request (a worker killed): nothing to answer then.
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    super().handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                  time.time())
                with receiver._lock:
                    receiver.in_flight += 1
                status, text, delay = receiver._answer_for(request)
                if delay:
                    time.sleep(delay)
                with receiver._lock:
                    receiver.requests.append(request)
                    receiver.in_flight -= 1
                    receiver._lock.notify_all()
                payload = text.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_GET = do_PUT = _handle  # noqa: N815 - http.server's names

        self.server = _Server((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hooks"
        self._thread: threading.Thread | None = None

    def _answer_for(self, request: Request) -> tuple[int, str, float]:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is None and self.answer is not None:
            scripted = self.answer(request)
        if scripted is None:
            scripted = self.default
        if isinstance(scripted, int):
            return scripted, "ok" if scripted < 300 else "no", self.delay
        status, text, *rest = scripted
        return status, text, rest[0] if rest else self.delay

    def script(self, *answers: int | tuple) -> None:
        """The next answers, in order (a status, or ``(status, body[, delay])``)."""
        with self._lock:
            self._script.extend(answers)

    def wait_for(self, count: int, *, timeout: float = 20.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.requests)} requests, not {count}, "
                                         f"within {timeout}s")
                self._lock.wait(left)
            return list(self.requests)

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
