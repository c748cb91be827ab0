"""Login, roles, tenancy and CSRF on every dashboard page."""

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from wallets.http.errors import server_error
from wallets.models import LedgerEntry

PAGES = ["/dashboard/", "/dashboard/customers/", "/dashboard/ledger/", "/dashboard/ledger/export.csv",
         "/dashboard/wallets/low-balance/", "/dashboard/wallets/low-balance/export.csv", "/dashboard/settings/",
         "/dashboard/approvals/"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_is_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_anonymous_customer_page_and_posts_go_to_login(client, customer):
    for url in (f"/dashboard/customers/{customer.pk}/", f"/dashboard/customers/{customer.pk}/adjust/"):
        assert client.get(url)["Location"].startswith("/accounts/login/")
    response = client.post(f"/dashboard/customers/{customer.pk}/adjust/", {"amount": "5", "action": "post"})
    assert response.status_code == 302
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("url", PAGES)
def test_viewer_may_read_every_page(viewer_client, customer, url):
    assert viewer_client.get(url).status_code == 200


def test_user_without_business_gets_403_page(make_user, client_for, db):
    client = client_for(make_user())
    response = client.get("/dashboard/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "is not a member of any business" in body
    assert "Ask an administrator" in body
    assert 'action="/accounts/logout/"' in body  # a working Log out: a POST with the CSRF token
    assert "csrfmiddlewaretoken" in body
    assert 'href="/dashboard/"' not in body.replace('class="brand brand-center" href="/dashboard/"', "")
    assert "dashboard.css" in body  # the dashboard's error page, not Django's plain one


def test_login_page_and_login(client, viewer):
    page = client.get("/accounts/login/?next=/dashboard/")
    assert page.status_code == 200
    assert 'for="id_username"' in page.content.decode()
    assert 'for="id_password"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "victor", "password": "correct-horse-battery-staple",
                                                "next": "/dashboard/"})
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200


def test_wrong_password_shows_error(client, viewer):
    response = client.post("/accounts/login/", {"username": "victor", "password": "nope"})
    assert response.status_code == 200
    assert "alert-error" in response.content.decode()


def test_another_business_customer_is_404(operator_client, other_business, make_customer):
    stranger = make_customer(email="x@globex.test", business_id=other_business.pk)
    assert operator_client.get(f"/dashboard/customers/{stranger.pk}/").status_code == 404
    response = operator_client.post(f"/dashboard/customers/{stranger.pk}/adjust/", {
        "direction": "credit", "amount": "5.00", "currency": "USD", "reason": "x", "form_key": "dash_abcdefgh1234",
        "action": "post", "seen_balance": "0"})
    assert response.status_code == 404
    assert not LedgerEntry.objects.exists()
    assert "Page not found" in response.content.decode()


def test_another_business_rows_never_listed(operator_client, other_business, make_customer, post):
    stranger = make_customer(email="x@globex.test", name="Stranger Globex", business_id=other_business.pk)
    post(stranger, 500)
    for url in ("/dashboard/customers/", "/dashboard/ledger/", "/dashboard/wallets/low-balance/",
                "/dashboard/ledger/export.csv"):
        response = operator_client.get(url)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"Stranger Globex" not in content, url


def test_viewer_forged_adjustment_is_403(viewer_client, customer):
    response = viewer_client.post(f"/dashboard/customers/{customer.pk}/adjust/", {
        "direction": "credit", "amount": "5.00", "currency": "USD", "reason": "forged",
        "form_key": "dash_abcdefgh1234", "action": "post", "seen_balance": "0"})
    assert response.status_code == 403
    assert not LedgerEntry.objects.exists()


def test_viewer_forged_settings_post_is_403(viewer_client, customer):
    response = viewer_client.post("/dashboard/settings/", {"form": "add", "add-currency": "USD",
                                                           "add-low_balance_below": "5"})
    assert response.status_code == 403


def test_viewer_sees_no_adjustment_form(viewer_client, customer):
    body = viewer_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert "Review adjustment" not in body
    assert "may view balances but not change them" in body


def test_csrf_is_enforced(operator, customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(f"/dashboard/customers/{customer.pk}/adjust/", {
        "direction": "credit", "amount": "5.00", "currency": "USD", "reason": "x",
        "form_key": "dash_abcdefgh1234", "action": "post", "seen_balance": "0"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_superuser_switches_business(superuser_client, business, other_business, make_customer):
    make_customer(email="a@acme.test", name="Acme Person")
    make_customer(email="g@globex.test", name="Globex Person", business_id=other_business.pk)
    superuser_client.post("/dashboard/business/", {"business_id": business.pk})
    assert "Acme Person" in superuser_client.get("/dashboard/customers/").content.decode()
    response = superuser_client.post("/dashboard/business/", {"business_id": other_business.pk})
    assert response.status_code == 302
    assert superuser_client.session["business_id"] == other_business.pk
    body = superuser_client.get("/dashboard/customers/").content.decode()
    assert "Globex Person" in body
    assert "Acme Person" not in body
    # The switcher lists every business.
    assert "Acme" in body
    assert 'name="business_id"' in body


def test_superuser_unknown_business_is_404(superuser_client, business):
    assert superuser_client.post("/dashboard/business/", {"business_id": "bus_nope"}).status_code == 404


def test_member_cannot_switch_business(operator_client, other_business):
    response = operator_client.post("/dashboard/business/", {"business_id": other_business.pk})
    assert response.status_code == 403
    assert "business_id" not in operator_client.session


def test_superuser_on_fresh_install_sees_empty_state(make_user, client_for, db):
    response = client_for(make_user(superuser=True)).get("/dashboard/")
    assert response.status_code == 200
    assert "No business yet" in response.content.decode()


def test_unknown_dashboard_path_is_html_404(operator_client):
    response = operator_client.get("/dashboard/nope/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_dashboard_without_slash_redirects(client, db):
    assert client.get("/dashboard")["Location"] == "/dashboard/"


def test_500_page_html_for_ui_and_json_for_api(db):
    factory = RequestFactory()
    html = server_error(factory.get("/dashboard/"))
    assert html.status_code == 500
    assert b"Something went wrong" in html.content
    api = server_error(factory.get("/customers"))
    assert api.status_code == 500
    assert api["Content-Type"] == "application/json"


def test_logout_needs_post(operator_client):
    response = operator_client.post(reverse("logout"))
    assert response.status_code == 302
    assert operator_client.get("/dashboard/").status_code == 302
