"""Reads shared by the API, the dashboard and the commands. Every read is scoped to a business."""

from decimal import Decimal

from django.db import connections, router
from django.db.models import QuerySet

from wallets.exceptions import CustomerNotFound
from wallets.ledger import sql
from wallets.models import Customer, LedgerEntry, Wallet
from wallets.selectors.api_keys import api_key_find_active  # noqa: F401  (re-exported)
from wallets.selectors.exchange_rates import UsdTotal, latest_rates_to_usd, total_balance_usd  # noqa: F401
from wallets.selectors.pages import deferred_pages


def customer_list(*, business_id: str) -> QuerySet[Customer]:
    return Customer.objects.filter(business_id=business_id).order_by("-created_at", "-id")


def customer_get(*, business_id: str, customer_id: str) -> Customer:
    customer = Customer.objects.filter(business_id=business_id, id=customer_id).first()
    if customer is None:
        raise CustomerNotFound()
    return customer


def wallet_list(*, business_id: str, customer_id: str) -> list[Wallet]:
    return list(Wallet.objects.filter(business_id=business_id, customer_id=customer_id).order_by("currency"))


def ledger_entry_list(*, business_id: str, customer_id: str, currency: str | None = None) -> QuerySet[LedgerEntry]:
    """The customer's entries, newest first, in ``ledger_customer_newest``'s order (total: it ends in
    the id). Deep pages are read as a deferred join (``selectors.pages``)."""
    entries = LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id)
    if currency:
        entries = entries.filter(currency=currency)
    return deferred_pages(entries.order_by("-created_at", "-sequence", "-id"))


def low_balance_thresholds(*, business_id: str, currencies) -> dict[str, int]:
    """Threshold in minor units per currency: the business's own, else the default."""

    from wallets.models import CurrencyPolicy

    own: dict[str, int] = {
        currency: below
        for currency, below in CurrencyPolicy.objects.filter(
            business_id=business_id, low_balance_below__isnull=False
        ).values_list("currency", "low_balance_below")
        if below is not None
    }
    return {c: own.get(c, low_balance_default(c)) for c in currencies}


def low_balance_default(currency: str) -> int:
    """``WALLET_LOW_BALANCE_DEFAULT`` (major units) in the currency's minor units."""
    from django.conf import settings

    from wallets.money import minor_unit_exponent

    return int(Decimal(settings.WALLET_LOW_BALANCE_DEFAULT).scaleb(minor_unit_exponent(currency)))


def wallet_currencies(*, business_id: str) -> set[str]:
    """The currencies a business has wallets in. A loose index scan: one probe of the
    (business, currency, balance) index per currency, instead of reading every wallet (a
    ``SELECT DISTINCT`` was most of the low-balance page's time at 100,000 wallets)."""
    connection = connections[router.db_for_read(Wallet)]
    with connection.cursor() as cursor:
        cursor.execute(sql.wallet_currencies_statement(), [business_id, business_id])
        return {code for (code,) in cursor.fetchall()}


def wallet_low_balance_list(
    *, business_id: str, currency: str | None = None, below: int | None = None, include_unused: bool = False
):
    """Wallets under their currency's threshold (or under ``below`` minor units if given), with the
    customer joined. One query: thresholds are folded into a CASE over the currencies in use.

    A wallet that never had an entry (the empty default wallets every customer gets) is not
    "running low" and is left out unless ``include_unused``."""
    from django.db.models import Case, IntegerField, Q, Value, When

    wallets = Wallet.objects.filter(business_id=business_id).select_related("customer")
    if not include_unused:
        wallets = wallets.filter(entry_count__gt=0)
    if currency:
        wallets = wallets.filter(currency=currency)
    if below is not None:
        return wallets.filter(balance__lt=below)
    currencies = wallet_currencies(business_id=business_id)
    if currency:
        currencies &= {currency}
    thresholds = low_balance_thresholds(business_id=business_id, currencies=currencies)
    if not thresholds:
        return wallets.none()
    condition = Q()
    for code, threshold in thresholds.items():
        condition |= Q(currency=code, balance__lt=threshold)
    return wallets.filter(condition).annotate(
        threshold=Case(*[When(currency=c, then=Value(t)) for c, t in thresholds.items()],
                       output_field=IntegerField())
    )


def wallet_totals_by_currency(*, business_id: str) -> list[dict]:
    """Per currency: the sum of balances, the number of wallets and of funded wallets. One query."""
    from django.db.models import Count, Q, Sum

    rows = (
        Wallet.objects.filter(business_id=business_id)
        .values("currency")
        .annotate(total=Sum("balance"), wallets=Count("id"), funded=Count("id", filter=Q(balance__gt=0)))
        .order_by("currency")
    )
    return [{**row, "total": int(row["total"] or 0)} for row in rows]


