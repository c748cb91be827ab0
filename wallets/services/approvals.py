"""Maker–checker for manual money movement (dashboard and admin; the API is unaffected).

``adjustment_submit`` posts at once when the amount is within the business's approval threshold
for the currency (``CurrencyPolicy.approval_above``; none set means no approval needed) and
otherwise holds an ``AdjustmentRequest`` as pending. ``adjustment_approve`` posts it, in the same
transaction that marks it approved, so a request is approved exactly when its entry exists.
Lock order: the request row, then the wallet row.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from wallets import ledger
from wallets.exceptions import CustomerNotFound, InvalidState, NotAllowed
from wallets.models import AdjustmentRequest, CurrencyPolicy, Customer, Membership, SecurityEvent
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record


@dataclass(frozen=True, slots=True)
class AdjustmentOutcome:
    """Exactly one is set: the posting (done now) or the held request."""

    posting: ledger.PostingResult | None = None
    request: AdjustmentRequest | None = None

    @property
    def held(self) -> bool:
        return self.request is not None


def approval_threshold(*, business_id: str, currency: str) -> int | None:
    return (
        CurrencyPolicy.objects.filter(business_id=business_id, currency=currency)
        .values_list("approval_above", flat=True)
        .first()
    )


def adjustment_submit(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    is_credit: bool,
    reason: str,
    idempotency_key: str,
    user,
) -> AdjustmentOutcome:
    """A manual credit or debit by a dashboard/admin user: posted now, or held for approval."""
    threshold = approval_threshold(business_id=business_id, currency=currency)
    if threshold is None or amount <= threshold:
        posting = ledger.post(
            business_id=business_id, customer_id=customer_id, currency=currency, amount=amount,
            is_credit=is_credit, reason=reason, idempotency_key=idempotency_key, actor=Actor.user(user.pk),
        )
        return AdjustmentOutcome(posting=posting)
    if not Customer.objects.filter(business_id=business_id, id=customer_id).exists():
        raise CustomerNotFound()
    try:
        with transaction.atomic(durable=True):
            request, _ = AdjustmentRequest.objects.get_or_create(
                business_id=business_id, idempotency_key=idempotency_key,
                defaults=dict(
                    customer_id=customer_id, currency=currency, amount=amount, is_credit=is_credit,
                    reason=reason, requested_by=user,
                ),
            )
    except IntegrityError:  # a concurrent double submit created it first
        request = AdjustmentRequest.objects.get(business_id=business_id, idempotency_key=idempotency_key)
    return AdjustmentOutcome(request=request)


def _decide(*, business_id: str, request_id: str, approver) -> AdjustmentRequest:
    request = (
        AdjustmentRequest.objects.select_for_update(no_key=True).filter(business_id=business_id, id=request_id).first()
    )
    if request is None:
        raise CustomerNotFound("Adjustment request not found.")
    if request.status != AdjustmentRequest.Status.PENDING:
        raise InvalidState(f"This request was already {request.status}.")
    if request.requested_by_id == approver.pk:
        raise NotAllowed("A different person must approve or reject your own request.")
    membership = Membership.objects.filter(user_id=approver.pk).first()
    allowed = approver.is_superuser or (
        membership is not None and membership.business_id == business_id
        and membership.role == Membership.Role.APPROVER
    )
    if not allowed:
        raise NotAllowed("Only a user with the approver role may approve or reject adjustments.")
    return request


def adjustment_approve(*, business_id: str, request_id: str, approver, note: str = "") -> AdjustmentRequest:
    """Approve and post. An overdraft at approval time raises and leaves the request pending."""
    with transaction.atomic(durable=True):
        request = _decide(business_id=business_id, request_id=request_id, approver=approver)
        posting = ledger.post_in_transaction(
            business_id=business_id, customer_id=request.customer_id, currency=request.currency,
            amount=request.amount, is_credit=request.is_credit, reason=request.reason,
            idempotency_key=f"approval:{request.id}", actor=Actor.user(request.requested_by_id),
        )
        request.status = AdjustmentRequest.Status.APPROVED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.decision_note = note
        request.ledger_entry = posting.entry
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "ledger_entry"])
        _audit_decision(request, approver, SecurityEvent.Kind.ADJUSTMENT_APPROVED)
    return request


def adjustment_reject(*, business_id: str, request_id: str, approver, note: str = "") -> AdjustmentRequest:
    with transaction.atomic(durable=True):
        request = _decide(business_id=business_id, request_id=request_id, approver=approver)
        request.status = AdjustmentRequest.Status.REJECTED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.decision_note = note
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        _audit_decision(request, approver, SecurityEvent.Kind.ADJUSTMENT_REJECTED)
    return request


def _audit_decision(request: AdjustmentRequest, approver, kind: str) -> None:
    """The security audit log's record of a maker-checker decision (same transaction)."""
    security_event_record(
        kind=kind, business_id=request.business_id, actor=Actor.user(approver.pk), actor_name=approver.get_username(),
        details={"adjustment_request_id": request.id, "requested_by_id": request.requested_by_id,
                 "customer_id": request.customer_id, "currency": request.currency, "amount": request.amount,
                 "is_credit": request.is_credit, "note": request.decision_note},
    )
