"""``wallet.runway_low``: at its trailing 14-day burn rate, a wallet empties within its business's
runway days (``Business.runway_days``, default 7). Once per episode.

- burn: what the wallet spent in the 14 days before ``now``: its debits, less the reversals of
  debits (money given back), not counting expiry entries (credit that lapsed was not spent) nor
  reversals of credits (a top-up undone);
- ``burn_per_day`` = burn / 14 (minor units, rounded half-even), ``days_left`` = balance / (burn / 14);
- low when the burn is positive and ``days_left < runway_days``. The episode lasts while it stays low;
  the event is written when it starts, with the state change (``WalletRunway.low``) in one transaction
  and the state row locked, so two workers never write two events for one episode.

The worker checks (``check_due``, from the periodic sweep) the wallets of businesses with an enabled
endpoint that changed since their last check, and those in an episode (time passing ends one). This
needs a 14-day read, which is why it is never done under the wallet lock by a posting.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from wallets.models import Business, LedgerEntry, Wallet, WalletRunway, WebhookEndpoint, WebhookEvent
from wallets.webhooks import outbox

WINDOW = datetime.timedelta(days=14)
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Runway:
    balance: int
    burn: int  # over the whole window

    @property
    def burn_per_day(self) -> int:
        return int((Decimal(self.burn) / WINDOW.days).quantize(Decimal(1), ROUND_HALF_EVEN))

    @property
    def days_left(self) -> float | None:
        """``None`` when nothing is spent (the wallet never empties at this rate)."""
        if self.burn <= 0:
            return None
        return float((Decimal(self.balance) * WINDOW.days / self.burn).quantize(Decimal("0.01"), ROUND_HALF_EVEN))

    def low(self, runway_days: int) -> bool:
        days_left = self.days_left
        return days_left is not None and days_left < runway_days


@dataclass(frozen=True, slots=True)
class CheckResult:
    checked: int
    episodes_started: int
    episodes_ended: int


def burns(wallets: Sequence[Wallet], now: datetime.datetime) -> dict[str, int]:
    """Each wallet's burn over the window before ``now`` (one grouped read)."""
    if not wallets:
        return {}
    spent = Q(is_credit=False, expired_grant__isnull=True, reversal_of__isnull=True)
    given_back = Q(is_credit=True, reversal_of__isnull=False)
    rows = (
        LedgerEntry.objects.filter(wallet_id__in=[w.id for w in wallets], created_at__gt=now - WINDOW,
                                   created_at__lte=now)
        .values("wallet_id")
        .annotate(spent=Sum("amount", filter=spent, default=0), back=Sum("amount", filter=given_back, default=0))
        .order_by()
    )
    return {row["wallet_id"]: max(row["spent"] - row["back"], 0) for row in rows}


def due(now: datetime.datetime) -> Q:
    """Wallets worth a look: changed since their last check within the window, or in an episode."""
    changed = Q(updated_at__gt=now - WINDOW) & (
        Q(runway__isnull=True) | ~Q(runway__checked_entry_count=F("entry_count")))
    return changed | Q(runway__low=True)


def check_due(*, now: datetime.datetime | None = None, limit: int = 5000) -> CheckResult:
    """Check the wallets that may have started or ended an episode (at most ``limit``)."""
    now = now or timezone.now()
    with_endpoint = Exists(WebhookEndpoint.objects.filter(business_id=OuterRef("business_id"), disabled=False))
    wallets = list(Wallet.objects.filter(due(now), with_endpoint).order_by("id")[:limit])
    started = ended = 0
    for first in range(0, len(wallets), CHUNK):
        s, e = check(wallets[first : first + CHUNK], now=now)
        started, ended = started + s, ended + e
    return CheckResult(len(wallets), started, ended)


def check(wallets: Sequence[Wallet], *, now: datetime.datetime) -> tuple[int, int]:
    """Check these wallets at ``now``: returns (episodes started, episodes ended)."""
    burned = burns(wallets, now)
    days = dict(Business.objects.filter(pk__in={w.business_id for w in wallets}).values_list("id", "runway_days"))
    started = ended = 0
    events: list[WebhookEvent] = []
    with transaction.atomic():
        WalletRunway.objects.bulk_create(
            [WalletRunway(wallet_id=w.id, business_id=w.business_id, checked_at=now) for w in wallets],
            ignore_conflicts=True,
        )
        states = {r.wallet_id: r for r in WalletRunway.objects.select_for_update(no_key=True)
                  .filter(wallet_id__in=[w.id for w in wallets]).order_by("wallet_id")}
        changed = []
        for wallet in wallets:
            state = states[wallet.id]
            runway = Runway(wallet.balance, burned.get(wallet.id, 0))
            low = runway.low(days[wallet.business_id])
            if low and not state.low:
                started += 1
                state.since = now
                events.append(WebhookEvent(
                    business_id=wallet.business_id, type=outbox.Type.RUNWAY_LOW.value, customer_id=wallet.customer_id,
                    currency=wallet.currency, created_at=now,
                    data={"balance": wallet.balance, "days_left": runway.days_left,
                          "burn_per_day": runway.burn_per_day, "runway_days": days[wallet.business_id]},
                ))
            elif state.low and not low:
                ended += 1
                state.since = None
            state.low, state.days_left, state.burn_per_day, state.checked_at = (
                low, runway.days_left, runway.burn_per_day, now)
            state.checked_entry_count = wallet.entry_count
            changed.append(state)
        WalletRunway.objects.bulk_update(
            changed, ["low", "days_left", "burn_per_day", "since", "checked_at", "checked_entry_count"])
        outbox.write(events)
    return started, ended
