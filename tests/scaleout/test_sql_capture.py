"""Every statement that a representative run sends to a distributed table routes to one shard.

The run: the API (customers, postings with and without idempotency keys, payments, holds captured
and voided, a reversal, the ledger list, the statement, webhook endpoints), the dashboard (overview,
customers, a customer page, the ledger, an adjustment), the worker (the webhook pass: fan-out and
delivery to a real receiver; the expiry sweep) and ``bulk_credit`` with a small file. Every statement on
every connection is captured (``execute_wrapper``) with the project frame that sent it, and parsed
(``tests/scaleout/sql_check.py``): each distributed table it touches must be pinned to one
``business_id``.

Allowed: ``MULTI_SHARD`` below, each a statement that has to look across businesses, with why (a
worker's queue scan); a multi-shard statement under Citus runs on every shard in parallel, which is
right for a background scan and wrong for a request. A multi-shard statement that locks rows is never
allowed (Citus runs ``FOR UPDATE`` on one shard only). What is not pinned yet is listed too
(``NOT_PINNED_YET``, ``LOCKS_NOT_PINNED_YET``: the work before distribution, docs/sharding.md); a
statement from a new place that is not pinned fails the test. Reference tables (API keys, memberships,
businesses, exchange rates) and other apps' tables route anywhere, so they are not checked.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import time
from collections import defaultdict

import pytest
from django.db import connection, connections, models
from django.utils import timezone

from tests.scaleout import shard_rules as rules
from tests.scaleout.sql_check import Statement, origin_of_current_call, unpinned_tables
from tests.webhooks.receiver import Receiver
from wallets.models import CreditGrant, LedgerEntry, Membership, WebhookDelivery

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is for PostgreSQL (Citus)"),
]

_QUEUE = "a worker's queue scan across businesses: multi-shard by design (parallel on every shard)"
_BATCH = ("the worker handles a batch of several businesses' rows by id: multi-shard; group the batch by "
          "business_id and add it to the filter before distribution")
_BY_ID = ("a lookup or update by a random id (or an FK) alone: Citus would send it to every shard; add "
          "business_id to the filter (Django's save() updates by pk: use a filtered update()) before distribution")

#: (origin, table) -> why this statement looks across businesses (allowed under Citus).
MULTI_SHARD = {
    ("wallets/ledger/operations.py:sweep_due", "wallets_wallet"): _QUEUE,
    ("wallets/services/bulk_runs.py:bulk_runs_resume_stalled", "wallets_bulkcreditrun"): _QUEUE,
    ("wallets/tasks.py:prune", "wallets_webhookevent"): _QUEUE,
    ("wallets/tasks.py:prune", "wallets_webhookdelivery"): _QUEUE,
    ("wallets/webhooks/delivery.py:claim", "wallets_webhookdelivery"): _QUEUE,
    ("wallets/webhooks/pump.py:next_due", "wallets_webhookdelivery"): _QUEUE,
    ("wallets/webhooks/pump.py:next_due", "wallets_webhookendpoint"): _QUEUE,
    ("wallets/webhooks/runway.py:check_due", "wallets_wallet"): _QUEUE,
    ("wallets/webhooks/runway.py:check_due", "wallets_walletrunway"): _QUEUE,
    ("wallets/ledger/sql.py:store_event_payloads", "wallets_webhookevent"): _BATCH,
    ("wallets/webhooks/render.py:render_many", "wallets_hold"): _BATCH,
    ("wallets/webhooks/render.py:render_many", "wallets_ledgerentry"): _BATCH,
    ("wallets/webhooks/delivery.py:record", "wallets_webhookattempt"): _BATCH,
    ("wallets/webhooks/delivery.py:record", "wallets_webhookdelivery"): _BATCH,
    ("wallets/webhooks/runway.py:burns", "wallets_ledgerentry"): _BATCH,
    ("wallets/webhooks/runway.py:check", "wallets_walletrunway"): _BATCH,
}

_LOCK = re.compile(r"\bFOR (NO KEY )?UPDATE\b", re.IGNORECASE)
_CLAIM = ("a lock across businesses: Citus runs SELECT ... FOR UPDATE on one shard only, so the worker must "
          "find due rows with a read across businesses, then lock them business by business")

#: (origin, table) -> locking statements not pinned to one business today (Citus would refuse them).
#: A multi-shard statement that locks is never allowed: MULTI_SHARD holds reads and writes only.
LOCKS_NOT_PINNED_YET = {
    ("wallets/webhooks/delivery.py:claim", "wallets_webhookdelivery"): _CLAIM,
    ("wallets/webhooks/delivery.py:claim", "wallets_webhookendpoint"): _CLAIM,
    ("wallets/webhooks/delivery.py:claim", "wallets_webhookevent"): _CLAIM,
    ("wallets/webhooks/delivery.py:record", "wallets_webhookdelivery"): _CLAIM,
    ("wallets/webhooks/delivery.py:record", "wallets_webhookendpoint"): _CLAIM,
    ("wallets/webhooks/dispatch.py:dispatch_batch", "wallets_webhookevent"): _CLAIM,
    ("wallets/webhooks/runway.py:check", "wallets_walletrunway"): _CLAIM,
}

#: (origin, table) -> request-path statements not pinned to one business today: the work to do before
#: distribution (docs/sharding.md, "Statements not pinned yet"). A NEW one fails the test; fixing
#: one and leaving it here does not (remove it then).
NOT_PINNED_YET = {
    ("wallets/api/pagination.py:paginate_queryset", "wallets_creditgrant"): "a correlated subquery on entry id",
    ("wallets/api/pagination.py:paginate_queryset", "wallets_ledgerentry"): "a correlated subquery on entry id",
    ("wallets/selectors/entries.py:ledger_entry_get", "wallets_creditgrant"): "a correlated subquery on entry id",
    ("wallets/selectors/entries.py:ledger_entry_get", "wallets_ledgerentry"): "a correlated subquery on entry id",
    ("wallets/dashboard/views/common.py:render_page", "wallets_wallet"): "prefetch by customer id",
    ("wallets/selectors/actors.py:ledger_entries_with_actor_labels", "wallets_customer"): "a join on customer id",
    ("wallets/selectors/approvals.py:pending_requests_of_customer", "wallets_hold"): "a join on hold id",
    ("wallets/selectors/movements.py:hold_list_active", "wallets_adjustmentrequest"): "a join on hold id",
    ("wallets/ledger/operations.py:pay", "wallets_ledgerentry"): "a left join on entry id (the replay's entry)",
}


class Capture:
    def __init__(self):
        self.statements: list[Statement] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(Statement(sql=sql, origin=origin_of_current_call()))
        return execute(sql, params, many, context)

    @contextlib.contextmanager
    def everywhere(self):
        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(self))
            yield self


def _api(business):
    from rest_framework.test import APIClient

    from wallets.services.api_keys import api_key_create

    _, raw = api_key_create(business=business)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:300])
    return response.json() if response.get("Content-Type", "").startswith("application/json") else response


def run_representative_pass(business, receiver_url, tmp_path):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from wallets import tasks
    from wallets.webhooks import pump

    api = _api(business)
    # API: customers, postings, payments, holds, a reversal, reads, webhooks endpoints.
    hook = _ok(api.post("/webhooks", {"url": receiver_url, "filter_types": ["wallet.ledger_entry.created"]},
                        format="json"))
    _ok(api.get("/webhooks"))
    _ok(api.get(f"/webhooks/{hook['id']}"))
    _ok(api.patch(f"/webhooks/{hook['id']}", {"description": "capture"}, format="json"))
    _ok(api.get(f"/webhooks/{hook['id']}/secret"))
    ann = _ok(api.post("/customers", {"email": "ann@example.com", "name": "Ann Lee"}, format="json"))
    bob = _ok(api.post("/customers", {"email": "bob@example.com", "name": "Bob Ray"}, format="json"))
    _ok(api.get("/customers"))
    _ok(api.get(f"/customers/{ann['customer_id']}"))
    _ok(api.patch(f"/customers/{ann['customer_id']}", {"name": "Ann Leigh"}, format="json"))
    cid = ann["customer_id"]
    entries = f"/customers/{cid}/wallets/ledger-entries"
    _ok(api.post(entries, {"amount": 5000, "currency": "USD", "entry_type": "credit"}, format="json"))
    credit = _ok(api.get(entries))["items"][0]  # the POST answers the wallet (Dodo's shape)
    keyed = {"amount": 700, "currency": "USD", "entry_type": "debit", "idempotency_key": "k-1"}
    _ok(api.post(entries, keyed, format="json"))
    _ok(api.post(entries, keyed, format="json"))  # the replay
    _ok(api.post(entries, {"amount": 300, "currency": "EUR", "entry_type": "credit", "idempotency_key": "k-2",
                           "expires_at": (timezone.now() + datetime.timedelta(seconds=1)).isoformat()},
                 format="json"))
    _ok(api.post(f"/customers/{bob['customer_id']}/wallets/ledger-entries",
                 {"amount": 100, "currency": "USD", "entry_type": "credit"}, format="json"))
    _ok(api.post(f"{entries}/{credit['id']}/reversals", {"amount": 100, "reason": "wrong"}, format="json"))
    _ok(api.post(f"/customers/{cid}/wallets/payments",
                 {"amount": 200, "currency": "USD", "reference_object_id": "inv_1", "reason": "invoice"},
                 format="json"))
    holds = f"/customers/{cid}/wallets/holds"
    captured = _ok(api.post(holds, {"amount": 300, "currency": "USD"}, format="json"))
    _ok(api.post(f"{holds}/{captured['id']}/capture", {"amount": 120}, format="json"))
    voided = _ok(api.post(holds, {"amount": 50, "currency": "USD", "idempotency_key": "h-1"}, format="json"))
    _ok(api.post(f"{holds}/{voided['id']}/void"))
    _ok(api.get(holds))
    _ok(api.get(f"{holds}/{captured['id']}"))
    _ok(api.get(f"/customers/{cid}/wallets"))
    _ok(api.get(entries))
    _ok(api.get(f"{entries}/{credit['id']}"))
    _ok(api.get(f"/customers/{cid}/wallets/statement", {"currency": "USD"}))

    # The dashboard: an operator's pages and an adjustment (review, then post).
    user = get_user_model().objects.create_user(username="olivia", password="x-long-password-1")
    Membership.objects.create(user=user, business=business, role=Membership.Role.OPERATOR)
    web = Client()
    web.force_login(user)
    for page in ("/dashboard/", "/dashboard/customers/", f"/dashboard/customers/{cid}/", "/dashboard/ledger/",
                 f"/dashboard/customers/{cid}/statement/"):
        assert web.get(page).status_code == 200, page
    body = web.get(f"/dashboard/customers/{cid}/").content.decode()
    key = re.search(r'name="form_key" value="([^"]+)"', body)[1]
    form = {"direction": "credit", "amount": "5.00", "currency": "USD", "reason": "Goodwill", "form_key": key}
    assert web.post(f"/dashboard/customers/{cid}/adjust/", {**form, "action": "review"}).status_code == 200
    seen = re.search(r'name="seen_balance" value="(\d+)"',
                     web.post(f"/dashboard/customers/{cid}/adjust/", {**form, "action": "review"}).content.decode())[1]
    assert web.post(f"/dashboard/customers/{cid}/adjust/",
                    {**form, "action": "post", "seen_balance": seen}).status_code == 303

    # bulk_credit with a small file.
    path = tmp_path / "credits.csv"
    path.write_text(f"customer_id,amount,currency,reason\n{cid},1000,USD,Bonus\n{bob['customer_id']},250,INR,Refund\n")
    call_command("bulk_credit", str(path), "--business", business.id, stdout=open("/dev/null", "w"))  # noqa: SIM115

    # The worker: the webhook pass (fan-out, delivery) and the expiry sweep after the EUR grant is due.
    for _ in range(3):
        pump.run(budget_s=2.0)
    time.sleep(max(0.0, (CreditGrant.objects.get(business=business).expires_at - timezone.now()).total_seconds()))
    tasks.sweep_expiries.call()
    pump.run(budget_s=2.0)


@pytest.fixture
def capture_run(business, tmp_path, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as receiver, Capture().everywhere() as capture:
        run_representative_pass(business, receiver.url, tmp_path)
    return capture


def _unpinned_by_place(statements, tables) -> tuple[dict, dict]:
    """(origin, table) -> the unpinned statements sent from there: (reads and writes, locks)."""
    unpinned: dict[tuple[str, str], list[str]] = defaultdict(list)
    locking: dict[tuple[str, str], list[str]] = defaultdict(list)
    for statement in statements:
        for problem in unpinned_tables(statement.sql, tables):
            into = locking if _LOCK.search(statement.sql) else unpinned
            into[(statement.origin, problem.split(" AS ")[0])].append(statement.sql)
    return unpinned, locking


def _listing(found: dict) -> str:
    return "\n".join(f"{origin} [{table}]: {sql[0][:400]}" for (origin, table), sql in sorted(found.items()))


def test_every_statement_on_a_distributed_table_is_pinned_to_one_business(capture_run, business):
    """And, on the rows the run left, every FK between distributed tables joins rows of one business
    (one test: the pass runs once)."""
    tables = rules.distributed_tables()
    touched = {t for s in capture_run.statements for t in tables if f'"{t}"' in s.sql}
    # The run did reach the tables that matter, through each layer.
    assert {"wallets_ledgerentry", "wallets_wallet", "wallets_customer", "wallets_hold", "wallets_creditgrant",
            "wallets_webhookevent", "wallets_webhookdelivery", "wallets_bulkcreditrun"} <= touched
    assert LedgerEntry.objects.filter(business=business).count() >= 10
    assert WebhookDelivery.objects.filter(business=business, status="delivered").exists()
    assert CreditGrant.objects.filter(business=business, remaining=0).exists()  # the sweep expired it
    unpinned, locking = _unpinned_by_place(capture_run.statements, tables)
    unexpected = {k: v for k, v in unpinned.items() if k not in MULTI_SHARD.keys() | NOT_PINNED_YET.keys()}
    assert not unexpected, "statements not pinned to one business_id:\n" + _listing(unexpected)
    unexpected_locks = {k: v for k, v in locking.items() if k not in LOCKS_NOT_PINNED_YET}
    assert not unexpected_locks, "locks not pinned to one business_id:\n" + _listing(unexpected_locks)

    kinds: dict[str, int] = defaultdict(int)
    for statement in capture_run.statements:
        if not any(t in statement.sql for t in tables):
            continue
        found = {(statement.origin, p.split(" AS ")[0]) for p in unpinned_tables(statement.sql, tables)}
        kind = ("one shard" if not found else "lock not pinned yet" if _LOCK.search(statement.sql)
                else "not pinned yet" if found & NOT_PINNED_YET.keys() else "multi-shard")
        kinds[kind] += 1
    print(f"\n{len(capture_run.statements)} statements; on distributed tables: {dict(kinds)}")  # noqa: T201 (the figure of docs/sharding.md, with -s)

    with connection.cursor() as cursor:
        fks = rules.catalog_foreign_keys(cursor, rules.distributed_tables())
        between = [fk for fk in fks if fk.target in rules.distributed_tables()]
        mismatched = {}
        for fk in between:
            cursor.execute(rules.colocated_fk_mismatches_sql(fk))
            mismatched[fk.name] = cursor.fetchone()[0]
    assert len(between) >= 20
    assert set(mismatched.values()) == {0}, mismatched


@pytest.mark.parametrize(
    ("sql", "problems"),
    [
        ('SELECT * FROM "wallets_ledgerentry" WHERE "wallets_ledgerentry"."id" = %s', ["wallets_ledgerentry"]),
        ('UPDATE "wallets_wallet" SET "balance" = 0 WHERE "wallets_wallet"."customer_id" = %s', ["wallets_wallet"]),
        ('DELETE FROM "wallets_hold" WHERE "wallets_hold"."business_id" = "wallets_hold"."customer_id"',
         ["wallets_hold"]),
        ('INSERT INTO "wallets_ledgerentry" ("id", "amount") VALUES (%s, %s)',
         ["INSERT INTO wallets_ledgerentry without business_id"]),
        # A join pins the second table only through business_id, not through the FK column.
        (('SELECT 1 FROM "wallets_ledgerentry" e JOIN "wallets_wallet" w ON e."wallet_id" = w."id" '
         'WHERE e."business_id" = %s'), ["wallets_wallet AS w"]),
        (('SELECT 1 FROM "wallets_ledgerentry" e JOIN "wallets_wallet" w ON e."wallet_id" = w."id" '
         'AND w."business_id" = e."business_id" WHERE e."business_id" = %s'), []),
        (('SELECT "wallets_wallet"."id" FROM "wallets_wallet" WHERE "wallets_wallet"."business_id" = %s '
         'AND "wallets_wallet"."id" IN (%s, %s) FOR NO KEY UPDATE OF "wallets_wallet"'), []),
        ('INSERT INTO "wallets_ledgerentry" ("id", "business_id") VALUES (%s, %s)', []),
        ('SELECT 1 FROM "wallets_apikey" WHERE "key_hash" = %s', []),  # a reference table
    ],
)
def test_the_check_fails_on_a_statement_not_pinned_to_one_business(sql, problems):
    assert unpinned_tables(sql, rules.distributed_tables()) == problems


@pytest.mark.django_db(transaction=False)
def test_a_captured_ledger_query_without_business_id_fails_the_check(business):
    with Capture().everywhere() as capture:
        list(LedgerEntry.objects.filter(customer_id="cus_x"))  # the deliberately bad query
        list(LedgerEntry.objects.filter(business_id=business.id, customer_id="cus_x"))
    problems = [unpinned_tables(s.sql, rules.distributed_tables()) for s in capture.statements]
    assert problems == [["wallets_ledgerentry"], []]
    assert capture.statements[0].origin == "<django>"  # sent from the test itself, not the project


@pytest.mark.django_db(transaction=False)
def test_save_pinned_writes_like_save_and_names_the_business(business, other_business):
    from wallets.services import customer_create
    from wallets.services.pinned import save_pinned

    customer, _ = customer_create(business_id=business.id, email="pin@example.com", name="Before")
    before = customer.updated_at
    customer.name = "After"
    with Capture().everywhere() as capture:
        save_pinned(customer, ["name", "updated_at"])
    customer.refresh_from_db()
    assert customer.name == "After"
    assert customer.updated_at > before  # auto_now, as save() would
    assert [unpinned_tables(s.sql, rules.distributed_tables()) for s in capture.statements] == [[]]
    customer.business_id = other_business.id  # the same id under another business: no such row
    with pytest.raises(models.ObjectDoesNotExist):
        save_pinned(customer, ["name"])
