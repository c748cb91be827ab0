"""Maker–checker for manual money movement: the one policy of a person's adjustment, whether it
comes from the dashboard, the admin or a logged-in session on the API (API keys are unaffected).

``adjustment_submit`` enforces, itself, every rule of a manual adjustment:
- the user's role allows posting (a superuser, or an operator or approver of the business), else
  ``NotAllowed``;
- a reason that is not blank, else ``InvalidInput``;
- a form key already used is found first: a held request answers with that request (whatever the
  threshold is now), a posted entry replays through the ledger; so one form posts at most once;
- within the business's approval threshold for the currency (``CurrencyPolicy.approval_above``;
  none set means no approval needed) it posts at once, above it an ``AdjustmentRequest`` is held
  as pending;
- a reversal (``reversal_of`` = the entry it reverses) is the same kind of request: its currency is
  the original's and its direction the opposite (else ``InvalidInput``); it posts through
  ``ledger.reverse`` (at once) or ``ledger.reverse_in_transaction`` (at approval), so the engine
  alone decides what may still be reversed;
- a credit may carry ``expires_at`` (a grant); it travels with a held request to the posting;
- a held debit (and a held reversal of a credit) reserves its money: a ``Hold`` of the amount is
  placed through the engine in the same transaction that creates the request, so a second request
  beyond the *available* balance is refused at submit (``InsufficientFunds``, in money), and no
  other debit can spend the money while the request waits. An approval hold never lapses on its
  own (its ``expires_at`` is ``APPROVAL_HOLD_EXPIRES_AT``, far beyond any sweep): only the
  decision releases it. Its ``reference_object_id`` is the request's id, so an API reader sees
  what it is for.

``adjustment_approve`` posts a held request, in the same transaction that marks it approved, so a
request is approved exactly when its entry exists. A debit captures its hold (a
``merchant_adjustment`` entry, by the requester, linked to the hold); a reversal releases its hold
and reverses through the engine under the same wallet lock; a request whose hold was released
meanwhile (voided through the API) posts as a plain debit if the money is still available, and one
whose hold was captured through the API is refused (it would take the money twice).
``adjustment_reject`` releases the hold in the transaction that marks the request rejected.
The approval's posting carries no idempotency key: the merchant's key namespace is the
merchant's alone (an API key could otherwise pre-post an internal key and make the request
unapprovable), and once-only comes from the request row lock, the
pending-status check and the one-to-one ``AdjustmentRequest.ledger_entry``.
Lock order: the request row, then the wallet row.
"""

import datetime
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from wallets import ledger, selectors
from wallets.exceptions import (
    CustomerNotFound,
    EntryNotFound,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotAllowed,
)
from wallets.models import AdjustmentRequest, Customer, Hold, LedgerEntry, Membership, SecurityEvent
from wallets.money import format_money
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record

# A read, kept importable here for callers of the old name.
approval_threshold = selectors.approval_threshold
# The key of a held request submitted without one (AdjustmentRequest keys only; never a ledger key).
INTERNAL_REQUEST_KEY_PREFIX = "held_"
#: A hold must have an expiry; an approval hold's is beyond any sweep, so it lapses only by the
#: decision (approve: captured; reject: released). Shown as "reserved for approval", never as a date.
APPROVAL_HOLD_EXPIRES_AT = datetime.datetime(3000, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True, slots=True)
class AdjustmentOutcome:
    """Exactly one is set: the posting (done now), the reversal (done now) or the held request."""

    posting: ledger.PostingResult | None = None
    request: AdjustmentRequest | None = None
    reversal: ledger.Result | None = None

    @property
    def held(self) -> bool:
        return self.request is not None

    @property
    def balance(self) -> int:
        """The wallet's balance after a posting or reversal made now."""
        if self.reversal is not None:
            return self.reversal.wallet.balance
        assert self.posting is not None
        return self.posting.balance

    @property
    def replayed(self) -> bool:
        done = self.reversal if self.reversal is not None else self.posting
        return bool(done is not None and done.replayed)


def user_may_post(*, user, business_id: str) -> bool:
    """Whether ``user`` may move money in ``business_id``: a superuser, or an operator or approver
    of that business (a viewer, a member of another business or a user without one may not)."""
    if user is None or not getattr(user, "is_active", False):
        return False
    if user.is_superuser:
        return True
    membership = selectors.membership_for_user(user_id=user.pk)
    return membership is not None and membership.business_id == business_id and membership.can_post


