"""bulk_credit: posting a CSV exactly once, refusing bad rows by line, dry runs, all or nothing."""

import csv
import hashlib
from pathlib import Path

import pytest

from tests.commands.helpers import assert_books_right, balance, csv_text, entry_count, run_command
from wallets.models import LedgerEntry, Wallet
from wallets.services.actors import Actor


def bulk(path, business, *args, **options):
    return run_command("bulk_credit", path, "--business", business.id, *args, **options)


def test_credits_every_row_once_through_the_ledger(business, customers, write_csv):
    ann, bob = customers[0], customers[1]
    path = write_csv([
        [ann.id, 1000, "USD", "Welcome bonus"],
        [bob.id, 250000, "INR", "Refund for payment pay_1"],
        [ann.id, 500, "USD", "Loyalty"],
        [ann.id, 700, "EUR", "First euro credit"],  # no EUR wallet yet: created by the posting
    ])
    ran = bulk(path, business)

    assert ran.code == 0, ran.text
    assert "posted 4, already done 0, rejected 0" in ran.out
    assert "USD: credited $15.00 (1,500 minor units)" in ran.out
    assert "Every row is in the ledger." in ran.out
    assert (balance(ann), balance(bob, "INR"), balance(ann, "EUR")) == (1500, 250000, 700)
    entries = list(LedgerEntry.objects.filter(customer=ann, currency="USD").order_by("sequence"))
    assert [(e.sequence, e.before_balance, e.after_balance, e.amount) for e in entries] == [
        (1, 0, 1000, 1000), (2, 1000, 1500, 500)
    ]
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    first = entries[0]
    assert first.idempotency_key == f"bulk:{digest}:2"  # the header is line 1
    assert (first.event_type, first.actor_type, first.actor_id, first.reason, first.is_credit) == (
        "merchant_adjustment", "command", "bulk_credit", "Welcome bonus", True
    )
    assert Wallet.objects.get(customer=ann, currency="USD").entry_count == 2
    assert_books_right()


def test_emails_debits_and_explicit_keys(business, customers, write_csv):
    ann = customers[0]
    path = write_csv(
        [
            [ann.email.upper(), 2000, "USD", "Deposit", "dep-1", "credit"],
            [ann.email, 600, "USD", "Usage", "", "debit"],
            [ann.email, 400, "USD", "", "", ""],
        ],
        header=("email", "amount", "currency", "reason", "idempotency_key", "entry_type"),
    )
    ran = bulk(path, business)

    assert ran.code == 0, ran.text
    assert balance(ann) == 1800
    entries = list(LedgerEntry.objects.filter(customer=ann).order_by("sequence"))
    assert [(e.is_credit, e.amount, e.after_balance) for e in entries] == [(True, 2000, 2000), (False, 600, 1400),
                                                                          (True, 400, 1800)]
    assert entries[0].idempotency_key == "dep-1"
    assert entries[2].reason is None


def test_the_same_file_again_posts_nothing(business, customers, write_csv):
    ann, bob = customers[0], customers[1]
    path = write_csv([[ann.id, 1000, "USD", "Bonus"], [bob.id, 2000, "USD", "Bonus"], [ann.id, 300, "USD", "More"]])
    assert bulk(path, business).code == 0

    again = bulk(path, business)

    assert again.code == 0, again.text
    assert "posted 0, already done 3, rejected 0" in again.out
    assert entry_count() == 3
    assert (balance(ann), balance(bob)) == (1300, 2000)


def test_an_edited_file_is_a_new_file(business, customers, write_csv):
    ann = customers[0]
    bulk(write_csv([[ann.id, 1000, "USD", "Bonus"]]), business)
    ran = bulk(write_csv([[ann.id, 1000, "USD", "Bonus"], [ann.id, 5, "USD", "edit"]]), business)
    assert "posted 2, already done 0" in ran.out  # new content, new derived keys
    assert balance(ann) == 2005


