"""The finance team's side of the new movements: the entry page and its reversal (confirmation,
once only, engine refusals as money next to the field, the approvals policy), holds and grants on the
customer page (Void with a confirmation), expiring adjustments, the breakage report and the admin."""

import csv
import datetime
import io
import re

import pytest
from django.contrib.admin.utils import quote
from django.core.management import CommandError, call_command
from django.utils import timezone

from wallets import ledger
from wallets.models import AdjustmentRequest, CreditGrant, CurrencyPolicy, Hold, LedgerEntry, Membership, Wallet
from wallets.selectors.reconcile import ledger_drift
from wallets.services.actors import Actor

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def books_balance(db):
    """After every test: the books reconcile (cached balances, chains, holds and grants)."""
    yield
    assert ledger_drift() == []


@pytest.fixture
def approver_client(make_user, business, client_for):
    return client_for(make_user(Membership.Role.APPROVER, business, username="april"))


def entry_url(entry):
    return f"/dashboard/customers/{entry.customer_id}/entries/{entry.pk}/"


def form_key(client, entry) -> str:
    return re.search(r'name="form_key" value="([^"]+)"', client.get(entry_url(entry)).content.decode())[1]


def reverse_post(client, entry, **values):
    return client.post(entry_url(entry) + "reverse/", values)


def usd(customer) -> Wallet:
    return Wallet.objects.get(customer=customer, currency="USD")


# --- The entry page ---------------------------------------------------------------------------


def test_entry_page_shows_every_field_and_links_both_ways(viewer_client, customer, post):
    original = post(customer, 5000, reason="Order 1", reference_object_id="pay_123", metadata={"k": "v"}).entry
    reversal = ledger.reverse(business_id=customer.business_id, customer_id=customer.pk, entry_id=original.pk,
                              amount=1250, reason="Partial refund", actor=Actor.command("test")).entry
    body = viewer_client.get(entry_url(original)).content.decode()
    metadata = "{&quot;k&quot;: &quot;v&quot;}"
    for text in (original.pk, original.wallet_id, customer.pk, "pay_123", "Order 1", "$50.00", metadata):
        assert text in body
    assert f'href="{entry_url(reversal)}" data-testid="link-reversal"' in body
    assert 'data-testid="reversed-amount">$12.50<' in body
    assert 'class="copyable" data-testid="entry-id">' + original.pk in body
    back = viewer_client.get(entry_url(reversal)).content.decode()
    assert f'href="{entry_url(original)}" data-testid="link-original"' in back
    assert "cannot be reversed" in back


def test_entry_of_another_customer_is_404(viewer_client, customer, make_customer, post):
    other = make_customer(email="bob@example.com", name="Bob")
    entry = post(other, 100).entry
    assert viewer_client.get(f"/dashboard/customers/{customer.pk}/entries/{entry.pk}/").status_code == 404


def test_ledger_tables_link_every_entry_id(viewer_client, customer, post):
    entry = post(customer, 700).entry
    for page in ("/dashboard/ledger/", f"/dashboard/customers/{customer.pk}/"):
        assert f'href="{entry_url(entry)}" class="entry-link" data-testid="entry-link">{entry.pk}</a>' in (
            viewer_client.get(page).content.decode())


def test_grant_page_shows_remaining_expired_and_the_draws(viewer_client, customer, post):
    grant = post(customer, 5000, expires_at=timezone.now() + DAY).entry
    debit = post(customer, 2000, credit=False).entry
    body = viewer_client.get(entry_url(debit)).content.decode()
    assert f'href="{entry_url(grant)}"><code>{grant.pk}</code></a></td><td class="num">$20.00<' in body
    ledger.sweep_wallet(business_id=customer.business_id, customer_id=customer.pk, currency="USD",
                        now=timezone.now() + 2 * DAY)
    expiry = LedgerEntry.objects.get(expired_grant=grant)
    grant_page = viewer_client.get(entry_url(grant)).content.decode()
    assert 'data-testid="grant-remaining">$0.00<' in grant_page
    assert 'data-testid="grant-expired">$30.00<' in grant_page
    assert f'href="{entry_url(expiry)}" data-testid="link-expiry"' in grant_page
    expiry_page = viewer_client.get(entry_url(expiry)).content.decode()
    assert f'href="{entry_url(grant)}" data-testid="link-grant"' in expiry_page


