"""Demo data for a local install (``seed_demo``): one business, dashboard users, an API key and
forty customers with a few months of history in USD, INR, EUR, JPY and KWD.

Idempotent: everything is found by a stable name (business name, usernames, emails, the demo
key's digest, idempotency keys), so a second run finds it all and writes nothing. The history is
generated from a fixed seed and posted by the ledger engine (``wallets.ledger.post_many``, with each
entry's time in the past) as the command actor ``seed_demo``, with every entry's idempotency key;
a rerun replays them. Not a service: nothing but the ``seed_demo`` command uses it.

After the history, a few customers get what the engine does beyond plain postings, each through
``wallets.ledger`` with its own key or reference (so a rerun replays it): expiring grants (some
due in the next days, one that expired at once and was swept, so breakage shows), an active hold,
a payment from the wallet, a refund and a partial reversal of the payment (``_extras``). Their
times are now, after every history entry of their wallets.

The history lies in the past, so each customer (and each of their wallets) is then dated a day
before their first entry (``_date_customers``): "customer since" never follows the ledger it heads.
Only rows dated after that are changed, so a rerun changes nothing.

The credentials are fixed, published demo values (the dashboard passwords and the API key are
printed by the command and written here). That is only acceptable on a local demo, so the
command refuses to run unless ``DEBUG`` is on (or ``--force``). Only the key's SHA-256 digest is
stored, as for every key.
"""

import datetime
import random
import time
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from wallets import ledger
from wallets.models import ApiKey, Business, Customer, ExchangeRate, LedgerEntry, Membership, Wallet
from wallets.money import format_money
from wallets.services.actors import Actor
from wallets.services.api_keys import KEY_PREFIX, KEY_RANDOM_LENGTH, hash_key
from wallets.services.customers import customer_create

BUSINESS_NAME = "Demo Shop"
USERS = (
    ("demo", "demo-password-123", Membership.Role.OPERATOR),
    ("viewer", "viewer-password-123", Membership.Role.VIEWER),
    ("approver", "approver-password-123", Membership.Role.APPROVER),
)
_KEY_BODY = "DemoKeyLocalOnlyNeverUseInProduction"
API_KEY = KEY_PREFIX + _KEY_BODY + "0" * (KEY_RANDOM_LENGTH - len(_KEY_BODY))
API_KEY_NAME = "seed_demo (published demo key)"
ACTOR = Actor.command("seed_demo")
# Currencies the demo uses that the shipped snapshot lacks: an approximate rate so that
# total_balance_usd works. Marked by its source; a real rate loaded later wins (newer as_of).
FALLBACK_RATES = {"KWD": Decimal("3.2600")}
FALLBACK_SOURCE = "seed_demo: approximate rate, demo only"

# name, home currency, second currency (or None), country domain
CUSTOMERS = (
    ("Olivia Carter", "USD", None), ("Liam Brooks", "USD", None), ("Emma Reyes", "USD", None),
    ("Noah Bennett", "USD", None), ("Ava Collins", "USD", "EUR"), ("Ethan Murphy", "USD", None),
    ("Sophia Hayes", "USD", None), ("Mason Foster", "USD", None), ("Isabella Price", "USD", "INR"),
    ("Lucas Jenkins", "USD", None), ("Mia Sullivan", "USD", None), ("James Porter", "USD", None),
    ("Aarav Sharma", "INR", "USD"), ("Priya Patel", "INR", None), ("Rohan Iyer", "INR", None),
    ("Ananya Reddy", "INR", "USD"), ("Vikram Nair", "INR", None), ("Kavya Menon", "INR", None),
    ("Arjun Gupta", "INR", None), ("Diya Kapoor", "INR", "USD"), ("Ishaan Joshi", "INR", None),
    ("Meera Krishnan", "INR", None),
    ("Lena Müller", "EUR", None), ("Lucas Martin", "EUR", "USD"), ("Sofia Rossi", "EUR", None),
    ("Jan de Vries", "EUR", None), ("Elena García", "EUR", None), ("Mathis Dubois", "EUR", None),
    ("Anna Kowalska", "EUR", None), ("Finn Schneider", "EUR", "USD"),
    ("Haruto Sato", "JPY", None), ("Yui Tanaka", "JPY", "USD"), ("Sota Suzuki", "JPY", None),
    ("Hina Watanabe", "JPY", None), ("Ren Takahashi", "JPY", None),
    ("Fatima Al-Sabah", "KWD", None), ("Yousef Al-Mutairi", "KWD", "USD"), ("Noura Al-Rashid", "KWD", None),
    ("Ahmad Al-Kandari", "KWD", None), ("Mariam Al-Enezi", "KWD", None),
)
# currency: welcome bonus, deposit range, charge range, what a "low" wallet keeps (all minor units;
# the last is under the default low-balance threshold of 10 major units)
PROFILES = {
    "USD": (1000, (2000, 20000), (500, 4000), (150, 900)),
    "INR": (50000, (100000, 1500000), (20000, 150000), (100, 900)),
    "EUR": (1000, (2000, 15000), (500, 3000), (100, 800)),
    "JPY": (1000, (2000, 20000), (300, 3000), (1, 9)),
    "KWD": (3000, (5000, 60000), (1000, 10000), (500, 9000)),
}
DOMAINS = {"USD": "example.com", "INR": "example.in", "EUR": "example.eu", "JPY": "example.jp", "KWD": "example.kw"}
LOW_EVERY = 5  # every fifth customer ends with a low balance in their home currency


