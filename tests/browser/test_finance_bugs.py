"""Issue 12's bugs 1, 2, 5, 10 and 13, each as a finance user meets it in Chromium, at 1440 px and
on a phone (390 px): balance cards that fit any amount, a refused approval in money, the chart's
axis in the page's money format and uncut, API docs with no outside request, CSVs with a
byte-order mark, the business's currencies first, a favicon everywhere, Approve on a phone."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from wallets import ledger
from wallets.models import AdjustmentRequest, CurrencyPolicy, Membership
from wallets.money import DODO_CURRENCIES, INT64_MAX, format_money
from wallets.services.actors import Actor

pytestmark = pytest.mark.browser

WIDTHS = [pytest.param(1440, 900, id="1440"), pytest.param(390, 844, id="phone")]

# Every balance card and figure on the page: its text inside its own box, no box over another.
CARD_LAYOUT = """() => {
  const problems = [];
  const cards = [...document.querySelectorAll('.stat-value')].map(v => v.closest('.card'));
  for (const value of document.querySelectorAll('.stat-value')) {
    const card = value.closest('.card').getBoundingClientRect();
    const box = value.getBoundingClientRect();
    if (value.scrollWidth > value.clientWidth + 1) problems.push(`${value.textContent} is cut`);
    if (box.left < card.left - 0.5 || box.right > card.right + 0.5) problems.push(`${value.textContent} leaves`);
  }
  const rects = cards.map(c => c.getBoundingClientRect());
  for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) {
    const a = rects[i], b = rects[j];
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
      problems.push(`cards ${i} and ${j} overlap`);
  }
  return problems;
}"""


def _sideways(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_balance_cards_fit_any_int64_amount(demo, new_page, login, shot, width, height):
    ann = demo["people"]["Ann Lee"]
    bob = demo["people"]["Bob Stone"]
    key = Actor.api_key(demo["key"].pk)
    # Ordinary (₹123,456.78) next to the largest a wallet can hold, in 0, 2 and 3 decimals.
    ledger.post(business_id=demo["business"].pk, customer_id=ann.pk, currency="INR", amount=12_345_678,
                is_credit=True, actor=key, reason="Top-up")
    for currency in ("JPY", "EUR", "KWD"):
        ledger.post(business_id=demo["business"].pk, customer_id=bob.pk, currency=currency, amount=INT64_MAX,
                    is_credit=True, actor=key, reason="The most a wallet holds")
    page = new_page(width=width, height=height)
    login(page, next_url=f"/dashboard/customers/{ann.pk}/")
    expect(page.get_by_test_id("balance-INR")).to_have_text("₹123,456.78")
    assert page.evaluate(CARD_LAYOUT) == []
    assert _sideways(page) <= 0
    shot(page, f"40-cards-ordinary-{width}")

    page.goto(f"/dashboard/customers/{bob.pk}/")
    expect(page.get_by_test_id("balance-EUR")).to_have_text(format_money(INT64_MAX, "EUR"))  # €92,233,720,…
    expect(page.get_by_test_id("balance-JPY")).to_have_text(format_money(INT64_MAX, "JPY"))
    assert page.evaluate(CARD_LAYOUT) == []
    assert _sideways(page) <= 0
    shot(page, f"41-cards-int64-{width}")

    page.goto(f"/dashboard/customers/{bob.pk}/statement/?currency=KWD")
    expect(page.get_by_test_id("closing")).to_have_text(format_money(INT64_MAX, "KWD"))
    assert page.evaluate(CARD_LAYOUT) == []
    assert _sideways(page) <= 0
    shot(page, f"42-statement-int64-{width}")
    assert page.errors == []


@pytest.fixture
def approver(demo):
    from django.contrib.auth import get_user_model

    from tests.browser.conftest import PASSWORD

    user = get_user_model().objects.create_user(username="april", password=PASSWORD)
    Membership.objects.create(user=user, business=demo["business"], role=Membership.Role.APPROVER)
    return user


def test_a_refused_approval_reads_in_money(demo, approver, new_page, login, shot):
    from wallets.services.approvals import adjustment_submit

    carla = demo["people"]["Carla Diaz"]  # USD $150.00
    CurrencyPolicy.objects.filter(business=demo["business"], currency="USD").update(approval_above=5000)
    held = adjustment_submit(business_id=demo["business"].pk, customer_id=carla.pk, currency="USD", amount=10000,
                             is_credit=False, reason="Chargeback of order #1021", idempotency_key="dash_refused01",
                             user=demo["users"]["olivia"]).request
    # The request reserves its $100.00 (bug 3); an API key releasing that hold lets the balance fall.
    ledger.void_hold(business_id=demo["business"].pk, customer_id=carla.pk, hold_id=held.hold_id,
                     actor=Actor.api_key(demo["key"].pk))
    ledger.post(business_id=demo["business"].pk, customer_id=carla.pk, currency="USD", amount=10375,
                is_credit=False, actor=Actor.api_key(demo["key"].pk), reason="Purchase")  # now $46.25
    page = new_page(width=1440)
    login(page, username="april", next_url="/dashboard/approvals/")
    row = page.get_by_test_id("approvals-table").locator("tbody tr").first
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(".alert-error")).to_have_text(
        "Not approved: Insufficient wallet funds: the available USD balance is $46.25, less than this debit of "
        "$100.00.")
    expect(page.locator(".alert-error")).not_to_contain_text("4625")
    shot(page, "43-approval-refused")
    assert AdjustmentRequest.objects.get(pk=held.pk).status == "pending"


def test_approve_is_on_screen_on_a_phone(demo, approver, new_page, login, shot):
    from wallets.services.approvals import adjustment_submit

    CurrencyPolicy.objects.filter(business=demo["business"], currency="USD").update(approval_above=100)
    emma = demo["people"]["Emma Brown"]
    adjustment_submit(business_id=demo["business"].pk, customer_id=emma.pk, currency="USD", amount=12345,
                      is_credit=True, reason="A long reason for a goodwill credit after three late deliveries",
                      idempotency_key="dash_phone0001", user=demo["users"]["olivia"])
    page = new_page(width=390, height=844)
    login(page, username="april", next_url="/dashboard/approvals/")
    row = page.get_by_test_id("approvals-table").locator("tbody tr").first
    for name in ("Approve", "Reject"):
        button = row.get_by_role("button", name=name)
        box = button.bounding_box()
        assert box is not None, name
        assert 0 <= box["x"] <= box["x"] + box["width"] <= 390, (name, box)
        expect(button).to_be_in_viewport()
    assert _sideways(page) <= 0
    shot(page, "44-approvals-phone")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved and posted: credit of $123.45 for Emma Brown.")).to_be_visible()


# The chart's canvas: alpha of the leftmost columns (a cut label leaves ink at x = 0).
LEFT_EDGE_INK = """(figure) => {
  const canvas = figure.querySelector('canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, 3, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) ink += data[i];
  return ink;
}"""


@pytest.mark.parametrize(("width", "height"), WIDTHS)
def test_chart_axis_is_uncut_and_formatted_like_the_page(demo, new_page, login, shot, width, height):
    farid = demo["people"]["Farid Khan"]
    key = Actor.api_key(demo["key"].pk)
    for amount in (40_000, 1_234_567_890, 4_144):  # KWD 40.000, KWD 1,234,567.890, then down to 4.144
        ledger.post(business_id=demo["business"].pk, customer_id=farid.pk, currency="KWD", amount=amount,
                    is_credit=True, actor=key, reason="Top-up")
    ledger.post(business_id=demo["business"].pk, customer_id=farid.pk, currency="KWD", amount=1_234_597_890,
                is_credit=False, actor=key, reason="Spend")
    page = new_page(width=width, height=height)
    login(page, next_url=f"/dashboard/customers/{farid.pk}/")
    balance = page.get_by_test_id("balance-KWD")
    expect(balance).to_have_text("KWD14.144")
    page.get_by_role("tab", name="KWD").click()
    figure = page.locator("#chart-KWD")
    expect(figure).to_have_attribute("data-y-labels", re.compile("KWD"))
    labels = json.loads(figure.get_attribute("data-y-labels"))
    assert len(labels) >= 3
    for label in labels:  # each label is exactly what the page's formatter writes for that amount
        minor = int(re.sub(r"\D", "", label))
        assert label == format_money(minor, "KWD"), label
    assert "KWD1,000,000.000" in labels or any(label.startswith("KWD1,") for label in labels), labels
    assert figure.evaluate(LEFT_EDGE_INK) == 0, "a y-axis label is cut at the left edge"
    assert _sideways(page) <= 0
    shot(page, f"45-chart-kwd-{width}")
    assert page.errors == []


RECORD_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.blockedURI || 'inline'));
"""


@pytest.mark.parametrize(("path", "ready"), [("/api/redoc", "#redoc-container h1, redoc h1"),
                                             ("/api/docs", "#redoc-container h1, redoc h1")])
def test_api_docs_make_no_outside_request(live_server, new_page, path, ready):
    page = new_page(width=1440)
    page.context.add_init_script(RECORD_CSP)
    requests, failed = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failed.append((response.status, response.url)))
    page.goto(path)
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # Redoc draws its sidebar (and used to ask for a CDN logo) after load
    assert requests, "nothing was recorded"
    own = (live_server.url + "/", f"blob:{live_server.url}/", "data:")  # Redoc's worker is a same-origin blob
    outside = [url for url in requests if not url.startswith(own)]
    assert outside == []
    assert page.evaluate("window.__csp") == []  # nothing asked for and refused either
    assert failed == []  # no /favicon.ico (or any other) 404
    # The first screen only: Redoc's full page is thousands of pixels tall and slow to capture.
    page.screenshot(path=str(SCREENSHOTS / f"46-docs-{path.rsplit('/', 1)[-1]}.png"))