# --- Reversal ---------------------------------------------------------------------------------


def test_viewer_cannot_reverse(viewer_client, customer, post):
    entry = post(customer, 5000).entry
    body = viewer_client.get(entry_url(entry)).content.decode()
    assert "may view entries but not reverse them" in body
    assert 'name="form_key"' not in body
    response = reverse_post(viewer_client, entry, amount="10.00", reason="x", form_key="dash_abcdefgh", action="post")
    assert response.status_code == 403
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()


def test_review_confirms_balance_now_and_after_and_posts_nothing(operator_client, customer, post):
    entry = post(customer, 5000).entry
    response = reverse_post(operator_client, entry, amount="", reason="Duplicate", form_key=form_key(
        operator_client, entry), action="review")
    body = response.content.decode()
    assert 'data-testid="balance-before">$50.00<' in body
    assert 'data-testid="balance-after">$0.00<' in body  # blank amount: all that is left
    assert 'name="amount" value="50.00"' in body
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()


def test_confirm_posts_one_linked_reversal_and_double_submit_posts_once(operator_client, operator, customer, post):
    entry = post(customer, 5000).entry
    values = {"amount": "46.25", "reason": "Refund", "form_key": form_key(operator_client, entry),
              "seen_balance": "5000", "action": "post"}
    first = reverse_post(operator_client, entry, **values)
    second = reverse_post(operator_client, entry, **values)
    assert first.status_code == second.status_code == 303
    reversal = LedgerEntry.objects.get(reversal_of=entry)
    assert (reversal.amount, reversal.is_credit, reversal.actor_id) == (4625, False, str(operator.pk))
    assert usd(customer).balance == 375
    page = operator_client.get(second["Location"]).content.decode()
    assert "nothing was posted twice" in page


def test_refusals_are_money_next_to_the_amount(operator_client, customer, post):
    entry = post(customer, 5000).entry
    post(customer, 4000, credit=False)  # $10.00 left in the wallet
    response = reverse_post(operator_client, entry, amount="46.25", reason="Refund",
                            form_key=form_key(operator_client, entry), action="review")
    body = response.content.decode()
    assert re.search(r'id="rev_amount".*?<p class="error" role="alert">Insufficient funds: the available USD '
                     r'balance is \$10\.00, less than this reversal of \$46\.25\.</p>', body, re.DOTALL)
    response = reverse_post(operator_client, entry, amount="50.01", reason="Refund",
                            form_key=form_key(operator_client, entry), action="review")
    assert "at most $50.00 of this entry&#x27;s $50.00 can still be reversed" in response.content.decode()
    response = reverse_post(operator_client, entry, amount="1.005", reason="", form_key="dash_abcdefgh")
    body = response.content.decode()
    assert "Give a reason" in body or "This field is required" in body
    assert re.search(r'id="rev_amount".*?<p class="error"', body, re.DOTALL)
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()


