"""The ledger's tables.

Invariants held by the database itself (named constraints, so a violation names itself):
- a wallet's balance is never negative (``wallet_balance_non_negative``);
- an entry's amount is positive and its balances agree with it
  (``ledger_entry_amount_positive``, ``ledger_entry_balances_agree``);
- one wallet per customer and currency, one entry per wallet sequence number, one entry per
  idempotency key and customer, one email per business (case-insensitive);
- ledger entries cannot be updated or deleted (a trigger; see migration 0002).

Every wallet-related table carries ``business_id`` and every unique key includes it, so the
tables can be distributed by business later (Citus) without a rewrite. Ids are random strings.
"""

import datetime

from django.conf import settings
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from wallets import ids
from wallets.locales import LOCALE_CHOICES
from wallets.money import CURRENCY_CHOICES

ID_MAX_LENGTH = 32


class Business(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.business_id, editable=False)
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    #: ``wallet.runway_low`` fires when, at the trailing 14-day burn rate, a wallet empties within this many days.
    runway_days = models.PositiveSmallIntegerField(
        default=7, db_default=7, help_text="Days: a wallet that empties sooner at its 14-day burn rate is running low.")

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A dashboard user's place in one business, with a role."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer (read only)"
        OPERATOR = "operator", "Operator (may adjust balances)"
        APPROVER = "approver", "Approver (operator who may approve held adjustments)"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} in {self.business} ({self.role})"

    @property
    def can_post(self) -> bool:
        return self.role in (self.Role.OPERATOR, self.Role.APPROVER)


