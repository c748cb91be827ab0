"""Reads of the maker–checker flow: thresholds, who may post, what a form key already made, and what
an approver sees before deciding (the balance now and after)."""

from dataclasses import dataclass

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum, Window

from wallets.models import AdjustmentRequest, CreditGrant, CurrencyPolicy, Hold, LedgerEntry, Membership, Wallet
from wallets.money import format_money


def approval_threshold(*, business_id: str, currency: str) -> int | None:
    """Minor units above which a manual adjustment is held for approval (None: never held)."""
    return (
        CurrencyPolicy.objects.filter(business_id=business_id, currency=currency)
        .values_list("approval_above", flat=True)
        .first()
    )


def membership_for_user(*, user_id) -> Membership | None:
    """A user's one membership (a user belongs to at most one business) with its business, or None."""
    return Membership.objects.select_related("business").filter(user_id=user_id).first()


def adjustment_request_for_key(*, business_id: str, idempotency_key: str) -> AdjustmentRequest | None:
    """The held (or decided) request a form key made, if any."""
    return AdjustmentRequest.objects.filter(business_id=business_id, idempotency_key=idempotency_key).first()


def ledger_entry_key_used(*, business_id: str, customer_id: str, idempotency_key: str) -> bool:
    return LedgerEntry.objects.filter(
        business_id=business_id, customer_id=customer_id, idempotency_key=idempotency_key
    ).exists()


# --- What an approver sees before deciding (issue 12, bug 3) ------------------------------------


def adjustment_requests_with_wallets(requests: QuerySet[AdjustmentRequest]) -> QuerySet[AdjustmentRequest]:
    """``requests`` with what ``approval_preview`` needs, in the same query: the wallet's balance and
    held amount now, the hold, and for a reversal what of its original was reversed already or
    expired."""
    wallet = Wallet.objects.filter(business_id=OuterRef("business_id"), customer_id=OuterRef("customer_id"),
                                   currency=OuterRef("currency"))
    reversed_total = (LedgerEntry.objects.filter(reversal_of_id=OuterRef("reversal_of_id")).order_by()
                      .values("reversal_of_id").annotate(total=Sum("amount")).values("total"))
    expired = CreditGrant.objects.filter(pk=OuterRef("reversal_of_id")).values("expired_amount")
    return requests.select_related("hold", "reversal_of").annotate(
        wallet_balance=Subquery(wallet.values("balance")[:1]),
        wallet_held=Subquery(wallet.values("held_balance")[:1]),
        original_reversed=Subquery(reversed_total[:1]),
        original_expired=Subquery(expired[:1]),
    )


@dataclass(frozen=True, slots=True)
class ApprovalPreview:
    """A pending request's effect if approved now: the wallet's balance and available amount, now and
    after; what of it this request reserves; and, when it cannot be posted, why (else "")."""

    currency: str
    balance: int
    balance_after: int
    available: int
    available_after: int
    reserved: int
    blocker: str = ""


def approval_preview(request: AdjustmentRequest) -> ApprovalPreview:
    """For a row of ``adjustment_requests_with_wallets``: the engine still decides at approval (under
    the wallet lock); this says beforehand what it would decide as the books stand now."""
    currency, amount = request.currency, request.amount
    balance = getattr(request, "wallet_balance", None) or 0
    held = getattr(request, "wallet_held", None) or 0
    available = max(balance - held, 0)
    hold = request.hold if request.hold_id else None
    reserved = amount if hold is not None and hold.status == Hold.Status.ACTIVE else 0
    blocker = ""
    if request.is_credit:
        balance_after, available_after = balance + amount, available + amount
    else:
        balance_after = balance - amount
        available_after = available if reserved else available - amount
        if hold is not None and hold.status == Hold.Status.CAPTURED:
            blocker = ("The money it reserved was captured through the API: approving would take it twice. "
                       "Reject it.")
        elif not reserved and amount > available:
            blocker = (f"Cannot be posted now: {format_money(available, currency)} available, less than this "
                       f"{'reversal' if request.reversal_of_id else 'debit'} of {format_money(amount, currency)}.")
    original = request.reversal_of if request.reversal_of_id else None
    if original is not None and not blocker:
        if original.reversal_of_id is not None or original.expired_grant_id is not None:
            blocker = "Cannot be posted: the entry it reverses is itself a reversal or an expiry."
        else:
            left = original.amount - (getattr(request, "original_reversed", None) or 0) - (
                getattr(request, "original_expired", None) or 0)
            if amount > left:
                blocker = (f"Cannot be posted: only {format_money(max(left, 0), currency)} of entry {original.pk} "
                           "is left to reverse (reversed or expired since).")
    return ApprovalPreview(currency, balance, balance_after, available, max(available_after, 0), reserved, blocker)


#: At most this many pending requests are listed on a customer's page (the rest: on the approvals page).
CUSTOMER_PENDING_SHOWN = 10


@dataclass(frozen=True, slots=True)
class PendingRequests:
    rows: list
    total: int


def pending_requests_of_customer(*, business_id: str, customer_id: str) -> PendingRequests:
    """A customer's requests waiting for an approver, newest first (at most ``CUSTOMER_PENDING_SHOWN``),
    with who asked and the hold that reserves their money; and how many there are in all."""
    rows = list(
        AdjustmentRequest.objects.filter(business_id=business_id, customer_id=customer_id,
                                         status=AdjustmentRequest.Status.PENDING)
        .select_related("requested_by", "hold")
        .annotate(pending_total=Window(Count("id")))  # counted before the LIMIT: one query, however many
        .order_by("-requested_at", "-id")[:CUSTOMER_PENDING_SHOWN]
    )
    return PendingRequests(rows, rows[0].pending_total if rows else 0)
