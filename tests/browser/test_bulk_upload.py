"""Bulk credit in a real browser: an operator uploads a CSV, reads the preview (the rows that would
be refused and why, the money per currency), confirms, watches the progress (htmx polling, a real
``run_worker`` posting it), and downloads the error report; the same file again lands on the same run.
Without JavaScript the upload and preview work too and the progress page refreshes itself; a viewer
sees runs but no upload form. Screenshots at 1440 px and 390 px, no sideways scroll on a phone."""

import csv
import io
import re

import pytest
from django.db import connection
from playwright.sync_api import expect

from tests.resilience.conftest import live_database_url
from tests.support.servers import TaskWorker
from wallets.models import BulkCreditRun, LedgerEntry

pytestmark = pytest.mark.browser


def no_sideways_scroll(page, what: str):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow}px too wide at {page.viewport_size['width']}px"


def both_widths(page, shot, name: str):
    """Screenshots at 1440 px and 390 px (then back to 1440)."""
    page.set_viewport_size({"width": 1440, "height": 900})
    shot(page, f"{name}-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scroll(page, name)
    shot(page, f"{name}-390")
    page.set_viewport_size({"width": 1440, "height": 900})


def bulk_file(tmp_path, demo) -> str:
    people = demo["people"]
    text = (
        "customer_id,email,amount,currency,reason,entry_type\n"
        f"{people['Ann Lee'].pk},,1500,USD,Loyalty bonus,credit\n"
        f",carla@example.com,2000,USD,Loyalty bonus,credit\n"
        f"{people['Bob Stone'].pk},,12.50,USD,Typo in amount,credit\n"
        f"cus_unknown000000000000,,500,USD,Nobody,credit\n"
        f"{people['Ann Lee'].pk},,99999999,USD,Too large a debit,debit\n"
        f"{people['Deepak Rao'].pk},,75000,INR,Diwali bonus,credit\n"
    )
    path = tmp_path / "loyalty-december.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_upload_preview_confirm_progress_and_report(demo, new_page, login, shot, tmp_path):
    assert connection.vendor == "postgresql", "the worker subprocess needs the test database on PostgreSQL"
    page = new_page(width=1440, height=900)
    login(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bulk credit").click()
    expect(page.get_by_role("heading", name="Bulk credit", level=1)).to_be_visible()
    expect(page.get_by_test_id("empty-state")).to_contain_text("No bulk credit files yet.")
    both_widths(page, shot, "90-bulk-empty")

    # A file that cannot be read: the error is next to the field, nothing stored.
    bad = tmp_path / "bad.csv"
    bad.write_text("name,amount\nx,1\n", encoding="utf-8")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("alert").filter(has_text="Unknown column(s) 'name'")).to_be_visible()
    assert not BulkCreditRun.objects.exists()

    path = bulk_file(tmp_path, demo)
    page.get_by_label("CSV file").set_input_files(path)
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Preview: nothing is posted yet")).to_be_visible()
    expect(page.get_by_test_id("preview-rows")).to_have_text("6")
    expect(page.get_by_test_id("preview-to-post")).to_have_text("3")
    expect(page.get_by_test_id("preview-refused")).to_have_text("3")
    refused = page.get_by_test_id("refused-row")
    expect(refused).to_have_count(3)
    expect(page.get_by_test_id("refused-line")).to_have_text(["4", "5", "6"])
    expect(refused.nth(0)).to_contain_text("12.50")
    expect(refused.nth(0)).to_contain_text("positive whole number of minor units")
    expect(refused.nth(1)).to_contain_text("no customer 'cus_unknown000000000000' in this business")
    expect(refused.nth(2)).to_contain_text("estimate")
    # The dry run decides rows in file order: Ann's $25.00 plus line 2's $15.00.
    expect(refused.nth(2)).to_contain_text("the USD balance would be $40.00 when this row posts")
    expect(refused.nth(2)).to_contain_text("the debit is $999,999.99")
    expect(page.get_by_test_id("confirm-summary")).to_contain_text("Post 3 rows: credit ₹750.00; credit $35.00.")
    assert LedgerEntry.objects.filter(reason="Loyalty bonus").count() == 0
    both_widths(page, shot, "91-bulk-preview")

    page.get_by_role("button", name="Confirm and post").click()
    expect(page.get_by_text("are queued and will be posted by the worker")).to_be_visible()
    progress = page.get_by_test_id("progress")
    expect(progress).to_have_attribute("aria-live", "polite")
    expect(progress).to_contain_text("Queued: waiting for the worker")
    both_widths(page, shot, "92-bulk-progress")

    # The worker posts it; the page follows by itself (polling) and shows the outcome.
    with TaskWorker(database_url=live_database_url(), args=("--interval", "0.1")) as worker:
        try:
            expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=60_000)
        except AssertionError:
            raise AssertionError(worker.log_tail()) from None
    expect(page.get_by_test_id("run-posted")).to_have_text("3")
    expect(page.get_by_test_id("run-refused")).to_have_text("3")
    expect(page.get_by_test_id("run-currencies")).to_contain_text("₹750.00")
    assert LedgerEntry.objects.filter(reason="Loyalty bonus").count() == 2
    both_widths(page, shot, "93-bulk-done")

    with page.expect_download() as download_info:
        page.get_by_test_id("error-report").click()
    with open(download_info.value.path(), encoding="utf-8") as report:
        body = report.read()
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == ["4", "5", "6"]
    assert rows[3][2] == "insufficient funds: the USD balance is 4000, the debit is 99999999"

    # The same file again: the same run, nothing posted twice.
    page.get_by_role("link", name="Bulk credit").first.click()
    expect(page.get_by_test_id("run-row")).to_have_count(1)
    expect(page.get_by_test_id("run-row")).to_contain_text("loyalty-december.csv")
    both_widths(page, shot, "94-bulk-list")
    page.get_by_label("CSV file").set_input_files(path)
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("This file was already uploaded")).to_be_visible()
    expect(page.get_by_test_id("run-posted")).to_have_text("3")
    assert BulkCreditRun.objects.count() == 1
    assert LedgerEntry.objects.filter(reason="Loyalty bonus").count() == 2
    assert page.errors == []


def test_without_javascript_upload_preview_confirm_and_a_self_refreshing_progress_page(
        demo, new_page, login, tmp_path, shot):
    page = new_page(width=390, height=844, java_script_enabled=False)
    page.goto("/accounts/login/?next=/dashboard/bulk-credit/")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("demo-pass-for-tests-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/bulk-credit/")
    page.get_by_label("CSV file").set_input_files(bulk_file(tmp_path, demo))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_test_id("refused-row")).to_have_count(3)
    page.get_by_role("button", name="Confirm and post").click()
    expect(page.get_by_test_id("progress")).to_contain_text("0 of 6 rows")
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page.content())
    expect(page.get_by_test_id("refresh")).to_be_visible()
    no_sideways_scroll(page, "the progress page without JavaScript")
    assert BulkCreditRun.objects.get().status == "queued"


def test_a_viewer_sees_the_runs_but_no_upload_form(demo, new_page, login, shot):
    page = new_page(width=1440, height=900)
    login(page, username="victor", next_url="/dashboard/bulk-credit/")
    expect(page.get_by_test_id("viewer-note")).to_contain_text("an operator or an approver uploads")
    expect(page.get_by_label("CSV file")).to_have_count(0)
