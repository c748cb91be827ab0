"""The multi-node rehearsal (issue 14, part 4; docs/partitions.md): the ledger and wallet tables
hash-partitioned by ``business_id``, two partitions local, two ``postgres_fdw`` foreign tables on a
second cluster. ``business`` is stored on a shard, ``other_business`` locally (fixtures.py).

This proves the schema and the queries: every posting's statements route to one partition, the
database's rules (constraints, chain guard, immutability) hold on either node, and the bank
workload conserves money on a shard. It does not prove Citus (its planner, rebalancing, 2PC).
"""

import re
import threading

import pytest
from django.core.management import call_command
from django.db import IntegrityError, OperationalError, connection, transaction

from tests.ledger.test_chain_guard import entry_values, insert
from tests.resilience import bank
from tests.resilience.test_bank import WORKERS, final_check, make_wallets, post_through_services, start_readers
from tests.scaleout.partitioned import layout
from tests.scaleout.partitioned.fixtures import LOCAL_REMAINDER, REMOTE_REMAINDER, business_on, remainder_of

# A handful of the service suite, collected here again to run on the layout.
from tests.services.test_ledger import (  # noqa: F401 - pytest collects them from this module
    test_another_business_cannot_post_to_the_customer,
    test_credit_then_debit_keeps_the_chain,
    test_idempotency_key_with_another_body_is_refused,
    test_idempotent_replay_returns_the_first_result,
    test_overdraft_raises_and_writes_nothing,
)
from tests.support import oracle
from wallets import ledger, services
from wallets.models import LedgerEntry, Wallet
from wallets.services.actors import Actor

# One xdist worker runs the module: one second cluster and one converted copy, not one per worker.
pytestmark = pytest.mark.xdist_group("partitioned")

ACTOR = Actor.command("partitions")
#: The bank client's attempts at one posting (a hot wallet's waiters fail together, and try again).
MAX_ATTEMPTS = 200


def partitions(table: str) -> dict[str, str]:
    """Partition name -> relkind (``r`` a local table, ``f`` a foreign one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, c.relkind FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = %s::regclass ORDER BY 1", [table])
        return dict(cursor.fetchall())


def stored_in(table: str, row_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row_id])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_layout_two_local_partitions_and_two_on_the_second_cluster(business, other_business):
    for table in layout.TABLES:
        assert partitions(table) == {
            layout.partition_name(table, r): ("r" if r in layout.LOCAL else "f") for r in range(layout.MODULUS)
        }
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_partkeydef(%s::regclass)", [table])
            assert cursor.fetchone()[0] == "HASH (business_id)"
    assert remainder_of(business.id) == REMOTE_REMAINDER
    assert remainder_of(other_business.id) == LOCAL_REMAINDER


@pytest.mark.django_db
def test_a_wallet_and_its_entries_are_stored_together_on_either_node(business, other_business):
    for owner, remainder in ((business, REMOTE_REMAINDER), (other_business, LOCAL_REMAINDER)):
        customer = services.customer_create(business_id=owner.id, email="x@example.com", name="X")[0]
        result = ledger.post(business_id=owner.id, customer_id=customer.id, currency="USD", amount=500,
                             is_credit=True, actor=ACTOR)
        wallet = Wallet.objects.get(customer=customer, currency="USD")
        assert (wallet.balance, wallet.entry_count) == (500, 1)  # applied by the node's own chain guard
        assert stored_in("wallets_wallet", wallet.id) == layout.partition_name("wallets_wallet", remainder)
        assert stored_in("wallets_ledgerentry", result.entry.id) == layout.partition_name("wallets_ledgerentry",
                                                                                           remainder)


@pytest.mark.django_db
def test_the_layout_refuses_a_unique_key_without_business_id():
    """A unique key without the partition key would be unique per partition only: the conversion
    (of the test database, for every module here) stops on one."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE partition_probe (id varchar(32) PRIMARY KEY, business_id varchar(32), "
                       "customer_id varchar(32), reference varchar(64), CONSTRAINT probe_per_business "
                       "UNIQUE (business_id, customer_id, reference))")
        raw = connection.connection.cursor()
        assert layout.read_table(raw, "partition_probe").unique_without_partition_key == []
        layout.check_unique_keys([layout.read_table(raw, "partition_probe")])
        cursor.execute("CREATE UNIQUE INDEX probe_reference ON partition_probe (customer_id, reference)")
        probe = layout.read_table(raw, "partition_probe")
    assert probe.unique_without_partition_key == ["probe_reference"]
    with pytest.raises(layout.UnshardableKey, match="partition_probe: probe_reference"):
        layout.check_unique_keys([probe])