def test_held_reversal_is_approved_by_another_user_and_posts_once(operator_client, approver_client, operator,
                                                                 business, customer, post):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=1000)
    entry = post(customer, 5000).entry
    values = {"amount": "30.00", "reason": "Chargeback", "form_key": form_key(operator_client, entry),
              "seen_balance": "5000", "action": "post"}
    assert "Submit for approval" in reverse_post(operator_client, entry, **{**values, "action": "review"}
                                                 ).content.decode()
    assert reverse_post(operator_client, entry, **values).status_code == 303
    assert reverse_post(operator_client, entry, **values).status_code == 303  # double submit: one request
    request = AdjustmentRequest.objects.get()
    assert (request.reversal_of_id, request.amount, request.is_credit, request.status) == (
        entry.pk, 3000, False, "pending")
    assert not LedgerEntry.objects.filter(reversal_of=entry).exists()
    listed = approver_client.get("/dashboard/approvals/").content.decode()
    assert f'Reversal of <a href="{entry_url(entry)}" class="mono">{entry.pk}</a>' in listed
    own = operator_client.post(f"/dashboard/approvals/{request.pk}/decide/", {"decision": "approve"})
    assert own.status_code == 403
    approver_client.post(f"/dashboard/approvals/{request.pk}/decide/", {"decision": "approve"})
    approver_client.post(f"/dashboard/approvals/{request.pk}/decide/", {"decision": "approve"})
    reversal = LedgerEntry.objects.get(reversal_of=entry)
    request.refresh_from_db()
    assert (request.status, request.ledger_entry_id, reversal.amount) == ("approved", reversal.pk, 3000)
    assert usd(customer).balance == 2000


# --- Customer page: holds, grants, expiring adjustments ------------------------------------------


def make_hold(customer, amount, reference="ord_1", days=3):
    return ledger.create_hold(business_id=customer.business_id, customer_id=customer.pk, currency="USD",
                              amount=amount, actor=Actor.command("test"), expires_at=timezone.now() + days * DAY,
                              reference_object_id=reference).hold


def test_customer_page_shows_held_available_holds_and_grants_soonest_first(viewer_client, customer, post):
    post(customer, 10000)
    hold = make_hold(customer, 2500, reference="ord_77")  # before the grants: drawn from money that never expires
    later = post(customer, 3000, expires_at=timezone.now() + 9 * DAY).entry
    sooner = post(customer, 2000, expires_at=timezone.now() + 2 * DAY).entry
    body = viewer_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    assert 'data-testid="balance-USD">$150.00<' in body
    assert 'data-testid="held-USD">$25.00<' in body
    assert 'data-testid="available-USD">$125.00<' in body
    assert "ord_77" in body
    assert hold.pk in body
    assert body.index(entry_url(sooner)) < body.index(entry_url(later))
    assert f"void-{hold.pk}" not in body  # a viewer gets no Void button


def test_void_needs_a_confirmation_and_an_operator(viewer_client, operator_client, customer, post):
    post(customer, 5000)
    hold = make_hold(customer, 2000)
    url = f"/dashboard/customers/{customer.pk}/holds/{hold.pk}/void/"
    assert viewer_client.post(url, {"action": "post"}).status_code == 403
    review = operator_client.post(url, {"action": "review"}).content.decode()
    assert 'data-testid="available-before">$30.00<' in review
    assert 'data-testid="available-after">$50.00<' in review
    hold.refresh_from_db()
    assert hold.status == Hold.Status.ACTIVE
    assert operator_client.post(url, {"action": "post"}).status_code == 303
    again = operator_client.post(url, {"action": "post"}, follow=True).content.decode()
    assert "nothing was voided twice" in again
    hold.refresh_from_db()
    assert hold.status == Hold.Status.VOIDED
    assert usd(customer).held_balance == 0


def test_adjustment_credit_with_expiry_makes_a_grant(operator_client, customer):
    body = operator_client.get(f"/dashboard/customers/{customer.pk}/").content.decode()
    key = re.search(r'name="form_key" value="([^"]+)"', body)[1]
    expires = (timezone.localtime() + 5 * DAY).strftime("%Y-%m-%dT%H:%M")
    values = {"direction": "credit", "amount": "20.00", "currency": "USD", "reason": "Promo", "form_key": key,
              "expires_at": expires}
    review = operator_client.post(f"/dashboard/customers/{customer.pk}/adjust/", {**values, "action": "review"})
    assert 'data-testid="expires-at"' in review.content.decode()
    assert f'name="expires_at" value="{expires}"' in review.content.decode()
    done = operator_client.post(f"/dashboard/customers/{customer.pk}/adjust/",
                                {**values, "action": "post", "seen_balance": "0"})
    assert done.status_code == 303
    grant = CreditGrant.objects.get()
    assert (grant.amount, grant.remaining) == (2000, 2000)
    debit = operator_client.post(f"/dashboard/customers/{customer.pk}/adjust/",
                                 {**values, "direction": "debit", "form_key": "dash_otherkey1"})
    assert re.search(r'id="adj_expires_at".*?Only a credit can expire', debit.content.decode(), re.DOTALL)


