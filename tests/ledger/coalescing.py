"""Helpers for coalescing tests: batches made deterministically with real threads.

Another connection holds the wallet's row lock (``held(lock_wallet_row(id))``); the first posting
(the leader, alone in its queue) waits on it; the next ones are started one by one, each once the one
before is queued (``Posters.start``); then the lock is released. The leader posts alone and hands the
queue to the first one waiting, which posts all the others as one batch, in the order they came.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from wallets import ledger
from wallets.ledger import coalesce
from wallets.models import Wallet
from wallets.services.actors import Actor


def queued(key) -> int:
    with coalesce._mutex:
        return len(coalesce._queues.get(key, ()))


def leading(key) -> bool:
    with coalesce._mutex:
        return key in coalesce._queues


def wait_for(predicate, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


@contextlib.contextmanager
def held(work):
    """``work()`` runs in a transaction of another connection, kept open until the block ends."""
    ready, release, failed = threading.Event(), threading.Event(), []

    def hold():
        try:
            with transaction.atomic():
                work()
                ready.set()
                release.wait(30)
        except Exception as exc:  # reported by the test
            failed.append(exc)
            ready.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait(10)
    assert not failed, failed
    try:
        yield release
    finally:
        release.set()
        thread.join()
    assert not failed, failed


def lock_wallet_row(wallet_id: str):
    return lambda: Wallet.objects.select_for_update(no_key=True).get(pk=wallet_id)


class Posters:
    """Postings in threads of their own, started one by one so they queue in a known order."""

    def __init__(self, business_id: str, customer_id: str, currency: str = "USD", *,
                 actor: Actor = Actor.command("coalesce-test")):
        self.key = (business_id, customer_id, currency)
        self.base = {"business_id": business_id, "customer_id": customer_id, "currency": currency, "actor": actor}
        self.threads: list[threading.Thread] = []
        self.answers: dict[int, Any] = {}

    def start(self, **request) -> None:
        n = len(self.threads)

        def run():
            try:
                self.answers[n] = ledger.post(**{**self.base, **request})
            except Exception as exc:
                self.answers[n] = exc
            finally:
                connection.close()

        before = queued(self.key)
        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()
        if n == 0:
            wait_for(lambda: leading(self.key), "the first posting to lead")
        else:
            wait_for(lambda: queued(self.key) == before + 1, f"posting {n} to queue")

    def join(self) -> list[Any]:
        for thread in self.threads:
            thread.join(30)
        return [self.answers[n] for n in range(len(self.threads))]


