"""The webhook pages (Django test client): endpoints (add, edit, enable/disable, reveal and rotate
the secret, test event, delete), the delivery log (filters, pages), a delivery's attempts and
replay, an event across endpoints, "replay failed", runway days in settings; roles, tenancy, form
errors and query budgets."""

import datetime
import re

import pytest
from django.utils import timezone

from wallets.models import Business, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from wallets.services import webhooks as svc

URL = "https://hooks.acme.test/wallets"


@pytest.fixture
def endpoint(business):
    return svc.endpoint_create(business_id=business.id, url=URL, description="Production",
                               headers={"X-Team": "payments", "Authorization": "Bearer s3cr3t-token"})


def make_delivery(endpoint, *, status="failed", type="wallet.ledger_entry.created", created_at=None, attempts=0,
                  code=None, entry_id=None, customer_id=None):
    now = created_at or timezone.now()
    event = WebhookEvent.objects.create(business_id=endpoint.business_id, type=type, created_at=now,
                                        dispatched_at=now, entry_id=entry_id, customer_id=customer_id,
                                        payload=f'{{"type": "{type}"}}')
    delivery = WebhookDelivery.objects.create(
        business_id=endpoint.business_id, event=event, endpoint=endpoint, status=status, attempts=attempts,
        last_status_code=code, next_attempt_at=now if status == "pending" else None, created_at=now, updated_at=now)
    for number in range(1, attempts + 1):
        WebhookAttempt.objects.create(business_id=endpoint.business_id, delivery=delivery, number=number,
                                      started_at=now, duration_ms=10 * number, status_code=code,
                                      response_excerpt="<b>nope</b>" if code else "",
                                      error="" if code else "timed out")
    return delivery


def page(client, url, **query):
    response = client.get(url, query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- the list ---------------------------------------------------------------------------------


def test_empty_list_explains_and_offers_add(operator_client, viewer_client):
    body = page(operator_client, "/dashboard/webhooks/")
    assert 'data-testid="empty-state"' in body
    assert "No webhook endpoints yet." in body
    assert 'href="/dashboard/webhooks/new/"' in body
    viewer = page(viewer_client, "/dashboard/webhooks/")
    assert "No webhook endpoints yet." in viewer
    assert 'href="/dashboard/webhooks/new/"' not in viewer
    assert ">Webhooks</a>" in body  # the nav link


def test_list_shows_status_reason_and_counts(operator_client, business, endpoint):
    make_delivery(endpoint, status="failed", attempts=2, code=500)
    make_delivery(endpoint, status="failed")
    make_delivery(endpoint, status="pending")
    newest = make_delivery(endpoint, status="delivered", code=204, attempts=1)
    gone = svc.endpoint_create(business_id=business.id, url="https://gone.acme.test/")
    failing = svc.endpoint_create(business_id=business.id, url="https://failing.acme.test/")
    mine = svc.endpoint_create(business_id=business.id, url="https://off.acme.test/", disabled=True)
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=gone.pk).update(disabled=True, disabled_reason="gone", disabled_at=now)
    WebhookEndpoint.objects.filter(pk=failing.pk).update(disabled=True, disabled_reason="failing", disabled_at=now)
    body = page(operator_client, "/dashboard/webhooks/")
    rows = body.split('data-testid="endpoint-row"')[1:]
    assert len(rows) == 4
    by_url = {re.search(r'class="strong url-text">([^<]+)<', r)[1]: r for r in rows}
    assert "Disabled: 410 Gone" in by_url["https://gone.acme.test/"]
    assert "Disabled: failing" in by_url["https://failing.acme.test/"]
    assert "Disabled by you" in by_url[mine.url]
    assert "since" in by_url[mine.url]
    ours = by_url[URL]
    assert "Enabled" in ours
    assert "Production" in ours
    assert re.search(r'data-testid="failed-count">2<', ours)
    assert re.search(r'data-testid="pending-count">1<', ours)
    assert "Delivered" in ours
    assert "<code>204</code>" in ours
    assert newest.event_id not in ours  # the list shows the status, not every event


def test_list_query_count_is_flat(operator_client, business, count_queries):
    def grow(n):
        for i in range(n):
            e = svc.endpoint_create(business_id=business.id, url=f"https://h{i}-{n}.acme.test/")
            make_delivery(e, status="failed", attempts=1, code=500)
            make_delivery(e, status="delivered", attempts=1, code=200)

    grow(2)
    small = count_queries(operator_client, "/dashboard/webhooks/")
    grow(20)
    assert count_queries(operator_client, "/dashboard/webhooks/") == small
    assert small <= 8


