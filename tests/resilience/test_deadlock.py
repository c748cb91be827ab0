"""Deadlock freedom: work that locks several wallets (bulk runs) locks them in one global order
(ascending wallet id), so bulk runs over the same wallets in opposite file orders, all-or-nothing
runs, and single postings can run at the same time without a deadlock error reaching anyone.

If a bulk run locked in file order, the two runs below (one file the reverse of the other, each
batch spanning many wallets) would take the same locks in opposite orders and PostgreSQL would
abort one with ``deadlock detected``.
"""

import random
import threading
from collections import Counter

import pytest
from django.db import connection

from tests.resilience.harness import scaled
from tests.support import oracle
from wallets import ledger, services
from wallets.exceptions import InsufficientFunds
from wallets.models import Wallet
from wallets.services.actors import Actor
from wallets.services.api_keys import business_get_or_create
from wallets.services.bulk import bulk_credit_file

WALLETS = 24


def bulk_file(rows: list[tuple[str, str, int]], tag: str) -> bytes:
    lines = ["customer_id,amount,currency,reason"]
    lines += [f"{customer},{amount},{currency},{tag} line {n}" for n, (customer, currency, amount) in enumerate(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_bulk_runs_in_opposite_orders_and_single_postings_never_deadlock(reference_data):
    business = business_get_or_create(name="Deadlock")[0]
    customers = [services.customer_create(business_id=business.id, email=f"d{i}@example.com", name="D")[0].id
                 for i in range(WALLETS // 2)]
    wallets = [(c, currency) for c in customers for currency in ("USD", "INR")]
    rng = random.Random(5)
    rounds = scaled(3)
    errors: list[str] = []
    expected: Counter = Counter()
    lock = threading.Lock()
    runs = 0

    def bulk(data: bytes, **options) -> None:
        nonlocal runs
        try:
            result = bulk_credit_file(business_id=business.id, data=data, actor=Actor.command("deadlock"), **options)
            if not result.ok:
                errors.append(f"bulk refused rows: {result.rejections[:3]}")
            with lock:
                runs += 1
        except Exception as exc:  # a deadlock (or any database error) reaching the caller
            errors.append(f"bulk: {exc!r}")
        finally:
            connection.close()

    def single(seed: int, count: int) -> None:
        local = random.Random(seed)
        try:
            for _ in range(count):
                customer, currency = local.choice(wallets)
                amount = local.randint(1, 300)
                credit = local.random() < 0.6
                try:
                    ledger.post(business_id=business.id, customer_id=customer, currency=currency,
                                               amount=amount, is_credit=credit, actor=Actor.command("single"))
                except InsufficientFunds:
                    continue
                with lock:
                    expected[(customer, currency)] += amount if credit else -amount
        except Exception as exc:
            errors.append(f"single posting: {exc!r}")
        finally:
            connection.close()

    for round_ in range(rounds):
        forward = [(c, cur, rng.randint(1, 1000)) for c, cur in wallets for _ in range(3)]
        backward = list(reversed(forward))
        for c, cur, amount in forward:
            expected[(c, cur)] += 4 * amount  # four files credit every row once
        # Each run locks every wallet of its file in one transaction (one batch, or all-or-nothing):
        # two runs in opposite file orders are the classic deadlock if locks follow the file.
        threads = [
            threading.Thread(target=bulk, args=(bulk_file(forward, f"r{round_} forward"),)),
            threading.Thread(target=bulk, args=(bulk_file(backward, f"r{round_} backward"),)),
            threading.Thread(target=bulk, args=(bulk_file(forward, f"r{round_} forward aon"),),
                             kwargs={"all_or_nothing": True}),
            threading.Thread(target=bulk, args=(bulk_file(backward, f"r{round_} backward aon"),),
                             kwargs={"all_or_nothing": True}),
            *[threading.Thread(target=single, args=(round_ * 10 + n, 40)) for n in range(4)],
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    assert runs == 4 * rounds
    balances = {(w.customer_id, w.currency): w.balance for w in Wallet.objects.filter(business=business)}
    assert balances == {wallet: expected[wallet] for wallet in wallets}
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []
    print(f"deadlock: {rounds} rounds x (4 bulk runs in opposite orders + 4 single posters) "
          f"over {len(wallets)} wallets, 0 deadlocks")
