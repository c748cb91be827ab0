"""Analytics in Chromium: the charts draw (money per currency on their y axes, no label cut, nothing
wider than the screen), the range picker keeps its choice in the URL, and without JavaScript the
tables carry every number. Screenshots at 1440 and 390 px."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from wallets import ledger
from wallets.money import format_money
from wallets.services.actors import Actor

WIDTHS = [(1440, 900), (390, 844)]

# Ink in the canvas's leftmost columns: a y label drawn partly outside the canvas leaves ink there.
LEFT_EDGE_INK = """(canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, 3, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) ink += data[i];
  return ink;
}"""


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.fixture
def rich(demo):
    """The demo plus a wide INR figure (₹12,345,678.90) so the y axis needs long labels."""
    deepak = demo["people"]["Deepak Rao"]
    ledger.post(business_id=demo["business"].pk, customer_id=deepak.pk, currency="INR", amount=1_234_567_890,
                is_credit=True, actor=Actor.api_key(demo["key"].pk), reason="Annual plan")
    ledger.post(business_id=demo["business"].pk, customer_id=deepak.pk, currency="INR", amount=34_567_890,
                is_credit=False, actor=Actor.api_key(demo["key"].pk), reason="Spend")
    return demo


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_charts_render_with_whole_money_labels(rich, new_page, login, shot, width, height):
    page = new_page(width=width, height=height)
    login(page, next_url="/dashboard/analytics/")
    expect(page.get_by_role("heading", name="Analytics", level=1)).to_be_visible()
    for currency in ("INR", "USD"):
        for kind in ("flows", "balance"):
            box = page.get_by_test_id(f"{kind}-chart-{currency}")
            expect(box).to_have_attribute("data-drawn", "1")
            expect(box).to_have_attribute("data-y-labels", re.compile(r"\["))
            labels = json.loads(box.get_attribute("data-y-labels"))
            assert len(labels) >= 2, labels
            for label in labels:  # exactly the page's money format
                minor = int(re.sub(r"\D", "", label))
                assert label == format_money(minor, currency), (currency, kind, label)
            canvas = box.locator("canvas")
            assert canvas.evaluate(LEFT_EDGE_INK) == 0, f"a y label is cut on the {currency} {kind} chart"
            # The canvas lies within its figure, and the y axis is at least as wide as its longest label.
            c, f = canvas.bounding_box(), box.bounding_box()
            assert c["x"] >= f["x"] - 1
            assert c["x"] + c["width"] <= f["x"] + f["width"] + 1
            longest = canvas.evaluate("""(canvas, labels) => {
                const ctx = document.createElement('canvas').getContext('2d');
                ctx.font = getComputedStyle(canvas.closest('.uplot') || canvas).font || '12px system-ui';
                return Math.max(...labels.map((l) => ctx.measureText(l).width));
            }""", labels)
            assert int(box.get_attribute("data-y-axis-size")) >= longest * 0.9, (labels, longest)
    assert any(label.startswith("₹1") and len(label) >= len("₹10,000,000.00")
               for label in json.loads(page.get_by_test_id("balance-chart-INR").get_attribute("data-y-labels")))
    assert _sideways(page) <= 0
    shot(page, f"analytics-{width}")
    assert page.errors == []


def test_the_range_picker_keeps_its_choice_in_the_url(rich, new_page, login):
    page = new_page(width=1440)
    login(page, next_url="/dashboard/analytics/")
    page.get_by_label("Range", exact=True).select_option("last_month")
    page.get_by_label("Per", exact=True).select_option("week")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"preset=last_month.*period=week"))
    expect(page.get_by_test_id("analytics-range")).to_contain_text("per week")
    expect(page.get_by_label("Range", exact=True)).to_have_value("last_month")
    page.get_by_label("Range", exact=True).select_option("custom")
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("To", exact=True).fill("2021-06-01")
    page.get_by_label("Per", exact=True).select_option("day")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("At most 400 days per request")
    assert page.errors == []


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_without_javascript_the_tables_hold_the_numbers(rich, new_page, login, shot, width, height):
    page = new_page(width=width, height=height)
    login(page, next_url="/dashboard/analytics/")
    nojs = new_page(width=width, height=height, java_script_enabled=False,
                    storage_state=page.context.storage_state())
    nojs.goto("/dashboard/analytics/")
    assert nojs.locator("canvas").count() == 0
    usd = nojs.get_by_test_id("flows-table-USD")
    expect(usd).to_be_visible()
    expect(usd.locator("caption")).to_contain_text("the numbers both charts draw")
    expect(usd.locator("tfoot")).to_contain_text("$")
    expect(nojs.get_by_test_id("top-balance")).to_contain_text("Deepak Rao")
    expect(nojs.get_by_test_id("low-runway")).to_be_visible()
    with nojs.expect_download() as info:
        nojs.get_by_test_id("flows-csv").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeffperiod_start_utc,")
    assert _sideways(nojs) <= 0
    shot(nojs, f"analytics-nojs-{width}")
