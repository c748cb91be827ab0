"""Currency pickers of the dashboard: the business's own currencies first, then every other one
the API accepts. Only the order and grouping change; the same codes are valid as before."""

from wallets import selectors
from wallets.models import CurrencyPolicy
from wallets.money import DODO_CURRENCIES

OWN_GROUP = "This business's currencies"
OTHER_GROUP = "Other currencies"


def business_currencies(*, business_id: str) -> list[str]:
    """The currencies a business uses: it has wallets in them, or a threshold or policy for them."""
    used = selectors.wallet_currencies(business_id=business_id)
    used |= set(CurrencyPolicy.objects.filter(business_id=business_id).values_list("currency", flat=True))
    return sorted(code for code in used if code in DODO_CURRENCIES)


def currency_choices(*, business_id: str, empty: tuple[str, str] | None = None) -> list:
    """Grouped ``choices`` for a currency ``<select>``: the business's first (if any), then the rest."""
    own = business_currencies(business_id=business_id)
    others = [(code, code) for code in DODO_CURRENCIES if code not in own]
    choices: list = [empty] if empty else []
    if own:
        choices += [(OWN_GROUP, [(code, code) for code in own]), (OTHER_GROUP, others)]
    else:
        choices += others
    return choices


def order_currency_field(form, *, business_id: str, name: str = "currency") -> None:
    """Reorder a form's currency field in place, keeping its empty choice ("Any currency") first."""
    field = form.fields.get(name)
    if field is None:
        return
    current = list(field.choices)
    empty = current[0] if current and current[0][0] == "" else None
    field.choices = currency_choices(business_id=business_id, empty=empty)
