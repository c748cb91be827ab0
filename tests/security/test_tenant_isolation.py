"""Tenant isolation, table-driven: every API route and every dashboard page is tried by business A
(Acme: its API keys, its users in every role, through keys and sessions) against business B's
(Globex's) customers, wallets, entries and held adjustments. The answer is 404 or 403 (405 only
where A's own objects get 405 too, so it tells nothing), B's data never appears in a body, and
nothing of B's changes.

Both tables are checked against the URL configuration: a new route or page fails here until it is
added to its table.
"""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from wallets import ledger, services
from wallets.api.urls import urlpatterns as api_urlpatterns
from wallets.dashboard.urls import urlpatterns as dashboard_urlpatterns
from wallets.models import (
    AdjustmentRequest,
    ApiKey,
    BulkCreditRun,
    CurrencyPolicy,
    Customer,
    Hold,
    LedgerEntry,
    Membership,
    Wallet,
    WalletPayment,
    WebhookDelivery,
    WebhookEndpoint,
)
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, business_get_or_create
from wallets.services.approvals import adjustment_submit
from wallets.services.webhooks import endpoint_create, endpoint_send_test

SECRET_NAME = "Globex Secret Customer"
SECRET_EMAIL = "secret@globex.example"
PASSWORD = "tenant-isolation-1"


class World:
    """Business A with keys and users; business B with a customer, money, entries, a held request."""

    def __init__(self):
        self.a = business_get_or_create(name="Acme")[0]
        self.b = business_get_or_create(name="Globex")[0]
        self.a_customer = services.customer_create(business_id=self.a.id, email="own@acme.example", name="Own")[0]
        self.b_customer = services.customer_create(business_id=self.b.id, email=SECRET_EMAIL, name=SECRET_NAME)[0]
        for customer in (self.a_customer, self.b_customer):
            ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD",
                                       amount=10_000, is_credit=True, actor=Actor.command("setup"),
                                       idempotency_key="shared-key", reason="setup")
        self.b_entry = LedgerEntry.objects.get(customer=self.b_customer)
        self.b_hold = ledger.create_hold(business_id=self.b.id, customer_id=self.b_customer.id, currency="USD",
                                         amount=1_000, actor=Actor.command("setup"), idempotency_key="shared-key",
                                         expires_at=timezone.now() + datetime.timedelta(days=1)).hold
        self.b_key = api_key_create(business=self.b)[0]
        self.b_webhook = endpoint_create(business_id=self.b.id, url="https://globex-hooks.example/secret-path",
                                         headers={"Authorization": "Bearer globex-token", "X-Globex": "globex-x"},
                                         idempotency_key="shared-key")
        self.a_webhook = endpoint_create(business_id=self.a.id, url="https://acme-hooks.example/own")
        self.a_raw_key = api_key_create(business=self.a)[1]
        self.a_read_only_raw_key = api_key_create(business=self.a, read_only=True)[1]
        user_model = get_user_model()
        self.a_users = {}
        for role in Membership.Role.values:
            user = user_model.objects.create_user(username=f"acme-{role}", password=PASSWORD)
            Membership.objects.create(user=user, business=self.a, role=role)
            self.a_users[role] = user
        b_operator = user_model.objects.create_user(username="globex-operator", password=PASSWORD)
        self.b_membership = Membership.objects.create(user=b_operator, business=self.b, role=Membership.Role.OPERATOR)
        CurrencyPolicy.objects.create(business=self.b, currency="USD", approval_above=100)
        self.b_request = adjustment_submit(
            business_id=self.b.id, customer_id=self.b_customer.id, currency="USD", amount=5_000, is_credit=False,
            reason="held", idempotency_key="held-1", user=b_operator,
        ).request
        # A delivery of a test event to B's endpoint (the dashboard's webhook pages).
        self.b_webhook_delivery = endpoint_send_test(business_id=self.b.id, endpoint_id=self.b_webhook.id)
        # A bulk credit upload of B's, awaiting confirmation (the dashboard's bulk credit pages).
        self.b_bulk_run = BulkCreditRun.objects.create(
            business=self.b, file_name="globex-bulk-secret.csv", digest="b" * 64, total_rows=1, created_by=b_operator,
            data=f"customer_id,amount,currency\n{self.b_customer.id},100,USD\n".encode(),
            preview={"rows": 1, "to_post": 1, "already_done": 0, "refused": 0, "currencies": [], "rejections": [],
                     "columns": ["customer_id", "amount", "currency"]})

    def b_state(self) -> tuple:
        """Everything of B's that an attack could change."""
        return (
            list(Customer.objects.filter(business=self.b).values()),
            list(Wallet.objects.filter(business=self.b).values()),
            list(LedgerEntry.objects.filter(business=self.b).values_list("id", flat=True)),
            list(AdjustmentRequest.objects.filter(business=self.b).values()),
            list(ApiKey.objects.filter(business=self.b).values()),
            list(CurrencyPolicy.objects.filter(business=self.b).values()),
            list(Hold.objects.filter(business=self.b).values()),
            list(WalletPayment.objects.filter(business=self.b).values()),
            list(WebhookEndpoint.objects.filter(business=self.b).values()),
            list(WebhookDelivery.objects.filter(business=self.b).values()),
            list(BulkCreditRun.objects.filter(business=self.b).values("id", "status", "heartbeat_at", "posted")),
            list(Membership.objects.filter(business=self.b).values()),
            list(get_user_model().objects.filter(membership__business=self.b).values()),
        )

    def secrets(self) -> list[str]:
        """What A never sends, so it can only be in a body if B's data leaked: B's customer's name
        (A searches by B's email and id, which pages may echo), entry id and key prefix."""
        return [SECRET_NAME, self.b_entry.id, self.b_key.prefix, self.b_hold.id, self.b_webhook.secret,
                "globex-hooks.example", "globex-token", "globex-x", "globex-bulk-secret",
                "globex-operator"]


