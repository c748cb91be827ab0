"""Held adjustments on the dashboard (issue 12, bugs 3 and 12): the money a held debit reserves, the
requests waiting on the customer's page, the approver's balance now → after, the approver on the
posted entry, and the adjustment form's currency picker."""

import re

import pytest

from tests.approvals.holds import release_hold
from tests.dashboard.test_ledger import rows_of
from wallets.models import AdjustmentRequest, CurrencyPolicy, Hold, LedgerEntry, Membership
from wallets.services.approvals import adjustment_approve, adjustment_submit


@pytest.fixture
def approver(make_user, business):
    return make_user(Membership.Role.APPROVER, business, username="april")


@pytest.fixture
def approver_client(approver, client_for):
    return client_for(approver)


@pytest.fixture
def carla(business, customer, post):
    """$106.25 in USD; approval above $50.00."""
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=5000)
    post(customer, 10625)
    return customer


def submit(customer, user, amount, key, credit=False, **kwargs):
    return adjustment_submit(business_id=customer.business_id, customer_id=customer.pk, currency="USD",
                             amount=amount, is_credit=credit, reason=kwargs.pop("reason", "Chargeback"),
                             idempotency_key=key, user=user, **kwargs).request


def adjust(client, customer, amount, key, direction="debit", action="post", seen=10625):
    return client.post(f"/dashboard/customers/{customer.pk}/adjust/", {
        "direction": direction, "amount": amount, "currency": "USD", "reason": "Chargeback", "form_key": key,
        "seen_balance": seen, "action": action})


def test_the_second_request_is_refused_next_to_the_amount_with_the_available_money(operator_client, carla):
    assert adjust(operator_client, carla, "60.00", "dash_story0001").status_code == 303
    assert AdjustmentRequest.objects.get().hold.amount == 6000
    body = adjust(operator_client, carla, "100.00", "dash_story0002", action="review").content.decode()
    assert re.search(r'id="adj_amount".*?<p class="error" role="alert">Insufficient funds: \$46\.25 available '
                     r'\(the USD balance is \$106\.25, \$60\.00 reserved by holds and pending approvals\), less '
                     r'than this debit of \$100\.00\.</p>', body, re.DOTALL)
    assert AdjustmentRequest.objects.count() == 1
    assert adjust(operator_client, carla, "60.00", "dash_story0001").status_code == 303  # a double submit
    assert (AdjustmentRequest.objects.count(), Hold.objects.count()) == (1, 1)


def test_the_customer_page_lists_what_waits_and_what_it_reserves(viewer_client, operator_client, carla, operator):
    debit = submit(carla, operator, 6000, "dash_story0001")
    credit = submit(carla, operator, 9000, "dash_story0002", credit=True, reason="Goodwill")
    body = viewer_client.get(f"/dashboard/customers/{carla.pk}/").content.decode()
    assert 'data-testid="pending-count">2<' in body
    assert 'data-testid="held-USD">$60.00<' in body
    assert 'data-testid="available-USD">$46.25<' in body
    row = re.search(rf'data-testid="pending-{debit.pk}">(.*?)</tr>', body, re.DOTALL).group(1)
    assert f"by {operator.get_username()}" in row
    assert "Debit" in row
    assert "−$60.00" in row
    assert "$60.00 reserved for approval" in row
    assert "Nothing reserved (a credit)" in re.search(rf'data-testid="pending-{credit.pk}">(.*?)</tr>', body,
                                                      re.DOTALL).group(1)
    assert f'href="/dashboard/approvals/?status=pending&amp;customer={carla.pk}"' in body
    # The holds table says what the hold is for, and offers no Void for it.
    assert f'data-testid="hold-approval-{debit.hold_id}">Reserved for approval' in body
    page = operator_client.get(f"/dashboard/customers/{carla.pk}/").content.decode()
    assert f'data-testid="void-{debit.hold_id}"' not in page
    # Voiding it by hand is refused: only the decision releases it.
    response = operator_client.post(f"/dashboard/customers/{carla.pk}/holds/{debit.hold_id}/void/",
                                    {"action": "post"}, follow=True)
    assert "reserves $60.00 for a request waiting for approval" in response.content.decode()
    assert Hold.objects.get(pk=debit.hold_id).status == "active"


def test_no_pending_section_without_requests(viewer_client, carla):
    assert 'id="pending-requests"' not in viewer_client.get(f"/dashboard/customers/{carla.pk}/").content.decode()


def test_the_approver_sees_the_balance_now_and_after(approver_client, carla, operator):
    request = submit(carla, operator, 6000, "dash_story0001")
    body = approver_client.get("/dashboard/approvals/").content.decode()
    preview = re.search(rf'data-testid="preview-{request.pk}">(.*?)</div>', body, re.DOTALL).group(1)
    assert ('Balance <span data-testid="balance-now">$106.25</span> → '
            '<span data-testid="balance-after">$46.25</span>') in preview
    assert re.search(rf'data-testid="available-{request.pk}">Available \$46\.25</div>', body)
    assert f'data-testid="reserved-{request.pk}">$60.00 reserved for this<' in body
    assert f'data-testid="blocker-{request.pk}"' not in body
    # One customer's requests, from the customer page's link.
    other = approver_client.get("/dashboard/approvals/", {"status": "pending", "customer": "cus_nobody"})
    assert 'data-testid="result-count">0<' in other.content.decode()