@dataclass
class DemoUser:
    username: str
    password: str
    role: str
    created: bool
    password_matches: bool
    other_business: str | None = None


@dataclass
class DemoSeedResult:
    business: Business
    business_created: bool
    users: list[DemoUser]
    api_key: str
    api_key_created: bool
    api_key_revoked: bool
    customers: int
    customers_created: int
    entries_posted: int
    entries_already_there: int
    rates_added: list[str] = field(default_factory=list)


def demo_seed(*, today: datetime.datetime | None = None) -> DemoSeedResult:
    """Create (or find) the demo business and its data. Safe to run again: changes nothing then."""
    now = today or timezone.now()
    with transaction.atomic(durable=True):
        business, business_created = Business.objects.get_or_create(name=BUSINESS_NAME)
        users = [_user(business, username, password, role) for username, password, role in USERS]
        key, key_created = _api_key(business)
        rates_added = _fallback_rates(now.date())
    customers_created = 0
    postings: list[ledger.Posting] = []
    for index, (name, home, second) in enumerate(CUSTOMERS):
        customer, created = customer_create(business_id=business.id, email=_email(name, home), name=name)
        customers_created += created
        postings += _history(index, customer.id, home, second, now)
    postings.sort(key=lambda p: p.created_at or now)  # stable: each wallet's own order is kept
    result = ledger.post_many(business_id=business.id, postings=postings, actor=ACTOR)
    codes = [outcome.decision.code for outcome in result.outcomes]
    refused = [o for o in result.outcomes if o.decision.code not in (ledger.Code.OK, ledger.Code.REPLAYED)]
    if refused:  # the plan never overdraws; this would be a bug in the plan
        raise RuntimeError(f"demo history refused: {refused[:3]}")
    extras_posted = _extras(business.id, now)
    _date_customers(business.id)
    posted = codes.count(ledger.Code.OK) + extras_posted
    return DemoSeedResult(
        business=business, business_created=business_created, users=users, api_key=API_KEY,
        api_key_created=key_created, api_key_revoked=key.revoked_at is not None, customers=len(CUSTOMERS),
        customers_created=customers_created, entries_posted=posted,
        entries_already_there=LedgerEntry.objects.filter(business=business).count() - posted, rates_added=rates_added,
    )


#: How long before their first entry a demo customer (and their wallets) came to be.
CUSTOMER_LEAD = datetime.timedelta(days=1)


def _date_customers(business_id: str) -> None:
    """Date each customer, and their wallets, ``CUSTOMER_LEAD`` before the customer's first entry,
    where they are dated after it (the first run: rows made now, a history in the past)."""
    firsts = dict(LedgerEntry.objects.filter(business_id=business_id).values("customer_id")
                  .annotate(first=Min("created_at")).values_list("customer_id", "first"))
    with transaction.atomic():
        for customer_id, created_at in Customer.objects.filter(business_id=business_id, pk__in=list(firsts)) \
                .values_list("pk", "created_at"):
            since = firsts[customer_id] - CUSTOMER_LEAD
            if created_at > firsts[customer_id]:
                Customer.objects.filter(pk=customer_id).update(created_at=since)
            else:
                since = created_at
            Wallet.objects.filter(business_id=business_id, customer_id=customer_id,
                                  created_at__gt=since).update(created_at=since)


def _user(business: Business, username: str, password: str, role: str) -> DemoUser:
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    created = user is None
    if user is None:
        user = user_model.objects.create_user(username=username, email=f"{username}@demo.invalid", password=password)
    membership, _ = Membership.objects.get_or_create(user=user, defaults={"business": business, "role": role})
    return DemoUser(
        username=username, password=password, role=membership.role, created=created,
        password_matches=created or user.check_password(password),
        other_business=None if membership.business_id == business.id else membership.business_id,
    )


