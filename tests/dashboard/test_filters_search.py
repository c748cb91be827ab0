"""Issue 12: filters that match what is shown (bug 11), totals and balances as of a day (feature 3),
the search box (feature 6) and date presets with filters kept in the URL (feature 7)."""

import datetime
import html as html_lib
import re
import zoneinfo

import pytest
from django.db import connection
from django.http import QueryDict
from django.utils import timezone

from wallets import ledger
from wallets.dashboard.date_presets import date_presets, preset_ranges
from wallets.filters import AMOUNT_NEEDS_CURRENCY
from wallets.models import Membership
from wallets.selectors.search import search
from wallets.services import api_key_create
from wallets.services.actors import Actor

pytestmark = pytest.mark.django_db

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")


def reasons(client, url="/dashboard/ledger/", **params) -> list[str]:
    body = client.get(url, params).content.decode()
    return [html_lib.unescape(r) for r in re.findall(r'<td class="reason[^"]*">([^<]*)</td>', body)]


def by_testid(body: str, name: str) -> str:
    match = re.search(rf'data-testid="{re.escape(name)}">((?:[^<]|<wbr>)*)<', body)
    assert match, name
    return match.group(1).replace("<wbr>", "")


@pytest.fixture
def trail(business, other_business, make_customer, post, operator, make_user):
    ann = make_customer(email="ann@x.test", name="Ann Lee")
    bob = make_customer(email="bob@x.test", name="Bob Stone")
    key, _ = api_key_create(business=business, name="Checkout")
    other_key, _ = api_key_create(business=other_business, name="Checkout")  # same name, elsewhere
    post(ann, 5000, reason="ann usd credit")
    post(ann, 1000, credit=False, reason="ann usd debit")
    post(ann, 250000, currency="INR", reason="ann inr credit")
    post(bob, 1999, reason="bob usd credit")
    post(bob, 1500, currency="JPY", reason="bob jpy credit")
    ledger.post(business_id=business.pk, customer_id=bob.pk, currency="USD", amount=1, is_credit=True,
                actor=Actor.api_key(key.pk), reason="by key")
    ledger.post(business_id=business.pk, customer_id=bob.pk, currency="USD", amount=2, is_credit=True,
                actor=Actor.user(operator.pk), reason="by olivia")
    ledger.post(business_id=business.pk, customer_id=bob.pk, currency="USD", amount=3, is_credit=False,
                actor=Actor(type="system", id="expiry"), reason="by the system")
    return ann, bob, key, other_key


# --- Bug 11: "Made by" takes the name shown --------------------------------------------------


@pytest.mark.parametrize(("made_by", "expected"), [
    ("olivia", {"by olivia"}),
    ("OLIVIA", {"by olivia"}),
    ("checkout", {"by key"}),
    ("system", {"by the system"}),
    ("expiry", {"by the system"}),
    ("test", {"ann usd credit", "ann usd debit", "ann inr credit", "bob usd credit", "bob jpy credit"}),
    ("nobody", set()),
])
def test_made_by_filters_by_the_name_shown(operator_client, trail, made_by, expected):
    assert set(reasons(operator_client, made_by=made_by)) == expected


def test_made_by_never_matches_another_business_key_of_the_same_name(operator_client, trail):
    # An entry of A's made by B's key cannot exist; the filter resolves names among A's keys only.
    assert set(reasons(operator_client, made_by="Checkout")) == {"by key"}
    body = operator_client.get("/dashboard/ledger/").content.decode()
    assert '<datalist id="made-by-names">' in body
    assert '<option value="Checkout">' in body
    assert '<option value="olivia">' in body
    assert 'list="made-by-names"' in body


def test_a_numeric_actor_id_link_still_works(operator_client, trail, operator):
    assert set(reasons(operator_client, actor_id=str(operator.pk))) == {"by olivia"}


def test_made_by_column_is_also_under_the_time_on_a_phone(operator_client, trail):
    body = operator_client.get("/dashboard/ledger/", {"made_by": "olivia"}).content.decode()
    assert 'data-testid="made-by-sm">by olivia<' in body


# --- Bug 11: the customer filter takes a name, an email or an id --------------------------------


