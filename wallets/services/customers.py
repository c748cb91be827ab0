"""Creating and changing customers. Emails are unique per business, case-insensitively."""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from wallets.exceptions import CustomerNotFound, InvalidInput
from wallets.models import Customer, Wallet
from wallets.services.pinned import save_pinned

_UNSET: Any = object()


def customer_find_by_email(*, business_id: str, email: str) -> Customer | None:
    return (
        Customer.objects.alias(email_lower=Lower("email"))
        .filter(business_id=business_id, email_lower=email.lower())
        .first()
    )


def customer_create(
    *,
    business_id: str,
    email: str,
    name: str,
    phone_number: str | None = None,
    metadata: dict[str, Any] | None = None,
    preferred_locale: str | None = None,
) -> tuple[Customer, bool]:
    """Create a customer with its default wallets, or return the one with this email unchanged.

    Returns ``(customer, created)``.
    """
    existing = customer_find_by_email(business_id=business_id, email=email)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic(durable=True):
            customer = Customer.objects.create(
                business_id=business_id, email=email, name=name, phone_number=phone_number,
                metadata=metadata or {}, preferred_locale=preferred_locale,
            )
            Wallet.objects.bulk_create(
                [
                    Wallet(business_id=business_id, customer=customer, currency=currency)
                    for currency in settings.WALLET_DEFAULT_CURRENCIES
                ]
            )
    except IntegrityError:
        # A concurrent request created the same email first: answer with that customer.
        existing = customer_find_by_email(business_id=business_id, email=email)
        if existing is None:
            raise
        return existing, False
    return customer, True


def customer_update(
    *,
    business_id: str,
    customer_id: str,
    name: str = _UNSET,
    email: str = _UNSET,
    phone_number: str | None = _UNSET,
    metadata: dict[str, Any] | None = _UNSET,
    preferred_locale: str | None = _UNSET,
) -> Customer:
    """Change the given fields; an omitted field is unchanged. ``None`` clears phone, metadata and
    the preferred locale."""
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = name
    if email is not _UNSET:
        changes["email"] = email
    if phone_number is not _UNSET:
        changes["phone_number"] = phone_number
    if metadata is not _UNSET:
        changes["metadata"] = metadata or {}
    if preferred_locale is not _UNSET:
        changes["preferred_locale"] = preferred_locale
    try:
        with transaction.atomic(durable=True):
            customer = (
                Customer.objects.select_for_update(no_key=True).filter(business_id=business_id, id=customer_id).first()
            )
            if customer is None:
                raise CustomerNotFound()
            if "email" in changes and changes["email"].lower() != customer.email.lower():
                other = customer_find_by_email(business_id=business_id, email=changes["email"])
                if other is not None:
                    raise InvalidInput(
                        "Another customer already has this email.",
                        errors={"email": ["Another customer of this business already has this email."]},
                    )
            for field, value in changes.items():
                setattr(customer, field, value)
            if changes:
                save_pinned(customer, [*changes, "updated_at"])
    except IntegrityError as exc:
        raise InvalidInput(
            "Another customer already has this email.",
            errors={"email": ["Another customer of this business already has this email."]},
        ) from exc
    return customer
