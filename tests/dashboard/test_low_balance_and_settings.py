"""Low-balance list (thresholds per currency, filter, sort, CSV) and the settings page."""

import csv
import io
import re

import pytest

from wallets.models import CurrencyPolicy


def names(body: str) -> list[str]:
    return re.findall(r'class="strong">([^<]+)</a>', body)


@pytest.fixture
def wallets(business, make_customer, post):
    rich = make_customer(email="rich@x.test", name="Rich")
    poor = make_customer(email="poor@x.test", name="Poor")
    mid = make_customer(email="mid@x.test", name="Mid")
    post(rich, 100000)
    post(rich, 100000, currency="INR")
    post(poor, 300)         # $3.00
    post(mid, 2000)         # $20.00
    post(mid, 50000, currency="INR")
    return rich, poor, mid


def test_default_threshold(operator_client, wallets):
    body = operator_client.get("/dashboard/wallets/low-balance/", {"currency": "USD"}).content.decode()
    assert names(body) == ["Poor"]  # under the default 10.00
    assert "$3.00" in body
    assert "$10.00" in body
    _rich, poor, _mid = wallets
    assert f'href="/dashboard/customers/{poor.pk}/"' in body


def test_business_threshold_and_never_low(operator_client, business, wallets):
    CurrencyPolicy.objects.create(business=business, currency="USD", low_balance_below=2500)
    CurrencyPolicy.objects.create(business=business, currency="INR", low_balance_below=0)
    body = operator_client.get("/dashboard/wallets/low-balance/").content.decode()
    assert sorted(names(body)) == ["Mid", "Poor"]  # USD under $25.00; INR never low
    assert 'data-testid="result-count">2<' in body


def test_currency_filter_and_sorting(operator_client, wallets):
    inr = names(operator_client.get("/dashboard/wallets/low-balance/", {"currency": "INR"}).content.decode())
    assert inr == []  # Poor's INR wallet (0) was never used: not "running low"
    inr = names(operator_client.get("/dashboard/wallets/low-balance/",
                                    {"currency": "INR", "include_unused": "1"}).content.decode())
    assert inr == ["Poor"]  # ... but listed on request: the only INR wallet under ₹10.00
    by_balance = names(operator_client.get("/dashboard/wallets/low-balance/", {"sort": "-balance"}).content.decode())
    assert by_balance[0] == "Poor"  # $3.00 (300) sorts above the INR 0 wallet
    body = operator_client.get("/dashboard/wallets/low-balance/", {"sort": "activity"}).content.decode()
    assert 'aria-sort="ascending"' in body


def test_empty_state(operator_client, business, wallets):
    CurrencyPolicy.objects.create(business=business, currency="USD", low_balance_below=0)
    CurrencyPolicy.objects.create(business=business, currency="INR", low_balance_below=0)
    assert "No wallet is low" in operator_client.get("/dashboard/wallets/low-balance/").content.decode()