def adjustment_submit(
    *,
    business_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    is_credit: bool,
    reason: str,
    idempotency_key: str | None,
    user,
    reversal_of: str | None = None,
    expires_at: datetime.datetime | None = None,
) -> AdjustmentOutcome:
    """A manual credit or debit by a person: posted now, or held for approval (rules above).
    With ``reversal_of`` it reverses ``amount`` of that entry; with ``expires_at`` a credit is a grant.

    Without an ``idempotency_key`` (an API request that sent none) nothing is looked up: the
    posting carries no key, and a held request gets an internal key of its own (the requests'
    key namespace, never the ledger's)."""
    if not user_may_post(user=user, business_id=business_id):
        raise NotAllowed("Your role may view but not change balances.")
    if not (reason or "").strip():
        raise InvalidInput("A reason is required for a manual adjustment.", errors={"reason": ["Give a reason."]})
    if reversal_of is not None:
        _check_reversal(business_id=business_id, customer_id=customer_id, entry_id=reversal_of, currency=currency,
                        is_credit=is_credit, expires_at=expires_at)
    actor = Actor.user(user.pk)
    held = posted = None
    if idempotency_key:
        held = selectors.adjustment_request_for_key(business_id=business_id, idempotency_key=idempotency_key)
        posted = selectors.ledger_entry_key_used(business_id=business_id, customer_id=customer_id,
                                                idempotency_key=idempotency_key)
    if held is not None:  # this form was held before: never post it here, whatever the threshold is now
        if (held.customer_id, held.currency, held.amount, held.is_credit, held.reason, held.reversal_of_id,
                held.expires_at) != (customer_id, currency, amount, is_credit, reason, reversal_of, expires_at):
            raise IdempotencyKeyReused()
        return AdjustmentOutcome(request=held)
    threshold = selectors.approval_threshold(business_id=business_id, currency=currency)
    if posted or threshold is None or amount <= threshold:  # a posted form replays (or is refused) in the ledger
        if reversal_of is not None:
            reversal = ledger.reverse(
                business_id=business_id, customer_id=customer_id, entry_id=reversal_of, amount=amount,
                reason=reason, idempotency_key=idempotency_key or None, actor=actor,
            )
            return AdjustmentOutcome(reversal=reversal)
        posting = ledger.post(
            business_id=business_id, customer_id=customer_id, currency=currency, amount=amount,
            is_credit=is_credit, reason=reason, idempotency_key=idempotency_key or None, actor=actor,
            expires_at=expires_at,
        )
        return AdjustmentOutcome(posting=posting)
    if not Customer.objects.filter(business_id=business_id, id=customer_id).exists():
        raise CustomerNotFound()
    request_key = idempotency_key or f"{INTERNAL_REQUEST_KEY_PREFIX}{secrets.token_urlsafe(18)}"
    try:
        with transaction.atomic(durable=True):
            request, created = AdjustmentRequest.objects.get_or_create(
                business_id=business_id, idempotency_key=request_key,
                defaults={
                    "customer_id": customer_id, "currency": currency, "amount": amount, "is_credit": is_credit,
                    "reason": reason, "requested_by": user, "reversal_of_id": reversal_of,
                    "expires_at": expires_at,
                },
            )
            if created and not is_credit:  # the money waits with the request (rules above)
                request.hold = ledger.create_hold_in_transaction(
                    business_id=business_id, customer_id=customer_id, currency=currency, amount=amount,
                    actor=actor, expires_at=APPROVAL_HOLD_EXPIRES_AT, reference_object_id=request.pk,
                    reason=reason,
                ).hold
                request.save(update_fields=["hold"])
    except IntegrityError:  # a concurrent double submit created it first
        request = AdjustmentRequest.objects.get(business_id=business_id, idempotency_key=request_key)
    except InsufficientFunds as exc:  # nothing was written: the request went with the refused hold
        what = "reversal" if reversal_of is not None else "debit"
        raise InsufficientFunds(available_message(business_id=business_id, customer_id=customer_id,
                                                  currency=currency, amount=amount, what=what)) from exc
    return AdjustmentOutcome(request=request)


def available_message(*, business_id: str, customer_id: str, currency: str, amount: int, what: str = "debit") -> str:
    """Why a debit cannot be held or posted now, in money: "Insufficient wallet funds: $46.25 available
    in USD ($60.00 reserved for approval or holds), less than this debit of $100.00."."""
    wallet = next((w for w in selectors.wallet_list(business_id=business_id, customer_id=customer_id)
                   if w.currency == currency), None)
    balance, held = (wallet.balance, wallet.held_balance) if wallet is not None else (0, 0)
    reserved = f" ({format_money(held, currency)} reserved by holds and pending approvals)" if held else ""
    return (f"Insufficient wallet funds: {format_money(max(balance - held, 0), currency)} available in "
            f"{currency}{reserved}, less than this {what} of {format_money(amount, currency)}.")


