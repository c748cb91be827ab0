"""customer_create and customer_update."""

import pytest
from django.test import override_settings

from wallets import services
from wallets.exceptions import CustomerNotFound, InvalidInput
from wallets.models import Customer, Wallet

pytestmark = pytest.mark.django_db


def test_create_makes_the_default_wallets(business):
    customer, created = services.customer_create(business_id=business.id, email="a@example.com", name="A")
    assert created
    assert sorted(Wallet.objects.filter(customer=customer).values_list("currency", "balance")) == [
        ("INR", 0),
        ("USD", 0),
    ]


@override_settings(WALLET_DEFAULT_CURRENCIES=["EUR", "GBP", "USD"])
def test_default_wallets_follow_the_setting(business):
    customer, _ = services.customer_create(business_id=business.id, email="a@example.com", name="A")
    assert sorted(Wallet.objects.filter(customer=customer).values_list("currency", flat=True)) == ["EUR", "GBP", "USD"]


def test_create_with_a_known_email_returns_that_customer_unchanged(customer):
    again, created = services.customer_create(
        business_id=customer.business_id,
        email="ANN@example.COM",
        name="Other",
        phone_number="1",
        metadata={"a": 1},
    )
    assert not created
    assert again.id == customer.id
    assert (again.name, again.phone_number, again.metadata) == ("Ann Lee", None, {})
    assert Customer.objects.count() == 1
    assert Wallet.objects.filter(customer=customer).count() == 2


def test_update_changes_only_given_fields(make_customer):
    customer = make_customer(email="d@example.com", name="D", phone_number="1", metadata={"a": "b"})
    updated = services.customer_update(business_id=customer.business_id, customer_id=customer.id, name="Dee")
    stored = Customer.objects.get(id=customer.id)
    assert (stored.name, stored.email, stored.phone_number, stored.metadata) == (
        "Dee",
        "d@example.com",
        "1",
        {"a": "b"},
    )
    assert updated.updated_at == stored.updated_at > customer.updated_at


def test_update_none_clears_phone_and_metadata(make_customer):
    customer = make_customer(email="d@example.com", phone_number="1", metadata={"a": "b"})
    services.customer_update(
        business_id=customer.business_id, customer_id=customer.id, phone_number=None, metadata=None
    )
    stored = Customer.objects.get(id=customer.id)
    assert (stored.phone_number, stored.metadata) == (None, {})


def test_update_to_another_customers_email_is_refused(customer, make_customer):
    other = make_customer(email="bo@example.com", name="Bo")
    with pytest.raises(InvalidInput) as caught:
        services.customer_update(
            business_id=other.business_id, customer_id=other.id, email="Ann@Example.com", name="Changed"
        )
    assert "email" in caught.value.errors
    assert Customer.objects.get(id=other.id).name == "Bo"


def test_update_of_another_business_customer_is_not_found(customer, other_business):
    with pytest.raises(CustomerNotFound):
        services.customer_update(business_id=other_business.id, customer_id=customer.id, name="X")
    assert Customer.objects.get(id=customer.id).name == "Ann Lee"
