"""The Django admin: read-only ledger, API keys shown once, adjustments through the services,
query counts that stay flat."""

import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission

from tests.dashboard.conftest import PASSWORD
from wallets.models import ApiKey, CurrencyPolicy, LedgerEntry, Membership, Wallet
from wallets.services.api_keys import api_key_authenticate, api_key_create


@pytest.fixture
def admin_client(client_for, make_user):
    return client_for(make_user(superuser=True, username="support"))


@pytest.fixture
def entry(customer, post):
    return post(customer, 5000, reason="seed").entry


def test_ledger_is_read_only_even_for_superusers(admin_client, entry):
    base = "/admin/wallets/ledgerentry/"
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 403
    view = admin_client.get(f"{base}{quote(entry.pk)}/change/")
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert admin_client.post(f"{base}{quote(entry.pk)}/change/", {"amount": 1}).status_code == 403
    assert admin_client.get(f"{base}{entry.pk}/delete/").status_code == 403
    response = admin_client.post(base, {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    assert response.status_code in (200, 302)
    assert "$50.00" in admin_client.get(base).content.decode()


def test_customer_and_wallet_are_read_only(admin_client, customer):
    assert admin_client.get("/admin/wallets/customer/add/").status_code == 403
    assert admin_client.post(f"/admin/wallets/customer/{quote(customer.pk)}/change/", {"name": "X"}).status_code == 403
    wallet = Wallet.objects.filter(customer=customer).first()
    assert admin_client.post(f"/admin/wallets/wallet/{quote(wallet.pk)}/change/", {"balance": 10**6}).status_code == 403
    assert Wallet.objects.get(pk=wallet.pk).balance == 0


def test_ledger_search_by_a_customer_or_a_wallet_id_finds_its_entries(admin_client, customer, post, make_customer):
    """An id typed in the search box is looked up exactly (the customer's with its business)."""
    usd = post(customer, 111).entry
    eur = post(customer, 222, "EUR").entry
    other = post(make_customer(email="zed@x.test"), 333).entry
    base = "/admin/wallets/ledgerentry/"
    for q, found, not_found in ((customer.pk, [usd, eur], [other]), (usd.wallet_id, [usd], [eur, other]),
                                ("wal_unknown", [], [usd, eur, other])):
        body = admin_client.get(base, {"q": q}).content.decode()
        for e in found:
            assert e.pk in body, q
        for e in not_found:
            assert e.pk not in body, q


def test_customer_search_and_inline_balances(admin_client, customer, post, make_customer):
    post(customer, 123456)
    make_customer(email="zed@x.test", name="Zed")
    for q in ("ann@", "Ann L", customer.pk):
        body = admin_client.get("/admin/wallets/customer/", {"q": q}).content.decode()
        assert "Ann Lee" in body, q
        assert "Zed" not in body, q
        assert "$1,234.56" in body
    page = admin_client.get(f"/admin/wallets/customer/{quote(customer.pk)}/change/").content.decode()
    assert "$1,234.56" in page
    assert "Adjust balance" in page


def test_wallet_low_balance_filter(admin_client, business, make_customer, post):
    low = make_customer(email="low@x.test", name="Lowe")
    high = make_customer(email="high@x.test", name="Highe")
    post(low, 500)
    post(high, 5000)
    post(high, 5000, currency="INR")
    body = admin_client.get("/admin/wallets/wallet/", {"low": "yes", "currency": "USD"}).content.decode()
    assert "Lowe" in body
    assert "Highe" not in body
    CurrencyPolicy.objects.create(business=business, currency="USD", low_balance_below=10000)
    body = admin_client.get("/admin/wallets/wallet/", {"low": "yes", "currency": "USD"}).content.decode()
    assert "Lowe" in body
    assert "Highe" in body
    body = admin_client.get("/admin/wallets/wallet/", {"low": "no", "currency": "USD"}).content.decode()
    assert "Highe" not in body
    assert "Lowe" not in body  # both USD wallets are under $100.00
    # INR: Highe's ₹50.00 is above ₹10.00 and Lowe's ₹0 wallet was never used: neither is low.
    body = admin_client.get("/admin/wallets/wallet/", {"low": "no", "currency": "INR"}).content.decode()
    assert "Highe" in body
    assert "Lowe" in body
    body = admin_client.get("/admin/wallets/wallet/", {"low": "yes", "currency": "INR"}).content.decode()
    assert "Highe" not in body
    assert "Lowe" not in body


def test_api_key_created_through_service_and_shown_once(admin_client, business):
    response = admin_client.post("/admin/wallets/apikey/add/", {"business": business.pk, "name": "Shop",
                                                                "read_only": "on"})
    assert response.status_code == 200
    body = response.content.decode()
    raw = re.search(r"<code class='new-api-key'>(wsk_[A-Za-z0-9]+)</code>", body)[1]
    key = ApiKey.objects.get(name="Shop")
    assert key.read_only
    assert api_key_authenticate(raw) == key
    assert key.key_hash not in body
    assert "no-store" in response["Cache-Control"]
    # Never again: not on the record, not on the list, not in a later message.
    for url in (f"/admin/wallets/apikey/{quote(key.pk)}/change/", "/admin/wallets/apikey/"):
        page = admin_client.get(url).content.decode()
        assert raw not in page
        assert key.key_hash not in page
    assert "key_hash" not in admin_client.get(f"/admin/wallets/apikey/{quote(key.pk)}/change/").content.decode()


def test_api_key_revoke_action(admin_client, business):
    key, raw = api_key_create(business=business, name="Old")
    response = admin_client.post("/admin/wallets/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(raw) is None
    assert admin_client.get(f"/admin/wallets/apikey/{key.pk}/delete/").status_code == 403


def _adjust(client, customer, **values):
    url = f"/admin/wallets/customer/{customer.pk}/adjust/"
    key = re.search(r'name="form_key" value="([^"]+)"', client.get(url).content.decode())[1]
    data = {"direction": "credit", "amount": "20.00", "currency": "USD", "reason": "Support", "form_key": key}
    data.update(values)
    return url, data


def test_admin_adjustment_uses_the_same_flow(admin_client, customer):
    url, data = _adjust(admin_client, customer)
    review = admin_client.post(url, {**data, "action": "review"})
    assert 'data-testid="admin-before-after"' in review.content.decode()
    assert not LedgerEntry.objects.exists()
    posted = admin_client.post(url, {**data, "action": "post", "seen_balance": "0"})
    assert posted.status_code == 302
    again = admin_client.post(url, {**data, "action": "post", "seen_balance": "0"})
    assert again.status_code == 302
    entry = LedgerEntry.objects.get()
    assert entry.actor_type == "user"
    assert entry.amount == 2000
    assert entry.reason == "Support"


def test_admin_adjustment_refuses_overdraft_and_missing_reason(admin_client, customer):
    url, data = _adjust(admin_client, customer, direction="debit")
    response = admin_client.post(url, {**data, "action": "post", "seen_balance": "0"})
    assert "Insufficient funds" in response.content.decode()
    url, data = _adjust(admin_client, customer, reason=" ")
    assert "This field is required" in admin_client.post(url, {**data, "action": "review"}).content.decode()
    assert not LedgerEntry.objects.exists()


ADMIN_PAGES = ["/admin/", "/admin/wallets/customer/", "/admin/wallets/ledgerentry/", "/admin/wallets/apikey/",
               "/admin/wallets/business/", "/admin/auth/user/", "/admin/wallets/securityevent/"]


def test_the_admin_is_for_superusers_only(client_for, make_user, business, other_business, make_customer):
    """Issue 15 item 15, decided: the admin is the installation operator's (it sees every business);
    a staff user who is not a superuser, even one with every model permission and a business
    membership, sees nothing there, neither their own business nor another."""
    own = make_customer(email="own@example.com", name="Own Customer")
    theirs = make_customer(email="theirs@example.com", name="Globex Customer", business_id=other_business.id)
    staff = make_user(Membership.Role.APPROVER, business, staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["wallets", "auth"]))
    client = client_for(type(staff).objects.get(pk=staff.pk))
    for url in [*ADMIN_PAGES, f"/admin/wallets/customer/{quote(theirs.pk)}/change/",
                f"/admin/wallets/customer/{quote(own.pk)}/change/", f"/admin/wallets/customer/{own.pk}/adjust/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    assert client.get("/admin/wallets/customer/?q=theirs").status_code == 302
    root = client_for(make_user(superuser=True))
    listing = root.get("/admin/wallets/customer/").content.decode()
    assert "Own Customer" in listing
    assert "Globex Customer" in listing


def test_the_admin_login_refuses_staff_who_are_not_superusers(make_user, business):
    from django.test import Client

    staff = make_user(Membership.Role.OPERATOR, business, staff=True, username="staffer")
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "staffer", "password": PASSWORD,
                                                          "next": "/admin/"})
    assert response.status_code == 200
    assert "for the installation&#x27;s operators (superusers) only" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/dashboard/").status_code == 302  # not logged in anywhere
    staff.is_superuser = True
    staff.save()
    response = client.post("/admin/login/?next=/admin/", {"username": "staffer", "password": PASSWORD,
                                                          "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_currency_policy_admin_in_major_units(admin_client, business):
    response = admin_client.post("/admin/wallets/currencypolicy/add/", {
        "business": business.pk, "currency": "KWD", "low_balance_major": "1.5", "approval_above_major": ""})
    assert response.status_code == 302
    policy = CurrencyPolicy.objects.get(currency="KWD")
    assert (policy.low_balance_below, policy.approval_above) == (1500, None)
    body = admin_client.get("/admin/wallets/currencypolicy/").content.decode()
    assert "KWD" in body
    assert "1.500" in body


def test_business_admin_shows_members_inline(admin_client, business, operator):
    body = admin_client.get(f"/admin/wallets/business/{quote(business.pk)}/change/").content.decode()
    assert "olivia" in body
    assert "Operator" in body


@pytest.mark.parametrize("url", ["/admin/wallets/customer/", "/admin/wallets/wallet/", "/admin/wallets/ledgerentry/",
                                 "/admin/wallets/apikey/", "/admin/auth/user/", "/admin/wallets/business/"])
def test_admin_lists_query_count_is_flat(admin_client, business, make_customer, post, make_user, count_queries,
                                         django_assert_max_num_queries, url):
    from wallets.models import Membership

    def grow(n, start):
        for i in range(start, start + n):
            post(make_customer(email=f"a{i}@x.test"), 100)
            api_key_create(business=business, name=f"k{i}")
            make_user(Membership.Role.VIEWER, business)

    grow(5, 0)
    small = count_queries(admin_client, url)
    grow(45, 5)
    large = count_queries(admin_client, url)
    assert small == large, (small, large)
    with django_assert_max_num_queries(12):
        admin_client.get(url)


def test_admin_approves_held_adjustment_through_the_service(admin_client, business, customer, operator):
    from wallets.models import AdjustmentRequest
    from wallets.services.approvals import adjustment_submit

    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=100)
    held = adjustment_submit(business_id=business.pk, customer_id=customer.pk, currency="USD", amount=500,
                             is_credit=True, reason="held", idempotency_key="dash_admin000001", user=operator).request
    assert admin_client.get(f"/admin/wallets/adjustmentrequest/{quote(held.pk)}/change/").status_code == 200
    response = admin_client.post("/admin/wallets/adjustmentrequest/", {"action": "approve",
                                                                      "_selected_action": [held.pk]})
    assert response.status_code == 302
    held = AdjustmentRequest.objects.get(pk=held.pk)
    assert held.status == "approved"
    assert held.ledger_entry.amount == 500
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 500
