"""The manual adjustment flow: review → confirm → post, idempotent, overdraft refused, audited."""

import re

import pytest

from wallets.models import AdjustmentRequest, CurrencyPolicy, LedgerEntry, Wallet


def url(customer):
    return f"/dashboard/customers/{customer.pk}/adjust/"


def form_key(client, customer) -> str:
    body = client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    return re.search(r'name="form_key" value="([^"]+)"', body)[1]


def data(key, **overrides):
    values = {"direction": "credit", "amount": "50.00", "currency": "USD", "reason": "Goodwill", "form_key": key}
    values.update(overrides)
    return values


def balance(customer, currency="USD"):
    return Wallet.objects.get(customer=customer, currency=currency).balance


def test_form_key_is_fresh_per_render(operator_client, customer):
    assert form_key(operator_client, customer) != form_key(operator_client, customer)


def test_review_shows_before_and_after_and_posts_nothing(operator_client, customer, post):
    post(customer, 1000)
    response = operator_client.post(url(customer), data(form_key(operator_client, customer), action="review"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="balance-before">$10.00<' in body
    assert 'data-testid="balance-after">$60.00<' in body
    assert 'name="seen_balance" value="1000"' in body
    assert LedgerEntry.objects.count() == 1


def test_confirm_posts_once_with_the_user_as_actor(operator_client, operator, customer, post):
    post(customer, 1000)
    key = form_key(operator_client, customer)
    response = operator_client.post(url(customer), data(key, action="post", seen_balance="1000"))
    assert response.status_code == 303
    assert response["Location"] == f"/dashboard/customers/{customer.pk}/"
    entry = LedgerEntry.objects.get(idempotency_key=key)
    assert (entry.amount, entry.is_credit, entry.currency, entry.reason) == (5000, True, "USD", "Goodwill")
    assert (entry.actor_type, entry.actor_id) == ("user", str(operator.pk))
    assert entry.event_type == "merchant_adjustment"
    assert balance(customer) == 6000
    page = operator_client.get(response["Location"]).content.decode()
    assert "Credited $50.00 to Ann Lee. New USD balance: $60.00." in page
    assert 'data-testid="balance-USD">$60.00<' in page


def test_double_submit_posts_once(operator_client, customer):
    key = form_key(operator_client, customer)
    first = operator_client.post(url(customer), data(key, action="post", seen_balance="0"))
    second = operator_client.post(url(customer), data(key, action="post", seen_balance="0"))
    assert first.status_code == second.status_code == 303
    assert LedgerEntry.objects.filter(customer=customer).count() == 1
    assert balance(customer) == 5000
    assert "nothing was posted twice" in operator_client.get(second["Location"]).content.decode()


def test_double_submit_of_a_debit_that_emptied_the_wallet_replays(operator_client, customer, post):
    post(customer, 5000)
    key = form_key(operator_client, customer)
    values = data(key, direction="debit", action="post", seen_balance="5000")
    assert operator_client.post(url(customer), values).status_code == 303
    # The repeat sees balance 0 but the key was used: a replay, not an overdraft error.
    assert operator_client.post(url(customer), values).status_code == 303
    assert balance(customer) == 0
    assert LedgerEntry.objects.filter(customer=customer, is_credit=False).count() == 1


def test_overdraft_refused_at_review_next_to_the_amount(operator_client, customer, post):
    post(customer, 1000)
    response = operator_client.post(url(customer), data(form_key(operator_client, customer), direction="debit",
                                                        amount="10.01", action="review"))
    form = response.context["form"]
    assert "Insufficient funds" in form.errors["amount"][0]
    assert "$10.00" in form.errors["amount"][0]
    body = response.content.decode()
    assert re.search(r'id="adj_amount".*?Insufficient funds', body, re.DOTALL)
    assert LedgerEntry.objects.count() == 1
    assert balance(customer) == 1000


def test_overdraft_at_posting_time_is_refused(operator_client, customer, post):
    post(customer, 1000)
    key = form_key(operator_client, customer)
    # Reviewed at $10.00; meanwhile someone debited $5.00; the stale confirmation is shown again.
    post(customer, 500, credit=False)
    response = operator_client.post(url(customer), data(key, direction="debit", amount="10.00", action="post",
                                                        seen_balance="1000"))
    assert "Insufficient funds" in response.context["form"].errors["amount"][0]
    assert balance(customer) == 500
    assert not LedgerEntry.objects.filter(idempotency_key=key).exists()


def test_changed_balance_shows_the_confirmation_again(operator_client, customer, post):
    post(customer, 1000)
    key = form_key(operator_client, customer)
    post(customer, 200)
    response = operator_client.post(url(customer), data(key, action="post", seen_balance="1000"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "The balance changed" in body
    assert 'data-testid="balance-before">$12.00<' in body
    assert not LedgerEntry.objects.filter(idempotency_key=key).exists()


def test_post_without_confirmation_goes_to_confirmation(operator_client, customer):
    response = operator_client.post(url(customer), data(form_key(operator_client, customer), action="post"))
    assert response.status_code == 200
    assert 'data-testid="confirm"' in response.content.decode()
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(("amount", "currency", "message"), [
    ("50.001", "USD", "at most 2 decimal places"),
    ("1.5", "JPY", "no minor unit"),
    ("0.0005", "KWD", "at most 3 decimal places"),
    ("-5", "USD", "Enter an amount like 50.00"),
    ("1e3", "USD", "Enter an amount like 50.00"),
    ("0", "USD", "greater than zero"),
    ("", "USD", "required"),
])
def test_bad_amounts_are_refused_next_to_the_field(operator_client, customer, amount, currency, message):
    response = operator_client.post(url(customer), data(form_key(operator_client, customer), amount=amount,
                                                        currency=currency, action="post", seen_balance="0"))
    assert message in " ".join(response.context["form"].errors["amount"])
    assert not LedgerEntry.objects.exists()


def test_amount_is_parsed_exactly(operator_client, customer):
    key = form_key(operator_client, customer)
    operator_client.post(url(customer), data(key, amount="0.29", action="post", seen_balance="0"))
    assert LedgerEntry.objects.get(idempotency_key=key).amount == 29  # not 28.999…
    key = form_key(operator_client, customer)
    operator_client.post(url(customer), data(key, amount="1,234", currency="JPY", action="post",
                                             seen_balance="0"))
    assert LedgerEntry.objects.get(idempotency_key=key).amount == 1234


@pytest.mark.parametrize("reason", ["", "   "])
def test_reason_is_required(operator_client, customer, reason):
    response = operator_client.post(url(customer), data(form_key(operator_client, customer), reason=reason,
                                                        action="review"))
    assert response.context["form"].errors["reason"]
    assert not LedgerEntry.objects.exists()


def test_damaged_form_key_is_refused(operator_client, customer):
    response = operator_client.post(url(customer), data("bad key!", action="post", seen_balance="0"))
    assert "damaged" in response.context["form"].errors["form_key"][0]
    assert not LedgerEntry.objects.exists()


def test_key_reused_for_a_different_adjustment_gets_a_new_key(operator_client, customer):
    key = form_key(operator_client, customer)
    operator_client.post(url(customer), data(key, action="post", seen_balance="0"))
    response = operator_client.post(url(customer), data(key, amount="60.00", action="post", seen_balance="5000"))
    form = response.context["form"]
    assert "already used for a different adjustment" in form.non_field_errors()[0]
    assert form.data["form_key"] != key
    assert LedgerEntry.objects.count() == 1


def test_edit_returns_the_filled_form(operator_client, customer):
    key = form_key(operator_client, customer)
    response = operator_client.post(url(customer), data(key, amount="12.34", action="edit"))
    form = response.context["form"]
    assert not form.is_bound
    assert form.initial["amount"] == "12.34"
    assert form.initial["form_key"] == key
    assert not LedgerEntry.objects.exists()


def test_new_currency_creates_the_wallet(operator_client, customer):
    key = form_key(operator_client, customer)
    operator_client.post(url(customer), data(key, amount="1500", currency="JPY", action="post", seen_balance="0"))
    assert balance(customer, "JPY") == 1500


def test_above_approval_threshold_is_held(operator_client, business, customer):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=10000)
    key = form_key(operator_client, customer)
    review = operator_client.post(url(customer), data(key, amount="150.00", action="review")).content.decode()
    assert "held until an approver approves it" in review
    assert "Submit for approval" in review
    response = operator_client.post(url(customer), data(key, amount="150.00", action="post", seen_balance="0"))
    assert response.status_code == 303
    held = AdjustmentRequest.objects.get(idempotency_key=key)
    assert (held.amount, held.status) == (15000, "pending")
    assert not LedgerEntry.objects.exists()
    assert "waiting for approval" in operator_client.get(response["Location"]).content.decode()


def test_get_on_adjust_url_redirects_to_the_customer(operator_client, customer):
    response = operator_client.get(url(customer), {"sort": "amount"})
    assert response["Location"] == f"/dashboard/customers/{customer.pk}/?sort=amount"
