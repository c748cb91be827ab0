"""Proving the books: every way the ledger could have drifted, found with set-based SQL.

``ledger_drift`` returns a list of problems (empty when the books are right). It checks:
- every wallet's balance equals the sum of its entries, and its entry_count their number;
- no wallet balance and no entry balance is negative; every amount is positive;
- per wallet, ordered by sequence: sequences are 1..n without gaps or repeats, the first entry
  starts at 0, each before_balance is the previous after_balance, each entry's balances agree
  with its amount and direction, and the last after_balance is the wallet's balance;
- every entry belongs to its wallet's business, customer and currency;
- every idempotency key is used once in its scope (business, customer, entries or reversals);
- holds and grants: the wallet's held and granted counters are the sums of its active holds and
  its grants' remainders; a grant's remainder is its amount less its draws, and its expired amount
  what its expiry entries took; a resolved hold holds no grant money, a captured one has its
  capture entry; an entry's reversals never exceed it; the expiry hints are never late.

Three queries (``wallets.ledger.sql.reconcile_statements``), each one pass over the tables (window
functions; PostgreSQL and SQLite), so a million entries take seconds. It only reads: run it at any
time, it takes no locks. Under
concurrent postings it reads one consistent snapshot per query on PostgreSQL; run it while
postings are paused for a proof of the whole book at one instant.
"""

from dataclasses import dataclass

from django.db import connections

from wallets.ledger import sql

DEFAULT_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Drift:
    """One problem: ``check`` names the broken rule, ``detail`` says what was found."""

    check: str
    detail: str
    wallet_id: str | None = None
    entry_id: str | None = None

    def __str__(self) -> str:
        where = " ".join(part for part in (self.wallet_id, self.entry_id) if part)
        return f"[{self.check}] {where + ': ' if where else ''}{self.detail}"


def ledger_drift(*, business_id: str | None = None, limit: int = DEFAULT_LIMIT, using: str = "default") -> list[Drift]:
    """Every problem of the books (of one business, or all), at most ``limit`` per query."""
    problems: list[Drift] = []
    with connections[using].cursor() as cursor:
        problems += _wallet_totals(cursor, business_id, limit)
        problems += _entry_chain(cursor, business_id, limit)
        problems += _duplicate_idempotency_keys(cursor, business_id, limit)
        problems += _holds_and_grants(cursor, business_id, limit)
    return problems


def _scope(business_id: str | None) -> list:
    return [] if business_id is None else [business_id]


def _wallet_totals(cursor, business_id, limit) -> list[Drift]:
    entry_params = wallet_params = _scope(business_id)
    cursor.execute(sql.reconcile_statements(scoped=business_id is not None).wallet_totals,
                   [*entry_params, *wallet_params, limit])
    problems = []
    for wallet_id, balance, entry_count, total, count in cursor.fetchall():
        if balance < 0:
            problems.append(Drift("negative_balance", f"balance is {balance}", wallet_id))
        if balance != total:
            problems.append(
                Drift("balance", f"balance is {balance} but its entries sum to {total}", wallet_id)
            )
        if entry_count != count:
            problems.append(
                Drift("entry_count", f"entry_count is {entry_count} but it has {count} entries", wallet_id)
            )
    return problems


def _entry_chain(cursor, business_id, limit) -> list[Drift]:
    entry_params = _scope(business_id)
    cursor.execute(sql.reconcile_statements(scoped=business_id is not None).entry_chain, [*entry_params, limit])
    problems = []
    for (wallet_id, entry_id, sequence, rn, n, amount, before, after, signed, prev_after, wallet_balance,
         belongs) in cursor.fetchall():
        found = []
        if sequence != rn:
            found.append(("sequence", f"expected sequence {rn}: sequences must run 1..n without gaps"))
        if rn == 1 and before != 0:
            found.append(("chain", f"the first entry starts at {before}, not 0"))
        if rn > 1 and before != prev_after:
            found.append(("chain", f"before_balance {before} != the previous entry's after_balance {prev_after}"))
        if after - before != signed:
            found.append(("entry_balances", f"after {after} - before {before} != signed amount {signed}"))
        if amount <= 0:
            found.append(("amount", f"amount {amount} is not positive"))
        if before < 0 or after < 0:
            found.append(("negative_balance", f"balances {before} -> {after}"))
        if rn == n and after != wallet_balance:
            found.append(("last_balance", f"the last after_balance {after} != the wallet's balance {wallet_balance}"))
        if not belongs:
            found.append(("wrong_wallet", "the entry's business, customer or currency differs from its wallet's"))
        problems += [
            Drift(check, f"entry #{rn} (sequence {sequence}): {detail}", wallet_id, entry_id) for check, detail in found
        ]
    return problems


def _duplicate_idempotency_keys(cursor, business_id, limit) -> list[Drift]:
    entry_params = _scope(business_id)
    cursor.execute(sql.reconcile_statements(scoped=business_id is not None).duplicate_keys, [*entry_params, limit])
    return [
        Drift("idempotency_key", f"customer {customer_id} of {business} used key {key!r} {count} times")
        for business, customer_id, key, count in cursor.fetchall()
    ]


_HOLDS_AND_GRANTS = {
    "held": "held_balance is {found} but its active holds sum to {expected}",
    "granted": "granted_balance is {found} but its grants' remainders sum to {expected}",
    "grant_remaining": "the grant's remaining is {found} but its amount less its draws is {expected}",
    "grant_expired": "the grant's expired_amount is {found} but its expiry entries sum to {expected}",
    "grant_reversed": "the grant's reversed_amount is {found} but its reversals sum to {expected}",
    "hold_draws": "the hold's grant draws sum to {found} (its amount is {expected}; 0 once resolved)",
    "hold_capture": "the hold's capture entries sum to {found} but its captured_amount is {expected}",
    "reversals": "the entry's reversals sum to {found}, more than its amount {expected}",
    "grant_hint": "next_grant_expiry_at is later than an active grant's expiry (it would expire late)",
    "hold_hint": "next_hold_expiry_at is later than an active hold's expiry (it would be released late)",
}


def _holds_and_grants(cursor, business_id, limit) -> list[Drift]:
    statements = sql.reconcile_statements(scoped=business_id is not None)
    cursor.execute(statements.holds_and_grants, [*[business_id] * statements.holds_and_grants_scopes, limit])
    problems = []
    for check, wallet_id, object_id, found, expected in cursor.fetchall():
        detail = _HOLDS_AND_GRANTS[check].format(found=found, expected=expected)
        problems.append(Drift(check, detail, wallet_id, object_id))
    return problems
