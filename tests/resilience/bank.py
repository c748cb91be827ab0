"""A Jepsen-style "bank" workload: many clients post random credits and debits (overdrafts,
replayed idempotency keys, keys reused with another body) over a few wallets, one of them hot;
afterwards the client-side record is checked against the ledger.

Every request body carries a unique ``reason`` ("bank:<worker>-<n>"), so each entry in the
ledger names the request that made it. The checks (``check``):

- a body that got a 200 (fresh or replayed) is in the ledger exactly once, with that body, and
  the balance the client was told equals that entry's ``after_balance``;
- a body that was only ever rejected (400/422) left nothing; a key refused as reused is held by
  another body;
- no entry exists that no client asked for, and no key is applied twice;
- conservation: each wallet's balance equals the sum of what the clients were told happened;
- no unexpected error (5xx, exception) reached a client, unless the run injects faults, in which
  case an unknown outcome must be resolved by retrying with the same key.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

OK, REPLAYED, INSUFFICIENT, REUSED, UNKNOWN, ERROR = "ok", "replayed", "insufficient", "reused", "unknown", "error"
DEFINITE = {OK, REPLAYED, INSUFFICIENT, REUSED}


@dataclass(frozen=True, slots=True)
class Body:
    reason: str
    customer_id: str
    currency: str
    amount: int
    is_credit: bool
    key: str | None

    @property
    def signed(self) -> int:
        return self.amount if self.is_credit else -self.amount

    def json(self) -> dict:
        return {
            "amount": self.amount, "currency": self.currency, "entry_type": "credit" if self.is_credit else "debit",
            "idempotency_key": self.key, "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    body: Body
    kind: str
    balance: int | None = None
    detail: str = ""


@dataclass
class BankWorkload:
    """Generates bodies for many workers over ``wallets`` (customer_id, currency); ``hot`` gets half."""

    wallets: list[tuple[str, str]]
    hot: tuple[str, str]
    seed: int = 0
    key_share: float = 0.7
    replay_share: float = 0.12
    reuse_share: float = 0.04
    all_keyed: bool = False
    _issued: list[Body] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, worker: int, count: int):
        rng = random.Random(self.seed * 1000 + worker)
        currencies_of = defaultdict(list)
        for customer, currency in self.wallets:
            currencies_of[customer].append(currency)
        for n in range(count):
            with self._lock:
                keyed = [b for b in self._issued[-300:] if b.key is not None]
            roll = rng.random()
            if roll < self.replay_share and keyed:
                body = rng.choice(keyed)  # the very same request again
            elif roll < self.replay_share + self.reuse_share and keyed:
                original = rng.choice(keyed)
                body = Body(  # same key, another body: sometimes the customer's other currency
                    reason=f"{original.reason}~{worker}-{n}", customer_id=original.customer_id,
                    currency=rng.choice(currencies_of[original.customer_id]), amount=original.amount + 1,
                    is_credit=original.is_credit, key=original.key,
                )
            else:
                customer, currency = self.hot if rng.random() < 0.5 else rng.choice(self.wallets)
                is_credit = rng.random() < 0.5
                if is_credit:
                    amount = rng.randint(1, 5_000)
                elif rng.random() < 0.1:
                    amount = 10**12  # a certain overdraft
                else:
                    amount = rng.randint(1, 6_000)
                reason = f"bank:{worker}-{n}"
                key = reason if (self.all_keyed or rng.random() < self.key_share) else None
                body = Body(reason, customer, currency, amount, is_credit, key)
            with self._lock:
                self._issued.append(body)
            yield body


def run_workers(workload: BankWorkload, *, workers: int, ops_per_worker: int,
                post: Callable[[int, Body], Outcome], on_exit: Callable[[], None] | None = None) -> list[Outcome]:
    """Run ``workers`` threads, each posting ``ops_per_worker`` bodies through ``post``."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def work(worker: int) -> None:
        mine = []
        try:
            start.wait()
            for body in workload.bodies(worker, ops_per_worker):
                mine.append(post(worker, body))  # noqa: PERF401 - a failing post keeps the outcomes before it
        finally:
            with lock:
                outcomes.extend(mine)
            if on_exit:
                on_exit()

    threads = [threading.Thread(target=work, args=(w,), name=f"bank-{w}") for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def check(outcomes: list[Outcome], rows: list[dict], balances: dict[tuple[str, str], int],
          wallets: list[tuple[str, str]], *, allow_unknown: bool = False) -> list[str]:
    """Compare what clients were told with the ledger. Returns the violations ([] is success)."""
    problems: list[str] = []
    bank_rows = [r for r in rows if (r["reason"] or "").startswith("bank:")]
    counts = Counter(r["reason"] for r in bank_rows)
    problems += [f"{reason} is in the ledger {n} times" for reason, n in counts.items() if n > 1]
    row_of = {r["reason"]: r for r in bank_rows}
    key_holder = {(r["customer_id"], r["idempotency_key"]): r["reason"] for r in bank_rows if r["idempotency_key"]}

    by_reason: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_reason[outcome.body.reason].append(outcome)

    for reason, results in by_reason.items():
        body = results[0].body
        kinds = Counter(o.kind for o in results)
        row = row_of.get(reason)
        if kinds[ERROR]:
            problems.append(f"{reason}: unexpected errors {[o.detail for o in results if o.kind == ERROR][:2]}")
        if kinds[UNKNOWN] and not allow_unknown:
            problems.append(f"{reason}: outcomes unknown to the client {[o.detail for o in results][:2]}")
        if kinds[OK] + kinds[REPLAYED]:
            if row is None:
                problems.append(f"{reason}: acknowledged with 200 but not in the ledger")
                continue
            if kinds[OK] > 1:
                problems.append(f"{reason}: posted fresh {kinds[OK]} times")
            if not kinds[UNKNOWN] and kinds[OK] != 1:
                problems.append(f"{reason}: in the ledger but no request reports posting it ({dict(kinds)})")
            actual = (row["customer_id"], row["currency"], row["amount"], row["is_credit"], row["idempotency_key"])
            expected = (body.customer_id, body.currency, body.amount, body.is_credit, body.key)
            if actual != expected:
                problems.append(f"{reason}: ledger has {actual}, the request was {expected}")
            for o in results:
                if o.kind in (OK, REPLAYED) and o.balance != row["after_balance"]:
                    problems.append(f"{reason}: client told balance {o.balance}, entry says {row['after_balance']}")
        elif row is not None and not kinds[UNKNOWN]:
            problems.append(f"{reason}: only rejected ({dict(kinds)}) yet in the ledger")
        if kinds[REUSED]:
            holder = key_holder.get((body.customer_id, body.key))
            if holder is None or holder == reason:
                problems.append(f"{reason}: refused as a reused key, but the key is held by {holder!r}")

    asked = set(by_reason)
    problems += [f"{reason}: in the ledger but no client sent it" for reason in counts if reason not in asked]

    believed: dict[tuple[str, str], int] = defaultdict(int)
    for reason, results in by_reason.items():
        if any(o.kind in (OK, REPLAYED) for o in results) or (allow_unknown and reason in row_of):
            believed[(results[0].body.customer_id, results[0].body.currency)] += results[0].body.signed
    for wallet in wallets:
        if balances.get(wallet, 0) != believed[wallet]:
            problems.append(f"wallet {wallet}: balance {balances.get(wallet)} but clients saw {believed[wallet]}")
    return problems


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = Counter(o.kind for o in outcomes)
    return {"requests": len(outcomes), **dict(sorted(counts.items()))}
