"""The analytics page: money in and out and the balance held per period and currency (against a
ledger computed by hand), bucket edges in the user's zone, the CSV equal to the table, the top
customers, breakage and runway, the range bound, tenant isolation, roles and query budgets."""

import csv
import datetime
import io
import re
import time
import zoneinfo

import pytest

from wallets import ledger
from wallets.models import Membership
from wallets.selectors import analytics
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")  # UTC+05:30
URL = "/dashboard/analytics/"
MARCH_1_2 = {"preset": "custom", "date_from": "2020-03-01", "date_to": "2020-03-02", "period": "day"}


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2020, 3, day, hour, minute, tzinfo=KOLKATA)


def moves(customer, items):
    ledger.post_many(business_id=customer.business_id, actor=Actor.command("test"), postings=[
        ledger.Posting(customer.id, ledger.Request(ccy, abs(amount), amount > 0, f"move {i}"), created_at=t)
        for i, (t, amount, ccy) in enumerate(items)])


@pytest.fixture
def books(make_customer):
    """By hand, in Kolkata: USD on March 1 in 15000 (2 credits), out 2500 (1 debit); March 2 in 500
    (1), out 2001 (2); after the range +99999; INR on March 2 in 150000. Balances now: Ann USD
    107998, INR 150000; Bob USD 3000."""
    ann = make_customer(email="ann@example.com", name="Ann Lee")
    bob = make_customer(email="bob@example.com", name="=Bob")
    moves(bob, [(at(1, 5), 5000, "USD"), (at(2, 10), -2000, "USD")])  # 05:00 IST on Mar 1 is Feb 29 in UTC
    moves(ann, [(at(1, 10), 10000, "USD"), (at(1, 23, 59), -2500, "USD"), (at(2, 0, 1), 500, "USD"),
                (at(2, 18), -1, "USD"), (at(3, 0, 0), 99999, "USD"), (at(2, 9), 150000, "INR")])
    return ann, bob


@pytest.fixture
def kolkata(operator_client):
    session = operator_client.session
    session["django_timezone"] = "Asia/Kolkata"
    session.save()
    return operator_client


def html_of(response) -> str:
    assert response.status_code == 200, response.content[:800]
    return response.content.decode()


def table_rows(html: str, testid: str) -> list[list[str]]:
    body = re.search(rf'data-testid="{testid}">.*?<tbody>(.*?)</tbody>', html, re.DOTALL)
    assert body, testid
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.DOTALL)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
            for row in rows]


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_money_in_and_out_per_day_against_the_hand_computed_ledger(kolkata, books):
    html = html_of(kolkata.get(URL, MARCH_1_2))
    assert table_rows(html, "flows-table-USD") == [
        ["Sun Mar 1, 2020", "2", "$150.00", "1", "$25.00", "$125.00", "$125.00"],
        ["Mon Mar 2, 2020", "1", "$5.00", "2", "$20.01", "-$15.01", "$109.99"],
    ]
    assert table_rows(html, "flows-table-INR") == [
        ["Sun Mar 1, 2020", "0", "₹0.00", "0", "₹0.00", "₹0.00", "₹0.00"],
        ["Mon Mar 2, 2020", "1", "₹1,500.00", "0", "₹0.00", "₹1,500.00", "₹1,500.00"],
    ]
    assert 'data-testid="in-USD">$155.00<' in html
    assert 'data-testid="out-USD">$45.01<' in html
    assert 'data-testid="closing-USD">$109.99<' in html
    assert "from $0.00 at the start" in html  # nothing before March 1 in Kolkata


def test_bucket_edges_follow_the_users_zone(client_for, make_user, business, books):
    """In UTC, Bob's 05:00 IST credit is on Feb 29 (outside) and Ann's 00:01 IST credit on Mar 1."""
    utc = client_for(make_user(Membership.Role.VIEWER, business))
    utc_rows = table_rows(html_of(utc.get(URL, {**MARCH_1_2, "date_to": "2020-03-01"})),
                          "flows-table-USD")
    assert utc_rows == [["Sun Mar 1, 2020", "2", "$105.00", "1", "$25.00", "$80.00", "$130.00"]]


