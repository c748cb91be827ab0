"""A customer's statement page: currency and day range in the user's time zone, opening, closing and
totals (the API's figures), paged entries, the CSV, the PDF (read back with pypdf), and the balances
at the end of a chosen day."""

import csv
import datetime
import io
import re
import zoneinfo

import pypdf
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
    response = kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.pdf", params)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")


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
    assert stranger.get(f"/dashboard/customers/{history.pk}/statement.pdf").status_code == 404


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


# --- the PDF ------------------------------------------------------------------------------------


def pdf_pages(response) -> list[str]:
    """The text of each page of a PDF response."""
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return [" ".join(page.extract_text().split()) for page in reader.pages]  # wrapped lines joined


def test_the_pdf_reads_like_a_bank_statement(kolkata_client, history, business):
    from wallets.models import LedgerEntry

    response = kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.pdf",
                                  {"currency": "USD", "from_date": "2020-03-02", "to_date": "2020-03-02"})
    assert response["Content-Disposition"].startswith(f'attachment; filename="statement-{history.pk}-USD-')
    assert response["Content-Disposition"].endswith('.pdf"')
    pages = pdf_pages(response)
    assert len(pages) == 1
    text = pages[0]
    for expected in (business.name, "STATEMENT OF ACCOUNT", "Ann Lee", "ann@example.com", history.pk,
                     "Currency: USD", "Period: Mar 2, 2020 – Mar 2, 2020, both days included",
                     "Time zone: Asia/Kolkata", "Generated",
                     "Opening balance", "Closing balance", "TOTAL CREDITS", "TOTAL DEBITS", "Page 1 of 1"):
        assert expected in text, (expected, text)
    # The figures: opening $75.00, credits $5.00, debits $0.01, closing $79.99 (as on the page).
    assert "$75.00" in text
    assert "$79.99" in text
    assert "$5.00" in text
    assert "$0.01" in text
    assert "Totals · 2 entries" in text
    # Both entries of the day, oldest first, with their ids, times in Kolkata (labelled IST) and
    # running balances; the day before's and after's are not there.
    entries = list(LedgerEntry.objects.filter(customer=history, currency="USD").order_by("created_at"))
    day = [e for e in entries if e.reason in ("move 2", "move 3")]
    assert text.index(day[0].pk) < text.index(day[1].pk)
    assert "Mar 2, 2020 00:01 IST" in text
    assert "$80.00" in text  # the balance after the credit of $5.00
    for other in entries:
        if other not in day:
            assert other.pk not in text


def test_a_long_pdf_numbers_its_pages_and_repeats_the_header(kolkata_client, customer):
    from wallets.models import LedgerEntry

    ledger.post_many(business_id=customer.business_id, actor=Actor.command("test"), postings=[
        ledger.Posting(customer.id, ledger.Request("USD", 100 + i, True, f"order {i}"),
                       created_at=local(5, 9) + datetime.timedelta(minutes=i))
        for i in range(150)])
    response = kolkata_client.get(f"/dashboard/customers/{customer.pk}/statement.pdf", {"currency": "USD"})
    pages = pdf_pages(response)
    assert len(pages) >= 3
    count = len(pages)
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {count}" in text
        assert "BALANCE" in text  # the table's header on every page
    assert "Ann Lee · USD ·" in pages[1]  # the running header from page 2 on
    everything = "".join(pages)
    ids = list(LedgerEntry.objects.filter(customer=customer).order_by("created_at").values_list("id", flat=True))
    assert everything.index(ids[0]) < everything.index(ids[75]) < everything.index(ids[-1])  # oldest first
    assert "Totals · 150 entries" in pages[-1]
    assert "Period: the first entry –" in pages[0]


def test_a_pdf_over_the_cap_is_refused_with_the_csv_offered(kolkata_client, history, monkeypatch):
    from wallets.dashboard import statement_pdf

    monkeypatch.setattr(statement_pdf, "MAX_ENTRIES", 2)
    query = {"currency": "USD"}  # five entries
    page = page_text(kolkata_client.get(f"/dashboard/customers/{history.pk}/statement/", query))
    assert 'data-testid="export-pdf"' not in page
    assert "PDF up to 2 entries" in page
    refused = kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.pdf", query)
    assert refused.status_code == 422
    assert refused["Content-Type"].startswith("text/html")
    body = refused.content.decode()
    assert "This statement has 5 entries; a PDF holds at most 2." in body
    assert f'href="/dashboard/customers/{history.pk}/statement.csv?currency=USD"' in body
    # Within the cap, the link is there, with the same choice.
    narrow = {"currency": "USD", "from_date": "2020-03-02", "to_date": "2020-03-02"}
    page = page_text(kolkata_client.get(f"/dashboard/customers/{history.pk}/statement/", narrow))
    assert (f'href="/dashboard/customers/{history.pk}/statement.pdf?currency=USD&amp;from_date=2020-03-02'
            f'&amp;to_date=2020-03-02"') in page
    assert kolkata_client.get(f"/dashboard/customers/{history.pk}/statement.pdf", narrow).status_code == 200


def test_a_viewer_may_download_the_pdf_and_text_stays_text(viewer_client, customer):
    ledger.post(business_id=customer.business_id, customer_id=customer.pk, currency="INR", amount=12345678,
                is_credit=True, actor=Actor.command("test"), reason='<img src="http://example.invalid/x.png"> Müller')
    pages = pdf_pages(viewer_client.get(f"/dashboard/customers/{customer.pk}/statement.pdf", {"currency": "INR"}))
    assert '<img src="http://' in pages[0]  # escaped: shown as typed, nothing fetched
    assert "Müller" in pages[0]
    assert "CREDITS ₹123,456.78" in pages[0]


@pytest.mark.parametrize("rows", [2, 30])
def test_pdf_query_budget_is_flat(kolkata_client, customer, rows, django_assert_max_num_queries):
    ledger.post_many(business_id=customer.business_id, actor=Actor.command("test"), postings=[
        ledger.Posting(customer.id, ledger.Request("USD", 100 + i, True, f"r{i}"), created_at=local(4, 9, i))
        for i in range(rows)])
    url = f"/dashboard/customers/{customer.pk}/statement.pdf?currency=USD"
    assert kolkata_client.get(url).status_code == 200
    # Session, user, membership, the customer, its wallets, the five figures in one SELECT, the rows.
    with django_assert_max_num_queries(7):
        assert kolkata_client.get(url).status_code == 200
