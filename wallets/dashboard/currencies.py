"""Currency pickers of the dashboard: the business's own currencies first, then every other one
the API accepts. Only the order and grouping change; the same codes are valid as before."""

from django.db import connections, router

from wallets.ledger import sql
from wallets.models import Wallet
from wallets.money import DODO_CURRENCIES

OWN_GROUP = "This business's currencies"
OTHER_GROUP = "Other currencies"


def business_currencies(*, business_id: str) -> list[str]:
    """The currencies a business uses: it has wallets in them, or a threshold or policy for them.
    One query: the wallets' loose index scan (``selectors.wallet_currencies``) and the policies."""
    connection = connections[router.db_for_read(Wallet)]
    with connection.cursor() as cursor:
        cursor.execute(sql.business_currencies_statement(), [business_id, business_id, business_id])
        used = {code for (code,) in cursor.fetchall()}
    return sorted(code for code in used if code in DODO_CURRENCIES)


def currency_choices(*, business_id: str, empty: tuple[str, str] | None = None, own: list[str] | None = None) -> list:
    """Grouped ``choices`` for a currency ``<select>``: the business's first (if any), then the rest.
    ``own``: the business's currencies, when the caller read them already (one query per page)."""
    own = business_currencies(business_id=business_id) if own is None else own
    others = [(code, code) for code in DODO_CURRENCIES if code not in own]
    choices: list = [empty] if empty else []
    if own:
        choices += [(OWN_GROUP, [(code, code) for code in own]), (OTHER_GROUP, others)]
    else:
        choices += others
    return choices


def order_currency_field(form, *, business_id: str, name: str = "currency", own: list[str] | None = None) -> None:
    """Reorder a form's currency field in place, keeping its empty choice ("Any currency") first."""
    field = form.fields.get(name)
    if field is None:
        return
    current = list(field.choices)
    empty = current[0] if current and current[0][0] == "" else None
    field.choices = currency_choices(business_id=business_id, own=own)
    # django-filter's choice fields add their empty choice themselves; a plain form's needs it back.
    if empty and not any(value == "" for value, _ in field.choices):
        field.choices = [empty, *field.choices]