def test_low_balance_csv(operator_client, wallets):
    response = operator_client.get("/dashboard/wallets/low-balance/export.csv", {"currency": "USD"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(r["customer_name"], r["currency"], r["balance"], r["balance_minor"], r["low_below"]) for r in rows] == [
        ("Poor", "USD", "3.00", "300", "10.00")]
    assert rows[0]["last_activity_utc"].endswith("Z")


def test_low_balance_query_count_is_flat(operator_client, make_customer, count_queries,
                                         django_assert_max_num_queries):
    for i in range(5):
        make_customer(email=f"z{i}@x.test")  # 10 empty wallets, all low
    small = count_queries(operator_client, "/dashboard/wallets/low-balance/?include_unused=1")
    for i in range(5, 50):
        make_customer(email=f"z{i}@x.test")  # 100 wallets: two pages
    large = count_queries(operator_client, "/dashboard/wallets/low-balance/?include_unused=1")
    assert small == large
    with django_assert_max_num_queries(8):
        operator_client.get("/dashboard/wallets/low-balance/")
    assert count_queries(operator_client, "/dashboard/wallets/low-balance/export.csv") == \
        count_queries(operator_client, "/dashboard/wallets/low-balance/export.csv?currency=JPY")


# --- settings ---------------------------------------------------------------------------------


def threshold_post(rows: dict[str, str]) -> dict:
    data = {"form": "thresholds", "t-TOTAL_FORMS": str(len(rows)), "t-INITIAL_FORMS": str(len(rows))}
    for i, (currency, value) in enumerate(rows.items()):
        data[f"t-{i}-currency"] = currency
        data[f"t-{i}-low_balance_below"] = value
    return data


def test_settings_lists_currencies_in_use_with_defaults(operator_client, customer):
    body = operator_client.get("/dashboard/settings/").content.decode()
    assert "USD" in body
    assert "INR" in body
    assert "10.00 (default)" in body


def test_operator_saves_thresholds_in_major_units(operator_client, business, customer):
    response = operator_client.post("/dashboard/settings/", threshold_post({"INR": "0", "USD": "25.50"}))
    assert response.status_code == 302
    policies = dict(CurrencyPolicy.objects.filter(business=business).values_list("currency", "low_balance_below"))
    assert policies == {"INR": 0, "USD": 2550}
    operator_client.post("/dashboard/settings/", threshold_post({"INR": "", "USD": "25.50"}))
    assert CurrencyPolicy.objects.get(business=business, currency="INR").low_balance_below is None


def test_bad_threshold_is_refused_next_to_the_field(operator_client, business, customer):
    response = operator_client.post("/dashboard/settings/", threshold_post({"INR": "1", "USD": "2.345"}))
    assert response.status_code == 200
    assert "at most 2 decimal places" in response.content.decode()
    assert not CurrencyPolicy.objects.exists()


def test_add_a_currency_threshold(operator_client, business, customer):
    response = operator_client.post("/dashboard/settings/", {"form": "add", "add-currency": "JPY",
                                                             "add-low_balance_below": "500"})
    assert response.status_code == 302
    assert CurrencyPolicy.objects.get(business=business, currency="JPY").low_balance_below == 500
    assert "JPY" in operator_client.get("/dashboard/settings/").content.decode()


def test_viewer_sees_thresholds_read_only(viewer_client, business, customer):
    CurrencyPolicy.objects.create(business=business, currency="USD", low_balance_below=2500)
    body = viewer_client.get("/dashboard/settings/").content.decode()
    assert "$25.00" in body
    assert "Save thresholds" not in body
    assert viewer_client.post("/dashboard/settings/", threshold_post({"USD": "1"})).status_code == 403
    assert CurrencyPolicy.objects.get(currency="USD").low_balance_below == 2500


def test_time_zone_choice_and_browser_detection(viewer_client, customer):
    response = viewer_client.post("/dashboard/settings/time-zone/", {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert viewer_client.session["django_timezone"] == "Asia/Tokyo"
    # The browser's zone never overrides a chosen one.
    assert viewer_client.post("/dashboard/settings/time-zone/",
                              {"time_zone": "Europe/Paris", "detected": "on"}).status_code == 204
    assert viewer_client.session["django_timezone"] == "Asia/Tokyo"
    assert 'data-time-zone="Asia/Tokyo"' in viewer_client.get("/dashboard/").content.decode()


def test_browser_time_zone_is_used_until_one_is_chosen(viewer_client, customer):
    body = viewer_client.get("/dashboard/").content.decode()
    assert 'data-time-zone-set="0"' in body
    viewer_client.post("/dashboard/settings/time-zone/", {"time_zone": "America/Lima", "detected": "on"})
    assert viewer_client.session["django_timezone"] == "America/Lima"


def test_unknown_time_zone_is_refused(viewer_client, customer):
    viewer_client.post("/dashboard/settings/time-zone/", {"time_zone": "Mars/Olympus"})
    assert "django_timezone" not in viewer_client.session