# --- adding and editing -----------------------------------------------------------------------


def test_add_endpoint(operator_client, business):
    response = operator_client.post("/dashboard/webhooks/new/", {
        "url": URL, "description": "Prod", "filter_types": ["wallet.balance_low", "wallet.runway_low"],
        "headers": "X-Team: payments\n\nAuthorization: Bearer abc", "rate_limit": "5"})
    assert response.status_code == 303
    endpoint = WebhookEndpoint.objects.get(business=business)
    assert response.url == f"/dashboard/webhooks/{endpoint.pk}/"
    assert endpoint.url == URL
    assert endpoint.description == "Prod"
    assert endpoint.rate_limit == 5
    assert endpoint.filter_types == ["wallet.balance_low", "wallet.runway_low"]
    assert endpoint.headers == {"X-Team": "payments", "Authorization": "Bearer abc"}
    assert endpoint.secret.startswith("whsec_")
    body = page(operator_client, response.url)
    assert "Added the endpoint" in body
    assert "Bearer abc" not in body
    assert "X-Team: payments" in body
    assert endpoint.secret not in body  # only revealed on request


@pytest.mark.parametrize(("data", "field_error"), [
    ({"url": "ftp://x.test/"}, "Enter an http or https URL"),
    ({"url": "http://10.0.0.1/"}, None),  # allowed in tests (private targets on): no error
    ({"url": URL, "headers": "no colon here"}, "Line 1: write"),
    ({"url": URL, "headers": "Webhook-Signature: x"}, "is set by the delivery itself"),
    ({"url": URL, "rate_limit": "0"}, "greater than or equal to 1"),
    ({"url": ""}, "This field is required."),
])
def test_add_endpoint_errors_next_to_the_field(operator_client, business, data, field_error):
    response = operator_client.post("/dashboard/webhooks/new/", data)
    if field_error is None:
        assert response.status_code == 303
        return
    assert response.status_code == 422
    body = response.content.decode()
    assert re.search(r'<p class="error" role="alert">[^<]*' + re.escape(field_error), body), body[-3000:]
    assert not WebhookEndpoint.objects.filter(business=business).exists()


def test_private_address_refused_when_not_allowed(operator_client, business, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = operator_client.post("/dashboard/webhooks/new/", {"url": "https://169.254.169.254/latest"})
    assert response.status_code == 422
    assert "private, loopback or link-local" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_edit_endpoint_keeps_masked_secret_header(operator_client, endpoint):
    url = f"/dashboard/webhooks/{endpoint.pk}/"
    body = page(operator_client, url)
    assert "Bearer s3cr3t-token" not in body
    assert "Authorization: ••••••••" in body
    response = operator_client.post(url, {
        "url": "https://new.acme.test/hook", "description": "New", "filter_types": ["wallet.hold.created"],
        "headers": "Authorization: ••••••••\nX-New: 1", "rate_limit": ""})
    assert response.status_code == 303
    endpoint.refresh_from_db()
    assert endpoint.url == "https://new.acme.test/hook"
    assert endpoint.description == "New"
    assert endpoint.filter_types == ["wallet.hold.created"]
    assert endpoint.rate_limit is None
    assert endpoint.headers == {"Authorization": "Bearer s3cr3t-token", "X-New": "1"}  # X-Team removed


def test_edit_refused_input_changes_nothing(operator_client, endpoint):
    before = WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get()
    response = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/", {
        "url": "https://ok.acme.test/", "headers": "Host: evil"})
    assert response.status_code == 422
    assert "is set by the delivery itself" in response.content.decode()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get() == before


def test_edit_with_a_bad_url_keeps_the_headers_too(operator_client, endpoint, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    before = WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get()
    response = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/", {
        "url": "http://plain.acme.test/", "headers": "X-Other: 2"})
    assert response.status_code == 422
    assert "Enter an https URL" in response.content.decode()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get() == before


