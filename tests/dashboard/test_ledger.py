"""The audit trail: every filter, sorting, pagination, the streamed CSV and the query budget."""

import csv
import datetime
import io
import re

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from wallets import ledger
from wallets.models import LedgerEntry
from wallets.services import api_key_create
from wallets.services.actors import Actor


def rows_of(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="ledger-')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def reasons(client, **params) -> set[str]:
    body = client.get("/dashboard/ledger/", params).content.decode()
    return set(re.findall(r'<td class="reason[^"]*">([^<]*)</td>', body))


@pytest.fixture
def trail(business, make_customer, post, operator):
    ann = make_customer(email="ann@x.test", name="Ann Lee")
    bob = make_customer(email="bob@x.test", name="Bob Stone")
    key, _ = api_key_create(business=business, name="Checkout")
    post(ann, 5000, reason="ann usd credit")
    post(ann, 1000, credit=False, reason="ann usd debit")
    post(ann, 250000, currency="INR", reason="ann inr credit", event_type="payment")
    post(bob, 1999, reason="bob usd credit", event_type="refund")
    post(bob, 1500, currency="JPY", reason="bob jpy credit")
    ledger.post(business_id=business.pk, customer_id=bob.pk, currency="USD", amount=1,
                               is_credit=True, actor=Actor.api_key(key.pk), reason="=HYPERLINK(\"x\")")
    ledger.post(business_id=business.pk, customer_id=bob.pk, currency="USD", amount=2,
                               is_credit=True, actor=Actor.user(operator.pk), reason="by olivia")
    return ann, bob, key


ALL = {"ann usd credit", "ann usd debit", "ann inr credit", "bob usd credit", "bob jpy credit",
       "=HYPERLINK(&quot;x&quot;)", "by olivia"}


def test_lists_everything_newest_first(operator_client, trail):
    body = operator_client.get("/dashboard/ledger/").content.decode()
    assert reasons(operator_client) == ALL
    assert body.index("by olivia") < body.index("ann usd credit")
    assert 'data-testid="result-count">7<' in body
    assert ">Checkout<" in body  # the API key's name, not only its id
    assert ">olivia<" in body  # the user's name


@pytest.mark.parametrize(("params", "expected"), [
    ({"currency": "INR"}, {"ann inr credit"}),
    ({"direction": "debit"}, {"ann usd debit"}),
    ({"event_type": "refund"}, {"bob usd credit"}),
    ({"reason": "JPY"}, {"bob jpy credit"}),
    ({"actor_type": "api_key"}, {"=HYPERLINK(&quot;x&quot;)"}),
    ({"actor_type": "command", "actor_id": "test"}, ALL - {"=HYPERLINK(&quot;x&quot;)", "by olivia"}),
    ({"customer": "BOB@x.test"}, {"bob usd credit", "bob jpy credit", "=HYPERLINK(&quot;x&quot;)", "by olivia"}),
    # Amounts in major units of the chosen currency, exact: 19.99 USD is 1999 cents, ¥1500 is 1500 yen.
    ({"amount_min": "19.99", "currency": "USD"}, {"ann usd credit", "bob usd credit"}),
    ({"amount_min": "19.991", "currency": "USD"}, {"ann usd credit"}),
    ({"amount_max": "19.99", "currency": "USD"}, {"ann usd debit", "bob usd credit", "=HYPERLINK(&quot;x&quot;)",
                                                  "by olivia"}),
    ({"amount_max": "19.989", "currency": "USD"}, {"ann usd debit", "=HYPERLINK(&quot;x&quot;)", "by olivia"}),
    ({"amount_min": "1000", "amount_max": "2000", "currency": "JPY"}, {"bob jpy credit"}),
    ({"amount_min": "1000", "amount_max": "2000", "currency": "INR"}, set()),
])
def test_filters(operator_client, trail, params, expected):
    assert reasons(operator_client, **params) == expected


def test_filter_by_customer_id_and_user_actor(operator_client, trail, operator):
    ann = trail[0]
    assert reasons(operator_client, customer=ann.pk) == {"ann usd credit", "ann usd debit", "ann inr credit"}
    assert reasons(operator_client, actor_type="user", actor_id=str(operator.pk)) == {"by olivia"}


def test_date_range_in_the_user_time_zone(operator_client, trail):
    session = operator_client.session
    session["django_timezone"] = "Pacific/Kiritimati"  # UTC+14: "today" there may be tomorrow in UTC
    session.save()
    import zoneinfo
    today = timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
    day = datetime.timedelta(days=1)
    assert reasons(operator_client, created_from=today.isoformat(), created_to=today.isoformat()) == ALL
    assert reasons(operator_client, created_from=(today + day).isoformat()) == set()
    assert reasons(operator_client, created_to=(today - day).isoformat()) == set()


def test_invalid_filter_shows_error_and_csv_refuses(operator_client, trail):
    response = operator_client.get("/dashboard/ledger/", {"amount_min": "-5", "created_from": "nope"})
    assert response.status_code == 200
    assert response.context["filter"].errors.keys() >= {"amount_min", "created_from"}
    assert operator_client.get("/dashboard/ledger/export.csv", {"amount_min": "abc"}).status_code == 400


def test_sorting_by_amount(operator_client, trail):
    body = operator_client.get("/dashboard/ledger/", {"sort": "-amount", "currency": "USD"}).content.decode()
    order = re.findall(r'<td class="reason[^"]*">([^<]*)</td>', body)
    assert order == ["ann usd credit", "bob usd credit", "ann usd debit", "by olivia", "=HYPERLINK(&quot;x&quot;)"]
    assert 'data-testid="sort-within-currency"' not in body


def test_pagination_keeps_filters(operator_client, make_customer, post):
    c = make_customer(email="many@x.test")
    for i in range(60):
        post(c, 100 + i, reason=f"n{i}")
    first = operator_client.get("/dashboard/ledger/", {"currency": "USD"}).content.decode()
    second = operator_client.get("/dashboard/ledger/", {"currency": "USD", "page": 2}).content.decode()
    assert "1–50 of 60" in first
    assert "51–60 of 60" in second
    assert "currency=USD&amp;page=2" in first
    assert len(re.findall(r'<td class="reason[^"]*">', second)) == 10


def test_csv_is_exactly_the_filtered_rows(operator_client, trail):
    rows = rows_of(operator_client.get("/dashboard/ledger/export.csv", {"customer": "ann@x.test"}))
    assert {r["reason"] for r in rows} == {"ann usd credit", "ann usd debit", "ann inr credit"}
    inr = next(r for r in rows if r["currency"] == "INR")
    assert inr["amount"] == "2500.00"
    assert inr["amount_minor"] == "250000"
    assert inr["direction"] == "credit"
    assert inr["event_type"] == "payment"
    assert inr["customer_email"] == "ann@x.test"
    assert inr["created_at_utc"].endswith("Z")
    debit = next(r for r in rows if r["direction"] == "debit")
    assert (debit["balance_before"], debit["balance_after"]) == ("50.00", "40.00")


def test_csv_every_page_and_all_columns(operator_client, make_customer, post):
    c = make_customer(email="bulk@x.test")
    for i in range(120):
        post(c, 1 + i)
    rows = rows_of(operator_client.get("/dashboard/ledger/export.csv"))
    assert len(rows) == 120 == LedgerEntry.objects.count()
    assert {r["entry_id"] for r in rows} == set(LedgerEntry.objects.values_list("id", flat=True))
    jpy = rows_of(operator_client.get("/dashboard/ledger/export.csv", {"currency": "JPY"}))
    assert jpy == []


def test_csv_neutralises_formulas_and_names_actors(operator_client, trail, operator):
    rows = rows_of(operator_client.get("/dashboard/ledger/export.csv"))
    formula = next(r for r in rows if "HYPERLINK" in r["reason"])
    assert formula["reason"].startswith("'=")
    assert formula["actor_type"] == "api_key"
    assert formula["actor"] == "Checkout"
    assert next(r for r in rows if r["reason"] == "by olivia")["actor"] == "olivia"


def test_ledger_query_count_is_flat(operator_client, business, make_customer, post, operator, count_queries,
                                    django_assert_max_num_queries):
    key, _ = api_key_create(business=business, name="k")

    def grow(n, start):
        for i in range(start, start + n):
            c = make_customer(email=f"l{i}@x.test")
            post(c, 100)
            ledger.post(business_id=business.pk, customer_id=c.pk, currency="USD", amount=1,
                                       is_credit=True, actor=Actor.api_key(key.pk))
            ledger.post(business_id=business.pk, customer_id=c.pk, currency="USD", amount=1,
                                       is_credit=True, actor=Actor.user(operator.pk))

    grow(2, 0)  # 6 rows
    small = count_queries(operator_client, "/dashboard/ledger/")
    grow(15, 2)  # 51 rows: a full page of 50
    large = count_queries(operator_client, "/dashboard/ledger/")
    assert small == large
    # 8, the approvers of entries people made (one query), the totals (one aggregate) and the
    # "Made by" suggestions (one UNION).
    with django_assert_max_num_queries(11):
        operator_client.get("/dashboard/ledger/")
    csv_small = count_queries(operator_client, "/dashboard/ledger/export.csv?currency=INR")
    csv_large = count_queries(operator_client, "/dashboard/ledger/export.csv")
    assert csv_small == csv_large