def test_a_key_already_used_by_the_api_is_already_done_or_refused(business, customers, write_csv, post):
    ann = customers[0]
    post(ann, 1000, idempotency_key="refund_pay_1", reason="Refund")
    post(ann, 50, idempotency_key="refund_pay_2", reason="Refund")
    path = write_csv(
        [[ann.id, 1000, "USD", "Refund", "refund_pay_1"], [ann.id, 999, "USD", "Refund", "refund_pay_2"],
         [ann.id, 7, "USD", "New", "refund_pay_3"]],
        header=("customer_id", "amount", "currency", "reason", "idempotency_key"),
    )
    ran = bulk(path, business)

    assert ran.code == 1
    assert "posted 1, already done 1, rejected 1" in ran.out
    assert "line 3: idempotency_key 'refund_pay_2' was already used for this customer with a different" in ran.err
    assert balance(ann) == 1057


BAD_ROWS = [
    (["cus_doesNotExist", "100", "USD", "x"], "no customer 'cus_doesNotExist' in this business"),
    (["{other}", "100", "USD", "x"], "in this business"),
    (["{ann}", "100", "usd", "x"], "unknown currency 'usd'"),
    (["{ann}", "100", "XYZ", "x"], "unknown currency 'XYZ'"),
    (["{ann}", "100", "", "x"], "unknown currency ''"),
    (["{ann}", "0", "USD", "x"], "amount must be a positive whole number of minor units"),
    (["{ann}", "-5", "USD", "x"], "got '-5'"),
    (["{ann}", "10.50", "USD", "x"], "got '10.50'"),
    (["{ann}", "1e3", "USD", "x"], "got '1e3'"),
    (["{ann}", "", "USD", "x"], "got ''"),
    (["{ann}", "ten", "USD", "x"], "got 'ten'"),
    (["{ann}", str(2**63), "USD", "x"], "larger than the maximum"),
    (["", "100", "USD", "x"], "no customer_id or email"),
    (["{ann}", "100", "USD", "x" * 501], "reason is longer than 500 characters"),
]


@pytest.mark.parametrize(("cells", "message"), BAD_ROWS, ids=[m for _, m in BAD_ROWS])
def test_a_bad_row_is_named_and_never_posted_while_good_rows_are(
    business, other_business, customers, make_customer, write_csv, tmp_path, cells, message
):
    ann = customers[0]
    stranger = make_customer(email="stranger@example.com", business_id=other_business.id)
    bad = [cell.format(ann=ann.id, other=stranger.id) for cell in cells]
    path = write_csv([[ann.id, 100, "USD", "good"], bad, [ann.id, 200, "USD", "good too"]])
    errors = tmp_path / "errors.csv"

    ran = bulk(path, business, "--errors", str(errors))

    assert ran.code == 1
    assert "1 row(s) rejected" in ran.error
    assert "posted 2, already done 0, rejected 1" in ran.out
    assert balance(ann) == 300
    assert not LedgerEntry.objects.filter(customer=stranger).exists()
    report = list(csv.DictReader(errors.open(encoding="utf-8")))
    assert len(report) == 1
    assert report[0]["line"] == "3"
    assert message in report[0]["error"]
    assert report[0]["amount"] == bad[1]  # the row's own cells follow, to fix and resend