def _api_key(business: Business) -> tuple[ApiKey, bool]:
    return ApiKey.objects.get_or_create(
        business=business, key_hash=hash_key(API_KEY),
        defaults={"name": API_KEY_NAME, "prefix": API_KEY[: ApiKey.PREFIX_LENGTH], "read_only": False},
    )


def _fallback_rates(as_of: datetime.date) -> list[str]:
    added = []
    for currency, rate in FALLBACK_RATES.items():
        if not ExchangeRate.objects.filter(currency=currency).exists():
            ExchangeRate.objects.create(currency=currency, rate_to_usd=rate, as_of=as_of, source=FALLBACK_SOURCE)
            added.append(currency)
    return added


def _email(name: str, currency: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    local = ".".join(part.lower().replace("-", "") for part in ascii_name.split())
    return f"{local}@{DOMAINS[currency]}"


def _history(
    index: int, customer_id: str, home: str, second: str | None, now: datetime.datetime
) -> list[ledger.Posting]:
    """A few months of a customer's activity, oldest first, never overdrawing. Deterministic."""
    rng = random.Random(f"seed_demo:{index}")
    rows: list[ledger.Posting] = []
    for currency in (home, second) if second else (home,):
        welcome, deposits, charges, low_keeps = PROFILES[currency]
        moment = now - datetime.timedelta(days=rng.randint(60, 120), seconds=rng.randint(0, 86_400))
        balance = 0
        events: list[tuple[str, int, str, str, str]] = []  # kind, amount, reason, key, event type

        def token(prefix: str) -> str:
            return prefix + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(12))

        if currency == home:
            events.append(("credit", welcome, (f"Welcome bonus - {format_money(welcome, currency)} promotional "
                                                "balance"), f"welcome_{customer_id}", "merchant_adjustment"))
            balance += welcome
        for _ in range(rng.randint(1, 3)):
            amount = _round(rng.randint(*deposits), currency)
            payment = token("pay_")
            events.append(("credit", amount, "Account funding - prepaid deposit", f"deposit_{payment}",
                           "merchant_adjustment"))
            balance += amount
            for _ in range(rng.randint(1, 3)):
                charge = _round(rng.randint(*charges), currency)
                if charge <= balance:
                    purchase = token("pur_")
                    reason = rng.choice((
                        "Subscription charge - monthly billing", "Service purchase - monthly subscription",
                        f"Prepaid usage - {rng.randint(2, 40) * 100:,} API calls",
                    ))
                    events.append(("debit", charge, reason, f"charge_{purchase}", "merchant_adjustment"))
                    balance -= charge
            if rng.random() < 0.35:
                refund = _round(rng.randint(*charges), currency)
                payment = token("pay_")
                events.append(("credit", refund, f"Refund for payment {payment}", f"refund_{payment}", "refund"))
                balance += refund
        if currency == home and index % LOW_EVERY == 0:
            keep = rng.randint(*low_keeps)
            if balance > keep:
                events.append(("debit", balance - keep, "Prepaid usage - end of month true-up",
                               f"charge_{token('pur_')}", "merchant_adjustment"))
                balance = keep
        span = (now - datetime.timedelta(hours=1) - moment) / max(len(events), 1)
        for number, (kind, amount, reason, key, event_type) in enumerate(events):
            at = moment + span * number + datetime.timedelta(seconds=rng.randint(0, 3600))
            rows.append(ledger.Posting(
                customer_id=customer_id,
                request=ledger.Request(currency, amount, kind == "credit", reason, key),
                event_type=event_type, created_at=at.replace(microsecond=0),
            ))
    return rows


# customer name -> the extras posted to their home wallet (all USD, minor units)
GRANTS = (  # name, amount, days until expiry, reason
    ("Liam Brooks", 2500, 3, "Spring promotion - expiring credit"),
    ("Liam Brooks", 1500, 6, "Loyalty reward - expiring credit"),
    ("Emma Reyes", 1000, 1, "Trial credit - expiring credit"),
    ("Mason Foster", 2000, 9, "Referral bonus - expiring credit"),
)
EXPIRED_GRANT = ("Noah Bennett", 700, "Launch week credit - expired unused")
HOLD = ("Liam Brooks", 1000, 5, "ord_demo_2001", "Pending order ord_demo_2001")
PAYMENT = ("Liam Brooks", 1800, "inv_demo_1001", "Invoice inv_demo_1001 paid from the wallet")
PAYMENT_REVERSAL = (500, "Partial refund of invoice inv_demo_1001 (one item returned)")
REFUND = ("Emma Reyes", 1200, "pay_demo_3001", "Refund for payment pay_demo_3001")