def ledger_entry_list_business(*, business_id: str) -> QuerySet[LedgerEntry]:
    """Every entry of a business, newest first, with the customer's name and email joined. Deep
    pages are read as a deferred join (``selectors.pages``)."""
    return deferred_pages(
        LedgerEntry.objects.filter(business_id=business_id)
        .select_related("customer")
        .defer("customer__metadata", "customer__phone_number")
        .order_by("-created_at", "-sequence", "-id")
    )


def balance_history(*, business_id: str, customer_id: str, limit: int = 2000) -> dict[str, list[tuple]]:
    """``{currency: [(created_at, balance_after), …]}`` oldest first, from the customer's most
    recent ``limit`` entries (one query; enough points for a chart)."""
    rows = list(
        LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id)
        .order_by("-created_at", "-sequence")
        .values_list("currency", "created_at", "after_balance")[:limit]
    )
    history: dict[str, list[tuple]] = {}
    for currency, created_at, after in reversed(rows):
        history.setdefault(currency, []).append((created_at, after))
    return history


def wallet_low_balance_all() -> QuerySet[Wallet]:
    """Wallets in use of every business under their threshold (the business's own for the currency,
    else the default), annotated with ``threshold``: one query, for the admin's *low balance* filter.
    Never-used wallets are left out, as in ``wallet_low_balance_list``."""
    from django.conf import settings
    from django.db.models import BigIntegerField, Case, F, OuterRef, Subquery, Value, When
    from django.db.models.functions import Coalesce

    from wallets.models import CurrencyPolicy
    from wallets.money import DODO_CURRENCIES, minor_unit_exponent

    default_major = Decimal(settings.WALLET_LOW_BALANCE_DEFAULT)
    by_exponent: dict[int, list[str]] = {}
    for code in DODO_CURRENCIES:
        by_exponent.setdefault(minor_unit_exponent(code), []).append(code)
    default = Case(
        *[When(currency__in=codes, then=Value(int(default_major.scaleb(exp)))) for exp, codes in by_exponent.items()],
        output_field=BigIntegerField(),
    )
    own = CurrencyPolicy.objects.filter(
        business_id=OuterRef("business_id"), currency=OuterRef("currency"), low_balance_below__isnull=False
    ).values("low_balance_below")[:1]
    return Wallet.objects.filter(entry_count__gt=0).annotate(
        threshold=Coalesce(Subquery(own, output_field=BigIntegerField()), default)
    ).filter(balance__lt=F("threshold"))


def adjustment_key_used(*, business_id: str, customer_id: str, idempotency_key: str) -> bool:
    """Whether a manual adjustment form with this key was already posted (or held for approval)."""
    from wallets.models import AdjustmentRequest

    return (
        LedgerEntry.objects.filter(
            business_id=business_id, customer_id=customer_id, idempotency_key=idempotency_key
        ).exists()
        or AdjustmentRequest.objects.filter(business_id=business_id, idempotency_key=idempotency_key).exists()
    )


def adjustment_request_list(*, business_id: str):
    """Held manual adjustments of a business, newest first, with the people joined."""
    from wallets.models import AdjustmentRequest

    return (
        AdjustmentRequest.objects.filter(business_id=business_id)
        .select_related("customer", "requested_by", "decided_by")
        .order_by("-requested_at", "-id")
    )


def low_balance_threshold_rows(*, business_id: str) -> list[dict]:
    """For the settings page: each currency with wallets or a threshold of the business, with the
    business's own threshold (or None), the default, and whether wallets exist in it."""
    from wallets.models import CurrencyPolicy

    in_use = set(
        Wallet.objects.filter(business_id=business_id).order_by().values_list("currency", flat=True).distinct()
    )
    own = dict(CurrencyPolicy.objects.filter(business_id=business_id).values_list("currency", "low_balance_below"))
    currencies = sorted(in_use | {c for c, v in own.items() if v is not None})
    return [{"currency": c, "own": own.get(c), "default": low_balance_default(c), "in_use": c in in_use}
            for c in currencies]


# Modules of the package, re-exported so that ``selectors.X`` keeps working for every caller.
from wallets.selectors.actors import (  # noqa: E402, F401 - re-exported
    ActorLabels,
    actor_labels_for_business,
    actor_labels_for_entries,
    actor_names_for_business,
    ledger_entries_with_actor_labels,
)
from wallets.selectors.admin import (  # noqa: E402, F401 - re-exported
    customer_business_id,
    customer_find_any_business,
    wallet_currencies_in_use,
)
from wallets.selectors.approvals import (  # noqa: E402, F401 - re-exported
    adjustment_request_for_key,
    approval_threshold,
    ledger_entry_key_used,
    membership_for_user,
)
from wallets.selectors.businesses import business_find, business_first, business_list  # noqa: E402, F401
from wallets.selectors.reconcile import Drift, ledger_drift  # noqa: E402, F401 - re-exported
from wallets.selectors.statements import (  # noqa: E402, F401 - re-exported
    Statement,
    WalletAsOf,
    wallet_list_as_of,
    wallet_statement,
    wallets_as_of,
)
from wallets.selectors.totals import CurrencyTotals, ledger_totals  # noqa: E402, F401 - re-exported