def test_every_kind_of_bad_row_in_one_file_is_reported_by_line(business, customers, write_csv, post):
    ann, bob = customers[0], customers[1]
    post(bob, 100)
    rows = [
        [ann.id, 500, "USD", "ok", "", ""],                  # 2
        [bob.id, 101, "USD", "overdraft", "", "debit"],      # 3 bob has 100
        [ann.id, 10, "USD", "dup", "k1", ""],                # 4
        [ann.id, 11, "USD", "dup again", "k1", ""],          # 5 the same key for the same customer
        [bob.id, 12, "USD", "same key, other customer", "k1", ""],  # 6 fine: keys are per customer
        [ann.id, 5, "USD", "bad type", "", "refund"],        # 7
        [ann.id, 500, "USD", "debit ok", "", "debit"],       # 8 ann has 500 + 10 by now
        [ann.id, 11, "USD", "debit too much", "", "debit"],  # 9 ann has 10 left
    ]
    path = write_csv(rows, header=("customer_id", "amount", "currency", "reason", "idempotency_key", "entry_type"))

    ran = bulk(path, business)

    assert ran.code == 1
    assert "posted 4, already done 0, rejected 4" in ran.out
    lines = [line for line in ran.err.splitlines() if line.startswith("line ")]
    assert lines == [
        "line 3: insufficient funds: the USD balance is 100, the debit is 101",
        "line 5: idempotency_key 'k1' is already used on line 4 for this customer",
        "line 7: entry_type must be credit or debit, got 'refund'",
        "line 9: insufficient funds: the USD balance is 10, the debit is 11",
    ]
    assert (balance(ann), balance(bob)) == (10, 112)
    assert_books_right()


def test_customer_id_and_email_must_agree(business, customers, write_csv):
    ann, bob = customers[0], customers[1]
    path = write_csv([[ann.id, ann.email, 5, "USD"], [ann.id, bob.email, 5, "USD"]],
                     header=("customer_id", "email", "amount", "currency"))
    ran = bulk(path, business)
    assert "line 3: customer_id" in ran.err
    assert "are not the same customer" in ran.err
    assert (balance(ann), balance(bob)) == (5, 0)


def test_a_row_with_more_cells_than_the_header_is_refused(business, customers, write_csv):
    path = write_csv(f"customer_id,amount,currency\n{customers[0].id},5,USD,extra\n{customers[0].id},6,USD\n")
    ran = bulk(path, business)
    assert "line 2: more cells than the header has columns" in ran.err
    assert balance(customers[0]) == 6


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"customer_id,amount,currency,note\n", "Unknown column(s) 'note'"),
        (b"customer_id,currency\n", "lacks the column(s) amount"),
        (b"amount,currency\n", "lacks the column(s) customer_id (or email)"),
        (b"customer_id,amount,amount,currency\n", "appear more than once"),
        (b"customer_id,amount,currency,reason\ncus_x,5,USD,caf\xe9\n", "not UTF-8: byte 0xe9 on line 2"),
    ],
)
def test_an_unreadable_file_posts_nothing(business, customers, write_csv, content, message):
    ran = bulk(write_csv(content), business)
    assert ran.code == 2
    assert "Nothing posted" in ran.error
    assert message in ran.error
    assert entry_count() == 0


def test_a_utf8_bom_and_a_spreadsheet_header_with_spaces_are_fine(business, customers, write_csv):
    content = f"\ufeffcustomer_id , amount,currency,reason\n{customers[0].id},5,USD,Café crème\n"
    ran = bulk(write_csv(content.encode()), business)
    assert ran.code == 0, ran.text
    assert LedgerEntry.objects.get().reason == "Café crème"


def test_bad_arguments_are_refused_clearly(business, customers, write_csv, tmp_path):
    path = write_csv([[customers[0].id, 5, "USD", "x"]])
    assert "No business with the id 'bus_nope'" in run_command("bulk_credit", path, "--business", "bus_nope").error
    missing = bulk(str(tmp_path / "missing.csv"), business)
    assert missing.code == 2
    assert "No such file" in missing.error
    same = bulk(path, business, "--errors", path)
    assert same.code == 2
    assert "--errors must not be the input file" in same.error
    unwritable = bulk(path, business, "--errors", str(tmp_path / "no" / "such" / "dir.csv"))
    assert unwritable.code == 2
    assert "Cannot write the error report" in unwritable.error
    for bad in ("0", "-3", "many"):
        ran = bulk(path, business, "--batch-size", bad)
        assert ran.code != 0
        assert "batch-size" in ran.error
    assert "invalid choice" in bulk(path, business, "--event-type", "gift").error
    assert entry_count() == 0