class ApiKey(models.Model):
    """A bearer key of one business. Only a SHA-256 digest of the secret is stored.

    Keys are 256-bit random secrets, so a fast hash is the right tool (no dictionary to
    attack); ``prefix`` (the first characters of the key) finds the row, and the digest is
    compared in constant time.
    """

    PREFIX_LENGTH = 12

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.api_key_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True, default="")
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.UniqueConstraint(fields=["business", "key_hash"], name="api_key_hash_unique_per_business"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.business})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Customer(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.customer_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="customers")
    email = models.CharField(max_length=254)
    name = models.CharField(max_length=200)
    phone_number = models.CharField(max_length=50, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The language of the customer's emails (Dodo's Locale codes); null is English.
    preferred_locale = models.CharField(max_length=8, null=True, blank=True, choices=LOCALE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "business", name="customer_email_unique_per_business"),
        ]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="customer_business_created"),
            # The search box's prefix lookups (``lower(x) LIKE 'ann%'``) in any collation.
            models.Index(F("business"), OpClass(Lower("name"), name="text_pattern_ops"), name="customer_name_prefix"),
            models.Index(F("business"), OpClass(Lower("email"), name="text_pattern_ops"),
                         name="customer_email_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Wallet(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.wallet_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="wallets")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    balance = models.BigIntegerField(default=0)
    # Number of entries posted; the next entry's sequence is entry_count + 1.
    entry_count = models.BigIntegerField(default=0)
    # Reserved by active holds (available = balance - held_balance), and the unspent remainder of
    # active expiring grants. Both are parts of the balance: held + granted <= balance. The engine
    # keeps them under the wallet lock; reconcile_wallets proves them against holds and grants.
    held_balance = models.BigIntegerField(default=0, db_default=0)
    granted_balance = models.BigIntegerField(default=0, db_default=0)
    # Hints: never later than the soonest active grant's / hold's expiry (null: none is active).
    # A posting that finds one passed expires what is due first, under the same lock.
    next_grant_expiry_at = models.DateTimeField(null=True, blank=True)
    next_hold_expiry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["business", "customer", "currency"], name="wallet_unique_per_customer_currency"
            ),
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_non_negative"),
            models.CheckConstraint(condition=Q(entry_count__gte=0), name="wallet_entry_count_non_negative"),
            models.CheckConstraint(condition=Q(held_balance__gte=0), name="wallet_held_non_negative"),
            models.CheckConstraint(condition=Q(granted_balance__gte=0), name="wallet_granted_non_negative"),
            # held + granted <= balance, written without a sum that could overflow bigint.
            models.CheckConstraint(
                condition=Q(held_balance__lte=F("balance") - F("granted_balance")), name="wallet_held_within_balance"
            ),
        ]
        indexes = [
            models.Index(fields=["business", "currency", "balance"], name="wallet_business_ccy_balance"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.currency}"


class LedgerEntry(models.Model):
    """One immutable movement of money in one wallet. Corrections are new entries."""

    class EventType(models.TextChoices):
        PAYMENT = "payment"
        PAYMENT_REVERSAL = "payment_reversal"
        REFUND = "refund"
        REFUND_REVERSAL = "refund_reversal"
        DISPUTE = "dispute"
        DISPUTE_REVERSAL = "dispute_reversal"
        MERCHANT_ADJUSTMENT = "merchant_adjustment"

    class ActorType(models.TextChoices):
        API_KEY = "api_key", "API key"
        USER = "user", "Dashboard user"
        COMMAND = "command", "Management command"
        SYSTEM = "system", "System"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.ledger_entry_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="ledger_entries")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    sequence = models.BigIntegerField()
    amount = models.BigIntegerField()
    is_credit = models.BooleanField()
    event_type = models.CharField(max_length=32, choices=EventType.choices, default=EventType.MERCHANT_ADJUSTMENT)
    reason = models.CharField(max_length=500, null=True, blank=True)
    reference_object_id = models.CharField(max_length=255, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    before_balance = models.BigIntegerField()
    after_balance = models.BigIntegerField()
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    # Null in rows written before metadata existed, and by raw inserts: read as {}.
    metadata = models.JSONField(default=dict, blank=True, null=True)
    # The entry this one reverses (in part or whole); a reversal is never reversed itself.
    # (The link columns of entries are indexed only where set: most entries have none.)
    reversal_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, related_name="reversals", null=True, blank=True, db_index=False
    )
    # A credit with an expiry is a grant (see CreditGrant); the entry that expired a grant's remainder.
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_grant = models.ForeignKey(
        "self", on_delete=models.PROTECT, related_name="expiries", null=True, blank=True, db_index=False
    )
    hold = models.ForeignKey(
        "Hold", on_delete=models.PROTECT, related_name="entries", null=True, blank=True, db_index=False
    )

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-sequence"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_entry_amount_positive"),
            models.CheckConstraint(condition=Q(before_balance__gte=0), name="ledger_entry_before_non_negative"),
            models.CheckConstraint(condition=Q(after_balance__gte=0), name="ledger_entry_after_non_negative"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="ledger_entry_sequence_positive"),
            # Written with differences of the two balances, which cannot overflow bigint: the
            # database may evaluate both sides of the OR, and before + amount of a large debit
            # (before ≤ 2^63-1, amount ≤ before) would exceed bigint and fail the INSERT.
            models.CheckConstraint(
                condition=(
                    Q(is_credit=True, amount=F("after_balance") - F("before_balance"))
                    | Q(is_credit=False, amount=F("before_balance") - F("after_balance"))
                ),
                name="ledger_entry_balances_agree",
            ),
            models.UniqueConstraint(fields=["business", "wallet", "sequence"], name="ledger_entry_wallet_sequence"),
            # Keys are scoped per customer and per kind of write: entries, and reversals.
            models.UniqueConstraint(
                fields=["business", "customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False, reversal_of__isnull=True),
                name="ledger_entry_idempotency_key_per_customer",
            ),
            models.UniqueConstraint(
                fields=["business", "customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False, reversal_of__isnull=False),
                name="ledger_entry_reversal_key_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(is_credit=True, reversal_of__isnull=True),
                name="ledger_entry_only_credits_expire",
            ),
        ]
        indexes = [
            models.Index(fields=["business", "customer", "-created_at", "-sequence"], name="ledger_customer_recent"),
            # Covering (PostgreSQL): a statement's totals over a range and the balances at its
            # bounds (and as_of) are read from the index alone, without visiting the table.
            models.Index(
                fields=["business", "customer", "currency", "-created_at", "-sequence"],
                name="ledger_customer_ccy_recent",
                include=["amount", "is_credit", "after_balance"],
            ),
            # Covering (PostgreSQL): analytics' reads of a business's entries over a time range
            # (money in and out of the last minutes, the ranking by spend) come from the index alone.
            models.Index(
                fields=["business", "-created_at"],
                name="ledger_business_recent",
                include=["currency", "is_credit", "amount", "customer", "expired_grant"],
            ),
            models.Index(
                fields=["business", "customer", "reference_object_id"],
                condition=Q(reference_object_id__isnull=False),
                name="ledger_reference",
            ),
            # The search box: a reference or an idempotency key across the business's customers.
            models.Index(fields=["business", "reference_object_id"], condition=Q(reference_object_id__isnull=False),
                         name="ledger_business_reference"),
            models.Index(fields=["business", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                         name="ledger_business_idem_key"),
            models.Index(fields=["reversal_of"], condition=Q(reversal_of__isnull=False), name="ledger_reversal_of"),
            models.Index(
                fields=["expired_grant"], condition=Q(expired_grant__isnull=False), name="ledger_expired_grant"
            ),
            models.Index(fields=["hold"], condition=Q(hold__isnull=False), name="ledger_hold"),
        ]

    def __str__(self) -> str:
        sign = "+" if self.is_credit else "-"
        return f"{self.id} {sign}{self.amount} {self.currency}"

    @property
    def entry_type(self) -> str:
        return "credit" if self.is_credit else "debit"

    @property
    def signed_amount(self) -> int:
        return self.amount if self.is_credit else -self.amount


class Hold(models.Model):
    """Money reserved in a wallet: it stays in the balance but is not available to spend until the
    hold is captured (a debit of up to its amount), voided, or expires. Resolved at most once."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        CAPTURED = "captured"
        VOIDED = "voided"
        EXPIRED = "expired"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.hold_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="holds")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    reference_object_id = models.CharField(max_length=255, null=True, blank=True)
    reason = models.CharField(max_length=500, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    actor_type = models.CharField(max_length=16, choices=LedgerEntry.ActorType.choices)
    actor_id = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
                name="hold_captured_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status="captured", captured_amount__gt=0) | (~Q(status="captured") & Q(captured_amount=0)),
                name="hold_captured_only_when_captured",
            ),
            models.UniqueConstraint(
                fields=["business", "customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="hold_idempotency_key_per_customer",
            ),
        ]
        indexes = [
            models.Index(fields=["business", "customer", "-created_at"], name="hold_customer_recent"),
            models.Index(
                fields=["business", "wallet", "expires_at"], condition=Q(status="active"), name="hold_wallet_active"
            ),
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="hold_active_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency} ({self.status})"


class CreditGrant(models.Model):
    """The spendable life of an expiring credit (its ledger entry has ``expires_at``): what is left
    of it, and what expired. Debits and holds draw from a wallet's grants soonest-expiring first
    (``GrantDraw`` keeps each draw); at ``expires_at`` the remainder leaves in its own entry."""

    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, primary_key=True, related_name="grant")
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="grants")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expired_amount = models.BigIntegerField(default=0)
    # How much of the grant's credit was reversed: money given back to it later (a reversed
    # debit it paid) beyond amount - reversed - expired is free money.
    reversed_amount = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["expires_at", "entry_id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="grant_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("amount")), name="grant_remaining_within_amount"
            ),
            models.CheckConstraint(condition=Q(expired_amount__gte=0), name="grant_expired_non_negative"),
            models.CheckConstraint(
                condition=Q(
                    reversed_amount__gte=0, remaining__lte=F("amount") - F("reversed_amount") - F("expired_amount")
                ),
                name="grant_holds_what_is_left",
            ),
        ]
        indexes = [
            models.Index(
                fields=["business", "wallet", "expires_at"], condition=Q(remaining__gt=0), name="grant_wallet_active"
            ),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="grant_active_expiry"),
        ]

    def __str__(self) -> str:
        return f"grant {self.entry_id}: {self.remaining}/{self.amount} {self.currency} until {self.expires_at}"


class GrantDraw(models.Model):
    """One move of a grant's money: positive takes from the grant (a debit, a hold, an expiry),
    negative gives back (a reversal of a debit, a hold released). A grant's remaining is its
    amount minus the sum of its draws; a resolved hold's draws sum to zero."""

    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="draws")
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="grant_draws", null=True, blank=True)
    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, related_name="grant_draws", null=True, blank=True)
    amount = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="grant_draw_not_zero"),
            models.CheckConstraint(
                condition=Q(entry__isnull=False, hold__isnull=True) | Q(entry__isnull=True, hold__isnull=False),
                name="grant_draw_entry_or_hold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of grant {self.grant_id}"


class WalletPayment(models.Model):
    """A payment from the wallet for one merchant reference: ``min(requested, available)`` was
    applied (as a ``payment`` entry, none when 0) once per customer, currency and reference."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.payment_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="wallet_payments")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reference_object_id = models.CharField(max_length=255)
    requested = models.BigIntegerField()
    applied = models.BigIntegerField()
    reason = models.CharField(max_length=500, null=True, blank=True)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="payment", null=True, blank=True)
    # The wallet right after the payment (what a replay answers).
    balance_after = models.BigIntegerField()
    held_after = models.BigIntegerField()
    wallet_created_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["business", "customer", "currency", "reference_object_id"], name="wallet_payment_once"
            ),
            models.CheckConstraint(condition=Q(requested__gt=0), name="wallet_payment_requested_positive"),
            models.CheckConstraint(
                condition=Q(applied__gte=0, applied__lte=F("requested")), name="wallet_payment_applied_within"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference_object_id}: {self.applied}/{self.requested} {self.currency}"


class ExchangeRate(models.Model):
    """USD value of one major unit of ``currency`` as of a date. The latest as-of date wins."""

    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    rate_to_usd = models.DecimalField(max_digits=24, decimal_places=12)
    as_of = models.DateField()
    source = models.CharField(max_length=200, default="manual")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-as_of"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "as_of"], name="exchange_rate_unique_per_day"),
            models.CheckConstraint(condition=Q(rate_to_usd__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate_to_usd} USD ({self.as_of})"


class CurrencyPolicy(models.Model):
    """A business's rules for one currency: when a wallet counts as low, and above which amount a
    manual adjustment needs a second person's approval. Absent values fall back to defaults
    (``WALLET_LOW_BALANCE_DEFAULT`` in major units; no approval needed)."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="currency_policies")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    low_balance_below = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units: a wallet below this balance is low."
    )
    approval_above = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units: a manual adjustment above this amount needs approval."
    )

    class Meta:
        verbose_name_plural = "currency policies"
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["business", "currency"], name="currency_policy_unique_per_business"),
            models.CheckConstraint(condition=Q(low_balance_below__gte=0), name="currency_policy_low_non_negative"),
            models.CheckConstraint(condition=Q(approval_above__gte=0), name="currency_policy_approval_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.business} {self.currency}"


class AdjustmentRequest(models.Model):
    """A manual credit or debit above the business's approval threshold (maker–checker).

    It is held as *pending* until a different user with the approver role approves it (the
    posting then happens, in the same transaction) or rejects it. Both identities, the reason
    and the times are kept; the posted entry is linked. A pending debit reserves its money with
    a ``hold`` (it never expires on its own: see ``services.approvals``).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.adjustment_request_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="adjustment_requests")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.BigIntegerField()
    is_credit = models.BooleanField()
    reason = models.CharField(max_length=500)
    # The form's idempotency key: a double submit finds the same request.
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True, default="")
    ledger_entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, related_name="adjustment_request", null=True, blank=True
    )
    # A request to reverse this entry (in part or whole) rather than a plain credit or debit.
    reversal_of = models.ForeignKey(
        LedgerEntry, on_delete=models.PROTECT, related_name="reversal_requests", null=True, blank=True
    )
    # A credit that expires (a grant).
    expires_at = models.DateTimeField(null=True, blank=True)
    # The money a held debit (or a held reversal of a credit) reserves while it waits: placed at
    # submit, captured by the approval, released by the rejection (``services.approvals``).
    hold = models.OneToOneField(
        "Hold", on_delete=models.PROTECT, related_name="approval_request", null=True, blank=True
    )

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="adjustment_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="adjustment_request_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(ledger_entry__isnull=False),
                name="adjustment_request_approved_has_entry",
            ),
            models.UniqueConstraint(fields=["business", "idempotency_key"], name="adjustment_request_key_per_business"),
        ]
        indexes = [models.Index(fields=["business", "status", "-requested_at"], name="adjustment_business_status")]

    def __str__(self) -> str:
        sign = "+" if self.is_credit else "-"
        return f"{self.id} {sign}{self.amount} {self.currency} ({self.status})"


class SecurityEvent(models.Model):
    """An append-only audit record of a security-relevant event: who did what, from where.

    Written by the services (API keys created and revoked, adjustments approved or rejected) and
    by receivers of Django's auth signals (logins, failed logins, logouts), in the same transaction
    as the change it records. Never changed or deleted: a trigger refuses UPDATE and DELETE on
    PostgreSQL (migration ``0007_security_event``), and the admin shows it read-only.
    ``business`` is empty for an event that belongs to no business (a failed login by an unknown
    user name). ``details`` never holds a secret (no password, no API key beyond its prefix).
    """

    class Kind(models.TextChoices):
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGIN_LOCKED_OUT = "login_locked_out", "Login locked out (too many failures)"
        LOGOUT = "logout", "Logout"
        API_KEY_CREATED = "api_key_created", "API key created"
        API_KEY_REVOKED = "api_key_revoked", "API key revoked"
        ADJUSTMENT_APPROVED = "adjustment_approved", "Adjustment approved"
        ADJUSTMENT_REJECTED = "adjustment_rejected", "Adjustment rejected"
        # The business's settings: what its activity log shows beside the events above.
        POLICY_CHANGED = "policy_changed", "Currency policy changed"
        POLICY_DELETED = "policy_deleted", "Currency policy deleted"
        SETTINGS_CHANGED = "settings_changed", "Business settings changed"
        MEMBER_INVITED = "member_invited", "Team member invited"
        MEMBER_ROLE_CHANGED = "member_role_changed", "Team member's role changed"
        MEMBER_REMOVED = "member_removed", "Team member removed"
        WEBHOOK_CHANGED = "webhook_changed", "Webhook endpoint changed"
        BULK_CREDIT_STARTED = "bulk_credit_started", "Bulk credit file started"
        BULK_CREDIT_FINISHED = "bulk_credit_finished", "Bulk credit file finished"

    business = models.ForeignKey(Business, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor_type = models.CharField(max_length=16, choices=LedgerEntry.ActorType.choices)
    actor_id = models.CharField(max_length=255, blank=True, default="")
    actor_name = models.CharField(max_length=255, blank=True, default="", help_text="e.g. the user name at the time")
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="security_event_business"),
            models.Index(fields=["kind", "-created_at"], name="security_event_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_name or self.actor_type} at {self.created_at:%Y-%m-%d %H:%M}"


# --- Webhooks ---------------------------------------------------------------------------------


class WebhookEndpoint(models.Model):
    """A merchant's receiving URL (Dodo's ``WebhookDetails``). Its secret signs every delivery
    (Standard Webhooks); after a rotation the previous secret also signs until it lapses (24 h)."""

    class DisabledReason(models.TextChoices):
        NONE = "", "Enabled"
        MANUAL = "manual", "Disabled by the merchant"
        GONE = "gone", "Disabled: the receiver answered 410 Gone"
        FAILING = "failing", "Disabled: every delivery failed for the whole retry schedule"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.webhook_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=500, blank=True, default="")
    disabled = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    #: Event types delivered here; empty: every type.
    filter_types = models.JSONField(default=list, blank=True)
    #: Extra HTTP headers sent with every delivery.
    headers = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    #: Deliveries per second at most (``None``: no limit).
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    #: When the current run of failures began (cleared by any delivered message).
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    #: The create request's ``idempotency_key`` (unique per business) and a digest of its body:
    #: the same key with the same body answers this endpoint again, with another body is refused.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(disabled=True) | Q(disabled_reason=""), name="webhook_endpoint_reason_only_when_disabled"
            ),
            models.UniqueConstraint(
                fields=["business", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                name="webhook_endpoint_idempotency_key_per_business",
            ),
            models.CheckConstraint(condition=Q(rate_limit__gte=1), name="webhook_endpoint_rate_limit_positive"),
        ]
        indexes = [
            models.Index(fields=["business", "-created_at", "-id"], name="webhook_endpoint_business"),
        ]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: datetime.datetime) -> list[str]:
        """The secrets that sign a delivery now: the current one, and the previous one until it lapses."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets

    def wants(self, event_type: str) -> bool:
        return not self.filter_types or event_type in self.filter_types


