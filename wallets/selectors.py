"""Reads shared by the API, the dashboard and the commands. Every read is scoped to a business."""

from decimal import Decimal

from django.db.models import QuerySet

from wallets.exceptions import CustomerNotFound, ExchangeRateNotFound
from wallets.models import Customer, ExchangeRate, LedgerEntry, Wallet
from wallets.money import convert_to_usd_minor


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
    entries = LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id)
    if currency:
        entries = entries.filter(currency=currency)
    return entries.order_by("-created_at", "-sequence", "-id")


def latest_rates_to_usd(currencies: set[str]) -> dict[str, Decimal]:
    """The latest known rate of each currency (missing currencies are absent)."""
    rates: dict[str, Decimal] = {}
    for rate in ExchangeRate.objects.filter(currency__in=currencies).order_by("currency", "-as_of"):
        rates.setdefault(rate.currency, rate.rate_to_usd)
    return rates


def total_balance_usd(wallets: list[Wallet]) -> int:
    """Sum of the wallets in USD minor units at the latest rates; raises if a rate is missing."""
    balances = {w.currency: w.balance for w in wallets}
    needed = {c for c, amount in balances.items() if amount and c != "USD"}
    rates = latest_rates_to_usd(needed) if needed else {}
    missing = sorted(needed - rates.keys())
    if missing:
        raise ExchangeRateNotFound(f"No exchange rate to USD for {', '.join(missing)}.")
    return convert_to_usd_minor(balances, rates)


def low_balance_thresholds(*, business_id: str, currencies) -> dict[str, int]:
    """Threshold in minor units per currency: the business's own, else the default."""
    from django.conf import settings

    from wallets.models import CurrencyPolicy
    from wallets.money import minor_unit_exponent

    own = dict(
        CurrencyPolicy.objects.filter(business_id=business_id, low_balance_below__isnull=False)
        .values_list("currency", "low_balance_below")
    )
    default_major = Decimal(settings.WALLET_LOW_BALANCE_DEFAULT)
    return {c: own.get(c, int(default_major.scaleb(minor_unit_exponent(c)))) for c in currencies}


def wallet_low_balance_list(*, business_id: str, currency: str | None = None, below: int | None = None):
    """Wallets under their currency's threshold (or under ``below`` minor units if given), with the
    customer joined. One query: thresholds are folded into a CASE over the currencies in use."""
    from django.db.models import Case, IntegerField, Q, Value, When

    wallets = Wallet.objects.filter(business_id=business_id).select_related("customer")
    if currency:
        wallets = wallets.filter(currency=currency)
    if below is not None:
        return wallets.filter(balance__lt=below)
    currencies = set(wallets.order_by().values_list("currency", flat=True).distinct())
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