def explain(statement: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (VERBOSE, COSTS OFF) " + statement, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_the_posting_lock_routes_to_one_shard_and_locks_there(business, customer, post):
    post(customer, 100)
    statements = ledger.sql.statements("postgresql")
    plan = explain(statements.lock_with_key, [None, "some-key", business.id, customer.id, "USD"])
    scans = re.findall(r"Foreign Scan on public\.(\w+)", plan)
    # Pruned to the business's partitions, both on its shard (one server, one connection). The
    # LEFT JOIN is not pushed down as one remote query with the row lock: two remote queries.
    assert sorted(scans) == [layout.partition_name(t, REMOTE_REMAINDER) for t in sorted(layout.TABLES)], plan
    assert "Seq Scan" not in plan, plan
    wallet_sql = next(line for line in plan.splitlines()
                      if "Remote SQL" in line and "FROM public.wallets_wallet " in line)
    assert wallet_sql.endswith("FOR UPDATE"), plan  # FOR NO KEY UPDATE OF w is sent as FOR UPDATE
    assert f"business_id = '{business.id}'" in wallet_sql


@pytest.mark.django_db(transaction=True)
def test_a_shard_wallet_lock_makes_a_second_posting_wait_then_fail_to_serialize(business, customer, post):
    """The row lock taken through postgres_fdw is a real lock on the shard: a second posting waits
    for the first transaction. postgres_fdw runs the shard's side in REPEATABLE READ, so once the
    first commits, the second cannot lock the row it changed: a serialization failure (40001), with
    nothing written. Run again, it follows the balance the first committed."""
    post(customer, 1000)
    locked, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def second():
        try:
            locked.wait()
            post(customer, 300, credit=False)
        except OperationalError as exc:
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=second)
    thread.start()
    with transaction.atomic():
        ledger.post_in_transaction(business_id=business.id, customer_id=customer.id, currency="USD", amount=200,
                                   is_credit=False, actor=ACTOR)
        locked.set()
        assert not done.wait(0.5), "the second posting did not wait for the first one's lock"
    thread.join(10)
    assert [getattr(e.__cause__, "sqlstate", None) for e in errors] == ["40001"]
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 800
    assert post(customer, 300, credit=False).balance == 500


@pytest.mark.django_db
@pytest.mark.parametrize("placement", ["remote", "local"])
def test_the_database_refuses_an_entry_that_does_not_follow_on_either_node(placement, business, other_business, post):
    owner = business if placement == "remote" else other_business
    customer = services.customer_create(business_id=owner.id, email="g@example.com", name="G")[0]
    post(customer, 100)
    wallet = Wallet.objects.get(customer=customer, currency="USD")
    with pytest.raises(IntegrityError, match="ledger_entry_follows_wallet"), transaction.atomic():
        insert(entry_values(wallet, sequence=5, before=100, amount=1))
    with pytest.raises(IntegrityError, match="ledger_entry_follows_wallet"), transaction.atomic():
        insert(entry_values(wallet, sequence=2, before=99, amount=1))
    insert(entry_values(wallet, sequence=2, before=100, amount=1), entry_values(wallet, sequence=3, before=101,
                                                                              amount=2))
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.entry_count) == (103, 3)


