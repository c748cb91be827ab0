"""Dodo's official Python SDK, live, on what issue 15 fixed: an AED credit (Dodo's own example
currency) and a wallet list that decodes; the newest SDK's customer fields; ``name=None`` on update."""

import pytest
from dodopayments import DodoPayments

from tests.resilience.conftest import reference_data  # noqa: F401 - fixture: the shipped rates, after a flush
from wallets.services.api_keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dodo(live_server, business, reference_data):  # noqa: F811
    _, raw = api_key_create(business=business, name="sdk test")
    with DodoPayments(bearer_token=raw, base_url=live_server.url, max_retries=0) as client:
        yield client


def test_an_aed_credit_and_the_wallet_list_through_the_sdk(dodo):
    customer = dodo.customers.create(email="aed@example.com", name="Dirham")
    wallet = dodo.customers.wallets.ledger_entries.create(customer.customer_id, amount=367250, currency="AED",
                                                          entry_type="credit")
    assert (wallet.currency, wallet.balance) == ("AED", 367250)
    wallets = dodo.customers.wallets.list(customer.customer_id)
    assert 99_900 < wallets.total_balance_usd < 100_100  # AED 3,672.50 is about USD 1,000.00
    assert wallets.model_extra["unconverted_currencies"] == []
    assert wallets.model_extra["total_balance_usd_capped"] is False


def test_the_newest_sdks_customer_fields(dodo):
    customer = dodo.customers.create(email="loc@example.com", name="Locale", preferred_locale="fr")
    assert (customer.preferred_locale, customer.blocked_at, customer.blocklist_entry_id) == ("fr", None, None)
    updated = dodo.customers.update(customer.customer_id, name=None, email=None, preferred_locale="ja")
    assert (updated.name, updated.email, updated.preferred_locale) == ("Locale", "loc@example.com", "ja")
