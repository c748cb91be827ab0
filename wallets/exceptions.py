"""Domain errors: plain exceptions, free of HTTP. ``wallets.http.errors`` translates them."""


class WalletError(Exception):
    """Base of every domain error. ``code`` is the stable machine-readable name."""

    code = "WALLET_ERROR"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.default_message)

    default_message = "The request could not be completed."

    @property
    def message(self) -> str:
        return str(self)


class CustomerNotFound(WalletError):
    code = "NOT_FOUND"
    default_message = "Customer not found."


class InsufficientFunds(WalletError):
    code = "INSUFFICIENT_WALLET_FUNDS"
    default_message = "Insufficient wallet funds for this debit."


class IdempotencyKeyReused(WalletError):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "This idempotency key was already used with a different request body."


class BalanceOverflow(WalletError):
    code = "INVALID_REQUEST_BODY"
    default_message = "The credit would make the balance larger than the maximum (2^63-1)."


class ExchangeRateNotFound(WalletError):
    code = "EXCHANGE_RATE_NOT_FOUND"
    default_message = "No exchange rate to USD is known for a currency of this customer."


class MaximumKeysReached(WalletError):
    code = "MAXIMUM_KEYS_REACHED"
    default_message = "Metadata may have at most 50 keys."


class InvalidInput(WalletError):
    """Input that passed the shape checks but breaks a domain rule (e.g. a duplicate email)."""

    code = "INVALID_REQUEST_BODY"
    default_message = "Invalid request."

    def __init__(self, message: str | None = None, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.errors = errors or {}


class ApiKeyRevoked(WalletError):
    """The posting's API key was revoked (or deleted) after this process cached it: found by the
    posting's own lock statement (``wallets.services.api_keys``)."""

    code = "UNAUTHORIZED"
    default_message = "Invalid or revoked API key."


class NotAllowed(WalletError):
    """The person lacks the role for this action (e.g. approving their own request)."""

    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class InvalidState(WalletError):
    code = "INVALID_STATE"
    default_message = "This request was already decided."


class InvalidExpiry(WalletError):
    code = "INVALID_REQUEST_BODY"
    default_message = "expires_at must be in the future, at most 10 years ahead, and only on a credit."


class NotReversible(WalletError):
    code = "INVALID_REQUEST_BODY"
    default_message = "This entry cannot be reversed: it is a reversal or an expiry."


class ReversalExceedsOriginal(WalletError):
    code = "REVERSAL_EXCEEDS_ORIGINAL"
    default_message = "The reversals of an entry cannot exceed its amount (less what has expired)."


class HoldNotActive(WalletError):
    """A hold resolves once: capture or void of a hold that is not active (HTTP 409)."""

    code = "HOLD_NOT_ACTIVE"
    default_message = "This hold is not active: it was captured, voided or has expired."


class CaptureExceedsHold(WalletError):
    code = "INVALID_REQUEST_BODY"
    default_message = "A capture cannot exceed the held amount."


class EntryNotFound(WalletError):
    code = "NOT_FOUND"
    default_message = "Ledger entry not found."


class HoldNotFound(WalletError):
    code = "NOT_FOUND"
    default_message = "Hold not found."


class WebhookNotFound(WalletError):
    """An unknown webhook endpoint or delivery, or another business's."""

    code = "NOT_FOUND"
    default_message = "Webhook not found."


def raised_during_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` replaced a ``KeyboardInterrupt``: Ctrl-C that cuts a query short can leave
    the connection busy, and the rollback Django then attempts fails with an error of its own."""
    seen: set[int] = set()
    cause = exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__context__
    return False
