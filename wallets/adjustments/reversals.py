"""The steps of reversing one entry by hand, shaped like the adjustment's (``flow``): form →
confirmation (the balance now and after) → the approvals policy (``adjustment_submit`` with
``reversal_of``: posted at once, or held above the threshold for a different approver).

Rules:
- the amount is parsed exactly in the entry's currency (the adjustment form's parsing); blank
  means what is left to reverse; a reason is required;
- the review asks the engine (``ledger.rehearse(ledger.reverse_in_transaction, …)``) what would happen, so its refusals
  (exceeds the original, not reversible, insufficient funds) are shown next to the amount,
  in money, before anything is confirmed, and again if they happen at posting;
- the form key travels through the confirmation: a double submit posts (or holds) once;
- posting needs the balance shown on the confirmation, as for adjustments.
"""

from dataclasses import dataclass

from wallets import ledger
from wallets.adjustments.flow import CONFIRM, DONE, EDIT
from wallets.adjustments.forms import ReversalForm, new_form_key
from wallets.exceptions import (
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidInput,
    NotAllowed,
    NotReversible,
    ReversalExceedsOriginal,
    WalletError,
)
from wallets.models import Wallet
from wallets.money import format_money, to_major
from wallets.selectors import adjustment_key_used, approval_threshold
from wallets.selectors.movements import EntryDetail
from wallets.services.actors import Actor
from wallets.services.approvals import AdjustmentOutcome, adjustment_submit

__all__ = ["CONFIRM", "DONE", "EDIT", "ReversalStep", "reversal_form_new", "reversal_handle"]


@dataclass
class ReversalStep:
    stage: str
    form: ReversalForm
    detail: EntryDetail
    balance_before: int | None = None
    balance_after: int | None = None
    needs_approval: bool = False
    notice: str = ""
    outcome: AdjustmentOutcome | None = None

    @property
    def data(self) -> dict:
        return self.form.cleaned_data

    @property
    def entry(self):
        return self.detail.entry

    def summary(self) -> str:
        entry = self.entry
        amount = format_money(self.data["amount_minor"], entry.currency)
        assert self.outcome is not None
        if self.outcome.held:
            request = self.outcome.request
            assert request is not None
            if request.status == request.Status.APPROVED:
                return f"Already approved and posted, nothing was posted twice: reversal of {amount} of {entry.pk}."
            if request.status == request.Status.REJECTED:
                return f"The reversal of {amount} of {entry.pk} was rejected by an approver; nothing was posted."
            return f"Reversal of {amount} of {entry.pk} is waiting for approval by an approver (request {request.pk})."
        text = (f"Reversed {amount} of {entry.pk}. New {entry.currency} balance: "
                f"{format_money(self.outcome.balance, entry.currency)}.")
        return f"Already posted, nothing was posted twice: {text}" if self.outcome.replayed else text


def reversal_form_new(*, detail: EntryDetail) -> ReversalForm:
    left = detail.left_to_reverse
    initial = {"amount": str(to_major(left, detail.entry.currency))} if left else {}
    return ReversalForm(initial=initial, currency=detail.entry.currency)


def reversal_handle(*, data, business_id: str, detail: EntryDetail, user) -> ReversalStep:
    """One POST of the flow. ``data["action"]``: "review" (default), "post" or "edit"."""
    entry = detail.entry
    action = data.get("action", "review")
    if action == "edit":
        initial = {name: data.get(name) for name in ("amount", "reason", "form_key")}
        return ReversalStep(EDIT, ReversalForm(initial=initial, currency=entry.currency), detail)
    data = data.copy()
    if not (data.get("amount") or "").strip() and detail.left_to_reverse:
        data["amount"] = str(to_major(detail.left_to_reverse, entry.currency))
    form = ReversalForm(data, currency=entry.currency)
    step = ReversalStep(EDIT, form, detail)
    if not form.is_valid():
        return step
    d = form.cleaned_data
    amount, key = d["amount_minor"], d["form_key"]
    wallet = Wallet.objects.get(business_id=business_id, customer_id=entry.customer_id, currency=entry.currency)
    step.balance_before = wallet.balance
    threshold = approval_threshold(business_id=business_id, currency=entry.currency)
    step.needs_approval = threshold is not None and amount > threshold
    # A form already posted or already held (double click, refresh) goes straight to the service,
    # which replays it: its own hold must not count against it.
    used = adjustment_key_used(business_id=business_id, customer_id=entry.customer_id, idempotency_key=key)
    if not used:
        try:  # what the engine would do now: its refusals said on the form, in money
            preview = ledger.rehearse(ledger.reverse_in_transaction, business_id=business_id,
                                      customer_id=entry.customer_id, entry_id=entry.pk, amount=amount,
                                      reason=d["reason"], actor=Actor.user(user.pk))
        except WalletError as exc:
            _refusal_on_form(form, exc, detail, amount, wallet)
            return step
        step.balance_after = preview.wallet.balance
    if action != "post":
        step.stage = CONFIRM
        return step
    if not used and d.get("seen_balance") != wallet.balance:
        step.stage = CONFIRM
        step.notice = "The balance changed since the confirmation was shown. Check the new figures."
        return step
    try:
        step.outcome = adjustment_submit(
            business_id=business_id, customer_id=entry.customer_id, currency=entry.currency, amount=amount,
            is_credit=not entry.is_credit, reason=d["reason"], idempotency_key=key, user=user,
            reversal_of=entry.pk,
        )
    except IdempotencyKeyReused:
        fresh = data.copy()
        fresh["form_key"] = new_form_key()
        step.form = ReversalForm(fresh, currency=entry.currency)
        step.form.is_valid()
        step.form.add_error(None, "This form was already used for a different reversal. "
                                  "Check the figures and submit again.")
        return step
    except (NotAllowed, InvalidInput) as exc:
        form.add_error("reason" if isinstance(exc, InvalidInput) else None, exc.message)
        return step
    except WalletError as exc:
        wallet.refresh_from_db()
        _refusal_on_form(form, exc, detail, amount, wallet)
        return step
    step.stage = DONE
    return step


def _refusal_on_form(form: ReversalForm, exc: WalletError, detail: EntryDetail, amount: int, wallet: Wallet) -> None:
    currency = detail.entry.currency
    if isinstance(exc, ReversalExceedsOriginal):
        form.add_error("amount", f"This is more than is left to reverse: at most "
                                 f"{format_money(detail.left_to_reverse, currency)} of this entry's "
                                 f"{format_money(detail.entry.amount, currency)} can still be reversed.")
    elif isinstance(exc, NotReversible):
        form.add_error("amount", "This entry cannot be reversed: it is itself a reversal or an expiry.")
    elif isinstance(exc, InsufficientFunds):
        available = wallet.balance - wallet.held_balance
        form.add_error("amount", f"Insufficient funds: the available {currency} balance is "
                                 f"{format_money(available, currency)}, less than this reversal of "
                                 f"{format_money(amount, currency)}.")
    else:
        form.add_error(None, exc.message)
