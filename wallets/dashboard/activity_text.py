"""The activity log's sentences: a ``SecurityEvent``'s details, said the way a person would
("USD approval threshold $500.00 → $1,000.00"), money formatted per currency. An unknown shape
falls back to its keys and values, so a new kind of event is never hidden."""

from wallets.models import Membership, SecurityEvent
from wallets.money import format_money, is_supported_currency

Kind = SecurityEvent.Kind
POLICY_LABELS = {"low_balance_below": "low-balance threshold", "approval_above": "approval threshold"}
SETTING_LABELS = {"runway_days": "Runway alerts (days)"}


def _money(value, currency: str, empty: str) -> str:
    if value is None:
        return empty
    if isinstance(value, int) and not isinstance(value, bool) and is_supported_currency(currency):
        return format_money(value, currency)
    return str(value)


def _empty_for(field: str) -> str:
    return "default" if field == "low_balance_below" else "none"


def _role(value) -> str:
    try:
        return Membership.Role(value).name.title()
    except ValueError:
        return str(value)


def _member(details: dict) -> str:
    return details.get("email") or details.get("username") or f"user {details.get('user_id', '?')}"


def _generic(details: dict) -> str:
    return "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in details.items() if value not in (None, ""))


def describe(event: SecurityEvent) -> str:
    d = event.details if isinstance(event.details, dict) else {}
    try:
        return _describe(event.kind, d)
    except (AttributeError, KeyError, TypeError, ValueError):
        return _generic(d)


def _describe(kind: str, d: dict) -> str:
    currency = str(d.get("currency", ""))
    if kind == Kind.POLICY_CHANGED:
        return "; ".join(
            f"{currency} {POLICY_LABELS.get(field, field)} {_money(change.get('before'), currency, _empty_for(field))}"
            f" → {_money(change.get('after'), currency, _empty_for(field))}"
            for field, change in d["changes"].items())
    if kind == Kind.POLICY_DELETED:
        held = ", ".join(f"{POLICY_LABELS.get(f, f)} {_money(d.get(f), currency, _empty_for(f))}"
                         for f in POLICY_LABELS)
        return f"{currency} policy deleted (it held: {held})"
    if kind == Kind.SETTINGS_CHANGED:
        setting = d.get("setting", "")
        return f"{SETTING_LABELS.get(setting, setting)} {d.get('before')} → {d.get('after')}"
    if kind == Kind.MEMBER_INVITED:
        if d.get("renewed"):
            return f"New set-password link for {_member(d)}"
        return f"Invited {_member(d)} as {_role(d.get('role'))}"
    if kind == Kind.MEMBER_ROLE_CHANGED:
        return f"{_member(d)}: {_role(d.get('before'))} → {_role(d.get('after'))}"
    if kind == Kind.MEMBER_REMOVED:
        return f"Removed {_member(d)} (was {_role(d.get('role'))})"
    if kind in (Kind.API_KEY_CREATED, Kind.API_KEY_REVOKED):
        name = f" “{d['name']}”" if d.get("name") else ""
        access = " (read-only)" if d.get("read_only") else ""
        return f"Key {d.get('prefix', '')}…{name}{access}"
    if kind in (Kind.ADJUSTMENT_APPROVED, Kind.ADJUSTMENT_REJECTED):
        direction = "credit" if d.get("is_credit") else "debit"
        text = f"{_money(d.get('amount'), currency, '?')} {direction} for {d.get('customer_id', '?')}"
        if d.get("reversal_of"):
            text += f" (reversal of {d['reversal_of']})"
        return text + (f": “{d['note']}”" if d.get("note") else "")
    if kind in (Kind.LOGIN, Kind.LOGOUT, Kind.LOGIN_FAILED, Kind.LOGIN_LOCKED_OUT):
        text = str(d.get("username", "")) if kind != Kind.LOGIN_FAILED or d.get("known_user") \
            else f"{d.get('username', '')} (unknown user)"
        return text + (f", after {d['failures']} failures" if d.get("failures") else "")
    return _generic(d)
