"""Webhooks in a real browser: an operator adds an endpoint pointing at a real receiver on loopback,
sends a test event, sees it in the delivery log and replays it; the pages fit a phone (390 px)
without sideways scroll. Screenshots at 1440 px and 390 px."""

import re

import pytest
from playwright.sync_api import expect

from tests.webhooks.receiver import Receiver
from wallets.models import WebhookDelivery, WebhookEndpoint
from wallets.webhooks import pump

pytestmark = pytest.mark.browser

@pytest.fixture
def receiver():
    with Receiver(default=200) as r:
        r.answer = lambda request: (200, "ok <received>")  # markup, to see it shown escaped
        yield r


def no_sideways_scroll(page, what: str):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px too wide at {page.viewport_size['width']}px"


def test_add_endpoint_send_test_see_the_log_and_replay(demo, new_page, login, shot, receiver):
    page = new_page(width=1440, height=900)
    login(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks", exact=True).click()
    expect(page.get_by_test_id("empty-state")).to_contain_text("No webhook endpoints yet.")
    shot(page, "60-webhooks-empty")

    page.get_by_role("link", name="Add endpoint").first.click()
    page.get_by_label("URL").fill("ftp://nope")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("alert").filter(has_text="URL")).to_be_visible()  # next to the field
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("Finance receiver")
    page.get_by_label("wallet.balance_low").check()
    page.get_by_label("webhook.test").check()
    page.get_by_label("Headers").fill("X-Team: finance")
    shot(page, "61-webhooks-new")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_text("Added the endpoint")).to_be_visible()
    endpoint = WebhookEndpoint.objects.get(business=demo["business"])
    assert endpoint.url == receiver.url
    assert endpoint.filter_types == ["wallet.balance_low", "webhook.test"]
    assert endpoint.headers == {"X-Team": "finance"}

    # Reveal the secret (a POST; shown in that response only).
    expect(page.get_by_test_id("secret")).to_have_count(0)
    page.get_by_role("button", name="Reveal secret").click()
    expect(page.get_by_test_id("secret")).to_have_text(endpoint.secret)

    # Send a test event: it lands on the delivery's page.
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_text("Queued a webhook.test event")).to_be_visible()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    expect(page.get_by_test_id("event-id")).to_have_text(delivery.event_id)

    expect(page.get_by_test_id("no-attempts")).to_contain_text("No attempt yet")
    pump.run()
    assert [r.headers.get("webhook-id") for r in receiver.requests] == [delivery.event_id]
    assert receiver.requests[0].json()["type"] == "webhook.test"
    assert receiver.requests[0].headers.get("x-team") == "finance"
    page.reload()
    expect(page.get_by_test_id("attempt")).to_have_count(1)
    expect(page.get_by_test_id("attempt")).to_contain_text("200")
    expect(page.get_by_test_id("response-excerpt")).to_have_text("ok <received>")  # escaped, as text
    shot(page, "62-webhooks-delivery")

    # The endpoint's delivery log has it.
    page.locator(".crumbs").get_by_role("link", name=receiver.url).click()
    rows = page.get_by_test_id("delivery-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(delivery.event_id)
    expect(rows.first).to_contain_text("webhook.test")
    expect(rows.first).to_contain_text("Delivered")
    shot(page, "63-webhooks-endpoint")

    # Replay it from its page.
    rows.first.get_by_role("link", name=delivery.event_id).click()
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_text(f"Replaying {delivery.event_id}")).to_be_visible()
    delivery.refresh_from_db()
    assert delivery.replay
    assert delivery.status == "pending"
    pump.run()
    assert [r.headers.get("webhook-id") for r in receiver.requests] == [delivery.event_id] * 2
    page.reload()
    expect(page.get_by_test_id("attempt")).to_have_count(2)

    # The list: enabled, the counts.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks", exact=True).click()
    expect(page.get_by_test_id("endpoint-row")).to_have_count(1)
    expect(page.get_by_test_id("endpoint-status")).to_have_text("Enabled")
    shot(page, "64-webhooks-list")
    assert page.errors == []


def test_webhook_pages_fit_a_phone(demo, new_page, login, shot, receiver):
    from wallets.services import webhooks as svc

    business = demo["business"]
    endpoint = svc.endpoint_create(
        business_id=business.pk, url=receiver.url + "/with/a/rather/long/path/that/must/wrap/on/a/phone",
        description="Phone check", filter_types=["wallet.balance_low", "wallet.runway_low"],
        headers={"Authorization": "Bearer x"})
    delivery = svc.endpoint_send_test(business_id=business.pk, endpoint_id=endpoint.pk)
    page = new_page(width=390, height=844)
    login(page, next_url="/dashboard/webhooks/")
    expect(page.get_by_test_id("endpoint-row")).to_have_count(1)
    no_sideways_scroll(page, "the webhooks list")
    shot(page, "65-phone-webhooks-list")
    for path, name, what in (
        (f"/dashboard/webhooks/{endpoint.pk}/", "66-phone-webhooks-endpoint", "the endpoint page"),
        (f"/dashboard/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/", "67-phone-webhooks-delivery",
         "the delivery page"),
        (f"/dashboard/webhooks/events/{delivery.event_id}/", "68-phone-webhooks-event", "the event page"),
        ("/dashboard/webhooks/replay-failed/", "69-phone-webhooks-replay", "the replay page"),
        ("/dashboard/settings/", "70-phone-settings-runway", "the settings page"),
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        no_sideways_scroll(page, what)
        shot(page, name)
    # Replay failed: the datetime-local fields, in the user's time zone; nothing failed yet.
    page.goto("/dashboard/webhooks/replay-failed/")
    page.get_by_label("From").fill("2026-01-01T00:00")
    page.get_by_label("To").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Replay failed deliveries").click()
    expect(page.get_by_text("No failed deliveries in that range")).to_be_visible()
    assert re.search(r"Runway", page.goto("/dashboard/settings/").text())
    assert page.errors == []