def test_standard_input_and_event_type(business, customers):
    text = csv_text([[customers[0].id, 1500, "USD", "Refund for payment pay_9"]])
    ran = bulk("-", business, "--event-type", "refund", stdin=text)
    assert ran.code == 0, ran.text
    assert LedgerEntry.objects.get().event_type == "refund"
    again = bulk("-", business, "--event-type", "refund", stdin=text)
    assert "already done 1" in again.out  # stdin content is hashed the same way


def test_dry_run_writes_nothing_and_predicts_the_run(business, customers, write_csv, post):
    ann, bob = customers[0], customers[1]
    post(ann, 100)
    path = write_csv(
        [[ann.id, 50, "USD", "", "debit"], [ann.id, 51, "USD", "", "debit"], [bob.id, 9, "JPY", "", "credit"],
         ["cus_unknown", 1, "USD", "", ""]],
        header=("customer_id", "amount", "currency", "reason", "entry_type"),
    )
    wallets_before = Wallet.objects.count()

    dry = bulk(path, business, "--dry-run")

    assert dry.code == 1
    assert "Dry run, nothing written" in dry.out
    assert "would post 2, already done 0, rejected 2" in dry.out
    assert "line 3: insufficient funds: the USD balance is 50, the debit is 51" in dry.err
    assert entry_count() == 1
    assert Wallet.objects.count() == wallets_before  # not even the JPY wallet
    real = bulk(path, business)
    assert "posted 2, already done 0, rejected 2" in real.out
    assert bulk(path, business, "--dry-run").out.count("would post 0, already done 2") == 1


def test_all_or_nothing_posts_nothing_when_a_row_is_bad(business, customers, write_csv):
    ann = customers[0]
    path = write_csv([[ann.id, 100, "USD", "ok"], [ann.id, 100, "usd", "bad"]])
    ran = bulk(path, business, "--all-or-nothing")
    assert ran.code == 1
    assert "nothing was posted" in ran.error
    assert "All or nothing: nothing posted" in ran.out
    assert entry_count() == 0


def test_all_or_nothing_rolls_back_when_the_balance_refuses_a_row(business, customers, write_csv):
    ann, bob = customers[0], customers[1]
    path = write_csv(
        [[bob.id, 100, "USD", "", "credit"], [ann.id, 40, "EUR", "", "credit"], [ann.id, 41, "EUR", "", "debit"]],
        header=("customer_id", "amount", "currency", "reason", "entry_type"),
    )
    ran = bulk(path, business, "--all-or-nothing", "--batch-size", "1")
    assert ran.code == 1
    assert "line 4: insufficient funds: the EUR balance is 40, the debit is 41" in ran.err
    assert entry_count() == 0
    assert not Wallet.objects.filter(customer=ann, currency="EUR").exists()  # created, then rolled back


def test_all_or_nothing_posts_a_good_file(business, customers, write_csv):
    path = write_csv([[c.id, 100 + i, "USD", "bonus"] for i, c in enumerate(customers)])
    ran = bulk(path, business, "--all-or-nothing", "--batch-size", "2")
    assert ran.code == 0, ran.text
    assert [balance(c) for c in customers] == [100, 101, 102, 103, 104]
    assert bulk(path, business, "--all-or-nothing").out.count("already done 5") == 1


def test_small_batches_post_the_same_ledger(business, customers, write_csv):
    rows = [[customers[i % 5].id, 10 + i, "USD" if i % 3 else "INR", f"row {i}"] for i in range(53)]
    ran = bulk(write_csv(rows), business, "--batch-size", "7")
    assert ran.code == 0, ran.text
    assert entry_count() == 53
    for customer in customers:
        expected = sum(10 + i for i in range(53) if i % 5 == customers.index(customer) and i % 3)
        assert balance(customer) == expected
    assert_books_right()


