"""Settings → Approval policies: per currency the approval threshold beside the low-balance one,
in major units per currency; changed by approvers, logged with before and after; bad input is an
error next to the field and changes nothing."""

import pytest

from wallets.models import CurrencyPolicy, Membership, SecurityEvent

POLICIES = "/dashboard/settings/policies/"


@pytest.fixture
def approver_client(client_for, make_user, business):
    return client_for(make_user(Membership.Role.APPROVER, business, username="alice"))


@pytest.fixture
def wallets(customer, post):
    post(customer, 10_000)
    post(customer, 1_000, currency="JPY")
    post(customer, 5_000, currency="KWD")


def test_shows_both_thresholds_per_currency(viewer_client, business, wallets):
    CurrencyPolicy.objects.create(business=business, currency="USD", approval_above=50_000, low_balance_below=2_500)
    body = viewer_client.get(POLICIES).content.decode()
    assert 'data-testid="approval-USD">above $500.00<' in body
    assert "$25.00" in body  # the low-balance threshold beside it
    assert "no approval" in body  # JPY and KWD have none
    assert "Save approval thresholds" not in body


def test_approver_sets_thresholds_in_major_units(approver_client, business, wallets):
    response = approver_client.post(POLICIES, {"form": "thresholds",
                                               "JPY-currency": "JPY", "JPY-approval_above": "5000",
                                               "KWD-currency": "KWD", "KWD-approval_above": "1.250",
                                               "USD-currency": "USD", "USD-approval_above": "1,000.00"})
    assert response.status_code == 302
    got = dict(CurrencyPolicy.objects.filter(business=business).values_list("currency", "approval_above"))
    assert got == {"JPY": 5000, "KWD": 1250, "USD": 100_000}
    details = [e.details for e in SecurityEvent.objects.filter(kind=SecurityEvent.Kind.POLICY_CHANGED)]
    assert {"currency": "USD", "changes": {"approval_above": {"before": None, "after": 100_000}}} in details
    assert all(e.actor_name == "alice" for e in SecurityEvent.objects.filter(kind=SecurityEvent.Kind.POLICY_CHANGED))


def test_bad_amount_is_an_error_next_to_the_field_and_nothing_changes(approver_client, business, wallets):
    response = approver_client.post(POLICIES, {"form": "thresholds",
                                               "JPY-currency": "JPY", "JPY-approval_above": "1.5",
                                               "KWD-currency": "KWD", "KWD-approval_above": "",
                                               "USD-currency": "USD", "USD-approval_above": "100"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_JPY-approval_above_error"' in body
    assert 'aria-invalid="true"' in body
    assert not CurrencyPolicy.objects.filter(business=business).exists()
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.POLICY_CHANGED).exists()


def test_a_forged_row_currency_is_refused(approver_client, business, wallets):
    response = approver_client.post(POLICIES, {"form": "thresholds", "JPY-currency": "EUR", "JPY-approval_above": "1",
                                               "KWD-currency": "KWD", "USD-currency": "USD"})
    assert response.status_code == 400
    assert not CurrencyPolicy.objects.filter(business=business).exists()


def test_add_a_currency_and_clear_a_threshold(approver_client, business, wallets):
    assert approver_client.post(POLICIES, {"form": "add", "add-currency": "EUR",
                                           "add-approval_above": "250"}).status_code == 302
    assert CurrencyPolicy.objects.get(business=business, currency="EUR").approval_above == 25_000
    approver_client.post(POLICIES, {"form": "thresholds", "EUR-currency": "EUR", "EUR-approval_above": "",
                                    "JPY-currency": "JPY", "KWD-currency": "KWD", "USD-currency": "USD"})
    assert CurrencyPolicy.objects.get(business=business, currency="EUR").approval_above is None


def test_only_approvers_change(viewer_client, operator_client, business, wallets):
    for client in (viewer_client, operator_client):
        response = client.post(POLICIES, {"form": "add", "add-currency": "USD", "add-approval_above": "0"})
        assert response.status_code == 403
    assert not CurrencyPolicy.objects.exists()


def test_another_business_policy_is_neither_shown_nor_changed(approver_client, other_business, wallets):
    CurrencyPolicy.objects.create(business=other_business, currency="CHF", approval_above=777_00)
    body = approver_client.get(POLICIES).content.decode()
    assert "777.00" not in body
    assert 'data-testid="approval-CHF"' not in body
    approver_client.post(POLICIES, {"form": "add", "add-currency": "CHF", "add-approval_above": "1"})
    assert CurrencyPolicy.objects.get(business=other_business, currency="CHF").approval_above == 777_00


@pytest.mark.parametrize("rows", [2, 30])
def test_query_budget_is_flat(approver_client, business, count_queries, rows):
    from wallets.money import DODO_CURRENCIES
    for code in DODO_CURRENCIES[:rows]:
        CurrencyPolicy.objects.create(business=business, currency=code, approval_above=100)
    assert count_queries(approver_client, POLICIES) <= 5  # session, user, membership, currencies, policies


def test_general_page_changes_are_logged_with_who_made_them(operator_client, business, wallets):
    """Bug 12: a low-balance threshold or runway days changed on Settings → General is in the log."""
    operator_client.post("/dashboard/settings/", {"form": "add", "add-currency": "USD", "add-low_balance_below": "25"})
    operator_client.post("/dashboard/settings/", {"form": "runway", "runway-runway_days": "21"})
    policy = SecurityEvent.objects.get(kind=SecurityEvent.Kind.POLICY_CHANGED)
    assert policy.details == {"currency": "USD", "changes": {"low_balance_below": {"before": None, "after": 2500}}}
    assert policy.actor_name == "olivia"
    runway = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SETTINGS_CHANGED)
    assert runway.details == {"setting": "runway_days", "before": 7, "after": 21}
    assert runway.actor_name == "olivia"
    body = operator_client.get("/dashboard/settings/activity/").content.decode()
    assert "USD low-balance threshold default → $25.00" in body
    assert "Runway alerts (days) 7 → 21" in body