@pytest.mark.django_db
@pytest.mark.parametrize("placement", ["remote", "local"])
def test_entries_stay_immutable_and_wallets_change_only_by_entries_on_either_node(placement, business,
                                                                                  other_business, post):
    owner = business if placement == "remote" else other_business
    customer = services.customer_create(business_id=owner.id, email="i@example.com", name="I")[0]
    entry = post(customer, 100).entry
    with connection.cursor() as cursor:
        for statement, params, rule in (
            ("UPDATE wallets_ledgerentry SET amount = 1 WHERE id = %s", [entry.id], "immutable"),
            ("DELETE FROM wallets_ledgerentry WHERE id = %s", [entry.id], "immutable"),
            ("UPDATE wallets_wallet SET balance = 7 WHERE customer_id = %s", [customer.id],
             "wallet_changes_only_by_entries"),
        ):
            with pytest.raises(Exception, match=rule), transaction.atomic():
                cursor.execute(statement, params)
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 100
    assert LedgerEntry.objects.get(id=entry.id).amount == 100


@pytest.mark.django_db
def test_a_batch_copies_into_a_shard_and_reconciles(business, make_customer, capsys):
    """``post_many``'s ``COPY`` routed into a foreign partition, then the reconciliation of the books."""
    customers = [make_customer() for _ in range(5)]
    postings = [ledger.Posting(customer_id=c.id, request=ledger.Request(currency="USD", amount=100 + i,
                                                                        is_credit=True))
                for i, c in enumerate(customers) for _ in range(3)]
    result = ledger.post_many(business_id=business.id, postings=postings, actor=ACTOR)
    assert sum(1 for outcome in result.outcomes if outcome.entry is not None) == 15
    counts = Wallet.objects.filter(business=business, currency="USD").values_list("entry_count", "balance")
    assert sorted(counts) == [(3, 3 * (100 + i)) for i in range(5)]
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []
    call_command("reconcile_wallets", business=business.id)
    assert "The books are right" in capsys.readouterr().out


def post_with_retry(business_id):
    """The bank test's service client (tests/resilience/test_bank.py). On a shard, postgres_fdw runs
    the remote transaction in REPEATABLE READ: a posting that waited for a hot wallet's lock fails
    with a serialization error (40001) and wrote nothing; this client retries it with the same key,
    as an API client retries a 503. The retries are counted."""
    retries: list[int] = []

    def serialization_failure(exc: BaseException) -> bool:
        failed = getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "40001"
        if failed:
            retries.append(1)
        return failed

    post = post_through_services(business_id, retry_if=serialization_failure, attempts=MAX_ATTEMPTS)
    post.retries = retries  # type: ignore[attr-defined]
    return post


@pytest.mark.slow
def test_bank_through_services_on_a_shard(reference_data):
    """The bank test's service variant with every wallet on a foreign partition."""
    business = business_on(REMOTE_REMAINDER, name="Bank on a shard")
    wallets, hot = make_wallets(business)
    workload = bank.BankWorkload(wallets=wallets, hot=hot, seed=1)
    finish_readers = start_readers(_snapshot_violations)
    post = post_with_retry(business.id)
    ops = 40
    outcomes = bank.run_workers(workload, workers=WORKERS, ops_per_worker=ops, post=post,
                                on_exit=lambda: connection.close())  # noqa: PLW0108 - each worker closes its own
    reader_problems, reads = finish_readers()
    assert reader_problems == []
    assert reads > 0
    stats = bank.summary(outcomes)
    summary = (f"bank/services on a shard: {WORKERS} workers, {stats}, {len(post.retries)} serialization retries, "
               f"{reads} consistent snapshot reads")
    print(summary)  # noqa: T201 - the run says what it did (-s), as tests/resilience/test_bank.py
    assert stats["requests"] == WORKERS * ops
    assert stats.get(bank.ERROR, 0) == 0, [o.detail for o in outcomes if o.kind == bank.ERROR][:3]
    assert stats.get(bank.OK, 0) > 0
    assert stats.get(bank.INSUFFICIENT, 0) > 0
    assert stats.get(bank.REPLAYED, 0) > 0
    assert final_check(outcomes, wallets) == []


def _snapshot_violations() -> list[str]:
    with connection.cursor() as cursor:
        return oracle.snapshot_violations(cursor)
