"""Reads of the new movements for the dashboard and the admin: one entry with everything linked to
it, a customer's active holds and grants. Every read is scoped to a business and a customer."""

from dataclasses import dataclass, field

from django.db.models import Sum

from wallets.models import AdjustmentRequest, CreditGrant, GrantDraw, Hold, LedgerEntry


@dataclass
class EntryDetail:
    entry: LedgerEntry
    reversals: list[LedgerEntry]
    expiries: list[LedgerEntry]
    grant: CreditGrant | None
    draws: list[GrantDraw]
    reversed_amount: int
    adjustment_requests: list = field(default_factory=list)
    #: The held request this entry posted when approved (maker–checker), with both people.
    approval: AdjustmentRequest | None = None

    @property
    def expired_amount(self) -> int:
        return self.grant.expired_amount if self.grant is not None else 0

    @property
    def reversible(self) -> bool:
        return self.entry.reversal_of_id is None and self.entry.expired_grant_id is None

    @property
    def left_to_reverse(self) -> int:
        """What the engine would still reverse (before any funds check)."""
        if not self.reversible:
            return 0
        return max(self.entry.amount - self.reversed_amount - self.expired_amount, 0)


def entry_detail(*, business_id: str, customer_id: str, entry_id: str) -> EntryDetail | None:
    entry = (
        LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, pk=entry_id)
        .select_related("customer", "hold", "reversal_of", "expired_grant")
        .first()
    )
    if entry is None:
        return None
    reversals = list(LedgerEntry.objects.filter(business_id=business_id, reversal_of_id=entry.pk)
                     .order_by("created_at", "sequence"))
    expiries = list(LedgerEntry.objects.filter(business_id=business_id, expired_grant_id=entry.pk)
                    .order_by("created_at", "sequence"))
    grant = CreditGrant.objects.filter(business_id=business_id, pk=entry.pk).first()
    draws = list(GrantDraw.objects.filter(business_id=business_id, entry_id=entry.pk)
                 .select_related("grant").order_by("id"))
    return EntryDetail(
        entry=entry, reversals=reversals, expiries=expiries, grant=grant, draws=draws,
        reversed_amount=sum(r.amount for r in reversals),
        adjustment_requests=list(entry.reversal_requests.filter(business_id=business_id).order_by("-requested_at")),
        approval=(AdjustmentRequest.objects.filter(business_id=business_id, ledger_entry_id=entry.pk)
                  .select_related("requested_by", "decided_by").first()
                  if entry.actor_type == LedgerEntry.ActorType.USER else None),  # only a person's is ever held
    )


def hold_list_active(*, business_id: str, customer_id: str) -> list[Hold]:
    """Active holds, soonest expiring first, each with the approval request it reserves for, if any
    (``approval_request``; those never expire on their own, so they come last)."""
    return list(Hold.objects.filter(business_id=business_id, customer_id=customer_id, status=Hold.Status.ACTIVE)
                .select_related("approval_request", "approval_request__requested_by")
                .order_by("expires_at", "id"))


def hold_get(*, business_id: str, customer_id: str, hold_id: str) -> Hold | None:
    return Hold.objects.filter(business_id=business_id, customer_id=customer_id, pk=hold_id).first()


def grant_list_active(*, business_id: str, customer_id: str) -> list[CreditGrant]:
    """Grants with money left, soonest expiring first."""
    return list(CreditGrant.objects.filter(business_id=business_id, customer_id=customer_id, remaining__gt=0,
                                           expired_amount=0).order_by("expires_at", "entry_id"))


def reversed_total(*, entry_id: str) -> int:
    return LedgerEntry.objects.filter(reversal_of_id=entry_id).aggregate(t=Sum("amount"))["t"] or 0