def test_a_request_that_can_no_longer_post_says_why_before_the_click(approver_client, carla, operator, post):
    request = submit(carla, operator, 6000, "dash_story0001")
    release_hold(request)  # voided through the API
    post(carla, 10000, credit=False)  # $6.25 left
    body = approver_client.get("/dashboard/approvals/").content.decode()
    assert (f'data-testid="blocker-{request.pk}">Cannot be posted now: $6.25 available, less than this debit of '
            f'$60.00.</p>') in body
    preview = re.search(rf'data-testid="preview-{request.pk}">(.*?)</div>', body, re.DOTALL).group(1)
    assert "balance-after" not in preview  # no "after" for what cannot happen


def test_a_reversal_beyond_what_is_left_says_why(approver_client, carla, operator, approver, post):
    entry = LedgerEntry.objects.get(customer=carla)  # the $106.25 credit
    first = submit(carla, operator, 6000, "dash_rev00001", reversal_of=entry.pk)
    post(carla, 6000)  # more money, so a second reversal of the same entry can be held too
    second = submit(carla, operator, 6000, "dash_rev00002", reversal_of=entry.pk)
    adjustment_approve(business_id=carla.business_id, request_id=first.pk, approver=approver)
    body = approver_client.get("/dashboard/approvals/").content.decode()
    assert (f'data-testid="blocker-{second.pk}">Cannot be posted: only $46.25 of entry {entry.pk} is left to '
            f'reverse (reversed or expired since).</p>') in body


def test_the_approver_is_on_the_posted_entry_the_ledgers_and_the_csv(approver_client, viewer_client, carla,
                                                                    operator, approver):
    request = submit(carla, operator, 6000, "dash_story0001")
    adjustment_approve(business_id=carla.business_id, request_id=request.pk, approver=approver,
                       note="Matches the bank's chargeback")
    request.refresh_from_db()
    entry = request.ledger_entry
    detail = viewer_client.get(f"/dashboard/customers/{carla.pk}/entries/{entry.pk}/").content.decode()
    approval = re.search(r'data-testid="approval">(.*?)</dd>', detail, re.DOTALL).group(1)
    assert f"Requested by <strong>{operator.get_username()}</strong>" in approval
    assert 'approved by <strong data-testid="approved-by">april</strong>' in approval
    assert "Matches the bank&#x27;s chargeback" in approval
    for url in ("/dashboard/ledger/", f"/dashboard/customers/{carla.pk}/"):
        body = viewer_client.get(url).content.decode()
        assert '<div class="small muted" data-testid="approved-by">approved by april</div>' in body
        assert body.count('data-testid="approved-by"') == 1  # not on the entry nobody approved
    rows = rows_of(viewer_client.get("/dashboard/ledger/export.csv"))
    assert {r["entry_id"]: r["approved_by"] for r in rows} == {
        entry.pk: "april", LedgerEntry.objects.exclude(pk=entry.pk).get().pk: ""}
    assert next(r for r in rows if r["entry_id"] == entry.pk)["actor"] == operator.get_username()  # the maker


def test_the_currency_picker_lists_the_customers_then_the_business_currencies(operator_client, business, carla,
                                                                            make_customer, post):
    post(make_customer(email="k@x.test"), 5000, currency="KWD")
    CurrencyPolicy.objects.create(business=business, currency="EUR", approval_above=100)
    body = operator_client.get(f"/dashboard/customers/{carla.pk}/").content.decode()
    picker = re.search(r'<select name="currency"[^>]*id="adj_currency"[^>]*>(.*?)</select>', body, re.DOTALL)
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', picker.group(1), re.DOTALL)
    assert [label for label, _ in groups] == ["This customer&#x27;s wallets", "This business&#x27;s currencies",
                                              "Other currencies"]
    own = re.findall(r'value="([A-Z]{3})"', groups[0][1])
    assert "USD" in own
    assert re.findall(r'value="([A-Z]{3})"', groups[1][1]) == ["EUR", "KWD"]  # the business's, not the customer's
    others = re.findall(r'value="([A-Z]{3})"', groups[2][1])
    assert "JPY" in others
    assert not {"USD", "EUR", "KWD", *own} & set(others)


@pytest.mark.parametrize("page", ["approvals", "customer"])
def test_query_budgets_stay_flat_as_requests_grow(approver_client, carla, operator, post, count_queries, page):
    post(carla, 10**8)
    url = "/dashboard/approvals/" if page == "approvals" else f"/dashboard/customers/{carla.pk}/"
    entry = LedgerEntry.objects.filter(customer=carla).first()

    def grow(n, start):
        for i in range(start, start + n):
            kind = i % 3
            submit(carla, operator, 6000 + i, f"dash_grow{i:08}", credit=kind == 1,
                   reversal_of=entry.pk if kind == 2 else None)

    grow(2, 0)
    small = count_queries(approver_client, url)
    grow(28, 2)
    assert count_queries(approver_client, url) == small
    assert small <= (8 if page == "approvals" else 14)  # the customer page: +1 for its ledger totals