class WebhookEvent(models.Model):
    """The outbox: one row per event, written in the transaction of its cause (an entry, a hold, an
    expiry, a balance crossing), so it exists if and only if the cause committed. Its id is the
    ``webhook-id`` of every delivery of it. The worker renders ``payload`` once (the exact bytes sent
    on every attempt) and fans it out to the endpoints (``dispatched_at``)."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.webhook_event_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64)
    customer_id = models.CharField(max_length=ID_MAX_LENGTH, null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)
    entry_id = models.CharField(max_length=ID_MAX_LENGTH, null=True, blank=True)
    hold_id = models.CharField(max_length=ID_MAX_LENGTH, null=True, blank=True)
    #: What the event knows that its subject will not keep (a threshold, a hold's status then …).
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    payload = models.TextField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], condition=Q(dispatched_at__isnull=True),
                         name="webhook_event_outbox"),
            models.Index(fields=["business", "-created_at", "-id"], name="webhook_event_business"),
            models.Index(fields=["business", "entry_id"], condition=Q(entry_id__isnull=False),
                         name="webhook_event_entry"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: attempted on Dodo's schedule until a 2xx, a ``410`` or the end of
    the schedule. A worker claims it (``lease_until``) for one attempt; a worker killed mid-attempt
    leaves a lease that lapses, and the delivery is attempted again (same ``webhook-id``)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.webhook_delivery_id,
                          editable=False)
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    #: When it is due (pending only).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: A worker holds it until then (an attempt in flight).
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    #: A person asked to send it again (its next attempt is a replay, outside the schedule).
    replay = models.BooleanField(default=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # business_id first, as in every unique key here: the table can be distributed by business.
            models.UniqueConstraint(
                fields=["business", "event", "endpoint"], name="webhook_delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True)),
                name="webhook_delivery_due_only_when_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_delivery_endpoint"),
            models.Index(fields=["business", "status", "-created_at"], name="webhook_delivery_status"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what the receiver answered, how fast, its first bytes."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        REPLAY = "replay"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULE)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    #: Why it failed without an answer (timeout, refused address, connection error), else empty.
    error = models.CharField(max_length=500, blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["delivery", "number"], name="webhook_attempt_delivery")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WalletRunway(models.Model):
    """A wallet's runway episode: ``low`` while, at its trailing 14-day burn rate, it empties within
    its business's runway days. ``wallet.runway_low`` is written when ``low`` turns true (once per episode)."""

    wallet = models.OneToOneField(Wallet, primary_key=True, on_delete=models.CASCADE, related_name="runway")
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    low = models.BooleanField(default=False)
    days_left = models.FloatField(null=True, blank=True)
    burn_per_day = models.BigIntegerField(default=0)
    since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField()
    #: The wallet's ``entry_count`` when it was checked: it changed since when that differs.
    checked_entry_count = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["business"], condition=Q(low=True), name="wallet_runway_low")]

    def __str__(self) -> str:
        return f"{self.wallet_id} runway {'low' if self.low else 'ok'}"


