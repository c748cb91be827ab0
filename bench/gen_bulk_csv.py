"""Write a bulk_credit CSV: N rows over M customers, mostly credits with some debits.

Customers are named by email, ``bench00042@example.com`` (customer i is ``bench{i:05d}``), so the
file needs no database; ``bench/bulk_credit.py`` creates those customers. Debits are drawn only
from what the same file credited earlier to the same wallet, so every row of the file is valid
on empty wallets. Deterministic for a given --seed.

    python bench/gen_bulk_csv.py --rows 100000 --customers 10000 --out /tmp/bulk.csv
"""

import argparse
import csv
import random
import sys

CURRENCIES = (("USD", 500, 20000), ("INR", 10000, 2000000), ("EUR", 500, 15000))
REASONS = ("Refund for payment pay_{n:08d}", "Welcome bonus", "Loyalty reward", "Goodwill credit")


def email(i: int) -> str:
    return f"bench{i:05d}@example.com"


def rows(count: int, customers: int, seed: int = 42, debit_share: float = 0.1):
    rng = random.Random(seed)
    balances: dict[tuple[int, str], int] = {}
    for n in range(count):
        customer = rng.randrange(customers)
        currency, low, high = CURRENCIES[0] if rng.random() < 0.7 else rng.choice(CURRENCIES[1:])
        wallet = (customer, currency)
        balance = balances.get(wallet, 0)
        if balance > 0 and rng.random() < debit_share:
            amount = rng.randint(1, balance)
            balances[wallet] = balance - amount
            yield [email(customer), amount, currency, f"Usage charge {n}", "debit"]
        else:
            amount = rng.randint(low, high)
            balances[wallet] = balance + amount
            yield [email(customer), amount, currency, rng.choice(REASONS).format(n=n), "credit"]


def write(out, count: int, customers: int, seed: int = 42) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "amount", "currency", "reason", "entry_type"])
    writer.writerows(rows(count, customers, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="-", help="output file (default: standard output)")
    args = parser.parse_args()
    if args.out == "-":
        write(sys.stdout, args.rows, args.customers, args.seed)
    else:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            write(handle, args.rows, args.customers, args.seed)


if __name__ == "__main__":
    main()
