"""A business's per-currency rules (``CurrencyPolicy``): the low-balance threshold and the approval
threshold; and its runway days (``Business.runway_days``: ``wallet.runway_low`` fires when a wallet
empties sooner).

For both thresholds ``None`` means "use the default" (low balance: ``WALLET_LOW_BALANCE_DEFAULT``;
approval: never needed); 0 means "never low" and "every manual adjustment needs approval".

This is the one place that changes them, and every change leaves a trace in the business's activity
log, in the same transaction: ``POLICY_CHANGED`` (``{"currency", "changes": {field: {"before",
"after"}}}``, minor units), ``POLICY_DELETED`` (what the policy held) and ``SETTINGS_CHANGED``
(``{"setting": "runway_days", "before", "after"}``). The dashboard and the admin both call it.
"""

from collections.abc import Mapping

from django.db import transaction

from wallets.exceptions import InvalidInput
from wallets.models import Business, CurrencyPolicy, SecurityEvent
from wallets.money import is_supported_currency
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record

POLICY_FIELDS = ("low_balance_below", "approval_above")


def currency_policy_update(
    *, business_id: str, currency: str, changes: Mapping[str, int | None], actor: Actor | None = None,
    actor_name: str = "", ip: str | None = None,
) -> CurrencyPolicy:
    """Set (or clear, with ``None``) the fields of ``changes`` on the business's policy for
    ``currency`` (created when missing). Records ``POLICY_CHANGED`` when a value really changes."""
    if not is_supported_currency(currency):
        raise ValueError(f"unsupported currency {currency!r}")
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"not policy fields: {sorted(unknown)}")
    for value in changes.values():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError("a threshold is a whole, non-negative number of minor units")
    with transaction.atomic(durable=True):
        policy, _ = CurrencyPolicy.objects.select_for_update(no_key=True).get_or_create(
            business_id=business_id, currency=currency
        )
        changed = {field: {"before": getattr(policy, field), "after": value}
                   for field, value in changes.items() if getattr(policy, field) != value}
        if changed:
            for field, change in changed.items():
                setattr(policy, field, change["after"])
            policy.save(update_fields=list(changed))
            security_event_record(
                kind=SecurityEvent.Kind.POLICY_CHANGED, business_id=business_id, actor=actor, actor_name=actor_name,
                ip=ip, details={"currency": currency, "changes": changed},
            )
    return policy


def currency_policy_set_low_balance(
    *, business_id: str, currency: str, low_balance_below: int | None, actor: Actor | None = None,
    actor_name: str = "", ip: str | None = None,
) -> CurrencyPolicy:
    """Set (or clear, with ``None``) the business's low-balance threshold for ``currency``."""
    if low_balance_below is not None and low_balance_below < 0:
        raise ValueError("a threshold cannot be negative")
    return currency_policy_update(business_id=business_id, currency=currency,
                                  changes={"low_balance_below": low_balance_below},
                                  actor=actor, actor_name=actor_name, ip=ip)


def currency_policy_set_approval(
    *, business_id: str, currency: str, approval_above: int | None, actor: Actor | None = None,
    actor_name: str = "", ip: str | None = None,
) -> CurrencyPolicy:
    """Set (or clear, with ``None``: no approval needed) the amount above which a manual adjustment
    in ``currency`` waits for an approver."""
    if approval_above is not None and approval_above < 0:
        raise ValueError("a threshold cannot be negative")
    return currency_policy_update(business_id=business_id, currency=currency,
                                  changes={"approval_above": approval_above},
                                  actor=actor, actor_name=actor_name, ip=ip)


def currency_policy_delete(
    *, business_id: str, currency: str, actor: Actor | None = None, actor_name: str = "", ip: str | None = None,
) -> bool:
    """Delete the business's policy for ``currency`` (its thresholds fall back to the defaults),
    recording ``POLICY_DELETED`` with what it held. False when there was none."""
    with transaction.atomic(durable=True):
        policy = CurrencyPolicy.objects.select_for_update(no_key=True).filter(
            business_id=business_id, currency=currency).first()
        if policy is None:
            return False
        held = {field: getattr(policy, field) for field in POLICY_FIELDS}
        policy.delete()
        security_event_record(
            kind=SecurityEvent.Kind.POLICY_DELETED, business_id=business_id, actor=actor, actor_name=actor_name,
            ip=ip, details={"currency": currency, **held},
        )
    return True


RUNWAY_DAYS_MIN, RUNWAY_DAYS_MAX = 1, 365


def business_set_runway_days(
    *, business_id: str, runway_days: int, actor: Actor | None = None, actor_name: str = "", ip: str | None = None,
) -> int:
    """Set how many days ahead a wallet's runway is "low" (1 to 365); returns the value.
    Records ``SETTINGS_CHANGED`` when it changes."""
    if isinstance(runway_days, bool) or not isinstance(runway_days, int) \
            or not RUNWAY_DAYS_MIN <= runway_days <= RUNWAY_DAYS_MAX:
        raise InvalidInput("Invalid runway days.", {"runway_days": [
            f"Give a whole number of days, {RUNWAY_DAYS_MIN} to {RUNWAY_DAYS_MAX}."]})
    with transaction.atomic(durable=True):
        before = Business.objects.select_for_update(no_key=True).values_list("runway_days", flat=True).get(
            pk=business_id)
        if before != runway_days:
            Business.objects.filter(pk=business_id).update(runway_days=runway_days)
            security_event_record(
                kind=SecurityEvent.Kind.SETTINGS_CHANGED, business_id=business_id, actor=actor,
                actor_name=actor_name, ip=ip,
                details={"setting": "runway_days", "before": before, "after": runway_days},
            )
    return runway_days
