"""The batch posting path, the drift check and the demo seed at the service level. These run on
PostgreSQL and on SQLite (the embedded default, where .ci/serve seeds the demo)."""

import pytest

from tests.ledger.bypass import execute_behind_the_ledger
from wallets.management import demo
from wallets.models import LedgerEntry, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor
from wallets.services.bulk import BulkInterrupted, bulk_credit_file

ACTOR = Actor.command("bulk_credit")


def post_file(business, text: str, **options):
    return bulk_credit_file(business_id=business.id, data=text.encode(), actor=ACTOR, **options)


def test_bulk_posts_in_order_once_and_refuses_overdrafts(business, make_customer):
    ann, bob = make_customer(), make_customer()
    text = (
        "customer_id,amount,currency,entry_type\n"
        f"{ann.id},500,USD,credit\n{ann.id},200,USD,debit\n{bob.id},30,EUR,credit\n"
        f"{bob.id},31,EUR,debit\n{ann.id},301,USD,debit\n"
    )

    result = post_file(business, text, batch_size=2)

    assert (result.posted, result.already_done) == (3, 0)
    assert [(r.line, r.reason) for r in result.rejections] == [
        (5, "insufficient funds: the EUR balance is 30, the debit is 31"),
        (6, "insufficient funds: the USD balance is 300, the debit is 301"),
    ]
    assert Wallet.objects.get(customer=ann, currency="USD").balance == 300
    assert Wallet.objects.get(customer=bob, currency="EUR").balance == 30
    chain = list(LedgerEntry.objects.filter(customer=ann).order_by("sequence")
                 .values_list("sequence", "before_balance", "after_balance"))
    assert chain == [(1, 0, 500), (2, 500, 300)]
    assert result.credited == {"USD": 500, "EUR": 30}
    assert result.debited == {"USD": 200}
    assert ledger_drift() == []

    again = post_file(business, text, batch_size=2)
    assert (again.posted, again.already_done, again.rejected) == (0, 3, 2)
    assert LedgerEntry.objects.count() == 3


def test_asked_to_stop_the_run_ends_between_batches_with_exact_counts(business, make_customer):
    customers = [make_customer() for _ in range(4)]
    text = "customer_id,amount,currency\n" + "".join(f"{c.id},{10 + i},USD\n" for i, c in enumerate(customers))
    done: list[int] = []

    with pytest.raises(BulkInterrupted) as stopped:
        post_file(business, text, batch_size=1, on_progress=lambda n, total: done.append(n),
                  should_stop=lambda: len(done) == 2)

    result = stopped.value.result
    assert (result.posted, result.batches, result.in_flight) == (2, 2, 0)
    assert LedgerEntry.objects.count() == 2
    rest = post_file(business, text, batch_size=1)
    assert (rest.posted, rest.already_done) == (2, 2)
    assert sorted(Wallet.objects.filter(currency="USD").values_list("balance", flat=True)) == [10, 11, 12, 13]


def test_dry_run_and_all_or_nothing_write_nothing(business, make_customer):
    ann = make_customer()
    text = f"customer_id,amount,currency,entry_type\n{ann.id},5,JPY,credit\n{ann.id},6,JPY,debit\n"
    wallets = Wallet.objects.count()
    dry = post_file(business, text, dry_run=True)
    assert (dry.posted, dry.rejected) == (1, 1)
    refused = post_file(business, text, all_or_nothing=True)
    assert (refused.posted, refused.rejected) == (0, 1)
    assert LedgerEntry.objects.count() == 0
    assert Wallet.objects.count() == wallets


def test_drift_is_found_in_a_wallet_changed_behind_the_ledger(business, customer, post):
    post(customer, 700)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    execute_behind_the_ledger("UPDATE wallets_wallet SET balance = 699, entry_count = 2 WHERE id = %s", [wallet.id])
    assert sorted(p.check for p in ledger_drift()) == ["balance", "entry_count", "last_balance"]
    assert ledger_drift(business_id="bus_other") == []


@pytest.fixture
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_demo_seed_is_idempotent(db, fast_passwords):
    first = demo.demo_seed()
    assert first.customers_created == 40
    assert first.entries_posted > 300
    assert first.rates_added == []  # KWD shipped
    entries = LedgerEntry.objects.count()

    second = demo.demo_seed()

    assert (second.customers_created, second.entries_posted, second.entries_already_there) == (0, 0, entries)
    assert not second.api_key_created
    assert not second.rates_added
    assert all(user.password_matches and not user.created for user in second.users)
    assert LedgerEntry.objects.count() == entries
    assert ledger_drift() == []
