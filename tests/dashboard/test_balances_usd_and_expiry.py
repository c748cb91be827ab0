"""The customer page's booked, held and available balances, its expiring credit ("expires in 3
days", counted in the user's zone), and the USD-equivalent total on the overview and the customer
page: the API's figure (``total_balance_usd``), the rates' date, and the currencies left out."""

import datetime
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone

from wallets import ledger
from wallets.models import ExchangeRate
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def figure(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">((?:[^<]|<wbr>)*)<', html)
    assert match, testid
    return match.group(1).replace("<wbr>", "")


def set_rates(as_of: datetime.date, **rates: str) -> None:
    for currency, value in rates.items():
        ExchangeRate.objects.create(currency=currency, rate_to_usd=Decimal(value), as_of=as_of, source="test")


def test_customer_page_total_is_the_apis(operator_client, api, customer, post):
    set_rates(datetime.date(2031, 1, 5), INR="0.0125")  # newer than the shipped snapshot: it wins
    post(customer, 2500)  # $25.00
    post(customer, 100000, currency="INR")  # ₹1,000.00 = $12.50
    html = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert figure(html, "usd-total") == "$37.50"
    assert api.get(f"/customers/{customer.pk}/wallets").json()["total_balance_usd"] == 3750
    assert figure(html, "usd-rates") == "rates as of Jan 5, 2031"
    assert 'data-testid="usd-unconverted"' not in html


def test_a_currency_without_a_rate_is_left_out_and_named(operator_client, api, customer, post):
    ExchangeRate.objects.filter(currency="JPY").delete()
    post(customer, 2500)
    post(customer, 500, currency="JPY")
    html = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    body = api.get(f"/customers/{customer.pk}/wallets").json()
    assert figure(html, "usd-total") == "$25.00" == f"${body['total_balance_usd'] / 100:.2f}"
    assert body["unconverted_currencies"] == ["JPY"]
    assert figure(html, "usd-unconverted") == "Left out, no exchange rate: JPY"
    assert figure(html, "usd-rates") == "no conversion needed"  # only USD was summed


def test_rates_of_different_days_say_so(operator_client, customer, post):
    set_rates(datetime.date(2031, 1, 5), INR="0.0125")
    set_rates(datetime.date(2031, 1, 9), EUR="1.10")
    post(customer, 100000, currency="INR")
    post(customer, 1000, currency="EUR")
    html = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert figure(html, "usd-total") == "$23.50"  # 12.50 + 11.00
    assert figure(html, "usd-rates") == "rates as of Jan 9, 2031 (some from Jan 5, 2031)"


def test_overview_total_converts_each_currency_sum_once(operator_client, make_customer, post):
    set_rates(datetime.date(2031, 1, 5), INR="0.0125")
    ann, bob = make_customer(name="Ann"), make_customer(name="Bob")
    post(ann, 1000)
    post(bob, 1050)
    post(ann, 40, currency="INR")  # ₹0.40 = $0.005
    post(bob, 40, currency="INR")  # ₹0.80 in all = $0.01 (one rounding, not two)
    html = operator_client.get("/dashboard/").content.decode()
    assert figure(html, "usd-total") == "$20.51"
    assert figure(html, "usd-rates") == "rates as of Jan 5, 2031"


@pytest.mark.parametrize("customers", [2, 30])
def test_overview_query_budget_with_conversions(operator_client, make_customer, post, customers,
                                                 django_assert_max_num_queries):
    for i in range(customers):
        c = make_customer(name=f"C{i}")
        post(c, 100 + i)
        post(c, 1000 + i, currency="INR")
    assert operator_client.get("/dashboard/").status_code == 200
    # The existing eleven and the rates (one query for every currency).
    with django_assert_max_num_queries(12):
        operator_client.get("/dashboard/")


def test_booked_held_available_and_expiring_credit(viewer_client, customer, post):
    session = viewer_client.session
    session["django_timezone"] = "Asia/Kolkata"
    session.save()
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    post(customer, 10000)
    ledger.create_hold(business_id=customer.business_id, customer_id=customer.pk, currency="USD", amount=2500,
                       actor=Actor.command("test"), expires_at=timezone.now() + 2 * DAY, reference_object_id="ord_1")
    # Three days ahead at noon in Kolkata, and tomorrow at noon: counted in Kolkata's calendar days.
    today = timezone.now().astimezone(kolkata).date()
    noon = datetime.time(12, tzinfo=kolkata)
    later = post(customer, 3000, expires_at=datetime.datetime.combine(today + 3 * DAY, noon)).entry
    sooner = post(customer, 2000, expires_at=datetime.datetime.combine(today + DAY, noon)).entry
    html = viewer_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert "USD wallet · booked" in html
    assert figure(html, "balance-USD") == "$150.00"
    assert figure(html, "held-USD") == "$25.00"
    assert figure(html, "available-USD") == "$125.00"
    assert re.findall(r'data-testid="grant-expires-in">([^<]*)<', html) == ["expires tomorrow", "expires in 3 days"]
    assert html.index(sooner.pk) < html.index(later.pk)
    assert re.findall(r'data-testid="grant-remaining">([^<]*)<', html) == ["$20.00", "$30.00"]
    assert re.findall(r'data-testid="hold-expires-in">([^<]*)<', html) == ["expires in 2 days"]
