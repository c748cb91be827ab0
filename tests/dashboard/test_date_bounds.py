"""Dates at the ends of the calendar are a form error, never a 500 (issue 15 item 7).

``created_to`` is the whole day, so 9999-12-31 would need midnight of year 10000; a date near
year 1 turns into year 0 in UTC from a time zone east of UTC. Both raised ``OverflowError``.
"""

import pytest

EDGE_MESSAGE = "Enter a date between 0001-01-02 and 9999-12-30."


def _pages(customer):
    return {"ledger": "/dashboard/ledger/", "customer": f"/dashboard/customers/{customer.pk}/"}


@pytest.mark.parametrize("page", ["ledger", "customer"])
@pytest.mark.parametrize("query", ["created_to=9999-12-31", "created_from=9999-12-31", "created_from=0001-01-01",
                                   "created_to=0001-01-01"])
@pytest.mark.parametrize("zone", [None, "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_calendar_edges_are_a_form_error_on_the_pages(operator_client, customer, post, page, query, zone):
    post(customer, 500)
    if zone:
        operator_client.post("/dashboard/settings/time-zone/", {"time_zone": zone})
    response = operator_client.get(f"{_pages(customer)[page]}?{query}")
    assert response.status_code == 200
    assert EDGE_MESSAGE in response.content.decode()


@pytest.mark.parametrize("query", ["created_to=9999-12-31", "created_from=0001-01-01"])
def test_calendar_edges_are_a_clear_error_in_the_csv_export(operator_client, customer, post, query):
    post(customer, 500)
    operator_client.post("/dashboard/settings/time-zone/", {"time_zone": "Pacific/Kiritimati"})
    response = operator_client.get(f"/dashboard/ledger/export.csv?{query}")
    assert response.status_code == 400
    assert EDGE_MESSAGE in response.content.decode()


def test_the_last_allowed_days_still_filter(operator_client, customer, post):
    post(customer, 500)
    response = operator_client.get("/dashboard/ledger/?created_from=0001-01-02&created_to=9999-12-30")
    assert response.status_code == 200
    assert "$5.00" in response.content.decode()
    export = operator_client.get("/dashboard/ledger/export.csv?created_to=9999-12-30")
    assert export.status_code == 200
    assert len(b"".join(export.streaming_content).splitlines()) == 2


@pytest.mark.parametrize("query", ["created_at_lte=9999-12-31T23:59:59-05:00",
                                   "created_at_gte=0001-01-01T00:00:00+14:00", "created_at_lte=9999-12-31"])
def test_calendar_edges_on_the_customer_list(operator_client, customer, query):
    response = operator_client.get(f"/dashboard/customers/?{query}")
    assert response.status_code == 200