def test_favicon_on_admin_api_and_dashboard_pages(demo, new_page, login, live_server):
    page = new_page(width=1440)
    missing = []
    page.on("response", lambda response: response.status >= 400 and missing.append((response.status, response.url)))
    login(page)
    for path in ("/dashboard/", "/admin/", "/customers", "/nowhere"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert [m for m in missing if not m[1].endswith(("/customers", "/nowhere"))] == []
    icon = page.goto("/favicon.ico")
    assert icon.status == 200
    assert "svg" in icon.headers["content-type"]
    assert page.request.get(live_server.url + "/favicon.ico", max_redirects=0).status == 302


def test_csv_has_a_byte_order_mark_and_pickers_put_the_business_first(demo, new_page, login, shot):
    from wallets import services

    jurgen, _ = services.customer_create(business_id=demo["business"].pk, email="jm@example.com",
                                         name="Jürgen Müller")
    ledger.post(business_id=demo["business"].pk, customer_id=jurgen.pk, currency="EUR", amount=1999,
                is_credit=True, actor=Actor.api_key(demo["key"].pk), reason="Größe L")
    page = new_page(width=1440)
    login(page)
    page.goto("/dashboard/ledger/")
    select = page.get_by_label("Currency")
    groups = select.locator("optgroup")
    expect(groups.first).to_have_attribute("label", "This business's currencies")
    assert groups.first.locator("option").all_inner_texts() == ["EUR", "INR", "USD"]
    expect(groups.nth(1).locator("option")).to_have_count(len(DODO_CURRENCIES) - 3)
    select.select_option("EUR")
    expect(page.get_by_test_id("result-count")).to_have_text("1")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    raw = Path(download_info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfentry_id,")
    assert "Jürgen Müller" in raw.decode("utf-8-sig")
    shot(page, "47-ledger-currency-picker")
    page.goto("/dashboard/wallets/low-balance/")
    expect(page.get_by_label("Currency").locator("optgroup").first.locator("option").first).to_have_text("EUR")