def test_progress_lines_and_quiet_mode(business, customers, write_csv):
    path = write_csv([[customers[0].id, 1, "USD", str(i)] for i in range(30)])
    ran = bulk(path, business, "--batch-size", "10")
    assert "30/30 rows (100%)" in ran.out
    assert "rows/s" in ran.out
    quiet = bulk(write_csv([[customers[0].id, 2, "USD", "q"]]), business, "-v", "0")
    assert "rows/s" not in quiet.out
    assert "posted 1" in quiet.out


def test_it_posts_as_the_command_actor_for_the_audit_trail(business, customers, write_csv):
    bulk(write_csv([[customers[0].id, 1, "USD", "x"]]), business)
    assert Actor.command("bulk_credit") == Actor(*LedgerEntry.objects.values_list("actor_type", "actor_id").get())


# --- Issue 15: a NUL byte in one row, identical lines ----------------------------------------------


@pytest.mark.parametrize("column", ["reason", "idempotency_key", "customer_id"])
def test_a_nul_byte_rejects_its_line_and_the_rest_posts(business, customers, write_csv, column):
    """One NUL byte used to fail the whole batch in the database, on every rerun."""
    ann, bob = customers[0], customers[1]
    rows = [[ann.id, 1000, "USD", "fine", "k-1"], [bob.id, 500, "USD", "fine too", "k-2"],
            [ann.id, 300, "USD", "also fine", "k-3"]]
    rows[1][("customer_id", "amount", "currency", "reason", "idempotency_key").index(column)] += "\x00"
    path = write_csv(rows, header=("customer_id", "amount", "currency", "reason", "idempotency_key"))
    ran = bulk(path, business, "--batch-size", "10")
    assert ran.code == 1, ran.text
    assert f"line 3: {column} contains a NUL character" in ran.err
    assert "posted 2, already done 0, rejected 1" in ran.out
    assert (balance(ann), balance(bob)) == (1300, 0)
    rerun = bulk(path, business)
    assert "posted 0, already done 2, rejected 1" in rerun.out
    assert_books_right()


def test_identical_lines_both_post_with_a_warning_naming_them(business, customers, write_csv):
    ann = customers[0]
    path = write_csv([[ann.id, 1000, "USD", "Bonus"], [ann.id, 200, "USD", "Other"], [ann.id, 1000, "USD", "Bonus"]])
    ran = bulk(path, business)
    assert ran.code == 0, ran.text
    assert "1 line(s) identical to an earlier line" in ran.err
    assert "4 (= line 2)" in ran.err
    assert balance(ann) == 2200


def test_refuse_duplicates_rejects_the_repeat(business, customers, write_csv):
    ann = customers[0]
    path = write_csv([[ann.id, 1000, "USD", "Bonus"], [ann.id, 1000, "USD", "Bonus"], [ann.id, 1000, "USD", "bonus"]])
    ran = bulk(path, business, "--refuse-duplicates")
    assert ran.code == 1, ran.text
    assert "line 3: identical to line 2 (--refuse-duplicates)" in ran.err
    assert "Warning" not in ran.err
    assert balance(ann) == 2000  # line 4 differs (the reason's case): it posts


def test_a_key_used_in_another_currency_is_refused_in_a_later_batch_of_new_wallets(business, customers, write_csv):
    """A later batch (no settling read before its locks) whose wallet is new still sees a key the
    customer used in another currency: the row is refused by line, the batch is not failed."""
    from wallets import ledger

    ann, bob = customers[0], customers[1]
    ledger.post(business_id=business.id, customer_id=ann.id, currency="USD", amount=100, is_credit=True,
                actor=Actor.command("test"), idempotency_key="k-used")
    path = write_csv([[bob.id, 5, "USD", "first batch", "k-bob"], [ann.id, 7, "EUR", "new wallet", "k-used"]],
                     header=("customer_id", "amount", "currency", "reason", "idempotency_key"))
    ran = bulk(path, business, "--batch-size", "1")
    assert ran.code == 1, ran.text
    assert "line 3: idempotency_key 'k-used' was already used" in ran.err
    assert "posted 1, already done 0, rejected 1" in ran.out
    assert balance(ann, "EUR") == 0