@pytest.mark.parametrize("value", ["Ann", "ann lee", "lee", "ANN@x.test", "ann-id"])
def test_customer_filter_takes_name_email_or_id(operator_client, trail, value):
    ann = trail[0]
    value = ann.pk if value == "ann-id" else value
    assert set(reasons(operator_client, customer=value)) == {"ann usd credit", "ann usd debit", "ann inr credit"}


def test_customer_filter_by_name_stays_in_the_business(operator_client, trail, make_customer, other_business, post):
    other = make_customer(email="ann@other.test", name="Ann Lee", business_id=other_business.pk)
    post(other, 777, reason="other business ann")
    assert "other business ann" not in reasons(operator_client, customer="Ann")


# --- Bug 11: amounts are compared within one currency --------------------------------------------


def test_amount_filter_without_a_currency_is_an_error_next_to_the_field(operator_client, trail):
    response = operator_client.get("/dashboard/ledger/", {"amount_min": "10"})
    assert response.status_code == 200
    assert response.context["filter"].errors["amount_min"] == [AMOUNT_NEEDS_CURRENCY]
    body = response.content.decode()
    field = body[body.index('for="id_amount_min"'):]
    assert field.index("Choose a currency first") < field.index("</div>")  # inside the field's own block
    # Nothing was filtered by an amount that means nothing: every entry is still listed.
    assert len(reasons(operator_client, amount_min="10")) == 8
    assert operator_client.get("/dashboard/ledger/export.csv", {"amount_max": "10"}).status_code == 400


def test_amount_filter_within_a_currency(operator_client, trail):
    assert set(reasons(operator_client, currency="JPY", amount_min="1500")) == {"bob jpy credit"}
    assert set(reasons(operator_client, currency="INR", amount_min="1500")) == {"ann inr credit"}
    assert set(reasons(operator_client, currency="USD", amount_min="1500")) == set()


def test_sort_by_amount_without_a_currency_sorts_within_each_currency(operator_client, trail):
    body = operator_client.get("/dashboard/ledger/", {"sort": "-amount"}).content.decode()
    order = [html_lib.unescape(r) for r in re.findall(r'<td class="reason[^"]*">([^<]*)</td>', body)]
    # INR, JPY, USD in turn; largest first within each: ₹2,500 never outranks $50 or ¥1,500 by digits.
    assert order == ["ann inr credit", "bob jpy credit", "ann usd credit", "bob usd credit", "ann usd debit",
                     "by the system", "by olivia", "by key"]
    assert 'data-testid="sort-within-currency"' in body
    ascending = reasons(operator_client, sort="amount")
    assert ascending[:2] == ["ann inr credit", "bob jpy credit"]
    assert ascending[2:4] == ["by key", "by olivia"]


# --- Feature 3: totals on every filtered view ------------------------------------------------------


def test_ledger_totals_per_currency_under_the_filters(operator_client, trail):
    body = operator_client.get("/dashboard/ledger/").content.decode()
    assert by_testid(body, "credits-USD") == "$70.02"  # 50.00 + 19.99 + 0.01 + 0.02
    assert by_testid(body, "debits-USD") == "$10.03"
    assert by_testid(body, "net-USD") == "$59.99"
    assert by_testid(body, "credits-INR") == "₹2,500.00"
    assert by_testid(body, "credits-JPY") == "¥1,500"
    usd_row = body[body.index('data-testid="totals-USD"'):]
    assert "(4)" in usd_row[:600]  # credits
    assert "(2)" in usd_row[:600]  # debits
    filtered = operator_client.get("/dashboard/ledger/", {"customer": "ann@x.test"}).content.decode()
    assert by_testid(filtered, "credits-USD") == "$50.00"
    assert by_testid(filtered, "net-USD") == "$40.00"
    assert 'data-testid="totals-JPY"' not in filtered


def test_totals_cover_every_page_not_only_the_shown_one(operator_client, make_customer, post):
    c = make_customer(email="many@x.test")
    for _ in range(60):
        post(c, 100)
    body = operator_client.get("/dashboard/ledger/").content.decode()
    assert "1–50 of 60" in body
    assert by_testid(body, "credits-USD") == "$60.00"


