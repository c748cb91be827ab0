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
