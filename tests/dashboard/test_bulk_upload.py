"""Bulk credit from the browser (the server side): upload → preview (every refused row and why) →
confirm (once) → the worker's run → counts and the error report; the same file again; roles;
another business; query budgets. The run itself is the task's body, called here as the worker
calls it (tests/resilience/test_bulk_upload_kill.py runs a real worker and kills it)."""

import csv
import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from wallets import ledger
from wallets.models import BulkCreditRun, LedgerEntry, Membership, SecurityEvent, Wallet
from wallets.services import bulk_runs
from wallets.services.actors import Actor
from wallets.services.bulk import BulkInterrupted, bulk_credit_file
from wallets.tasks import bulk_credit_run

BULK = reverse("dashboard:bulk")


def upload(client, data: bytes, name: str = "bonus.csv"):
    return client.post(BULK, {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def run_of(response) -> BulkCreditRun:
    assert response.status_code == 303, response.content[:500]
    return BulkCreditRun.objects.get(pk=response.url.rstrip("/").split("/")[-1])


def tasks_for(run) -> int:
    return DBTaskResult.objects.filter(task_path=bulk_credit_run.module_path, args_kwargs__args=[run.pk]).count()


@pytest.fixture
def people(business, make_customer):
    alice = make_customer(email="alice@example.com", name="Alice")
    bob = make_customer(email="bob@example.com", name="Bob")
    ledger.post(business_id=business.id, customer_id=bob.id, currency="USD", amount=500, is_credit=True,
                actor=Actor.command("setup"), reason="setup")
    return alice, bob


def mixed_file(alice, bob) -> bytes:
    return (
        "customer_id,email,amount,currency,reason,entry_type\n"
        f"{alice.id},,1050,USD,Welcome bonus,credit\n"        # 2: ok
        f"{alice.id},,12.50,USD,Decimal amount,credit\n"      # 3: amount is not minor units
        f"cus_nobody,,100,USD,Unknown,credit\n"               # 4: no such customer
        f",bob@example.com,700,USD,Too much,debit\n"          # 5: overdraft (balance 500): an estimate
        f"{bob.id},,100,XXX,Bad currency,credit\n"            # 6: unknown currency
        f",bob@example.com,50000,INR,Refund,credit\n"         # 7: ok
        f"{bob.id},,200,USD,=HYPERLINK(\"x\"),debit\n"        # 8: ok (a formula-like reason)
    ).encode()


def test_the_preview_lists_every_refused_row_with_its_line_cell_and_reason_and_posts_nothing(
        operator_client, people):
    alice, bob = people
    entries = LedgerEntry.objects.count()
    response = upload(operator_client, mixed_file(alice, bob))
    run = run_of(response)
    assert run.status == BulkCreditRun.Status.PREVIEWED
    assert LedgerEntry.objects.count() == entries  # nothing posted
    page = operator_client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert run.preview["rows"] == 7
    assert run.preview["to_post"] == 3
    assert run.preview["refused"] == 4
    lines = {r["line"]: r for r in run.preview["rejections"]}
    assert set(lines) == {3, 4, 5, 6}
    assert (lines[3]["column"], lines[4]["column"], lines[5]["column"], lines[6]["column"]) == (
        "amount", "customer_id", "amount", "currency")
    assert lines[5]["estimate"]
    assert not lines[3]["estimate"]
    assert "positive whole number of minor units" in html
    assert "12.50" in html
    assert "no customer &#x27;cus_nobody&#x27; in this business" in html
    assert "unknown currency &#x27;XXX&#x27;" in html
    # Formatted, never raw minor units on the page.
    assert ("the USD balance would be $5.00 when this row posts (after the file&#x27;s earlier rows), and the debit "
            "is $7.00.") in html
    assert html.count('data-testid="refused-row"') == 4
    assert "estimate</span>" in html
    # Totals per currency and the confirm step's summary: the money to move, formatted.
    assert {c["currency"]: (c["credited"], c["debited"]) for c in run.preview["currencies"]} == {
        "USD": (1050, 200), "INR": (50000, 0)}
    assert "credit $10.50, debit $2.00" in html
    assert "credit ₹500.00" in html
    assert 'data-testid="confirm-form"' in html


def test_confirm_queues_one_task_even_when_submitted_twice_then_the_run_posts_and_reports(
        operator_client, operator, people, business, django_capture_on_commit_callbacks):
    alice, bob = people
    run = run_of(upload(operator_client, mixed_file(alice, bob)))
    confirm = reverse("dashboard:bulk_run_confirm", args=[run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        first = operator_client.post(confirm)
        second = operator_client.post(confirm)
    assert first.status_code == second.status_code == 303
    run.refresh_from_db()
    assert run.status == BulkCreditRun.Status.QUEUED
    assert run.confirmed_by == operator
    assert tasks_for(run) == 1
    started = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.BULK_CREDIT_STARTED, business=business)
    assert started.count() == 1
    assert started.get().details["run_id"] == run.pk
    assert started.get().actor_name == operator.get_username()
    # The progress panel polls while queued; without JS the page refreshes itself.
    page = operator_client.get(reverse("dashboard:bulk_run", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert 'http-equiv="refresh"' in page
    assert 'data-testid="refresh"' in page

    assert bulk_credit_run.call(run.pk) == {"posted": 3, "replayed": 0, "refused": 4}
    run.refresh_from_db()
    assert (run.status, run.posted, run.replayed, run.refused, run.rows_done) == ("finished", 3, 0, 4, 7)
    assert Wallet.objects.get(customer=alice, currency="USD").balance == 1050
    assert Wallet.objects.get(customer=bob, currency="USD").balance == 300
    assert Wallet.objects.get(customer=bob, currency="INR").balance == 50000
    entry = LedgerEntry.objects.get(customer=alice)
    assert (entry.actor_type, entry.actor_id) == ("user", str(operator.pk))
    finished = SecurityEvent.objects.get(kind=SecurityEvent.Kind.BULK_CREDIT_FINISHED, business=business)
    assert finished.details["posted"] == 3
    assert finished.details["credited"] == {"USD": 1050, "INR": 50000}
    progress = operator_client.get(reverse("dashboard:bulk_run_progress", args=[run.pk]))
    assert progress["HX-Refresh"] == "true"
    done = operator_client.get(reverse("dashboard:bulk_run", args=[run.pk])).content.decode()
    assert 'data-testid="run-posted">3<' in done
    assert "₹500.00" in done
    assert 'http-equiv="refresh"' not in done

    report = operator_client.get(reverse("dashboard:bulk_run_report", args=[run.pk]))
    body = b"".join(report.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == ["line", "column", "reason", "estimate", "customer_id", "email", "amount", "currency",
                       "reason", "entry_type"]
    assert [r[0] for r in rows[1:]] == ["3", "4", "5", "6"]
    assert rows[3][2] == "insufficient funds: the USD balance is 500, the debit is 700"


def test_a_formula_in_a_refused_row_is_made_safe_in_the_report(operator_client, people):
    alice, _ = people
    data = f"customer_id,amount,currency,reason\n{alice.id},0,USD,=HYPERLINK(\"http://evil\")\n".encode()
    run = run_of(upload(operator_client, data))
    body = b"".join(operator_client.get(reverse("dashboard:bulk_run_report", args=[run.pk])).streaming_content)
    row = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1]
    assert row[-1] == "'=HYPERLINK(\"http://evil\")"
    assert row[3] == "no"  # a check of the file, not an estimate


def test_the_same_file_again_is_the_same_run_and_posts_nothing_twice(
        operator_client, people, django_capture_on_commit_callbacks):
    alice, bob = people
    data = f"customer_id,amount,currency\n{alice.id},100,USD\n{bob.id},200,USD\n".encode()
    run = run_of(upload(operator_client, data, "first.csv"))
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(reverse("dashboard:bulk_run_confirm", args=[run.pk]))
    bulk_credit_run.call(run.pk)
    entries = LedgerEntry.objects.count()
    again = upload(operator_client, data, "first (copy).csv")
    assert run_of(again) == run
    page = operator_client.get(again.url).content.decode()
    assert "This file was already uploaded" in page
    assert "This is that run" in page
    assert BulkCreditRun.objects.count() == 1
    # A second task for a finished run does nothing; the ledger is unchanged.
    assert bulk_credit_run.call(run.pk) == {"skipped": 1}
    assert LedgerEntry.objects.count() == entries
    # Before confirmation, the same file again refreshes the one preview.
    other = f"customer_id,amount,currency\n{alice.id},300,USD\n".encode()
    pending = run_of(upload(operator_client, other))
    assert run_of(upload(operator_client, other)) == pending
    assert BulkCreditRun.objects.count() == 2


def test_rows_already_in_the_ledger_are_replays_in_the_preview_and_the_run(
        operator_client, people, business, django_capture_on_commit_callbacks):
    alice, bob = people
    data = f"customer_id,amount,currency\n{alice.id},100,USD\n{bob.id},200,USD\n".encode()
    # The same bytes through the command's service first: the same derived keys (file hash + line).
    first = bulk_credit_file(business_id=business.id, data=data, actor=Actor.command("bulk_credit"))
    assert first.posted == 2
    run = run_of(upload(operator_client, data))
    assert (run.preview["to_post"], run.preview["already_done"]) == (0, 2)
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(reverse("dashboard:bulk_run_confirm", args=[run.pk]))
    assert bulk_credit_run.call(run.pk) == {"posted": 0, "replayed": 2, "refused": 0}
    assert Wallet.objects.get(customer=alice, currency="USD").balance == 100


def test_a_stalled_run_is_queued_again_by_the_sweep_and_resumed_exactly_once(
        operator_client, people, settings, django_capture_on_commit_callbacks):
    """The kill itself: tests/resilience/test_bulk_upload_kill.py. Here the state a killed worker leaves."""
    alice, _bob = people
    data = "customer_id,amount,currency\n" + "".join(f"{alice.id},{i},USD\n" for i in range(1, 11))
    run = run_of(upload(operator_client, data.encode()))
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(reverse("dashboard:bulk_run_confirm", args=[run.pk]))
    # An attempt that posted the first 4 rows and died: RUNNING, an old heartbeat.
    with pytest.raises(BulkInterrupted):
        bulk_credit_file(business_id=run.business_id, data=data.encode(), actor=Actor.user(1), batch_size=4,
                         on_progress=_interrupt)
    assert LedgerEntry.objects.filter(customer=alice).count() == 4
    old = timezone.now() - datetime.timedelta(seconds=settings.WALLETS_BULK_STALL_SECONDS + 5)
    BulkCreditRun.objects.filter(pk=run.pk).update(status="running", attempts=1, started_at=old, heartbeat_at=old,
                                                   rows_done=4)
    page = operator_client.get(reverse("dashboard:bulk_run", args=[run.pk])).content.decode()
    assert 'data-testid="stalled"' in page
    assert 'data-testid="resume"' in page
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk_runs.bulk_runs_resume_stalled() == 1
    run.refresh_from_db()
    assert run.status == "queued"
    assert tasks_for(run) == 2
    assert bulk_credit_run.call(run.pk) == {"posted": 10, "replayed": 0, "refused": 0}
    assert LedgerEntry.objects.filter(customer=alice).count() == 10
    assert Wallet.objects.get(customer=alice, currency="USD").balance == 55
    assert BulkCreditRun.objects.get(pk=run.pk).attempts == 2


def _interrupt(done, total):
    raise KeyboardInterrupt


def test_bad_files_are_refused_next_to_the_field_and_store_nothing(operator_client, people, settings):
    alice, _ = people
    cases = [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"name,amount\nx,1\n", "Unknown column(s) &#x27;name&#x27;"),
        (b"customer_id,amount,currency\n", "no rows"),
    ]
    for data, message in cases:
        response = upload(operator_client, data)
        assert response.status_code == 422
        assert message in response.content.decode()
        assert 'class="error" role="alert"' in response.content.decode()
    settings.WALLETS_BULK_MAX_BYTES = 60
    big = f"customer_id,amount,currency\n{alice.id},100,USD\n{alice.id},200,USD\n".encode()
    response = upload(operator_client, big)
    assert response.status_code == 422
    assert "the largest accepted is" in response.content.decode()
    settings.WALLETS_BULK_MAX_BYTES = 10_000
    settings.WALLETS_BULK_MAX_ROWS = 1
    response = upload(operator_client, big)
    assert response.status_code == 422
    assert "the most accepted is 1" in response.content.decode()
    assert BulkCreditRun.objects.count() == 0


def test_viewers_see_runs_but_cannot_upload_confirm_or_resume(viewer_client, operator_client, people):
    alice, _ = people
    run = run_of(upload(operator_client, f"customer_id,amount,currency\n{alice.id},100,USD\n".encode()))
    listing = viewer_client.get(BULK).content.decode()
    assert 'data-testid="viewer-note"' in listing
    assert 'type="file"' not in listing
    assert run.file_name in listing
    page = viewer_client.get(reverse("dashboard:bulk_run", args=[run.pk]))
    assert page.status_code == 200
    assert 'data-testid="confirm-form"' not in page.content.decode()
    assert upload(viewer_client, b"customer_id,amount,currency\n").status_code == 403
    assert viewer_client.post(reverse("dashboard:bulk_run_confirm", args=[run.pk])).status_code == 403
    assert viewer_client.post(reverse("dashboard:bulk_run_resume", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == "previewed"


def test_approvers_may_upload_and_confirm(make_user, business, client_for, people,
                                          django_capture_on_commit_callbacks):
    alice, _ = people
    approver = client_for(make_user(Membership.Role.APPROVER, business, username="april"))
    run = run_of(upload(approver, f"customer_id,amount,currency\n{alice.id},100,USD\n".encode()))
    with django_capture_on_commit_callbacks(execute=True):
        assert approver.post(reverse("dashboard:bulk_run_confirm", args=[run.pk])).status_code == 303
    run.refresh_from_db()
    assert run.status == "queued"


def test_another_business_run_is_404(operator_client, other_business, make_customer):
    stranger = make_customer(email="x@globex.example", business_id=other_business.id)
    run = BulkCreditRun.objects.create(business=other_business, file_name="globex.csv", digest="0" * 64,
                                       data=f"customer_id,amount,currency\n{stranger.id},1,USD\n".encode(),
                                       total_rows=1, preview={"to_post": 1})
    for name in ("bulk_run", "bulk_run_progress", "bulk_run_report"):
        assert operator_client.get(reverse(f"dashboard:{name}", args=[run.pk])).status_code == 404
    for name in ("bulk_run_confirm", "bulk_run_resume"):
        assert operator_client.post(reverse(f"dashboard:{name}", args=[run.pk])).status_code == 404
    assert "globex.csv" not in operator_client.get(BULK).content.decode()
    run.refresh_from_db()
    assert run.status == "previewed"


def test_the_list_paginates_and_is_empty_at_first(operator_client, operator, business):
    assert 'data-testid="empty-state"' in operator_client.get(BULK).content.decode()
    _make_runs(business, operator, 30)
    first = operator_client.get(BULK).content.decode()
    assert first.count('data-testid="run-row"') == 25
    assert "Page 1 of 2" in first
    assert operator_client.get(BULK, {"page": 2}).content.decode().count('data-testid="run-row"') == 5


def _make_runs(business, user, n: int) -> None:
    BulkCreditRun.objects.bulk_create([
        BulkCreditRun(business=business, file_name=f"file-{i}.csv", digest=f"{i:064x}", data=b"x", total_rows=i + 1,
                      status="finished", posted=i, created_by=user, created_by_name=user.get_username())
        for i in range(n)])


@pytest.mark.parametrize("page", ["list", "run"])
def test_query_budget_is_flat_as_rows_grow(operator_client, operator, business, count_queries, page):
    counts = []
    for n in (2, 30):
        BulkCreditRun.objects.filter(business=business).delete()
        _make_runs(business, operator, n)
        if page == "list":
            url = BULK
        else:
            run = BulkCreditRun.objects.filter(business=business).first()
            run.preview = {"rows": n, "to_post": 0, "refused": n, "columns": ["customer_id", "amount", "currency"],
                           "currencies": [{"currency": "USD", "credited": 1, "debited": 0, "credit_rows": 1,
                                           "debit_rows": 0}],
                           "rejections": [{"line": i + 2, "column": "amount", "reason": "bad", "estimate": False,
                                           "balance": None, "cells": {"amount": "x"}} for i in range(n)]}
            run.status = "previewed"
            run.save()
            url = reverse("dashboard:bulk_run", args=[run.pk])
        counts.append(count_queries(operator_client, url))
    assert counts[0] == counts[1] <= 5  # docs/dashboard.md: 5 (list), 4 (a run)


def test_two_uploads_of_one_file_at_once_make_one_run(operator, business, people, monkeypatch):
    """The unique (business, file SHA-256) decides a race: the second upload gets the first's run."""
    alice, _ = people
    data = f"customer_id,amount,currency\n{alice.id},100,USD\n".encode()
    first, created = bulk_runs.bulk_run_upload(business_id=business.id, file_name="a.csv", data=data, user=operator)
    assert created
    # The second upload read "no run yet" before the first committed.
    real_filter = BulkCreditRun.objects.filter
    monkeypatch.setattr(BulkCreditRun.objects, "filter", lambda *a, **k: real_filter(pk="none"))
    second, created_again = bulk_runs.bulk_run_upload(business_id=business.id, file_name="a.csv", data=data,
                                                      user=operator)
    assert not created_again
    assert second.pk == first.pk


def test_a_run_stopped_by_a_database_error_is_resumed_by_an_operator(
        operator_client, people, django_capture_on_commit_callbacks):
    alice, _ = people
    run = run_of(upload(operator_client, f"customer_id,amount,currency\n{alice.id},100,USD\n".encode()))
    BulkCreditRun.objects.filter(pk=run.pk).update(
        status="failed", attempts=1, started_at=timezone.now(), finished_at=timezone.now(),
        error="a batch of 1 row(s) (lines 2) failed in the database: canceling statement due to lock timeout")
    page = operator_client.get(reverse("dashboard:bulk_run", args=[run.pk])).content.decode()
    assert "canceling statement due to lock timeout" in page
    assert 'data-testid="resume"' in page
    assert "Stopped" in page
    resume = reverse("dashboard:bulk_run_resume", args=[run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_client.post(resume).status_code == 303
        operator_client.post(resume)  # a second press: the run is queued already, nothing more
    run.refresh_from_db()
    assert run.status == "queued"
    assert tasks_for(run) == 1
    assert bulk_credit_run.call(run.pk) == {"posted": 1, "replayed": 0, "refused": 0}
    assert Wallet.objects.get(customer=alice, currency="USD").balance == 100
