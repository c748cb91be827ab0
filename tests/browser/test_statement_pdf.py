"""The statement in a real browser: the page at 1440 and 390 px, its PDF downloaded from the link
(with and without JavaScript) and read back; a statement too long for a PDF says so and offers the
CSV; and the customer page's booked, held and available balances, expiring credit and USD total."""

import datetime
import io
import zoneinfo

import pypdf
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from wallets import ledger
from wallets.models import LedgerEntry
from wallets.services.actors import Actor

pytestmark = pytest.mark.browser


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px too wide"


def pdf_text(download) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(download.path().read_bytes()))
    return [" ".join(p.extract_text().split()) for p in reader.pages]


@pytest.fixture
def deepak(demo, reference_data):
    """Deepak Rao (USD and INR) with a hold and two expiring grants."""
    deepak = demo["people"]["Deepak Rao"]  # $250.00 in four USD entries, and INR
    actor = Actor.command("test")
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")  # the browser's zone: days are counted in it

    def noon_in(days: int) -> datetime.datetime:
        today = timezone.now().astimezone(kolkata).date()
        return datetime.datetime.combine(today + datetime.timedelta(days=days), datetime.time(12, tzinfo=kolkata))

    ledger.create_hold(business_id=deepak.business_id, customer_id=deepak.pk, currency="USD", amount=1500,
                       actor=actor, expires_at=noon_in(2), reference_object_id="order_4711")
    for days, amount in ((12, 4000), (3, 2500)):
        ledger.post(business_id=deepak.business_id, customer_id=deepak.pk, currency="USD", amount=amount,
                    is_credit=True, actor=actor, reason="Promo credit", expires_at=noon_in(days))
    return deepak


@pytest.mark.parametrize("javascript", [True, False])
def test_download_the_statement_pdf(deepak, new_page, login, shot, javascript):
    page = new_page(width=1440, height=900, java_script_enabled=javascript)
    login(page, next_url=f"/dashboard/customers/{deepak.pk}/statement/") if javascript else _login_no_js(
        page, f"/dashboard/customers/{deepak.pk}/statement/")
    page.get_by_label("Currency").select_option("USD")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("export-pdf")).to_be_visible()
    if javascript:
        shot(page, "60-statement-1440")
    with page.expect_download() as info:
        page.get_by_test_id("export-pdf").click()
    download = info.value
    assert download.suggested_filename.startswith(f"statement-{deepak.pk}-USD-")
    assert download.suggested_filename.endswith(".pdf")
    pages = pdf_text(download)
    text = pages[0]
    first = LedgerEntry.objects.filter(customer=deepak, currency="USD").order_by("created_at").first()
    # The sign-in form sends the browser's zone with JavaScript; without it the user stays in UTC.
    zone = "Asia/Kolkata" if javascript else "UTC"
    for expected in ("Acme Coffee", "Deepak Rao", "deepak@example.com", deepak.pk, "Currency: USD",
                     f"Time zone: {zone}", "Opening balance $0.00", "Closing balance $315.00", first.pk,
                     f"Page 1 of {len(pages)}", "Totals · 6 entries"):
        assert expected in text, (expected, text)
    assert page.errors == []


def _login_no_js(page, next_url: str) -> None:
    from tests.browser.conftest import PASSWORD

    page.goto(f"/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_url}")


def test_statement_on_a_phone_and_a_pdf_too_long(deepak, new_page, login, shot, monkeypatch):
    from wallets.dashboard import statement_pdf

    page = new_page(width=390, height=844)
    login(page, next_url=f"/dashboard/customers/{deepak.pk}/statement/?currency=USD")
    expect(page.get_by_test_id("closing")).to_have_text("$315.00")
    no_sideways_scroll(page)
    shot(page, "61-statement-390")
    monkeypatch.setattr(statement_pdf, "MAX_ENTRIES", 3)
    page.goto(f"/dashboard/customers/{deepak.pk}/statement.pdf?currency=USD")
    expect(page.get_by_test_id("pdf-refused")).to_contain_text("This statement has 6 entries; a PDF holds at most 3.")
    expect(page.get_by_test_id("pdf-too-long")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name="download the CSV").click()
    assert info.value.suggested_filename.endswith(".csv")
    no_sideways_scroll(page)
    shot(page, "62-statement-pdf-refused-390")
    assert page.errors == []


@pytest.mark.parametrize("width", [1440, 390])
def test_customer_page_booked_held_available_expiring_and_usd(deepak, new_page, login, shot, width):
    page = new_page(width=width, height=900)
    login(page, next_url=f"/dashboard/customers/{deepak.pk}/")
    expect(page.get_by_test_id("balance-USD")).to_have_text("$315.00")
    expect(page.get_by_test_id("held-USD")).to_have_text("$15.00")
    expect(page.get_by_test_id("available-USD")).to_have_text("$300.00")
    expect(page.get_by_test_id("grant-expires-in")).to_have_text(["expires in 3 days", "expires in 12 days"])
    expect(page.get_by_test_id("hold-expires-in")).to_have_text(["expires in 2 days"])
    expect(page.get_by_test_id("usd-total")).to_be_visible()
    expect(page.get_by_test_id("usd-rates")).to_contain_text("rates as of ")
    no_sideways_scroll(page)
    shot(page, f"63-customer-balances-usd-{width}")
    page.goto("/dashboard/")
    expect(page.get_by_test_id("usd-rates")).to_contain_text("rates as of ")
    no_sideways_scroll(page)
    shot(page, f"64-overview-usd-{width}")
    assert page.errors == []