def _check_reversal(*, business_id: str, customer_id: str, entry_id: str, currency: str, is_credit: bool,
                    expires_at) -> None:
    """A reversal request must describe its original: same currency, opposite direction, no expiry."""
    original = LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, pk=entry_id).only(
        "currency", "is_credit").first()
    if original is None:
        raise EntryNotFound()
    if (original.currency, not original.is_credit, expires_at) != (currency, is_credit, None):
        raise InvalidInput("A reversal is in the original's currency, in the opposite direction, without expiry.")


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
    membership = selectors.membership_for_user(user_id=approver.pk)
    allowed = approver.is_superuser or (
        membership is not None and membership.business_id == business_id
        and membership.role == Membership.Role.APPROVER
    )
    if not allowed:
        raise NotAllowed("Only a user with the approver role may approve or reject adjustments.")
    return request


def adjustment_approve(*, business_id: str, request_id: str, approver, note: str = "") -> AdjustmentRequest:
    """Approve and post. An overdraft at approval time raises ``InsufficientFunds`` (its message in
    money, for the person deciding) and leaves the request pending."""
    with transaction.atomic(durable=True):
        request = _decide(business_id=business_id, request_id=request_id, approver=approver)
        hold = Hold.objects.filter(pk=request.hold_id).first() if request.hold_id else None
        if hold is not None and hold.status == Hold.Status.CAPTURED:
            raise InvalidState(f"The money this request reserved was captured through the API (hold {hold.pk}); "
                               "approving it would take it twice. Reject it instead.")
        active = hold is not None and hold.status == Hold.Status.ACTIVE
        try:
            if active and request.reversal_of_id is None:
                assert hold is not None
                entry = ledger.capture_hold_in_transaction(
                    business_id=business_id, customer_id=request.customer_id, hold_id=hold.pk,
                    actor=Actor.user(request.requested_by_id), reason=request.reason,
                    event_type=LedgerEntry.EventType.MERCHANT_ADJUSTMENT,
                ).entry
            elif request.reversal_of_id is not None:
                if active:  # released under the wallet lock the reversal takes next: nobody spends it between
                    assert hold is not None
                    ledger.void_hold_in_transaction(business_id=business_id, customer_id=request.customer_id,
                                                    hold_id=hold.pk, actor=Actor.user(approver.pk))
                entry = ledger.reverse_in_transaction(
                    business_id=business_id, customer_id=request.customer_id, entry_id=request.reversal_of_id,
                    amount=request.amount, reason=request.reason, idempotency_key=None,
                    actor=Actor.user(request.requested_by_id),
                ).entry
            else:
                entry = ledger.post_in_transaction(
                    business_id=business_id, customer_id=request.customer_id, currency=request.currency,
                    amount=request.amount, is_credit=request.is_credit, reason=request.reason,
                    idempotency_key=None, actor=Actor.user(request.requested_by_id), expires_at=request.expires_at,
                ).entry
        except InsufficientFunds as exc:
            # The engine's message is in minor units ("… balance is 4625, the debit is 10000"); the
            # people who approve read money. The wallet is still locked by this transaction.
            raise InsufficientFunds(_overdraft_message(request)) from exc
        request.status = AdjustmentRequest.Status.APPROVED
        request.decided_by = approver
        request.decided_at = timezone.now()
        request.decision_note = note
        request.ledger_entry = entry
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "ledger_entry"])
        _audit_decision(request, approver, SecurityEvent.Kind.ADJUSTMENT_APPROVED)
    return request


def _overdraft_message(request: AdjustmentRequest) -> str:
    """Why a held debit (or reversal of a credit) cannot post now, in money: "Insufficient wallet
    funds: the available USD balance is $46.25, less than this debit of $100.00."."""
    wallet = next((w for w in selectors.wallet_list(business_id=request.business_id, customer_id=request.customer_id)
                   if w.currency == request.currency), None)
    available = wallet.balance - wallet.held_balance if wallet is not None else 0
    what = "reversal" if request.reversal_of_id is not None else "debit"
    return (f"Insufficient wallet funds: the available {request.currency} balance is "
            f"{format_money(available, request.currency)}, less than this {what} of "
            f"{format_money(request.amount, request.currency)}.")


def adjustment_reject(*, business_id: str, request_id: str, approver, note: str = "") -> AdjustmentRequest:
    with transaction.atomic(durable=True):
        request = _decide(business_id=business_id, request_id=request_id, approver=approver)
        if request.hold_id is not None and Hold.objects.filter(pk=request.hold_id,
                                                               status=Hold.Status.ACTIVE).exists():
            ledger.void_hold_in_transaction(business_id=business_id, customer_id=request.customer_id,
                                            hold_id=request.hold_id, actor=Actor.user(approver.pk))
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
                 "is_credit": request.is_credit, "reversal_of": request.reversal_of_id,
                 "note": request.decision_note},
    )