def test_disable_and_enable(operator_client, endpoint):
    url = f"/dashboard/webhooks/{endpoint.pk}/enabled/"
    assert operator_client.post(url, {"disabled": "1"}).status_code == 303
    endpoint.refresh_from_db()
    assert endpoint.disabled
    assert endpoint.disabled_reason == "manual"
    assert "Disabled by you" in page(operator_client, f"/dashboard/webhooks/{endpoint.pk}/")
    assert operator_client.post(url, {"disabled": "0"}).status_code == 303
    endpoint.refresh_from_db()
    assert not endpoint.disabled
    assert endpoint.disabled_reason == ""


def test_endpoint_disabled_by_a_410_says_so(operator_client, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled=True, disabled_reason="gone",
                                                         disabled_at=timezone.now())
    body = page(operator_client, f"/dashboard/webhooks/{endpoint.pk}/")
    assert 'data-testid="disabled-why"' in body
    assert "answered 410 Gone" in body
    assert ">Enable</button>" in body


# --- the secret -------------------------------------------------------------------------------


def test_reveal_secret_needs_a_post_and_change_rights(operator_client, viewer_client, endpoint):
    assert endpoint.secret not in page(operator_client, f"/dashboard/webhooks/{endpoint.pk}/")
    response = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/secret/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert f'data-testid="secret">{endpoint.secret}<' in response.content.decode()
    assert operator_client.get(f"/dashboard/webhooks/{endpoint.pk}/secret/").status_code == 405
    refused = viewer_client.post(f"/dashboard/webhooks/{endpoint.pk}/secret/")
    assert refused.status_code == 403
    assert endpoint.secret not in refused.content.decode()
    viewer_page = page(viewer_client, f"/dashboard/webhooks/{endpoint.pk}/")
    assert "Reveal secret" not in viewer_page
    assert "may not see the secret" in viewer_page


def test_rotate_confirms_then_keeps_the_old_secret_24h(operator_client, endpoint):
    old = endpoint.secret
    confirm = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/rotate/")
    assert confirm.status_code == 200
    assert "The old one stays valid for 24 hours" in confirm.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret == old  # nothing yet
    done = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/rotate/", {"confirm": "1"})
    assert done.status_code == 303
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.previous_secret == old
    body = page(operator_client, done.url)
    assert "old one still signs deliveries for 24 hours" in body
    assert 'data-testid="previous-secret"' in body


# --- test event, delete -----------------------------------------------------------------------


def test_send_test_event(operator_client, endpoint):
    response = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/test/")
    assert response.status_code == 303
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event.type == "webhook.test"
    assert delivery.status == "pending"
    assert response.url == f"/dashboard/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/"
    body = page(operator_client, response.url)
    assert "Queued a webhook.test event" in body
    assert 'data-testid="no-attempts"' in body
    assert endpoint.pk in body  # the event data before the worker renders the payload


def test_delete_confirms_first(operator_client, endpoint):
    make_delivery(endpoint)
    confirm = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete this endpoint?" in confirm.content.decode()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    done = operator_client.post(f"/dashboard/webhooks/{endpoint.pk}/delete/", {"confirm": "1"})
    assert done.status_code == 303
    assert done.url == "/dashboard/webhooks/"
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert not WebhookDelivery.objects.exists()
    assert WebhookEvent.objects.count() == 1


# --- the delivery log -------------------------------------------------------------------------


def test_delivery_log_newest_first_with_filters_and_pages(operator_client, endpoint):
    start = timezone.now() - datetime.timedelta(hours=1)
    made = [make_delivery(endpoint, status="failed" if i % 3 == 0 else "delivered", attempts=1,
                          code=500 if i % 3 == 0 else 200, created_at=start + datetime.timedelta(seconds=i),
                          type="wallet.balance_low" if i == 5 else "wallet.ledger_entry.created")
            for i in range(30)]
    url = f"/dashboard/webhooks/{endpoint.pk}/"
    first = page(operator_client, url)
    ids = re.findall(r"<code>(evt_[^<]+)</code></a>", first)
    assert ids == [d.event_id for d in reversed(made)][:25]
    assert "1–25 of 30" in first
    assert "Page 1 of 2" in first
    assert "10 ms" in first  # the last attempt's duration
    second = page(operator_client, url, page=2)
    assert re.findall(r"<code>(evt_[^<]+)</code></a>", second) == [d.event_id for d in reversed(made)][25:]
    failed = page(operator_client, url, status="failed")
    assert len(re.findall(r'data-testid="delivery-row"', failed)) == 10
    low = page(operator_client, url, type="wallet.balance_low")
    assert re.findall(r"<code>(evt_[^<]+)</code></a>", low) == [made[5].event_id]
    none = page(operator_client, url, type="wallet.hold.voided")
    assert "No deliveries match these filters." in none
    # A bad filter value is ignored, not a 500.
    assert page(operator_client, url, status="nonsense").count('data-testid="delivery-row"') == 25