@pytest.fixture
def world(db):
    return World()


def api_clients(world: World) -> dict[str, APIClient]:
    clients = {}
    for name, raw in (("key", world.a_raw_key), ("read-only key", world.a_read_only_raw_key)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        clients[name] = client
    for role, user in world.a_users.items():
        client = APIClient(enforce_csrf_checks=False)
        client.force_login(user)
        clients[f"session {role}"] = client
    return clients


HOLD = {"amount": 100, "currency": "USD"}
ENTRY = {"amount": 100, "currency": "USD", "entry_type": "debit", "idempotency_key": "shared-key", "reason": "setup"}
# (route as in the URL configuration, methods with bodies). {c} is the target customer.
API_TABLE = {
    "customers": {"GET": None, "POST": {"email": SECRET_EMAIL, "name": "Impostor"}},  # A's own new customer
    "customers/{c}": {"GET": None, "PATCH": {"name": "Hijacked", "email": "hijack@acme.example"},
                      "PUT": {"name": "Hijacked", "email": "x@acme.example"}, "DELETE": None},
    "customers/{c}/wallets": {"GET": None, "POST": ENTRY},
    "customers/{c}/wallets/ledger-entries": {"GET": None, "POST": ENTRY,
                                             "DELETE": None},
    "customers/{c}/wallets/payments": {"POST": {"currency": "USD", "amount": 100, "reference_object_id": "inv"}},
    "customers/{c}/wallets/holds": {"GET": None, "POST": {**HOLD, "idempotency_key": "shared-key"}},
    "customers/{c}/wallets/holds/{hold_id}": {"GET": None, "DELETE": None},
    "customers/{c}/wallets/holds/{hold_id}/capture": {"POST": {}},
    "customers/{c}/wallets/holds/{hold_id}/void": {"POST": None},
    "customers/{c}/wallets/statement": {"GET": None, "POST": ENTRY},
    # {e} is the target business's entry.
    "customers/{c}/wallets/ledger-entries/{e}": {"GET": None, "DELETE": None},
    "customers/{c}/wallets/ledger-entries/{e}/reversals": {"POST": {"amount": 1, "reason": "x"}},
    # A's own endpoints (a list of A's, a new one of A's, with B's idempotency key); {w} is B's endpoint.
    "webhooks": {"GET": None, "POST": {"url": "https://acme-hooks.example/h", "idempotency_key": "shared-key"}},
    "webhooks/{w}": {"GET": None, "PATCH": {"url": "https://acme-hooks.example/hijack", "disabled": True},
                     "PUT": {"url": "https://acme-hooks.example/hijack"}, "DELETE": None},
    "webhooks/{w}/secret": {"GET": None},
    "webhooks/{w}/secret/rotate": {"POST": None},
    "webhooks/{w}/headers": {"GET": None, "PATCH": {"headers": {"X-Globex": "hijacked"}}},
}
#: What a route's named groups become in API_TABLE (``{c}`` is the customer, others keep their name).
ROUTE_PARAMS = {"customer_id": "c", "entry_id": "e", "webhook_id": "w"}


def route_of(pattern) -> str:
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: f"{{{ROUTE_PARAMS.get(m[1], m[1])}}}", str(pattern).strip("^$"))


