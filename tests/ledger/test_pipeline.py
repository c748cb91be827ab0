"""A single posting is pipelined on PostgreSQL (``sql.pipelined``): BEGIN goes out with the locking
SELECT and the INSERT with the COMMIT, so the wallet's row lock is held for one client round trip. These
tests prove the statements really run in pipeline mode, and that an error of the pipelined INSERT still
rolls the posting back whole and reaches the caller as before."""

import pytest
from django.db import IntegrityError, connection

from wallets import ledger
from wallets.exceptions import InsufficientFunds
from wallets.ledger import sql
from wallets.models import LedgerEntry, Wallet
from wallets.services.actors import Actor

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pipeline mode is PostgreSQL's (libpq)"),
    # The posting's own transaction must be a real one (not a savepoint in a test's transaction).
    pytest.mark.django_db(transaction=True),
]
ACTOR = Actor.command("test")


def _post(customer, amount, credit=True, **kwargs):
    return ledger.post(business_id=customer.business_id, customer_id=customer.id, currency="USD", amount=amount,
                       is_credit=credit, actor=ACTOR, **kwargs)


def test_a_postings_statements_run_in_pipeline_mode(customer):
    _post(customer, 100)  # the wallet exists: the next posting is the hot path
    modes: list[tuple[str, bool]] = []

    def record(execute, statement, params, many, context):
        modes.append((statement.split()[0], bool(connection.connection.pgconn.pipeline_status)))
        return execute(statement, params, many, context)

    with connection.execute_wrapper(record):
        result = _post(customer, 50, idempotency_key="k-1")
    assert result.balance == 150
    assert [verb for verb, _ in modes] == ["SELECT", "INSERT"]
    assert all(pipelined for _, pipelined in modes), modes
    assert not connection.connection.pgconn.pipeline_status  # and the pipeline is over when post returns


@pytest.mark.django_db(transaction=False)
def test_inside_a_test_cases_transaction_there_is_no_pipeline(customer):
    """There the posting's durable block is a savepoint, whose RELEASE would not collect the pipelined
    INSERT's error: no pipeline (in production a durable block is always the real transaction)."""
    _post(customer, 100)
    seen: list[bool] = []

    def record(execute, statement, params, many, context):
        seen.append(bool(connection.connection.pgconn.pipeline_status))
        return execute(statement, params, many, context)

    with connection.execute_wrapper(record):
        assert _post(customer, 1).balance == 101
    assert seen
    assert not any(seen)


def test_a_refusal_inside_the_pipeline_writes_nothing_and_is_raised(customer):
    _post(customer, 100)
    with pytest.raises(InsufficientFunds):
        _post(customer, 101, credit=False)
    assert Wallet.objects.get(customer=customer, currency="USD").balance == 100
    assert _post(customer, 1).balance == 101  # the connection is usable afterwards


def test_an_error_of_the_pipelined_insert_surfaces_at_the_commit_and_rolls_back(customer, monkeypatch):
    """The database refuses the INSERT (here: a broken chain the engine never sends, forced by
    corrupting the entry's sequence on its way out): the error arrives with the COMMIT, nothing is
    written, and the caller sees the database's error, as without the pipeline."""
    _post(customer, 100)
    real = sql.insert_entry

    def broken(conn, entry, events=()):
        entry.sequence += 5
        return real(conn, entry, events)

    monkeypatch.setattr(sql, "insert_entry", broken)
    with pytest.raises(IntegrityError):
        _post(customer, 10)
    monkeypatch.undo()
    assert LedgerEntry.objects.filter(customer=customer, currency="USD").count() == 1
    assert _post(customer, 1).balance == 101


def test_the_insert_travels_with_the_commit(customer, tmp_path):
    """libpq's own protocol trace: after the locking SELECT's answer, the INSERT and the COMMIT go out
    with nothing from the server in between (one flight, one wait while the row is locked)."""
    import psycopg

    _post(customer, 100)
    trace = tmp_path / "trace"
    with trace.open("wb") as out:
        pgconn = connection.connection.pgconn
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            _post(customer, 5)
        finally:
            pgconn.untrace()
    lines = trace.read_text().splitlines()
    insert = next(i for i, line in enumerate(lines) if line.startswith("F") and "INSERT INTO" in line)
    commit = next(i for i, line in enumerate(lines) if line.startswith("F") and '"COMMIT"' in line)
    assert insert < commit
    assert not [line for line in lines[insert:commit] if line.startswith("B")], lines[insert:commit]
    assert any(line.startswith("B") and "FOR NO KEY UPDATE" not in line for line in lines[:insert])  # the lock's answer