# --- Bulk credit from the dashboard ------------------------------------------------------------


class BulkCreditRun(models.Model):
    """A bulk credit file uploaded in the dashboard: its bytes, the preview made at upload, and the
    run the worker does once confirmed (``wallets.services.bulk_runs``; the posting is
    ``wallets.services.bulk``, the same as ``manage.py bulk_credit``).

    One run per file and business (``digest``, the file's SHA-256): the same file uploaded again is
    this run. Rows carry the service's derived idempotency keys (file hash + line), so a run that is
    resumed after its worker was killed posts each row exactly once.

    Status: previewed (uploaded, not confirmed) → queued (confirmed, a task enqueued) → running →
    finished, or failed (a batch the database refused; resumable). ``heartbeat_at`` moves with every
    batch: a running run whose heartbeat is older than ``WALLETS_BULK_STALL_SECONDS`` lost its worker,
    and the sweep enqueues it again.
    """

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Awaiting confirmation"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Stopped by an error"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=ids.bulk_credit_run_id, editable=False)
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    file_name = models.CharField(max_length=255)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the file, hex")
    data = models.BinaryField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    #: What the upload found (``bulk_runs.preview_data``): counts, totals per currency, refused rows.
    preview = models.JSONField(default=dict, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    posted = models.PositiveIntegerField(default=0)
    replayed = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    #: The run's outcome: refused rows (line, column, reason, cells) and the money moved per currency.
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_by_name = models.CharField(max_length=255, blank=True, default="")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    confirmed_by_name = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["business", "digest"], name="bulk_credit_run_file_per_business"),
            models.CheckConstraint(condition=Q(rows_done__lte=F("total_rows")), name="bulk_credit_run_progress"),
        ]
        indexes = [
            models.Index(fields=["business", "-created_at", "-id"], name="bulk_credit_run_business"),
            models.Index(fields=["status", "heartbeat_at"], name="bulk_credit_run_status"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def has_outcome(self) -> bool:
        return self.status in (self.Status.FINISHED, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.total_rows else min(100, self.rows_done * 100 // self.total_rows)


# --- Analytics ---------------------------------------------------------------------------------


class LedgerRollup(models.Model):
    """Analytics' pre-aggregate: a business's credits and debits in one currency over a closed
    15-minute slot (UTC-aligned, so every time zone's midnight falls on a slot boundary). Derived
    from the ledger, never edited by hand; ``wallets.services.rollups`` fills it up to
    ``LedgerRollupMark.rolled_up_to`` and rebuilds it when its entry count disagrees with the ledger's."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    slot_start = models.DateTimeField()
    credits = models.BigIntegerField(default=0)
    credit_count = models.BigIntegerField(default=0)
    debits = models.BigIntegerField(default=0)
    debit_count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business", "slot_start", "currency"], name="ledger_rollup_slot"),
        ]

    def __str__(self) -> str:
        return f"{self.business_id} {self.currency} {self.slot_start:%Y-%m-%d %H:%M}"


class LedgerRollupMark(models.Model):
    """How far a business's ``LedgerRollup`` reaches (exclusive), and how many entries it counts."""

    business = models.OneToOneField(Business, primary_key=True, on_delete=models.CASCADE, related_name="+")
    rolled_up_to = models.DateTimeField()
    entries = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.business_id} rolled up to {self.rolled_up_to:%Y-%m-%d %H:%M}"