def _expiry(business_id: str, customer_id: str, key: str, first: datetime.datetime) -> datetime.datetime:
    """A demo grant's expiry: ``first`` on the first run; a rerun (minutes or days later) sends the
    expiry the grant has, so that its key replays (another expiry would be another request)."""
    known = LedgerEntry.objects.filter(business_id=business_id, customer_id=customer_id, idempotency_key=key,
                                       reversal_of__isnull=True).values_list("expires_at", flat=True).first()
    return known or first


def _extras(business_id: str, now: datetime.datetime) -> int:
    """Grants, a swept expiry, a hold, a payment, its partial reversal and a refund (see the module
    docstring). Returns how many entries were new. Each one replays on a rerun: grants and the refund
    by idempotency key, the payment by its reference, the hold and the reversal by key."""
    ids = dict(Customer.objects.filter(business_id=business_id).values_list("name", "id"))
    # The grant that expires at once goes first, so the rest of the work covers most of its wait.
    name, amount, reason = EXPIRED_GRANT
    expired_key = f"demo_expired_grant_{ids[name]}"
    short = ledger.post(
        business_id=business_id, customer_id=ids[name], currency="USD", amount=amount, is_credit=True,
        actor=ACTOR, reason=reason, idempotency_key=expired_key,
        expires_at=_expiry(business_id, ids[name], expired_key, timezone.now() + _EXPIRED_GRANT_LIFE),
    )
    new = 0 if short.replayed else 1
    grants = [
        ledger.Posting(
            customer_id=ids[name], request=ledger.Request("USD", amount, True, reason, f"demo_grant_{ids[name]}_{n}"),
            expires_at=_expiry(business_id, ids[name], f"demo_grant_{ids[name]}_{n}",
                               now + datetime.timedelta(days=days)),
        )
        for n, (name, amount, days, reason) in enumerate(GRANTS)
    ]
    name, amount, reference, reason = REFUND
    grants.append(ledger.Posting(
        customer_id=ids[name], request=ledger.Request("USD", amount, True, reason, f"demo_refund_{reference}"),
        event_type=LedgerEntry.EventType.REFUND, reference_object_id=reference,
    ))
    batch = ledger.post_many(business_id=business_id, postings=grants, actor=ACTOR)
    refused = [o for o in batch.outcomes if o.decision.code not in (ledger.Code.OK, ledger.Code.REPLAYED)]
    if refused:
        raise RuntimeError(f"demo extras refused: {refused[:3]}")
    new += sum(o.decision.code is ledger.Code.OK for o in batch.outcomes)
    name, amount, reference, reason = PAYMENT
    paid = ledger.pay(business_id=business_id, customer_id=ids[name], currency="USD", amount=amount,
                      reference_object_id=reference, actor=ACTOR, reason=reason)
    new += 0 if paid.replayed else 1
    if paid.entry is not None:
        amount, reason = PAYMENT_REVERSAL
        reversed_ = ledger.reverse(business_id=business_id, customer_id=ids[PAYMENT[0]], entry_id=paid.entry.id,
                                   actor=ACTOR, amount=min(amount, paid.entry.amount), reason=reason,
                                   idempotency_key=f"demo_reversal_{PAYMENT[2]}")
        new += 0 if reversed_.replayed else 1
    name, amount, days, reference, reason = HOLD
    held = ledger.create_hold(business_id=business_id, customer_id=ids[name], currency="USD", amount=amount,
                              actor=ACTOR, expires_at=now + datetime.timedelta(days=days),
                              reference_object_id=reference, reason=reason, idempotency_key=f"demo_hold_{reference}",
                              expiry_given=False)  # "in N days" from each run: a rerun replays
    assert held.hold is not None  # a hold is no entry: not counted
    if not short.replayed:
        grant_expires = short.entry.expires_at
        assert grant_expires is not None
        wait = (grant_expires - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(wait)
        ledger.sweep_wallet(business_id=business_id, customer_id=ids[EXPIRED_GRANT[0]], currency="USD")
    return new


#: How long the demo's expired grant lives before the sweep expires it: long enough to be posted
#: on a loaded machine, short enough not to slow the demo.
_EXPIRED_GRANT_LIFE = datetime.timedelta(milliseconds=400)


def _round(amount: int, currency: str) -> int:
    """Human-looking amounts: whole major units (or hundreds of yen)."""
    step = {"JPY": 100, "KWD": 1000, "INR": 100}.get(currency, 100)
    return max(step, amount - amount % step)
