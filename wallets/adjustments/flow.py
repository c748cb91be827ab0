"""The steps of a manual adjustment, shared by the dashboard and the admin: form → confirmation (the
balance before and after) → posting through the service layer.

Rules:
- the amount is parsed exactly in the currency's major units; a reason is required;
- the idempotency key is made when the form is rendered and travels through the confirmation, so
  a double click, a refresh or a retry posts once (the service replays the first posting);
- an overdraft is refused with the message next to the amount, at review and again at posting
  (the service checks under the wallet lock);
- posting needs the balance shown on the confirmation; if it changed meanwhile, the confirmation
  is shown again with the new numbers;
- above the business's approval threshold the adjustment is held for an approver
  (``wallets.services.approvals``).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from wallets import selectors
from wallets.adjustments.forms import AdjustmentForm, new_form_key
from wallets.exceptions import IdempotencyKeyReused, InsufficientFunds, InvalidExpiry, InvalidInput, NotAllowed
from wallets.models import Customer
from wallets.money import format_money
from wallets.services.approvals import AdjustmentOutcome, adjustment_submit

EDIT, CONFIRM, DONE = "edit", "confirm", "done"


@dataclass
class AdjustmentStep:
    stage: str
    form: AdjustmentForm
    customer: Customer
    balance_before: int | None = None
    balance_after: int | None = None
    needs_approval: bool = False
    notice: str = ""
    outcome: AdjustmentOutcome | None = None
    wallets: list = field(default_factory=list)

    @property
    def data(self) -> dict:
        return self.form.cleaned_data

    def summary(self) -> str:
        """One sentence for the message after posting."""
        d = self.data
        amount = format_money(d["amount_minor"], d["currency"])
        if self.outcome is not None and self.outcome.held:
            request = self.outcome.request
            what = f"{'Credit' if self.form.is_credit else 'Debit'} of {amount} for {self.customer.name}"
            if request.status == request.Status.APPROVED:
                return f"Already approved and posted, nothing was posted twice: {what} (request {request.pk})."
            if request.status == request.Status.REJECTED:
                return f"{what} was rejected by an approver (request {request.pk}); nothing was posted."
            return f"{what} is waiting for approval by an approver (request {request.pk})."
        assert self.outcome is not None
        verb = "Credited" if self.form.is_credit else "Debited"
        balance = format_money(self.outcome.balance, d["currency"])
        text = (f"{verb} {amount} {'to' if self.form.is_credit else 'from'} {self.customer.name}. "
                f"New {d['currency']} balance: {balance}.")
        if self.outcome.replayed:
            text = f"Already posted, nothing was posted twice: {text}"
        return text


def adjustment_form_new(*, business_id: str, customer: Customer, wallets=None,
                        business_currencies: Sequence[str] = ()) -> AdjustmentForm:
    """``business_currencies``: the business's currencies, listed after the customer's wallets (the
    dashboard's picker groups, ``wallets.dashboard.currencies``)."""
    wallets = wallets if wallets is not None else selectors.wallet_list(business_id=business_id,
                                                                       customer_id=customer.pk)
    # Preselect the wallet used last (the one most likely to be adjusted).
    active = [w for w in wallets if w.entry_count]
    initial = {"currency": max(active, key=lambda w: w.updated_at).currency} if active else {}
    return AdjustmentForm(wallet_currencies=[w.currency for w in wallets], business_currencies=business_currencies,
                          initial=initial)


def adjustment_handle(*, data, business_id: str, customer: Customer, user,
                      business_currencies: Sequence[str] = ()) -> AdjustmentStep:
    """One POST of the flow. ``data["action"]``: "review" (default), "post" or "edit"."""
    wallets = selectors.wallet_list(business_id=business_id, customer_id=customer.pk)
    pickers = {"wallet_currencies": [w.currency for w in wallets],
               "business_currencies": business_currencies}
    action = data.get("action", "review")
    if action == "edit":  # back from the confirmation: the form filled in, nothing checked yet
        initial = {name: data.get(name) for name in ("direction", "amount", "currency", "reason", "expires_at",
                                                     "form_key")}
        return AdjustmentStep(EDIT, AdjustmentForm(initial=initial, **pickers), customer, wallets=wallets)

    form = AdjustmentForm(data, **pickers)
    step = AdjustmentStep(EDIT, form, customer, wallets=wallets)
    if not form.is_valid():
        return step
    d = form.cleaned_data
    currency, amount = d["currency"], d["amount_minor"]
    wallet = next((w for w in wallets if w.currency == currency), None)
    before = wallet.balance if wallet is not None else 0
    held = wallet.held_balance if wallet is not None else 0
    step.balance_before = before
    step.balance_after = before + amount if form.is_credit else before - amount
    threshold = selectors.approval_threshold(business_id=business_id, currency=currency)
    step.needs_approval = threshold is not None and amount > threshold
    # A form already posted (double click, refresh) goes straight to the service, which replays it.
    used = selectors.adjustment_key_used(business_id=business_id, customer_id=customer.pk,
                                         idempotency_key=d["form_key"])
    if not used and not form.is_credit and amount > before - held:  # held money is not there to spend
        form.add_error("amount", _overdraft_message(currency, before, amount, held))
        return step
    if action != "post":
        step.stage = CONFIRM
        return step
    if not used and d.get("seen_balance") != before:
        step.stage = CONFIRM
        step.notice = "The balance changed since the confirmation was shown. Check the new figures."
        return step
    try:
        step.outcome = adjustment_submit(
            business_id=business_id, customer_id=customer.pk, currency=currency, amount=amount,
            is_credit=form.is_credit, reason=d["reason"], idempotency_key=d["form_key"], user=user,
            expires_at=d.get("expires_at"),
        )
    except InsufficientFunds:
        fresh, fresh_held = _fresh_balance(business_id, customer, currency)
        form.add_error("amount", _overdraft_message(currency, fresh, amount, fresh_held))
        return step
    except InvalidExpiry as exc:
        form.add_error("expires_at", exc.message)
        return step
    except (NotAllowed, InvalidInput) as exc:  # the policy's own checks (role, reason): said on the form
        form.add_error("reason" if isinstance(exc, InvalidInput) else None, exc.message)
        return step
    except IdempotencyKeyReused:
        fresh = data.copy()
        fresh["form_key"] = new_form_key()
        step.form = AdjustmentForm(fresh, **pickers)
        step.form.is_valid()
        step.form.add_error(None, "This form was already used for a different adjustment. "
                                  "Check the figures and submit again.")
        return step
    step.stage = DONE
    return step


def _fresh_balance(business_id: str, customer: Customer, currency: str) -> tuple[int, int]:
    """The wallet's balance and held amount now."""
    wallets = selectors.wallet_list(business_id=business_id, customer_id=customer.pk)
    return next(((w.balance, w.held_balance) for w in wallets if w.currency == currency), (0, 0))


def _overdraft_message(currency: str, balance: int, amount: int, held: int = 0) -> str:
    if held:  # part of the balance is reserved (holds, debits waiting for approval): say what is left
        return (f"Insufficient funds: {format_money(max(balance - held, 0), currency)} available "
                f"(the {currency} balance is {format_money(balance, currency)}, {format_money(held, currency)} "
                f"reserved by holds and pending approvals), less than this debit of {format_money(amount, currency)}.")
    return (f"Insufficient funds: the {currency} balance is {format_money(balance, currency)}, "
            f"less than this debit of {format_money(amount, currency)}.")