def test_the_api_table_covers_every_route():
    routes = {route_of(p.pattern) for p in api_urlpatterns}
    assert routes == set(API_TABLE)


def test_no_api_route_reaches_another_business(world):
    before = world.b_state()
    failures = []
    for client_name, client in api_clients(world).items():
        for route, methods in API_TABLE.items():
            for method, body in methods.items():
                ids = {"hold_id": world.b_hold.id, "e": world.b_entry.id, "w": world.b_webhook.id}
                theirs = "/" + route.format(c=world.b_customer.id, **ids)
                own = "/" + route.format(c=world.a_customer.id, **{**ids, "w": world.a_webhook.id})
                response = getattr(client, method.lower())(theirs, body, format="json")
                text = response.content.decode()
                leaked = [s for s in world.secrets() if s in text]
                if "{c}" in route or "{w}" in route:
                    allowed = {403, 404}
                    if response.status_code == 405:
                        own_status = getattr(client, method.lower())(own, body, format="json").status_code
                        allowed = {405} if own_status == 405 else allowed
                    if response.status_code not in allowed:
                        failures.append(f"{client_name} {method} {theirs}: {response.status_code} {text[:120]}")
                if leaked:
                    failures.append(f"{client_name} {method} {theirs}: body shows {leaked}")
    # Lists and filters with B's identifiers find nothing of B's.
    client = api_clients(world)["key"]
    for query in ({"email": SECRET_EMAIL}, {"name": "Secret"}, {"page_size": 100}):
        items = client.get("/customers", query).json()["items"]
        if any(item["customer_id"] == world.b_customer.id for item in items):
            failures.append(f"GET /customers {query} lists B's customer")
    assert failures == []
    assert world.b_state() == before


