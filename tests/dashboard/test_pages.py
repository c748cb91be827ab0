"""Overview, customers list and customer page: content, search, sorting, pagination, query budgets."""

import json
import re

import pytest

from wallets.models import CurrencyPolicy


def _names_in_order(html: str) -> list[str]:
    return re.findall(r'class="strong">([^<]+)</a>', html)


# --- overview ---------------------------------------------------------------------------------


def test_overview_totals_counts_recent_and_low(operator_client, business, make_customer, post):
    ann = make_customer(email="ann@x.test", name="Ann")
    bob = make_customer(email="bob@x.test", name="Bob")
    post(ann, 123456)  # $1,234.56
    post(bob, 500, reason="Welcome bonus")
    post(ann, 1500, currency="JPY")  # ¥1,500 (no minor unit)
    body = operator_client.get("/dashboard/").content.decode()
    assert 'data-testid="customer-count">2<' in body
    assert 'data-testid="wallet-count">5<' in body  # USD+INR each, and Ann's JPY
    assert 'data-testid="total-USD">$1,239.56<' in body
    assert 'data-testid="total-JPY">¥1,500<' in body
    assert "Welcome bonus" in body
    # Default threshold 10.00: Bob's USD ($5.00) is low; the never-used INR wallets (0) are not.
    assert 'data-testid="low-count">1<' in body


def test_overview_empty_state(operator_client):
    body = operator_client.get("/dashboard/").content.decode()
    assert "No wallets yet." in body
    assert "No activity yet." in body


def test_overview_query_count_is_flat(operator_client, make_customer, post, count_queries,
                                      django_assert_max_num_queries):
    def grow(n):
        for i in range(n):
            c = make_customer(email=f"grow{i}-{n}@x.test")
            post(c, 100 + i)

    grow(5)
    small = count_queries(operator_client, "/dashboard/")
    grow(45)
    large = count_queries(operator_client, "/dashboard/")
    assert small == large
    with django_assert_max_num_queries(12):
        operator_client.get("/dashboard/")


# --- customers --------------------------------------------------------------------------------


@pytest.fixture
def people(make_customer, post):
    ann = make_customer(email="ann.lee@example.com", name="Ann Lee")
    bob = make_customer(email="bob@example.com", name="Bob Stone")
    cat = make_customer(email="cat@other.test", name="Catherine Ng")
    post(ann, 2550)
    post(cat, 150000, currency="INR")
    return ann, bob, cat


def test_customers_list_shows_balances(operator_client, people):
    body = operator_client.get("/dashboard/customers/").content.decode()
    assert "$25.50" in body
    assert "₹1,500.00" in body
    assert set(_names_in_order(body)) == {"Ann Lee", "Bob Stone", "Catherine Ng"}


@pytest.mark.parametrize(("q", "expected"), [
    ("ann", {"Ann Lee"}),            # name, case-insensitive
    ("OTHER.test", {"Catherine Ng"}),  # part of the email
    ("stone", {"Bob Stone"}),
    ("zzz", set()),
])
def test_customers_search(operator_client, people, q, expected):
    body = operator_client.get("/dashboard/customers/", {"q": q}).content.decode()
    assert set(_names_in_order(body)) == expected
    if not expected:
        assert "No customer matches" in body


def test_customers_search_by_id(operator_client, people):
    ann = people[0]
    body = operator_client.get("/dashboard/customers/", {"q": ann.pk}).content.decode()
    assert _names_in_order(body) == ["Ann Lee"]


def test_customers_api_filters_also_work(operator_client, people):
    body = operator_client.get("/dashboard/customers/", {"email": "BOB@example.com"}).content.decode()
    assert _names_in_order(body) == ["Bob Stone"]


def test_customers_sorting(operator_client, people):
    asc = _names_in_order(operator_client.get("/dashboard/customers/", {"sort": "name"}).content.decode())
    desc = _names_in_order(operator_client.get("/dashboard/customers/", {"sort": "-name"}).content.decode())
    assert asc == ["Ann Lee", "Bob Stone", "Catherine Ng"]
    assert desc == list(reversed(asc))
    newest = _names_in_order(operator_client.get("/dashboard/customers/").content.decode())
    assert newest == ["Catherine Ng", "Bob Stone", "Ann Lee"]  # default: newest first


def test_customers_sort_header_links_toggle_and_keep_search(operator_client, people):
    body = operator_client.get("/dashboard/customers/", {"q": "e", "sort": "name"}).content.decode()
    assert 'aria-sort="ascending"' in body
    assert 'href="?q=e&amp;sort=-name"' in body


def test_customers_pagination(operator_client, make_customer):
    for i in range(30):
        make_customer(email=f"p{i:02}@x.test", name=f"Person {i:02}")
    first = operator_client.get("/dashboard/customers/", {"sort": "name"}).content.decode()
    second = operator_client.get("/dashboard/customers/", {"sort": "name", "page": 2}).content.decode()
    assert len(_names_in_order(first)) == 25
    assert len(_names_in_order(second)) == 5
    assert _names_in_order(second)[0] == "Person 25"
    assert "1–25 of 30" in first
    assert "26–30 of 30" in second
    assert "sort=name&amp;page=2" in first