# --- Breakage ---------------------------------------------------------------------------------


@pytest.fixture
def expired(customer, post):
    grant = post(customer, 5000, expires_at=timezone.now() + DAY).entry
    post(customer, 1500, credit=False)
    ledger.sweep_wallet(business_id=customer.business_id, customer_id=customer.pk, currency="USD",
                        now=timezone.now() + 2 * DAY)
    return LedgerEntry.objects.get(expired_grant=grant)


def test_breakage_page_and_csv(viewer_client, expired):
    month = expired.created_at.astimezone(datetime.UTC).strftime("%Y-%m")
    body = viewer_client.get("/dashboard/reports/breakage/").content.decode()
    assert f"<td>{month}</td><td><span class=\"ccy\">USD</span></td><td class=\"num\">$35.00</td>" in body
    response = viewer_client.get("/dashboard/reports/breakage/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows == [["period_utc", "currency", "expired", "expired_minor", "expired_display", "expiry_entries"],
                    [month, "USD", "35.00", "3500", "$35.00", "1"]]
    bad = viewer_client.get("/dashboard/reports/breakage/?date_from=2026-02-30")
    assert bad.status_code == 400
    assert "Enter a valid date" in bad.content.decode()


def test_breakage_command_output_and_bad_from(business, expired):
    out = io.StringIO()
    day = expired.created_at.astimezone(datetime.UTC).date()
    call_command("breakage_report", "--business", business.pk, "--period", "day", "--from", day.isoformat(),
                 stdout=out)
    assert out.getvalue().splitlines() == [
        "business_id,period,currency,expired,expired_display,expiry_entries",
        f"{business.pk},{day.isoformat()},USD,3500,$35.00,1",
    ]
    out = io.StringIO()
    call_command("breakage_report", "--to", (day - DAY).isoformat(), stdout=out)
    assert out.getvalue().splitlines() == ["business_id,period,currency,expired,expired_display,expiry_entries"]
    with pytest.raises(CommandError, match=r"--from 'last week' is not a date: use YYYY-MM-DD"):
        call_command("breakage_report", "--from", "last week")


# --- Admin ------------------------------------------------------------------------------------


def test_admin_read_only_pages_for_the_new_models(client_for, make_user, customer, post):
    admin = client_for(make_user(superuser=True, username="support"))
    grant = post(customer, 5000, expires_at=timezone.now() + DAY).entry
    debit = post(customer, 1000, credit=False).entry
    hold = make_hold(customer, 500)
    reversal = ledger.reverse(business_id=customer.business_id, customer_id=customer.pk, entry_id=debit.pk,
                              actor=Actor.command("test")).entry
    for model in ("hold", "creditgrant", "grantdraw", "walletpayment"):
        assert admin.get(f"/admin/wallets/{model}/").status_code == 200
        assert admin.get(f"/admin/wallets/{model}/add/").status_code == 403
    assert admin.get(f"/admin/wallets/hold/{quote(hold.pk)}/change/").status_code == 200
    assert admin.get(f"/admin/wallets/creditgrant/{quote(grant.pk)}/change/").status_code == 200
    page = admin.get(f"/admin/wallets/ledgerentry/{quote(debit.pk)}/change/").content.decode()
    assert f'/admin/wallets/ledgerentry/{quote(reversal.pk)}/change/">{reversal.pk}</a> ($10.00)' in page