def test_weeks_and_months_are_cut_by_the_range(kolkata, books):
    weeks = table_rows(html_of(kolkata.get(URL, {**MARCH_1_2, "period": "week"})), "flows-table-USD")
    # March 2, 2020 is a Monday: Sunday March 1 ends the week of Feb 24.
    assert weeks == [["Week of Feb 24, 2020", "2", "$150.00", "1", "$25.00", "$125.00", "$125.00"],
                     ["Week of Mar 2, 2020", "1", "$5.00", "2", "$20.01", "-$15.01", "$109.99"]]
    months = table_rows(html_of(kolkata.get(URL, {**MARCH_1_2, "date_to": "2020-03-31", "period": "month"})),
                        "flows-table-USD")
    assert months == [["Mar 2020", "4", "$1,154.99", "3", "$45.01", "$1,109.98", "$1,109.98"]]


def test_the_csv_has_the_tables_numbers_in_utc(kolkata, books):
    html = html_of(kolkata.get(URL, MARCH_1_2))
    rows = csv_rows(kolkata.get("/dashboard/analytics/flows.csv", MARCH_1_2))
    usd = [r for r in rows if r["currency"] == "USD"]
    assert [r["period_start_utc"] for r in usd] == ["2020-02-29T18:30:00Z", "2020-03-01T18:30:00Z"]
    assert usd[1]["period_end_utc"] == "2020-03-02T18:30:00Z"
    table = table_rows(html, "flows-table-USD")
    for row, cells in zip(usd, table, strict=True):
        assert [row["credit_count"], row["debit_count"]] == [cells[1], cells[3]]
        assert [f"${row['credits']}", f"${row['debits']}", row["balance_at_end_display"]] == [
            cells[2], cells[4], cells[6]]
    assert [(r["credits_minor"], r["debits_minor"], r["net_minor"], r["balance_at_end_minor"]) for r in usd] == [
        ("15000", "2500", "12500", "12500"), ("500", "2001", "-1501", "10999")]
    assert {r["currency"] for r in rows} == {"INR", "USD"}  # never summed across currencies


def test_top_customers_by_balance_and_by_spend(kolkata, books):
    ann, bob = books
    html = html_of(kolkata.get(URL, MARCH_1_2))
    assert table_rows(html, "top-balance") == [  # name, then email
        ["Ann Leeann@example.com", "INR", "₹1,500.00"], ["Ann Leeann@example.com", "USD", "$1,079.98"],
        ["=Bobbob@example.com", "USD", "$30.00"]]
    assert f'href="/dashboard/customers/{ann.pk}/"' in html
    assert f'href="/dashboard/customers/{bob.pk}/"' in html
    spend = analytics.top_customers_by_spend(
        business_id=ann.business_id, window=analytics.AnalyticsRange(
            start=datetime.date(2020, 3, 1), end=datetime.date(2020, 3, 2), period="day", zone=KOLKATA,
            now=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)))
    assert [(t.customer_id, t.currency, t.amount, t.entries) for t in spend] == [
        (ann.pk, "USD", 2501, 2), (bob.pk, "USD", 2000, 1)]
    rows = csv_rows(kolkata.get("/dashboard/analytics/top-customers.csv", MARCH_1_2))
    assert [(r["ranking"], r["currency"], r["rank"], r["amount_minor"]) for r in rows] == [
        ("balance", "INR", "1", "150000"), ("balance", "USD", "1", "107998"), ("balance", "USD", "2", "3000"),
        ("spend", "USD", "1", "2501"), ("spend", "USD", "2", "2000")]
    assert [r["customer_name"] for r in rows if r["customer_id"] == bob.pk] == ["'=Bob", "'=Bob"]  # csv_safe_text


def test_expired_credit_is_breakage_not_spend(kolkata, customer, post):
    post(customer, 700, expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(milliseconds=300))
    time.sleep(0.4)
    assert ledger.sweep_due().grants_expired == 1
    html = html_of(kolkata.get(URL, {"preset": "today"}))
    assert re.search(r'data-testid="breakage-totals">\s*<li><strong>\$7\.00</strong>', html)
    assert 'data-testid="out-USD">$7.00<' in html  # money out of the wallets, all the same
    assert "Nobody spent anything in this range." in html
    assert 'href="/dashboard/reports/breakage/?date_from=' in html


