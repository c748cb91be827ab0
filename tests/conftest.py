"""Shared fixtures: businesses, API keys, customers and an API client per business."""

import csv
import datetime
import os
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from wallets import ledger, services
from wallets.models import ExchangeRate
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, business_get_or_create
from wallets.services.exchange_rates import SNAPSHOT_PATH, SNAPSHOT_SOURCE


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """With ``--dist loadgroup`` (CI), every test marked ``xdist_group`` must carry its group in its
    node id, which is how pytest-xdist keeps a group on one worker; a pytest that drops it (9.2 with
    xdist 3.8: pytest-xdist#1386) would spread the bench smoke run's tests over both workers."""
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers only
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(f"--dist loadgroup is not grouping (pytest and pytest-xdist disagree): {lost[0]}")


@pytest.fixture
def business(db):
    return business_get_or_create(name="Acme")[0]


@pytest.fixture
def other_business(db):
    return business_get_or_create(name="Globex")[0]


def _client_for(business, read_only=False):
    _, raw = api_key_create(business=business, read_only=read_only)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.raw_key = raw
    return client


@pytest.fixture
def api(business):
    return _client_for(business)


@pytest.fixture
def other_api(other_business):
    return _client_for(other_business)


@pytest.fixture
def read_only_api(business):
    return _client_for(business, read_only=True)


@pytest.fixture
def make_customer(business):
    counter = {"n": 0}

    def make(email=None, name="Customer", business_id=None, **kwargs):
        counter["n"] += 1
        customer, _ = services.customer_create(
            business_id=business_id or business.id, email=email or f"c{counter['n']}@example.com",
            name=name, **kwargs,
        )
        return customer

    return make


@pytest.fixture
def customer(make_customer):
    return make_customer(email="ann@example.com", name="Ann Lee")


@pytest.fixture
def post():
    """Post through the service layer as a command actor."""

    def post(customer, amount, currency="USD", credit=True, **kwargs):
        return ledger.post(
            business_id=customer.business_id, customer_id=customer.id, currency=currency, amount=amount,
            is_credit=credit, actor=Actor.command("test"), **kwargs,
        )

    return post


def _load_reference_data() -> None:
    """What data migrations wrote (the exchange-rate snapshot), again; idempotent."""
    with open(SNAPSHOT_PATH, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    ExchangeRate.objects.bulk_create(
        [ExchangeRate(currency=r["currency"], rate_to_usd=Decimal(r["rate_to_usd"]),
                      as_of=datetime.date.fromisoformat(r["as_of"]), source=SNAPSHOT_SOURCE) for r in rows],
        ignore_conflicts=True,
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with the migrations' data there even when it is reused
    (``--reuse-db``, the local default) after a run whose transactional tests flushed it."""
    with django_db_blocker.unblock():
        _load_reference_data()


@pytest.fixture
def reference_data(transactional_db):
    """The migrations' data for a transactional test, which starts from whatever the previous one
    flushed."""
    _load_reference_data()


# --- Real Chromium -----------------------------------------------------------------------------
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make for
# set-up and checks are synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, one per test session (every browser test shares it)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)  # a shared 2-core machine can be slow; waits end as soon as true

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- The partitioned layout (docs/partitions.md) -------------------------------------------------
# WALLETS_TEST_PARTITIONED=1 runs the session on the multi-node rehearsal's layout: the ledger and
# wallet tables hash-partitioned by business_id, two partitions on a second cluster (postgres_fdw),
# `business` on one of those, `other_business` on a local one.
if os.environ.get("WALLETS_TEST_PARTITIONED"):
    from tests.scaleout.partitioned import fixtures as _partitioned

    business = _partitioned.business  # on a shard
    other_business = _partitioned.other_business  # on a local partition
    shard_cluster = _partitioned.shard_cluster
    partitioned_session = _partitioned.partitioned_session

    @pytest.fixture(autouse=True, scope="session")
    def _on_the_partitioned_layout(partitioned_session):
        return partitioned_session
