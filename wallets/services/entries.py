"""A ledger entry posted from the API, answered with the wallet as the API shows it.

``dry_run``: the engine's rehearsal (``ledger.rehearse``): the posting runs for real inside a
transaction that is then rolled back, and the wallet is read inside it, so the answer is exactly what
the posting would answer, ``expiring`` included, and nothing is written.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from wallets import ledger
from wallets.selectors.entries import WalletView, wallet_view_after
from wallets.services.actors import Actor


@dataclass(frozen=True, slots=True)
class EntryPosted:
    posting: ledger.PostingResult
    wallet: WalletView
    dry_run: bool = False


def wallet_after_posting(*, business_id: str, posting: ledger.PostingResult) -> WalletView:
    return wallet_view_after(
        business_id=business_id, customer_id=posting.customer_id, currency=posting.currency,
        balance=posting.balance, held=posting.held, created_at=posting.created_at, updated_at=posting.updated_at,
        granted=posting.granted,
    )


def ledger_entry_post(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    is_credit: bool,
    actor: Actor,
    reason: str | None = None,
    idempotency_key: str | None = None,
    event_type: str = "merchant_adjustment",
    reference_object_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    expires_at: datetime.datetime | None = None,
    dry_run: bool = False,
    confirm_api_key: str | None = None,
) -> EntryPosted:
    """Post one credit or debit (``wallets.ledger.post``); with ``dry_run``, answer and write nothing.
    ``confirm_api_key``: a cached API key the posting's lock statement confirms (``ledger.post``)."""
    arguments: dict[str, Any] = {
        "business_id": business_id, "customer_id": customer_id, "currency": currency, "amount": amount,
        "is_credit": is_credit, "actor": actor, "reason": reason, "idempotency_key": idempotency_key,
        "event_type": event_type, "reference_object_id": reference_object_id, "metadata": metadata,
        "expires_at": expires_at, "confirm_api_key": confirm_api_key,
    }
    if not dry_run:
        posting = ledger.post(**arguments)
        return EntryPosted(posting, wallet_after_posting(business_id=business_id, posting=posting))

    def posted_and_read() -> EntryPosted:
        posting = ledger.post_in_transaction(**arguments)
        return EntryPosted(posting, wallet_after_posting(business_id=business_id, posting=posting), dry_run=True)

    return ledger.rehearse(posted_and_read)