def test_totals_over_very_many_entries_wait_for_a_narrower_filter(operator_client, trail, monkeypatch):
    from wallets.dashboard.views import ledger as ledger_view

    monkeypatch.setattr(ledger_view, "TOTALS_ROW_LIMIT", 5)  # the bench's 100,000, scaled down
    body = operator_client.get("/dashboard/ledger/", {"currency": "USD"}).content.decode()  # 6 entries
    assert 'data-testid="ledger-totals"' not in body
    link = html_lib.unescape(re.search(r'data-testid="totals-deferred">[^<]*<a href="\?([^"]+)"', body).group(1))
    assert QueryDict(link) == QueryDict("currency=USD&totals=all")
    computed = operator_client.get("/dashboard/ledger/?" + link).content.decode()
    assert by_testid(computed, "credits-USD") == "$70.02"
    narrower = operator_client.get("/dashboard/ledger/", {"currency": "USD", "customer": "Ann"}).content.decode()
    assert by_testid(narrower, "credits-USD") == "$50.00"  # 2 entries: under the limit
    csv_href = html_lib.unescape(re.search(r'data-testid="export-csv"\s+href="([^"]+)"', computed).group(1))
    assert "totals" not in csv_href


def test_customer_ledger_has_totals_and_a_csv_of_its_filters(operator_client, trail):
    ann = trail[0]
    body = operator_client.get(f"/dashboard/customers/{ann.pk}/", {"direction": "credit"}).content.decode()
    assert by_testid(body, "credits-USD") == "$50.00"
    assert by_testid(body, "debits-USD") == "$0.00"
    assert by_testid(body, "credits-INR") == "₹2,500.00"
    csv_href = html_lib.unescape(re.search(r'href="([^"]+)">Download CSV', body).group(1))
    assert csv_href.startswith("/dashboard/ledger/export.csv?")
    assert QueryDict(csv_href.split("?", 1)[1]) == QueryDict(f"direction=credit&customer={ann.pk}")
    rows = b"".join(operator_client.get(csv_href).streaming_content).decode("utf-8-sig").splitlines()
    assert len(rows) == 3  # header, the USD credit, the INR credit


def test_totals_are_one_query_whatever_the_rows(operator_client, trail, count_queries, make_customer, post):
    small = count_queries(operator_client, "/dashboard/ledger/?customer=Bob")
    bob = trail[1]
    for i in range(30):
        post(bob, 100 + i, currency=["USD", "INR", "JPY"][i % 3])
    assert count_queries(operator_client, "/dashboard/ledger/?customer=Bob") == small


# --- Feature 3: balances as of a day ----------------------------------------------------------------


@pytest.fixture
def kolkata_client(operator_client):
    session = operator_client.session
    session["django_timezone"] = "Asia/Kolkata"
    session.save()
    return operator_client


def at(day: int, hour: int) -> datetime.datetime:
    return datetime.datetime(2020, 3, day, hour, tzinfo=KOLKATA)


@pytest.fixture
def dated(make_customer):
    ann = make_customer(email="ann@dated.test", name="Ann Dated")
    bob = make_customer(email="bob@dated.test", name="Bob Dated")
    ledger.post_many(business_id=ann.business_id, actor=Actor.command("test"), postings=[
        ledger.Posting(ann.id, ledger.Request("USD", 10000, True, "1st"), created_at=at(1, 10)),
        ledger.Posting(ann.id, ledger.Request("USD", 2500, False, "late 1st"), created_at=at(1, 23)),
        ledger.Posting(ann.id, ledger.Request("USD", 99, True, "2nd"), created_at=at(2, 0)),
        ledger.Posting(bob.id, ledger.Request("INR", 150000, True, "bob 2nd"), created_at=at(2, 9)),
    ])
    return ann, bob


def test_customer_list_as_of_shows_balances_at_the_end_of_that_day(kolkata_client, dated):
    ann, bob = dated
    body = kolkata_client.get("/dashboard/customers/", {"as_of": "2020-03-01"}).content.decode()
    assert re.search(r"Balances at end of <time[^>]*>Mar 1, 2020</time>", body)
    assert by_testid(body, f"as-of-{ann.pk}-USD") == "$75.00"  # 23:00 in Kolkata is still the 1st
    assert by_testid(body, f"as-of-{bob.pk}-INR") == "₹0.00"
    later = kolkata_client.get("/dashboard/customers/", {"as_of": "2020-03-02"}).content.decode()
    assert by_testid(later, f"as-of-{ann.pk}-USD") == "$75.99"
    assert by_testid(later, f"as-of-{bob.pk}-INR") == "₹1,500.00"