def test_customers_query_count_is_flat(operator_client, make_customer, post, count_queries,
                                       django_assert_max_num_queries):
    def grow(n, start):
        for i in range(start, start + n):
            post(make_customer(email=f"q{i}@x.test"), 100)

    grow(5, 0)
    small = count_queries(operator_client, "/dashboard/customers/")
    grow(45, 5)
    large = count_queries(operator_client, "/dashboard/customers/")
    assert small == large
    with django_assert_max_num_queries(8):
        operator_client.get("/dashboard/customers/")


# --- customer page ----------------------------------------------------------------------------


def test_customer_page_profile_wallets_ledger_chart(operator_client, customer, post):
    post(customer, 5000, reason="Top-up")
    post(customer, 1250, credit=False, reason="Coffee")
    post(customer, 700, currency="KWD", reason="Dinar")  # 3 decimals: KWD 0.700
    response = operator_client.get(f"/dashboard/customers/{customer.pk}/")
    body = response.content.decode()
    assert "Ann Lee" in body
    assert "ann@example.com" in body
    assert 'data-testid="balance-USD">$37.50<' in body
    assert "KWD" in body
    assert "0.700" in body
    assert "−$12.50" in body
    assert "+$50.00" in body
    assert "Coffee" in body
    chart = json.loads(re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', body, re.DOTALL)[1])
    usd = next(s for s in chart if s["currency"] == "USD")
    assert usd["v"][:2] == [50.0, 37.5]
    assert usd["decimals"] == 2
    assert len(usd["t"]) == len(usd["v"]) == 3  # two entries and "now"
    kwd = next(s for s in chart if s["currency"] == "KWD")
    assert kwd["decimals"] == 3
    assert response.context["form"] is not None  # operators get the adjustment form


def test_customer_times_in_user_time_zone_with_utc_title(operator_client, customer, post):
    result = post(customer, 100)
    session = operator_client.session
    session["django_timezone"] = "Asia/Kolkata"
    session.save()
    body = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    import zoneinfo
    local = result.entry.created_at.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    utc = result.entry.created_at.astimezone(zoneinfo.ZoneInfo("UTC"))
    assert (f'title="{utc:%Y-%m-%d %H:%M:%S} UTC" tabindex="0" class="when">{local:%b} {local.day}, {local:%Y} '
            f'<span class="time-of-day">{local:%H:%M} <abbr class="tz" title="Asia/Kolkata">IST</abbr></span>'
            f'<span class="utc" role="tooltip">{utc:%Y-%m-%d %H:%M} UTC</span></time>') in body


def test_an_old_zone_name_is_shown_by_its_current_name(operator_client, customer, post):
    """A session (or a browser) with "Asia/Calcutta" sees "Asia/Kolkata"; the picker lists no old names."""
    post(customer, 100)
    session = operator_client.session
    session["django_timezone"] = "Asia/Calcutta"
    session.save()
    body = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert 'data-time-zone="Asia/Kolkata"' in body
    assert "Calcutta" not in body
    settings_page = operator_client.get("/dashboard/settings/").content.decode()
    assert '<option value="Asia/Kolkata">' in settings_page
    assert "Asia/Calcutta" not in settings_page
    assert "US/Eastern" not in settings_page
    chosen = operator_client.post("/dashboard/settings/time-zone/", {"time_zone": "Asia/Calcutta"})
    assert chosen.status_code == 302
    assert operator_client.session["django_timezone"] == "Asia/Kolkata"


def test_customer_ledger_filters_and_pagination(operator_client, customer, post):
    for i in range(25):
        post(customer, 100 + i, reason=f"usd {i}")
    post(customer, 900, currency="INR", reason="rupees")
    post(customer, 50, credit=False, reason="a debit")
    base = f"/dashboard/customers/{customer.pk}/"
    inr = operator_client.get(base, {"currency": "INR"}).content.decode()
    assert "rupees" in inr
    assert "usd 1" not in inr
    debits = operator_client.get(base, {"direction": "debit"}).content.decode()
    assert "a debit" in debits
    assert "rupees" not in debits
    page1 = operator_client.get(base).content.decode()
    page2 = operator_client.get(base, {"page": 2}).content.decode()
    assert "1–20 of 27" in page1
    assert "21–27 of 27" in page2
    assert "a debit" in page1
    assert "usd 0" in page2


def test_customer_page_query_count_is_flat(operator_client, customer, post, count_queries,
                                           django_assert_max_num_queries):
    url = f"/dashboard/customers/{customer.pk}/"
    for i in range(5):
        post(customer, 100 + i)
    post(customer, 100, currency="INR")  # a balance to convert: the USD total reads the rates (one query)
    small = count_queries(operator_client, url)
    for i in range(45):
        post(customer, 100 + i, currency="INR")
    large = count_queries(operator_client, url)
    assert small == large
    # 12, the requests waiting for approval (one), the exchange rates (one), the ledger's totals (one)
    with django_assert_max_num_queries(15):
        operator_client.get(url)


def test_customer_without_entries_has_empty_states(operator_client, customer):
    body = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert "No entries yet" in body
    assert "no history to chart" in body


def test_threshold_policy_applies_to_overview(operator_client, business, customer, post):
    post(customer, 2000)  # $20.00: not low at the default $10.00
    CurrencyPolicy.objects.create(business=business, currency="USD", low_balance_below=5000)
    CurrencyPolicy.objects.create(business=business, currency="INR", low_balance_below=0)
    body = operator_client.get("/dashboard/").content.decode()
    assert 'data-testid="low-count">1<' in body  # USD under $50; INR never low
