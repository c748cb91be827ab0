"""seed_demo: a demo business that works (dashboard login, API key, history in five currencies),
the same credentials on every run, nothing changed by a second run, refused without DEBUG."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Min
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.commands.helpers import assert_books_right, run_command
from wallets.models import (
    ApiKey,
    Business,
    CreditGrant,
    Customer,
    ExchangeRate,
    Hold,
    LedgerEntry,
    Membership,
    Wallet,
    WalletPayment,
)
from wallets.services.api_keys import api_key_revoke


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def credentials(output: str) -> list[str]:
    return [line for line in output.splitlines() if " / " in line or line.strip().startswith("wsk_")]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Business, Customer, Wallet, LedgerEntry, ApiKey, Membership, ExchangeRate,
                          get_user_model())}


def test_refuses_without_debug(db):
    ran = run_command("seed_demo")
    assert ran.code == 1
    assert "runs only with DJANGO_DEBUG=true" in ran.error
    assert "--force" in ran.error
    assert not Business.objects.exists()


def test_seeds_a_working_demo(db, debug):
    ran = run_command("seed_demo")

    assert ran.code == 0, ran.text
    assert "40 customers (40 new)" in ran.out
    assert credentials(ran.out) == [
        "  operator  demo / demo-password-123",
        "  viewer    viewer / viewer-password-123",
        "  approver  approver / approver-password-123",
        "  superuser admin / admin-password-123",
        "  wsk_DemoKeyLocalOnlyNeverUseInProduction0000000",
    ]
    business = Business.objects.get(name="Demo Shop")
    assert Customer.objects.filter(business=business).count() == 40
    entries = LedgerEntry.objects.filter(business=business)
    assert set(entries.values_list("currency", flat=True)) == {"USD", "INR", "EUR", "JPY", "KWD"}
    assert set(entries.values_list("event_type", flat=True)) == {
        "merchant_adjustment", "refund", "payment", "payment_reversal"
    }
    # every entry is the command's, but the expiry of the swept grant (the system's)
    assert set(entries.exclude(expired_grant__isnull=False).values_list("actor_type", "actor_id")) == {
        ("command", "seed_demo")
    }
    assert set(entries.filter(expired_grant__isnull=False).values_list("actor_type", flat=True)) == {"system"}
    assert entries.filter(reason__startswith="Welcome bonus").count() == 40
    assert entries.filter(is_credit=False).count() > 50
    oldest = entries.order_by("created_at").first().created_at
    assert oldest < timezone.now() - datetime.timedelta(days=50)  # a history, not one instant
    assert_books_right()
    # "Customer since" heads the customer's ledger: no customer's (or wallet's) first entry predates it.
    first_of_customer = dict(entries.values("customer_id").annotate(first=Min("created_at"))
                             .values_list("customer_id", "first"))
    since = dict(Customer.objects.filter(business=business).values_list("pk", "created_at"))
    assert len(first_of_customer) == 40
    assert [c for c, first in first_of_customer.items() if first < since[c]] == []
    first_of_wallet = dict(entries.values("wallet_id").annotate(first=Min("created_at"))
                           .values_list("wallet_id", "first"))
    wallet_since = dict(Wallet.objects.filter(business=business).values_list("pk", "created_at"))
    assert [w for w, first in first_of_wallet.items() if first < wallet_since[w]] == []
    assert min(since.values()) < timezone.now() - datetime.timedelta(days=50)

    low = run_command("low_balance_report", "--business", business.id)
    assert len(low.out.splitlines()) - 1 >= 7  # some wallets end low

    roles = dict(Membership.objects.filter(business=business).values_list("user__username", "role"))
    assert roles == {"demo": "operator", "viewer": "viewer", "approver": "approver"}
    # Through the login page: the brute-force limit (django-axes) needs the request to authenticate.
    login = Client().post("/accounts/login/", {"username": "demo", "password": "demo-password-123"})
    assert login.status_code == 302
    assert login["Location"] == "/dashboard/"

    key = re.search(r"wsk_\w+", ran.out).group()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    listed = api.get("/customers", {"page_size": 100})
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 40
    kuwaiti = Customer.objects.get(business=business, email="fatima.alsabah@example.kw")
    wallets = api.get(f"/customers/{kuwaiti.id}/wallets")
    assert wallets.status_code == 200, wallets.content  # KWD has a rate, so total_balance_usd works
    assert "KWD" in {w["currency"] for w in wallets.json()["items"]}
    assert wallets.json()["total_balance_usd"] > 0
    posted = api.post(f"/customers/{kuwaiti.id}/wallets/ledger-entries",
                      {"amount": 1000, "currency": "KWD", "entry_type": "credit"}, format="json")
    assert posted.status_code == 200  # read-write


def test_a_second_run_changes_nothing_and_prints_the_same_credentials(db, debug):
    first = run_command("seed_demo")
    before = counts()
    balances = dict(Wallet.objects.values_list("id", "balance"))
    dated = (dict(Customer.objects.values_list("id", "created_at")),
             dict(Wallet.objects.values_list("id", "created_at")))

    second = run_command("seed_demo")

    assert second.code == 0, second.text
    assert "is already in place" in second.out
    assert "nothing changed" in second.out
    assert credentials(second.out) == credentials(first.out)
    assert counts() == before
    assert dict(Wallet.objects.values_list("id", "balance")) == balances
    assert (dict(Customer.objects.values_list("id", "created_at")),
            dict(Wallet.objects.values_list("id", "created_at"))) == dated


def test_prints_a_working_admin_login_and_names_createsuperuser(db, debug):
    ran = run_command("seed_demo")
    assert "/admin/" in ran.out
    assert "python manage.py createsuperuser" in ran.out
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert not Membership.objects.filter(user=admin).exists()
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "admin-password-123",
                                                          "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/wallets/customer/").status_code == 200


def test_an_existing_admin_user_is_not_changed(db, debug):
    user_model = get_user_model()
    user_model.objects.create_user("admin", password="their-own-secret-789")
    ran = run_command("seed_demo")
    assert "superuser admin / admin-password-123  (this user exists and is not an active superuser; left as is)" \
        in ran.out
    user = user_model.objects.get(username="admin")
    assert not user.is_superuser
    assert user.check_password("their-own-secret-789")


def test_force_runs_without_debug(db):
    ran = run_command("seed_demo", "--force")
    assert ran.code == 0, ran.text
    assert Business.objects.filter(name="Demo Shop").exists()


def test_a_changed_password_and_a_revoked_key_are_reported_not_undone(db, debug):
    run_command("seed_demo")
    viewer = get_user_model().objects.get(username="viewer")
    viewer.set_password("my-own-secret-456")
    viewer.save()
    api_key_revoke(key_id=ApiKey.objects.get(name__startswith="seed_demo").id)

    ran = run_command("seed_demo")

    assert "viewer / viewer-password-123  (this user's password was changed since; not reset)" in ran.out
    assert "This demo key was revoked and stays revoked" in ran.out
    viewer.refresh_from_db()
    assert viewer.check_password("my-own-secret-456")
    assert ApiKey.objects.get(name__startswith="seed_demo").revoked_at is not None


def test_the_demo_shows_grants_an_expiry_a_hold_a_payment_a_refund_and_a_reversal(db, debug):
    ran = run_command("seed_demo")
    assert ran.code == 0, ran.text

    now = timezone.now()
    grants = CreditGrant.objects.filter(business__name="Demo Shop")
    soon = grants.filter(expires_at__gt=now, expires_at__lte=now + datetime.timedelta(days=10), remaining__gt=0)
    assert soon.count() >= 3  # expiring in the next days
    (expired,) = grants.filter(expires_at__lte=now)
    assert (expired.remaining, expired.expired_amount) == (0, expired.amount)  # swept: the breakage shows
    expiry = LedgerEntry.objects.get(expired_grant=expired.entry)
    assert (expiry.is_credit, expiry.amount) == (False, expired.amount)
    assert Hold.objects.filter(status=Hold.Status.ACTIVE, reference_object_id="ord_demo_2001").count() == 1
    payment = WalletPayment.objects.get(reference_object_id="inv_demo_1001")
    assert payment.applied == payment.requested == 1800
    assert payment.entry.event_type == "payment"
    (reversal,) = payment.entry.reversals.all()
    assert (reversal.event_type, reversal.amount, reversal.is_credit) == ("payment_reversal", 500, True)
    assert LedgerEntry.objects.filter(event_type="refund", reference_object_id="pay_demo_3001").count() == 1
    assert_books_right()

    again = run_command("seed_demo")
    assert again.code == 0, again.text
    assert "nothing changed" in again.out
    assert grants.count() == 5
    assert Hold.objects.count() == 1
    assert LedgerEntry.objects.filter(event_type="payment_reversal").count() == 1


def test_webhook_url_gives_the_demo_business_one_endpoint(db, debug):
    from wallets.models import WebhookEndpoint

    url = "http://127.0.0.1:8765/webhooks"
    first = run_command("seed_demo", "--webhook-url", url)
    assert first.code == 0, first.text
    assert f"Webhooks: {url} (added;" in first.out
    again = run_command("seed_demo", "--webhook-url", url)
    assert again.code == 0, again.text
    assert "(already there;" in again.out
    (endpoint,) = WebhookEndpoint.objects.all()
    assert endpoint.business.name == "Demo Shop"
    assert endpoint.url == url
    assert not endpoint.disabled


def test_a_bad_webhook_url_is_named(db, debug, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    ran = run_command("seed_demo", "--webhook-url", "http://127.0.0.1:8765/webhooks")
    assert ran.code == 1
    assert "--webhook-url 'http://127.0.0.1:8765/webhooks': Enter an https URL" in ran.error