def test_low_wallets_show_their_runway(kolkata, customer, post):
    post(customer, 2100)
    post(customer, 1400, credit=False)  # spent $14 in the last 14 days: $1.00 a day, $7.00 left
    html = html_of(kolkata.get(URL))
    rows = table_rows(html, "low-runway")
    assert rows == [["Ann Lee USD", "$7.00", "$1.00", "7 days"]]
    low = html_of(kolkata.get("/dashboard/wallets/low-balance/"))
    assert re.search(r'data-testid="runway">7 days<', low)


def test_presets_resolve_in_the_users_zone(kolkata, books):
    html = html_of(kolkata.get(URL, {"preset": "last_month"}))
    today = datetime.datetime.now(KOLKATA).date()
    last = today.replace(day=1) - datetime.timedelta(days=1)
    assert f"{last.replace(day=1):%b} 1, {last.year} – {last:%b} {last.day}, {last.year}" in html
    html = html_of(kolkata.get(URL, {"preset": "today"}))
    assert f"{today:%b} {today.day}, {today.year} – {today:%b} {today.day}, {today.year}" in html
    assert "up to now" in html


def test_the_range_is_bounded_with_a_clear_message(kolkata):
    response = kolkata.get(URL, {"date_from": "2020-01-01", "date_to": "2021-02-04", "period": "day"})
    assert response.status_code == 400
    assert "At most 400 days per request with one row per day (this range has 401)" in response.content.decode()
    assert kolkata.get(URL, {"date_from": "2020-01-01", "date_to": "2021-02-04", "period": "week"}).status_code == 200
    response = kolkata.get("/dashboard/analytics/flows.csv", {"date_from": "2020-01-01", "date_to": "2021-02-04"})
    assert response.status_code == 400
    assert b"At most 400 days" in response.content
    bad = kolkata.get(URL, {"date_from": "2020-03-02", "date_to": "2020-03-01"})
    assert bad.status_code == 400
    assert "The end date is before the start date." in bad.content.decode()
    assert kolkata.get(URL, {"preset": "custom"}).status_code == 400
    assert kolkata.get("/dashboard/analytics/nothing.csv").status_code == 404


def test_spend_is_ranked_over_a_month_at_most(kolkata, books):
    html = html_of(kolkata.get(URL, {**MARCH_1_2, "date_to": "2020-04-01"}))
    assert "Ranking by spend covers ranges of up to 31 days (this one has 32)" in html
    assert 'data-testid="flows-table-USD"' in html  # the rest of the page is there
    rows = csv_rows(kolkata.get("/dashboard/analytics/top-customers.csv", {**MARCH_1_2, "date_to": "2020-04-01"}))
    assert {r["ranking"] for r in rows} == {"balance"}
    assert 'data-testid="top-spend"' in html_of(kolkata.get(URL, {**MARCH_1_2, "date_to": "2020-03-31"}))


def test_empty_states(kolkata):
    html = html_of(kolkata.get(URL))
    assert 'data-testid="analytics-empty"' in html
    assert "No wallet holds money yet." in html
    assert "No wallet is low." in html
    assert 'id="analytics-data"' in html
    assert "analytics.js" not in html  # no chart to draw


def test_another_business_is_never_counted(kolkata, books, make_customer, other_business):
    stranger = make_customer(email="eve@globex.test", name="Eve Secret", business_id=other_business.id)
    moves(stranger, [(at(1, 12), 777700, "USD"), (at(2, 12), -100, "USD")])
    html = html_of(kolkata.get(URL, MARCH_1_2))
    assert "Eve Secret" not in html
    assert "$7,777.00" not in html
    assert "$7,776.00" not in html
    assert table_rows(html, "flows-table-USD")[0][1:3] == ["2", "$150.00"]
    rows = csv_rows(kolkata.get("/dashboard/analytics/top-customers.csv", MARCH_1_2))
    assert stranger.pk not in {r["customer_id"] for r in rows}