def test_endpoint_page_query_count_is_flat(operator_client, endpoint, count_queries):
    for _ in range(3):
        make_delivery(endpoint, attempts=2, code=500)
    url = f"/dashboard/webhooks/{endpoint.pk}/"
    small = count_queries(operator_client, url)
    for _ in range(30):
        make_delivery(endpoint, attempts=2, code=500)
    assert count_queries(operator_client, url) == small
    assert small <= 8


# --- a delivery, an event ---------------------------------------------------------------------


def test_delivery_page_shows_every_attempt_escaped_and_replays(operator_client, viewer_client, endpoint):
    delivery = make_delivery(endpoint, status="failed", attempts=3, code=500)
    url = f"/dashboard/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/"
    body = page(operator_client, url)
    assert body.count('data-testid="attempt"') == 3
    assert "&lt;b&gt;nope&lt;/b&gt;" in body
    assert "<b>nope</b>" not in body
    assert "30 ms" in body
    assert "#3" in body
    assert "wallet.ledger_entry.created" in body
    assert 'data-testid="payload"' in body
    assert '{\n  &quot;type&quot;: &quot;wallet.ledger_entry.created&quot;\n}' in body  # indented, escaped
    assert ">Replay</button>" in body
    assert ">Replay</button>" not in page(viewer_client, url)
    assert viewer_client.post(url + "replay/").status_code == 403
    response = operator_client.post(url + "replay/")
    assert response.status_code == 303
    assert response.url == url
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert delivery.replay
    assert delivery.next_attempt_at is not None
    assert "Replaying" in page(operator_client, url)


def test_delivery_and_event_pages_query_counts_are_flat(operator_client, business, endpoint, count_queries):
    delivery = make_delivery(endpoint, attempts=2, code=500)
    url = f"/dashboard/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/"
    event_url = f"/dashboard/webhooks/events/{delivery.event_id}/"
    small, small_event = count_queries(operator_client, url), count_queries(operator_client, event_url)
    for number in range(3, 40):
        WebhookAttempt.objects.create(business=business, delivery=delivery, number=number,
                                      started_at=timezone.now(), status_code=500)
    for i in range(10):
        other = svc.endpoint_create(business_id=business.id, url=f"https://e{i}.acme.test/")
        WebhookDelivery.objects.create(business=business, event=delivery.event, endpoint=other, status="pending",
                                       next_attempt_at=timezone.now())
    assert count_queries(operator_client, url) == small
    assert count_queries(operator_client, event_url) == small_event
    assert small <= 6
    assert small_event <= 6
    assert page(operator_client, event_url).count("https://e") == 10


def test_attempt_without_an_answer_shows_the_error(operator_client, endpoint):
    delivery = make_delivery(endpoint, status="pending", attempts=1, code=None)
    body = page(operator_client, f"/dashboard/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/")
    assert "timed out" in body


def test_event_page_across_endpoints_and_the_entry_link(operator_client, business, make_customer, post, endpoint):
    customer = make_customer()
    entry = post(customer, 1500).entry
    other = svc.endpoint_create(business_id=business.id, url="https://second.acme.test/")
    # The engine wrote the entry's event (the business has an enabled endpoint).
    event = WebhookEvent.objects.get(business=business, entry_id=entry.pk, type="wallet.ledger_entry.created")
    for target in (endpoint, other):
        WebhookDelivery.objects.create(business=business, event=event, endpoint=target, status="delivered",
                                       attempts=1, last_status_code=200)
    entry_page = page(operator_client, f"/dashboard/customers/{customer.pk}/entries/{entry.pk}/")
    assert 'data-testid="webhook-events"' in entry_page
    assert f'href="/dashboard/webhooks/events/{event.pk}/"' in entry_page
    body = page(operator_client, f"/dashboard/webhooks/events/{event.pk}/")
    assert URL in body
    assert "https://second.acme.test/" in body
    assert f'href="/dashboard/customers/{customer.pk}/entries/{entry.pk}/"' in body


