"""``serializers.prebuilt``: the hot path's serializers, built once per process, answer exactly what DRF's
own per-request instances answer, valid or not, and stay correct when threads share them."""

import datetime
import threading

import pytest
from rest_framework import exceptions

from wallets.api import serializers as s
from wallets.selectors.entries import WalletView

LATER = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)).isoformat()
BODIES = [
    {"amount": 100, "currency": "USD", "entry_type": "credit"},
    {"amount": 100, "currency": "USD", "entry_type": "debit", "reason": "r", "idempotency_key": "k-1"},
    {"amount": 5, "currency": "INR", "entry_type": "credit", "event_type": "refund", "expires_at": LATER,
     "metadata": {"a": 1, "b": "x", "c": True}, "reference_object_id": "ref_1", "dry_run": True},
    {},
    [],
    "text",
    {"amount": "100", "currency": "USD", "entry_type": "credit"},
    {"amount": 0, "currency": "XXX", "entry_type": "sideways", "dry_run": "yes"},
    {"amount": 1, "currency": "USD", "entry_type": "debit", "event_type": "refund"},
    {"amount": 1, "currency": "USD", "entry_type": "debit", "expires_at": LATER},
    {"amount": 1, "currency": "USD", "entry_type": "credit", "event_type": "refund_reversal"},
    {"amount": 1, "currency": "USD", "entry_type": "credit", "metadata": {"k": None}},
    {"amount": 1, "currency": "USD", "entry_type": "credit", "idempotency_key": "x" * 256},
]


def _drf(body):
    serializer = s.LedgerEntryCreateRequest(data=body)
    if serializer.is_valid():
        return "valid", dict(serializer.validated_data)
    return "invalid", serializer.errors


def _prebuilt(body):
    try:
        return "valid", dict(s.prebuilt(s.LedgerEntryCreateRequest).run_validation(body))
    except exceptions.ValidationError as exc:
        return "invalid", exc.detail


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_validation_answers_as_drf_does(body):
    ours, theirs = _prebuilt(body), _drf(body)
    assert ours == theirs
    assert ours[0] == ("valid" if body in BODIES[:3] else "invalid")


def test_rendering_answers_as_drf_does():
    now = datetime.datetime(2026, 12, 2, 6, 30, 1, 123456, tzinfo=datetime.UTC)
    wallet = WalletView("cus_1", "USD", 1500, 200, now, now + datetime.timedelta(seconds=1),
                        [{"amount": 300, "expires_at": now + datetime.timedelta(days=1)}])
    ours = s.prebuilt(s.WalletResponse).to_representation(wallet)
    assert ours == s.WalletResponse(wallet).data
    assert ours["available_balance"] == 1300
    assert ours["expiring"] == [{"amount": 300, "expires_at": "2026-12-03T06:30:01.123456Z"}]


def test_threads_sharing_the_instance_get_their_own_answers():
    problems: list = []

    def check(i: int) -> None:
        for n in range(200):
            amount = i * 1000 + n + 1
            data = s.prebuilt(s.LedgerEntryCreateRequest).run_validation(
                {"amount": amount, "currency": "USD", "entry_type": "credit" if n % 2 else "debit"})
            if data["amount"] != amount or data["entry_type"] != ("credit" if n % 2 else "debit"):
                problems.append((i, n, data))

    threads = [threading.Thread(target=check, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