def test_a_viewer_may_read_every_figure(viewer_client, books):
    assert viewer_client.get(URL, MARCH_1_2).status_code == 200
    assert viewer_client.get("/dashboard/analytics/flows.csv", MARCH_1_2).status_code == 200


def test_anonymous_and_memberless_users_are_turned_away(client, make_user):
    assert client.get(URL).status_code == 302
    client.force_login(make_user())
    assert client.get(URL).status_code in (403, 200)  # the no-business page, never the figures
    assert "analytics-data" not in client.get(URL).content.decode()


def test_the_nav_links_the_page(kolkata):
    html = html_of(kolkata.get("/dashboard/"))
    assert '<a href="/dashboard/analytics/"' in html
    breakage = html_of(kolkata.get("/dashboard/reports/breakage/"))
    assert 'href="/dashboard/analytics/"' in breakage


@pytest.mark.parametrize("path", [URL, "/dashboard/analytics/flows.csv", "/dashboard/analytics/top-customers.csv"])
def test_query_budget_is_flat_as_rows_grow(kolkata, make_customer, count_queries, path):
    params = "?preset=this_month"

    def grow(n):
        for _ in range(n):
            c = make_customer(name="Many")
            ago = [datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=m) for m in (3, 2, 1)]
            moves(c, [(ago[0], 900, "USD"), (ago[1], 800, "USD"), (ago[2], -1200, "USD"), (ago[2], 500, "INR")])

    grow(2)
    small = count_queries(kolkata, path + params)
    grow(28)
    large = count_queries(kolkata, path + params)
    # 3 for the session and membership; one per currency for the top balances; the rollup's check.
    # (A 15-minute slot closing between the two GETs adds its roll-up: hence <=, not ==.)
    assert small <= 19
    assert large <= 19


def test_the_rollup_is_rebuilt_when_history_is_written_under_it(kolkata, books):
    from wallets.models import LedgerRollup, LedgerRollupMark

    before = table_rows(html_of(kolkata.get(URL, MARCH_1_2)), "flows-table-USD")
    mark = LedgerRollupMark.objects.get(business_id=books[0].business_id)
    assert mark.entries == 8
    assert LedgerRollup.objects.filter(business_id=mark.business_id).count() > 0
    moves(books[1], [(at(2, 23), 4200, "USD")])  # back-dated: under the mark
    after = table_rows(html_of(kolkata.get(URL, MARCH_1_2)), "flows-table-USD")
    assert before[1][1:3] == ["1", "$5.00"]
    assert after[1][1:3] == ["2", "$47.00"]
    assert after[1][-1] == "$151.99"  # the balance at the end of March 2 includes it too
    assert LedgerRollupMark.objects.get(business_id=mark.business_id).entries == 9


def test_membership_roles_do_not_change_the_figures(client_for, make_user, business, books):
    approver = client_for(make_user(Membership.Role.APPROVER, business))
    assert approver.get(URL, MARCH_1_2).status_code == 200


def test_the_command_fills_the_rollup_ahead(books):
    from django.core.management import call_command

    from wallets.models import LedgerRollup, LedgerRollupMark

    out = io.StringIO()
    call_command("rollup_ledger", stdout=out)
    assert "Rolled up 1 business." in out.getvalue()
    mark = LedgerRollupMark.objects.get(business_id=books[0].business_id)
    assert mark.entries == 8
    rows = LedgerRollup.objects.filter(business_id=mark.business_id, currency="USD")
    assert sum(r.credits for r in rows) == 5000 + 10000 + 500 + 99999
    assert sum(r.debit_count for r in rows) == 3


def test_a_large_build_refreshes_the_planners_statistics(kolkata, books, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from wallets.services import rollups

    monkeypatch.setattr(rollups, "ANALYZE_AFTER", 3)
    with CaptureQueriesContext(connection) as first:
        html_of(kolkata.get(URL, MARCH_1_2))
    with CaptureQueriesContext(connection) as again:
        html_of(kolkata.get(URL, MARCH_1_2))
    assert [q["sql"] for q in first.captured_queries if q["sql"].startswith("ANALYZE")] == [
        'ANALYZE "wallets_ledgerrollup"']
    assert not [q for q in again.captured_queries if q["sql"].startswith("ANALYZE")]  # nothing new rolled up