def test_entry_without_events_has_no_link(operator_client, make_customer, post):
    customer = make_customer()
    entry = post(customer, 1500).entry
    assert not WebhookEvent.objects.exists()  # no endpoint: the engine writes no event
    assert "Webhook events" not in page(operator_client, f"/dashboard/customers/{customer.pk}/entries/{entry.pk}/")


# --- replay failed ----------------------------------------------------------------------------


def test_replay_failed_in_a_range_in_the_users_time_zone(operator_client, business, endpoint):
    session = operator_client.session
    session["django_timezone"] = "Asia/Kolkata"  # UTC+05:30
    session.save()
    base = datetime.datetime(2026, 11, 1, 6, 0, tzinfo=datetime.UTC)  # 11:30 in Kolkata
    inside = make_delivery(endpoint, status="failed", created_at=base)
    make_delivery(endpoint, status="failed", created_at=base + datetime.timedelta(hours=2))  # after "to"
    make_delivery(endpoint, status="delivered", created_at=base)
    other = svc.endpoint_create(business_id=business.id, url="https://other.acme.test/")
    elsewhere = make_delivery(other, status="failed", created_at=base)
    body = page(operator_client, "/dashboard/webhooks/replay-failed/")
    assert 'type="datetime-local"' in body
    response = operator_client.post("/dashboard/webhooks/replay-failed/", {
        "since": "2026-11-01T11:00", "until": "2026-11-01T12:00", "endpoint": endpoint.pk}, follow=True)
    assert "Replaying 1 failed delivery." in response.content.decode()
    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses[inside.pk] == "pending"
    assert statuses[elsewhere.pk] == "failed"
    response = operator_client.post("/dashboard/webhooks/replay-failed/", {
        "since": "2026-11-01T11:00", "until": "2026-11-01T12:00"}, follow=True)
    assert "Replaying 1 failed delivery." in response.content.decode()  # the other endpoint's
    response = operator_client.post("/dashboard/webhooks/replay-failed/", {
        "since": "2026-11-01T11:00", "until": "2026-11-01T12:00"}, follow=True)
    assert "nothing to replay" in response.content.decode()