def test_another_business_key_on_our_customer_is_404_too(world):
    """The same from B's side, with B's key: A's customer does not exist for B."""
    raw = api_key_create(business=world.b)[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for path in (f"/customers/{world.a_customer.id}", f"/customers/{world.a_customer.id}/wallets",
                 f"/customers/{world.a_customer.id}/wallets/ledger-entries",
                 f"/customers/{world.a_customer.id}/wallets/statement?currency=USD",
                 f"/customers/{world.a_customer.id}/wallets?as_of=2099-01-01T00:00:00Z"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


# --- The dashboard ------------------------------------------------------------------------------

# url name -> (kwargs maker, requests to make: (method, query or form data))
DASHBOARD_TABLE = {
    "overview": (lambda w: {}, [("GET", {})]),
    "customers": (lambda w: {}, [("GET", {"q": SECRET_EMAIL}), ("GET", {"q": "Globex"}),
                                 ("GET", {"q": "b_customer"})]),
    "customer": (lambda w: {"customer_id": w.b_customer.id}, [("GET", {})]),
    "customer_statement": (lambda w: {"customer_id": w.b_customer.id},
                           [("GET", {}), ("GET", {"currency": "USD", "as_of": "2099-01-01"})]),
    "customer_statement_export": (lambda w: {"customer_id": w.b_customer.id}, [("GET", {"currency": "USD"})]),
    "customer_statement_pdf": (lambda w: {"customer_id": w.b_customer.id}, [("GET", {"currency": "USD"})]),
    "customer_adjust": (lambda w: {"customer_id": w.b_customer.id},
                        [("POST", {"currency": "USD", "amount": "1.00", "direction": "debit", "reason": "x",
                                   "idempotency_key": "dash-1", "confirm": "1"}), ("GET", {})]),
    "entry": (lambda w: {"customer_id": w.b_customer.id, "entry_id": w.b_entry.id}, [("GET", {})]),
    "entry_reverse": (lambda w: {"customer_id": w.b_customer.id, "entry_id": w.b_entry.id},
                      [("GET", {}), ("POST", {"amount": "1.00", "reason": "x", "idempotency_key": "rev-1",
                                              "confirm": "1"})]),
    "hold_void": (lambda w: {"customer_id": w.b_customer.id, "hold_id": w.b_hold.id},
                  [("POST", {}), ("POST", {"action": "post"})]),
    "breakage": (lambda w: {}, [("GET", {}), ("GET", {"period": "day"})]),
    "breakage_export": (lambda w: {}, [("GET", {})]),
    "analytics": (lambda w: {}, [("GET", {}), ("GET", {"date_from": "2020-01-01", "period": "month"})]),
    "analytics_export": (lambda w: {"table": "flows"}, [("GET", {"date_from": "2020-01-01", "period": "month"})]),
    "ledger": (lambda w: {}, [("GET", {"customer": "b_customer"}), ("GET", {"q": "Secret"})]),
    "ledger_export": (lambda w: {}, [("GET", {"customer": "b_customer"}), ("GET", {})]),
    "low_balance": (lambda w: {}, [("GET", {"below": "1000000"})]),
    "low_balance_export": (lambda w: {}, [("GET", {"below": "1000000"})]),
    "search": (lambda w: {}, [("GET", {"q": SECRET_EMAIL}), ("GET", {"q": "Globex"}), ("GET", {"q": "b_customer"})]),
    "approvals": (lambda w: {}, [("GET", {}), ("GET", {"status": "all"}),
                                 ("GET", {"status": "", "customer": "b_customer"})]),  # one customer's: never B's
    "approval_decide": (lambda w: {"request_id": w.b_request.id},
                        [("POST", {"decision": "approve"}), ("POST", {"decision": "reject"})]),
    "settings": (lambda w: {}, [("GET", {}), ("POST", {"form": "add", "add-currency": "USD",
                                                       "add-low_balance_below": "1"})]),
    "time_zone": (lambda w: {}, [("POST", {"time_zone": "UTC"})]),
    "switch_business": (lambda w: {}, [("POST", {"business_id": "b_business"})]),
    "webhooks": (lambda w: {}, [("GET", {})]),
    "webhook_new": (lambda w: {}, [("GET", {}), ("POST", {"url": "https://acme.example/own"})]),
    "webhook_replay_failed": (lambda w: {}, [("GET", {"endpoint": "b_webhook"}), (
        "POST", {"since": "2000-01-01T00:00", "until": "2100-01-01T00:00", "endpoint": "b_webhook"})]),
    "webhook_event": (lambda w: {"event_id": w.b_webhook_delivery.event_id}, [("GET", {})]),
    "webhook": (lambda w: {"endpoint_id": w.b_webhook.id},
                [("GET", {}), ("POST", {"url": "https://acme.example/hijack"})]),
    "webhook_toggle": (lambda w: {"endpoint_id": w.b_webhook.id}, [("POST", {"disabled": "1"})]),
    "webhook_secret": (lambda w: {"endpoint_id": w.b_webhook.id}, [("POST", {})]),
    "webhook_rotate": (lambda w: {"endpoint_id": w.b_webhook.id}, [("POST", {}), ("POST", {"confirm": "1"})]),
    "webhook_test": (lambda w: {"endpoint_id": w.b_webhook.id}, [("POST", {})]),
    "webhook_delete": (lambda w: {"endpoint_id": w.b_webhook.id}, [("POST", {}), ("POST", {"confirm": "1"})]),
    "webhook_delivery": (lambda w: {"endpoint_id": w.b_webhook.id, "delivery_id": w.b_webhook_delivery.id},
                         [("GET", {})]),
    "webhook_delivery_replay": (lambda w: {"endpoint_id": w.b_webhook.id,
                                           "delivery_id": w.b_webhook_delivery.id}, [("POST", {})]),
    "bulk": (lambda w: {}, [("GET", {})]),
    "bulk_run": (lambda w: {"run_id": w.b_bulk_run.id}, [("GET", {})]),
    "bulk_run_progress": (lambda w: {"run_id": w.b_bulk_run.id}, [("GET", {})]),
    "bulk_run_confirm": (lambda w: {"run_id": w.b_bulk_run.id}, [("POST", {})]),
    "bulk_run_resume": (lambda w: {"run_id": w.b_bulk_run.id}, [("POST", {})]),
    "bulk_run_report": (lambda w: {"run_id": w.b_bulk_run.id}, [("GET", {})]),
    # Settings section: team, API keys, approval policies, activity log; the invitation's page.
    "settings_team": (lambda w: {}, [("GET", {})]),
    "settings_team_invite": (lambda w: {}, [("POST", {"email": "new-member@acme.example", "role": "viewer"})]),
    "settings_member": (lambda w: {"membership_id": w.b_membership.pk}, [("GET", {}), ("POST", {"role": "viewer"})]),
    "settings_member_remove": (lambda w: {"membership_id": w.b_membership.pk},
                               [("GET", {}), ("POST", {"confirm": "1"})]),
    "settings_api_keys": (lambda w: {}, [("GET", {})]),
    "settings_api_key_new": (lambda w: {}, [("POST", {"name": "own"})]),
    "settings_api_key_revoke": (lambda w: {"key_id": w.b_key.id}, [("GET", {}), ("POST", {"confirm": "1"})]),
    "settings_policies": (lambda w: {}, [("GET", {}), ("POST", {"form": "add", "add-currency": "USD",
                                                                "add-approval_above": "1"})]),
    "settings_activity": (lambda w: {}, [("GET", {}), ("GET", {"kind": "api_key_created"})]),
    "settings_activity_export": (lambda w: {}, [("GET", {})]),
    "set_password": (lambda w: {"uidb64": "MQ", "token": "made-up"}, [("GET", {}), ("POST", {
        "new_password1": "hijack-pass-123", "new_password2": "hijack-pass-123"})]),
}
# Pages that show A's own data: 200 (or a redirect) is right, as long as nothing of B's shows.
OWN_DATA_PAGES = {"overview", "customers", "ledger", "ledger_export", "low_balance", "low_balance_export",
                  "approvals", "settings", "time_zone", "breakage", "breakage_export", "analytics", "analytics_export",
                  "webhooks", "webhook_new",
                  "webhook_replay_failed", "bulk",
                  "settings_team", "settings_team_invite", "settings_api_keys",
                  "settings_api_key_new", "settings_policies", "settings_activity", "settings_activity_export",
                  "search"}


def test_the_dashboard_table_covers_every_page():
    assert {p.name for p in dashboard_urlpatterns} == set(DASHBOARD_TABLE)


def fill(data: dict, world: World) -> dict:
    marks = {"b_customer": world.b_customer.id, "b_business": world.b.id, "b_webhook": world.b_webhook.id}
    return {k: marks.get(v, v) for k, v in data.items()}


def test_no_dashboard_page_reaches_another_business(world):
    from django.urls import reverse

    before = world.b_state()
    failures = []
    for role, user in world.a_users.items():
        client = Client()
        client.force_login(user)
        for name, (kwargs_of, requests) in DASHBOARD_TABLE.items():
            url = reverse(f"dashboard:{name}", kwargs=kwargs_of(world))
            for method, template in requests:
                data = fill(template, world)
                response = client.get(url, data) if method == "GET" else client.post(url, data)
                body = b"".join(response.streaming_content) if response.streaming else response.content
                text = body.decode(errors="replace")
                leaked = [s for s in world.secrets() if s in text]
                if leaked:
                    failures.append(f"{role} {method} {url}: shows {leaked}")
                if name not in OWN_DATA_PAGES and response.status_code not in (403, 404):
                    failures.append(f"{role} {method} {url} {data}: {response.status_code}")
    assert failures == []
    assert world.b_state() == before


def test_the_dashboard_refuses_anonymous_visitors(world):
    from django.urls import reverse

    client = Client()
    for name, (kwargs_of, _) in DASHBOARD_TABLE.items():
        response = client.get(reverse(f"dashboard:{name}", kwargs=kwargs_of(world)))
        assert response.status_code in (302, 403, 404, 405), (name, response.status_code)
        if response.status_code == 302:
            assert response.url.startswith("/accounts/login/")


def test_every_url_is_in_one_of_the_tables_or_known_to_be_outside_tenancy():
    """Top-level routes: the API and the dashboard are covered above; the rest hold no business data
    (admin is staff-only and superuser-scoped, accounts is login/logout, docs, schema and the favicon are public)."""
    outside = {"", "admin/", "accounts/", "dashboard", "dashboard/", "healthz", "api/schema", "api/docs",
               "api/redoc", "api-auth/", "favicon.ico", "^(?P<rest>.*)$"}
    top = {str(p.pattern) for p in get_resolver().url_patterns}
    assert top <= outside, top - outside  # "" covers the home redirect and the API (API_TABLE)
