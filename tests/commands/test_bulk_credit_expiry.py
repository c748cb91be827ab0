"""bulk_credit's ``expires_at`` column: expiring rows become grants through the engine, bad values
name their line, a rerun replays without new grants, and the books stay right."""

import datetime

import pytest
from django.utils import timezone

from tests.commands.helpers import assert_books_right, balance, entry_count, run_command
from wallets.models import CreditGrant, GrantDraw, LedgerEntry
from wallets.selectors.reconcile import ledger_drift

HEADER = ("customer_id", "amount", "currency", "reason", "entry_type", "expires_at")


def bulk(path, business, *args):
    return run_command("bulk_credit", path, "--business", business.id, *args)


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="seconds")


@pytest.fixture
def soon():
    return (timezone.now() + datetime.timedelta(days=3)).replace(microsecond=0)


def test_expiring_and_plain_rows_post_grants_and_credits(business, customers, write_csv, soon):
    ann, bob = customers[0], customers[1]
    later = soon + datetime.timedelta(days=30)
    in_kolkata = later.astimezone(datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    path = write_csv([
        [ann.id, 1000, "USD", "Spring promotion", "credit", iso(soon).replace("+00:00", "Z")],
        [ann.id, 500, "USD", "Refund", "credit", ""],
        [ann.id, 300, "USD", "Usage", "debit", ""],  # drawn from the soonest-expiring grant
        [bob.id, 2500, "INR", "Loyalty", "", iso(in_kolkata)],
    ], header=HEADER)

    ran = bulk(path, business)

    assert ran.code == 0, ran.text
    assert "posted 4, already done 0, rejected 0" in ran.out
    assert (balance(ann), balance(bob, "INR")) == (1200, 2500)
    grants = {g.entry.reason: g for g in CreditGrant.objects.select_related("entry")}
    assert set(grants) == {"Spring promotion", "Loyalty"}
    spring, loyalty = grants["Spring promotion"], grants["Loyalty"]
    assert (spring.amount, spring.remaining, spring.expires_at) == (1000, 700, soon)
    assert (loyalty.amount, loyalty.remaining, loyalty.expires_at) == (2500, 2500, later)
    assert (spring.entry.expires_at, spring.entry.customer_id) == (soon, ann.id)
    plain = LedgerEntry.objects.get(reason="Refund")
    assert plain.expires_at is None
    assert not CreditGrant.objects.filter(entry=plain).exists()
    usage = LedgerEntry.objects.get(reason="Usage")
    assert list(GrantDraw.objects.filter(entry=usage).values_list("grant_id", "amount")) == [(spring.entry_id, 300)]
    assert ledger_drift() == []
    assert_books_right()


@pytest.mark.parametrize(
    ("value", "entry_type", "problem"),
    [
        ("next tuesday", "credit", "expires_at must be an ISO 8601 date and time with an offset"),
        ("2030-01-01T00:00:00", "credit", "has no UTC offset"),
        ("2020-01-01T00:00:00Z", "credit", "is not in the future"),
        ("2099-01-01T00:00:00+00:00", "credit", "is more than 10 years ahead"),
        ("FUTURE", "debit", "expires_at is only for credits"),
    ],
)
def test_a_bad_expires_at_names_the_line_and_the_others_post(
    business, customers, write_csv, soon, value, entry_type, problem
):
    ann = customers[0]
    value = iso(soon) if value == "FUTURE" else value
    path = write_csv([
        [ann.id, 1000, "USD", "Plain", "credit", ""],
        [ann.id, 200, "USD", "Bad", entry_type, value],
    ], header=HEADER)

    ran = bulk(path, business)

    assert ran.code == 1
    (reported,) = [line for line in ran.err.splitlines() if line.startswith("line ")]
    assert reported.startswith("line 3: expires_at"), ran.text
    assert problem in reported
    assert "posted 1, already done 0, rejected 1" in ran.out
    assert balance(ann) == 1000
    assert not LedgerEntry.objects.filter(reason="Bad").exists()
    assert CreditGrant.objects.count() == 0
    assert ledger_drift() == []


def test_a_bad_expires_at_with_all_or_nothing_posts_nothing(business, customers, write_csv, soon):
    ann = customers[0]
    path = write_csv([
        [ann.id, 1000, "USD", "Promotion", "credit", iso(soon)],
        [ann.id, 200, "USD", "Late", "credit", "2000-01-01T00:00:00Z"],
    ], header=HEADER)

    ran = bulk(path, business, "--all-or-nothing")

    assert ran.code == 1
    assert "line 3: expires_at '2000-01-01T00:00:00Z' is not in the future" in ran.err
    assert "nothing was posted" in ran.error
    assert (entry_count(), CreditGrant.objects.count()) == (0, 0)


def test_a_rerun_replays_without_new_grants(business, customers, write_csv, soon):
    ann, bob = customers[0], customers[1]
    path = write_csv([
        [ann.id, 1000, "USD", "Promotion", "credit", iso(soon)],
        [bob.id, 400, "USD", "Plain", "credit", ""],
    ], header=HEADER)
    assert bulk(path, business).code == 0

    again = bulk(path, business)

    assert again.code == 0, again.text
    assert "posted 0, already done 2, rejected 0" in again.out
    assert CreditGrant.objects.count() == 1
    grant = CreditGrant.objects.get()
    assert (grant.customer_id, grant.remaining, grant.expires_at) == (ann.id, 1000, soon)
    assert (balance(ann), balance(bob)) == (1000, 400)
    assert entry_count() == 2
    assert ledger_drift() == []


def test_dry_run_checks_expiry_and_writes_nothing(business, customers, write_csv, soon):
    ann = customers[0]
    path = write_csv([[ann.id, 1000, "USD", "Promotion", "credit", iso(soon)]], header=HEADER)

    ran = bulk(path, business, "--dry-run")

    assert ran.code == 0, ran.text
    assert "would post 1" in ran.out
    assert (entry_count(), CreditGrant.objects.count()) == (0, 0)