def test_replay_failed_form_errors(operator_client, viewer_client, endpoint):
    response = operator_client.post("/dashboard/webhooks/replay-failed/", {
        "since": "2026-11-01T12:00", "until": "2026-11-01T11:00"})
    assert response.status_code == 422
    assert re.search(r'<p class="error" role="alert">The end must be after the start', response.content.decode())
    response = operator_client.post("/dashboard/webhooks/replay-failed/", {"since": "yesterday", "until": ""})
    assert response.status_code == 422
    assert response.content.decode().count('class="error"') == 2
    response = operator_client.post("/dashboard/webhooks/replay-failed/", {
        "since": "2026-11-01T11:00", "until": "2026-11-01T12:00", "endpoint": "whk_nope"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert viewer_client.post("/dashboard/webhooks/replay-failed/", {
        "since": "2026-11-01T11:00", "until": "2026-11-01T12:00"}).status_code == 403
    assert "may view deliveries but not replay" in page(viewer_client, "/dashboard/webhooks/replay-failed/")


# --- roles and tenancy ------------------------------------------------------------------------


def test_viewers_read_but_every_change_is_refused(viewer_client, endpoint):
    delivery = make_delivery(endpoint)
    base = f"/dashboard/webhooks/{endpoint.pk}/"
    body = page(viewer_client, base)
    assert 'data-testid="endpoint-form"' not in body
    assert "Send test event" not in body
    assert "X-Team: payments" in body
    assert "s3cr3t-token" not in body
    assert page(viewer_client, f"{base}deliveries/{delivery.pk}/")
    before = WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get()
    for url, data in ((base, {"url": "https://evil.test/"}), (base + "enabled/", {"disabled": "1"}),
                      (base + "rotate/", {"confirm": "1"}), (base + "test/", {}),
                      (base + "delete/", {"confirm": "1"}), ("/dashboard/webhooks/new/", {"url": URL})):
        assert viewer_client.post(url, data).status_code == 403, url
    assert viewer_client.get("/dashboard/webhooks/new/").status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).values().get() == before
    assert WebhookDelivery.objects.count() == 1


def test_approvers_change_like_operators(client_for, make_user, business, endpoint):
    from wallets.models import Membership

    client = client_for(make_user(Membership.Role.APPROVER, business))
    assert client.post(f"/dashboard/webhooks/{endpoint.pk}/test/").status_code == 303


def test_another_business_objects_are_404(operator_client, other_business):
    theirs = svc.endpoint_create(business_id=other_business.id, url="https://globex.test/hook")
    delivery = make_delivery(theirs)
    base = f"/dashboard/webhooks/{theirs.pk}/"
    for url in (base, f"{base}deliveries/{delivery.pk}/", f"/dashboard/webhooks/events/{delivery.event_id}/"):
        assert operator_client.get(url).status_code == 404, url
    for url in (base, base + "enabled/", base + "secret/", base + "rotate/", base + "test/", base + "delete/",
                f"{base}deliveries/{delivery.pk}/replay/"):
        response = operator_client.post(url, {"confirm": "1", "disabled": "1", "url": URL})
        assert response.status_code == 404, url
        assert theirs.secret not in response.content.decode()
    assert "globex.test" not in page(operator_client, "/dashboard/webhooks/")
    theirs.refresh_from_db()
    assert not theirs.disabled
    assert WebhookDelivery.objects.get().status == "failed"


def test_our_delivery_under_another_endpoint_is_404(operator_client, business, endpoint):
    other = svc.endpoint_create(business_id=business.id, url="https://second.acme.test/")
    delivery = make_delivery(endpoint)
    assert operator_client.get(f"/dashboard/webhooks/{other.pk}/deliveries/{delivery.pk}/").status_code == 404


def test_csrf_is_required(operator, endpoint):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(f"/dashboard/webhooks/{endpoint.pk}/test/").status_code == 403
    assert not WebhookDelivery.objects.exists()


# --- settings: runway days --------------------------------------------------------------------


def test_runway_days_in_settings(operator_client, viewer_client, business):
    body = page(operator_client, "/dashboard/settings/")
    assert '<section class="card" id="time-zone"' in body  # beside the thresholds and the time zone
    assert '<section class="card" id="thresholds"' in body
    assert "Runway alerts" in body
    assert 'name="runway-runway_days"' in body
    assert 'value="7"' in body
    response = operator_client.post("/dashboard/settings/", {"form": "runway", "runway-runway_days": "30"})
    assert response.status_code == 302
    assert Business.objects.get(pk=business.pk).runway_days == 30
    assert "runway alerts 30 days ahead" in page(operator_client, "/dashboard/settings/")
    for bad in ("0", "366", "abc", ""):
        response = operator_client.post("/dashboard/settings/", {"form": "runway", "runway-runway_days": bad})
        assert response.status_code == 200
        assert re.search(r'<p class="error" role="alert">', response.content.decode()), bad
    assert Business.objects.get(pk=business.pk).runway_days == 30
    assert 'data-testid="runway-days">30<' in page(viewer_client, "/dashboard/settings/")
    assert viewer_client.post("/dashboard/settings/", {"form": "runway", "runway-runway_days": "3"}).status_code == 403
    assert Business.objects.get(pk=business.pk).runway_days == 30


def test_runway_days_service_validates(business):
    from wallets.exceptions import InvalidInput
    from wallets.services.policies import business_set_runway_days

    assert business_set_runway_days(business_id=business.id, runway_days=365) == 365
    for bad in (0, 366, True, "7", 7.0):
        with pytest.raises(InvalidInput) as caught:
            business_set_runway_days(business_id=business.id, runway_days=bad)
        assert "runway_days" in caught.value.errors
    assert Business.objects.get(pk=business.pk).runway_days == 365


def test_an_endpoint_deleted_meanwhile_is_a_404_not_a_500(operator_client, endpoint, monkeypatch):
    """The page looked it up, then another tab deleted it before the service ran."""
    from wallets.selectors import webhooks as selectors

    stale = WebhookEndpoint.objects.get(pk=endpoint.pk)
    monkeypatch.setattr(selectors, "endpoint_find", lambda **kwargs: stale)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
    base = f"/dashboard/webhooks/{endpoint.pk}/"
    for url, data in ((base + "enabled/", {"disabled": "1"}), (base + "rotate/", {"confirm": "1"}),
                      (base + "test/", {}), (base + "delete/", {"confirm": "1"}), (base, {"url": URL})):
        assert operator_client.post(url, data).status_code == 404, url
