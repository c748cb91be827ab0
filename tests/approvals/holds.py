"""Helpers for the approval holds (a pending debit reserves its money: ``services.approvals``)."""

from wallets import ledger
from wallets.models import AdjustmentRequest
from wallets.services.actors import Actor


def release_hold(request: AdjustmentRequest) -> None:
    """Void a pending request's hold as an API key could (``POST …/holds/{id}/void``): its money is
    spendable again, so the wallet can fall below the request before an approver decides."""
    ledger.void_hold(business_id=request.business_id, customer_id=request.customer_id, hold_id=request.hold_id,
                     actor=Actor.api_key("test"))
