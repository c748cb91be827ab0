"""A customer's statement page: currency and day range in the user's time zone, opening, closing and
totals (the API's figures), paged entries, the CSV, and the balances at the end of a chosen day."""

import csv
import datetime
import io
import re
import zoneinfo

import pytest
from django.http import StreamingHttpResponse

from wallets import ledger
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")  # UTC+05:30


def local(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2020, 3, day, hour, minute, tzinfo=KOLKATA)


@pytest.fixture
def history(customer):
    """USD entries around midnight in Kolkata (where the user is), and one in INR."""
    moves = [(local(1, 10), 10000), (local(1, 23, 59), -2500), (local(2, 0, 1), 500), (local(2, 18), -1),
             (local(3, 0, 0), 99999)]
    ledger.post_many(business_id=customer.business_id, actor=Actor.command("test"), postings=[
        ledger.Posting(customer.id, ledger.Request("USD", abs(a), a > 0, f"move {i}"), created_at=t)
        for i, (t, a) in enumerate(moves)] + [
        ledger.Posting(customer.id, ledger.Request("INR", 150000, True, "=cmd|' /C calc'!A0"), created_at=local(2, 9))])
    return customer


@pytest.fixture
def kolkata_client(operator_client):
    session = operator_client.session
    session["django_timezone"] = "Asia/Kolkata"
    session.save()
    return operator_client


def page_text(response) -> str:
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def figure(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">((?:[^<]|<wbr>)*)<', html)
    assert match, testid
    return match.group(1).replace("<wbr>", "")  # a long amount's line-break opportunities


def test_the_customer_page_links_to_the_statement(operator_client, customer):
    html = page_text(operator_client.get(f"/dashboard/customers/{customer.pk}/"))
    assert f'href="/dashboard/customers/{customer.pk}/statement/"' in html


def test_one_day_in_the_users_time_zone(kolkata_client, history):
    html = page_text(kolkata_client.get(f"/dashboard/customers/{history.pk}/statement/",
                                        {"currency": "USD", "from_date": "2020-03-02", "to_date": "2020-03-02"}))
    assert figure(html, "opening") == "$75.00"  # 100.00 − 25.00, both on March 1 in Kolkata
    assert figure(html, "credits") == "$5.00"
    assert figure(html, "debits") == "$0.01"
    assert figure(html, "closing") == "$79.99"  # 00:00 on March 3 is the next day's
    assert figure(html, "entry-count") == "2"
    assert html.index("+$5.00") < html.index("\u2212$0.01")  # oldest first
    # Only the customer's currencies are offered.
    assert re.findall(r'<option value="([A-Z]{3})"', html) == ["INR", "USD"]


def test_defaults_are_the_first_currency_from_the_beginning_to_now(kolkata_client, history):
    html = page_text(kolkata_client.get(f"/dashboard/customers/{history.pk}/statement/"))
    assert figure(html, "opening") == "₹0.00"
    assert figure(html, "closing") == "₹1,500.00"
    assert figure(html, "entry-count") == "1"
    assert "from the first entry" in html


def test_paging_keeps_the_choice(kolkata_client, history, customer, monkeypatch):
    from wallets.dashboard.views import statements

    monkeypatch.setattr(statements, "STATEMENT_PER_PAGE", 2)
    url = f"/dashboard/customers/{history.pk}/statement/"
    first = page_text(kolkata_client.get(url, {"currency": "USD"}))
    assert 'href="?currency=USD&amp;page=2"' in first
    third = page_text(kolkata_client.get(url, {"currency": "USD", "page": 3}))
    assert "+$999.99" in third
    assert "+$100.00" not in third
    assert figure(third, "entry-count") == "5"  # the totals cover every page


def test_balances_at_the_end_of_a_day(kolkata_client, history):
    html = page_text(kolkata_client.get(f"/dashboard/customers/{history.pk}/statement/",
                                        {"currency": "USD", "as_of": "2020-03-01"}))
    assert figure(html, "as-of-USD") == "$75.00"  # 23:59 in Kolkata is included, 00:01 the next day is not
    assert figure(html, "as-of-INR") == "₹0.00"
    assert "Balances at the end of" in html


@pytest.mark.parametrize(("params", "message"), [
    ({"from_date": "2020-03-03", "to_date": "2020-03-01"}, "The end date is before the start date."),
    ({"from_date": "2999-01-01"}, "The start date is in the future."),
    ({"currency": "EUR"}, "Select a valid choice."),
    ({"as_of": "nope"}, "Enter a valid date."),
])
def test_invalid_choices_are_form_errors_and_the_csv_refuses(kolkata_client, history, params, message):
    html = page_text(kolkata_client.get(f"/dashboard/customers/{history.pk}/statement/", params))
    assert message in html.replace("&#x27;", "'")
    assert 'data-testid="opening"' not in html
    response = kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.csv", params)
    assert response.status_code == 400


def test_csv_has_opening_entries_and_closing(kolkata_client, history):
    response = kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.csv",
                                  {"currency": "USD", "from_date": "2020-03-02", "to_date": "2020-03-02"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith(f'attachment; filename="statement-{history.pk}-USD-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(r["row"], r["direction"], r["amount"], r["balance_after"]) for r in rows] == [
        ("opening", "", "", "75.00"), ("entry", "credit", "5.00", "80.00"), ("entry", "debit", "0.01", "79.99"),
        ("closing", "", "", "79.99")]
    assert rows[0]["at_utc"] == "2020-03-01T18:30:00Z"  # midnight in Kolkata
    assert rows[-1]["at_utc"] == "2020-03-02T18:30:00Z"  # exclusive
    assert rows[1]["reason"] == "move 2"


def test_csv_text_is_spreadsheet_safe(kolkata_client, history):
    response = kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.csv", {"currency": "INR"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1]["reason"].startswith("'=")
    assert rows[1]["amount"] == "1500.00"


def test_another_business_customer_is_404(client_for, make_user, other_business, history):
    from wallets.models import Membership

    stranger = client_for(make_user(Membership.Role.VIEWER, other_business))
    assert stranger.get(f"/dashboard/customers/{history.pk}/statement/").status_code == 404
    assert stranger.get(f"/dashboard/customers/{history.pk}/statement.csv").status_code == 404


def test_a_customer_without_wallets(viewer_client, customer):
    from wallets.models import Wallet

    Wallet.objects.filter(customer=customer).delete()  # never used: no entries point at them
    html = page_text(viewer_client.get(f"/dashboard/customers/{customer.pk}/statement/"))
    assert "No wallets yet" in html


def test_query_budget(kolkata_client, history, count_queries):
    # Session, user, membership, the customer; the wallets (its currencies), the five figures in one
    # SELECT, the page's count and rows, the actor labels. The as-of block adds the wallets then, now
    # and the rates then: a fixed number, whatever the history's length.
    assert count_queries(kolkata_client, f"/dashboard/customers/{history.pk}/statement/?currency=USD") <= 8
    assert count_queries(kolkata_client,
                         f"/dashboard/customers/{history.pk}/statement/?currency=USD&as_of=2020-03-02") <= 11