def test_customer_list_as_of_rejects_a_bad_date_next_to_the_field(operator_client, dated):
    response = operator_client.get("/dashboard/customers/", {"as_of": "nope"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a valid date." in body
    assert "Balances at end of" not in body


def test_customer_page_as_of_keeps_the_ledger_filters(kolkata_client, dated):
    ann = dated[0]
    url = f"/dashboard/customers/{ann.pk}/"
    body = kolkata_client.get(url, {"as_of": "2020-03-01", "direction": "debit"}).content.decode()
    assert by_testid(body, "as-of-USD") == "$75.00"
    assert by_testid(body, "balance-USD") == "$75.99"  # today's stays on the card
    assert reasons(kolkata_client, url, as_of="2020-03-01", direction="debit") == ["late 1st"]
    as_of_form = body[body.index('data-testid="as-of-form"'):]
    as_of_form = as_of_form[:as_of_form.index("</form>")]
    assert '<input type="hidden" name="direction" value="debit">' in as_of_form
    ledger_form = body[body.index('hx-target="#ledger-results"'):]
    ledger_form = ledger_form[:ledger_form.index("</form>")]
    assert '<input type="hidden" name="as_of" value="2020-03-01">' in ledger_form


def test_as_of_query_budget_is_flat(operator_client, make_customer, post, count_queries,
                                    django_assert_max_num_queries):
    for i in range(2):
        post(make_customer(email=f"s{i}@x.test"), 100)
    small = count_queries(operator_client, "/dashboard/customers/?as_of=2099-01-01")
    for i in range(2, 30):
        post(make_customer(email=f"s{i}@x.test"), 100, currency="INR")
    assert count_queries(operator_client, "/dashboard/customers/?as_of=2099-01-01") == small
    with django_assert_max_num_queries(small):
        operator_client.get("/dashboard/customers/?as_of=2099-01-01")


# --- Feature 7: date presets, filters in the URL -----------------------------------------------------


def test_preset_ranges_are_calendar_days():
    ranges = {key: (start, end) for key, _, start, end in preset_ranges(datetime.date(2024, 3, 15))}
    assert ranges["today"] == (datetime.date(2024, 3, 15), datetime.date(2024, 3, 15))
    assert ranges["this_month"] == (datetime.date(2024, 3, 1), datetime.date(2024, 3, 15))
    assert ranges["last_month"] == (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29))
    january = {key: (s, e) for key, _, s, e in preset_ranges(datetime.date(2025, 1, 3))}
    assert january["last_month"] == (datetime.date(2024, 12, 1), datetime.date(2024, 12, 31))


def test_presets_keep_the_other_filters_and_mark_the_active_one():
    query = QueryDict("currency=USD&page=3&created_from=2024-03-15&created_to=2024-03-15")
    presets = {p.key: p for p in date_presets(query, today=datetime.date(2024, 3, 15))}
    assert presets["today"].active
    assert not presets["this_month"].active
    assert QueryDict(presets["last_month"].query) == QueryDict(
        "currency=USD&created_from=2024-02-01&created_to=2024-02-29")  # page dropped, currency kept
    assert QueryDict(presets["all"].query) == QueryDict("currency=USD")


def test_presets_use_the_user_time_zone(operator_client, trail):
    session = operator_client.session
    session["django_timezone"] = "Pacific/Kiritimati"  # UTC+14: its "today" is often tomorrow in UTC
    session.save()
    today = timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
    body = operator_client.get("/dashboard/ledger/", {"currency": "USD"}).content.decode()
    link = html_lib.unescape(re.search(r'href="\?([^"]*)" data-preset="today"', body).group(1))
    assert QueryDict(link) == QueryDict(f"currency=USD&created_from={today}&created_to={today}")
    followed = operator_client.get("/dashboard/ledger/?" + link).content.decode()
    assert re.search(r'class="preset active" href="[^"]*" data-preset="today" aria-current="true"', followed)
    assert len(reasons(operator_client, **QueryDict(link).dict())) == 6  # every USD entry is from today


def test_customer_ledger_presets_link_back_to_the_ledger_section(operator_client, trail):
    ann = trail[0]
    body = operator_client.get(f"/dashboard/customers/{ann.pk}/").content.decode()
    assert re.search(r'href="\?created_from=[\d-]+&amp;created_to=[\d-]+#ledger" data-preset="this_month"', body)


def test_the_ledger_csv_link_carries_exactly_the_filters(operator_client, trail):
    params = "customer=Ann&currency=USD&made_by=test&sort=-amount&page=1"
    body = operator_client.get("/dashboard/ledger/?" + params).content.decode()
    href = html_lib.unescape(re.search(r'data-testid="export-csv"\s+href="([^"]+)"', body).group(1))
    assert QueryDict(href.split("?", 1)[1]) == QueryDict("customer=Ann&currency=USD&made_by=test&sort=-amount")
    rows = b"".join(operator_client.get(href).streaming_content).decode("utf-8-sig").splitlines()
    assert [r.split(",")[12] for r in rows[1:]] == ["ann usd credit", "ann usd debit"]


def test_filter_forms_are_get_forms_that_push_the_url(operator_client, trail):
    ann = trail[0]
    for url in ("/dashboard/ledger/", f"/dashboard/customers/{ann.pk}/"):
        body = operator_client.get(url).content.decode()
        form = body[body.index('hx-push-url="true"') - 400:]
        assert 'method="get"' in form[:400]


# --- Feature 6: the search box ------------------------------------------------------------------------


@pytest.fixture
def findable(business, make_customer, post):
    ann = make_customer(email="ann.lee@acme.test", name="Ann Lee")
    annie = make_customer(email="annie@other.test", name="Annie Hall")
    zed = make_customer(email="zed@acme.test", name="Zed")
    payment = post(ann, 5000, reference_object_id="pay_123", event_type="payment", reason="paid")
    keyed = post(zed, 700, idempotency_key="order-77", reason="keyed")
    return ann, annie, zed, payment, keyed


def entry_of(result):
    return result.entry if hasattr(result, "entry") else result


def test_search_finds_customers_by_name_or_email_prefix(business, findable):
    ann, annie, zed, *_ = findable
    assert [c.pk for c in search(business_id=business.pk, query="ann").customers] == [ann.pk, annie.pk]
    assert [c.pk for c in search(business_id=business.pk, query="ANNIE@").customers] == [annie.pk]
    assert [c.pk for c in search(business_id=business.pk, query="zed@acme.test").customers] == [zed.pk]
    assert search(business_id=business.pk, query="lee").customers == []  # prefix, not contains
    assert search(business_id=business.pk, query="%").customers == []  # a wildcard is a character
    assert search(business_id=business.pk, query="  ").count == 0


def test_search_finds_entries_by_reference_and_idempotency_key(business, findable):
    by_reference = search(business_id=business.pk, query="pay_123").entries
    assert [(m.entry.reason, m.matched_on) for m in by_reference] == [("paid", "reference")]
    by_key = search(business_id=business.pk, query="order-77").entries
    assert [(m.entry.reason, m.matched_on) for m in by_key] == [("keyed", "idempotency key")]
    assert search(business_id=business.pk, query="pay_12").entries == []  # exact only


def test_an_exact_id_goes_straight_to_its_page(operator_client, findable):
    ann, *_ = findable
    entry = ann.ledger_entries.get()
    response = operator_client.get("/dashboard/search/", {"q": ann.pk})
    assert (response.status_code, response["Location"]) == (302, f"/dashboard/customers/{ann.pk}/")
    response = operator_client.get("/dashboard/search/", {"q": f"  {entry.pk} "})
    assert (response.status_code, response["Location"]) == (302, f"/dashboard/customers/{ann.pk}/entries/{entry.pk}/")


def test_the_results_page_groups_by_kind_and_links_each_result(operator_client, findable):
    ann, annie, *_ = findable
    body = operator_client.get("/dashboard/search/", {"q": "Ann"}).content.decode()
    assert by_testid(body, "search-summary") == "2 results for “Ann”."
    customers = body[body.index('data-testid="search-customers"'):]
    assert f'href="/dashboard/customers/{ann.pk}/"' in customers
    assert f'href="/dashboard/customers/{annie.pk}/"' in customers
    assert 'data-testid="search-entries"' not in body
    payment = ann.ledger_entries.get()
    by_ref = operator_client.get("/dashboard/search/", {"q": "pay_123"}).content.decode()
    assert f'href="/dashboard/customers/{ann.pk}/entries/{payment.pk}/"' in by_ref
    assert ">reference<" in by_ref


def test_search_empty_states(operator_client, findable):
    assert 'data-testid="search-empty"' in operator_client.get("/dashboard/search/").content.decode()
    none = operator_client.get("/dashboard/search/", {"q": "<b>nothing</b>"}).content.decode()
    assert 'data-testid="search-none"' in none
    assert "<b>nothing</b>" not in none
    assert "&lt;b&gt;nothing&lt;/b&gt;" in none  # escaped


def test_the_top_bar_has_the_search_box_on_every_page(operator_client, findable):
    body = operator_client.get("/dashboard/").content.decode()
    assert re.search(r'<form class="topbar-search" method="get" action="/dashboard/search/" role="search"', body)
    assert '<label for="topbar-q"' in body


def test_search_never_finds_another_business(operator_client, other_business, make_customer, post):
    theirs = make_customer(email="ann@globex.test", name="Ann Globex", business_id=other_business.pk)
    entry = post(theirs, 100, reference_object_id="pay_globex", idempotency_key="globex-key").entry
    for q in (theirs.pk, "ann@globex.test", "Ann Globex", entry.pk, "pay_globex", "globex-key"):
        response = operator_client.get("/dashboard/search/", {"q": q})
        assert response.status_code == 200, q  # never a redirect to their page
        body = response.content.decode()
        assert 'data-testid="search-none"' in body, q
        assert f"/dashboard/customers/{theirs.pk}/" not in body


def test_viewers_may_search(client_for, make_user, business, findable):
    viewer = client_for(make_user(Membership.Role.VIEWER, business))
    assert viewer.get("/dashboard/search/", {"q": "Ann"}).status_code == 200


def test_search_query_budget_is_flat(operator_client, make_customer, post, count_queries,
                                     django_assert_max_num_queries):
    def grow(start, n):
        for i in range(start, start + n):
            c = make_customer(email=f"ann{i}@x.test", name=f"Ann {i}")
            post(c, 100, reference_object_id="pay_shared", idempotency_key=f"k{i}")

    grow(0, 2)
    small = count_queries(operator_client, "/dashboard/search/?q=pay_shared")
    small_names = count_queries(operator_client, "/dashboard/search/?q=ann")
    grow(2, 28)
    assert count_queries(operator_client, "/dashboard/search/?q=pay_shared") == small
    assert count_queries(operator_client, "/dashboard/search/?q=ann") == small_names
    with django_assert_max_num_queries(6):  # session, user, membership + the two searches (+ business)
        operator_client.get("/dashboard/search/?q=ann")


def explain(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_uses_indexes_never_a_scan(business, make_customer):
    """With enough rows in the business that scanning it would show, each search query is a
    BitmapOr of its indexes (the plan on the bench's 1M entries is the same)."""
    from django.db.models import Q
    from django.db.models.functions import Lower

    from wallets.models import Customer, LedgerEntry

    Customer.objects.bulk_create(Customer(business=business, email=f"c{i}@bulk.test", name=f"Customer {i}")
                                 for i in range(3000))
    one = make_customer(email="one@bulk.test")
    ledger.post_many(business_id=business.pk, actor=Actor.command("test"), postings=[
        ledger.Posting(one.id, ledger.Request("USD", 1, True, "bulk")) for _ in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallets_customer")
        cursor.execute("ANALYZE wallets_ledgerentry")
    customers = (Customer.objects.filter(business_id=business.pk).alias(e=Lower("email"), n=Lower("name"))
                 .filter(Q(pk="x") | Q(e__startswith="ann") | Q(n__startswith="ann")))
    plan = explain(customers)
    assert "customer_name_prefix" in plan, plan
    assert "customer_email_prefix" in plan, plan
    assert "Seq Scan" not in plan, plan
    entries = LedgerEntry.objects.filter(business_id=business.pk).filter(
        Q(pk="x") | Q(reference_object_id="x") | Q(idempotency_key="x"))
    plan = explain(entries)
    assert "ledger_business_reference" in plan, plan
    assert "ledger_business_idem_key" in plan, plan
    assert "Seq Scan" not in plan, plan
