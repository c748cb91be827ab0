"""Settings → Activity log: the business's security events, newest first, human-readable, filtered
by kind and days, paginated; the CSV (UTC, BOM, spreadsheet-safe); tenant isolation; a flat budget."""

import csv
import datetime
import io

import pytest
from django.utils import timezone

from wallets.dashboard.activity_text import describe
from wallets.models import Membership, SecurityEvent
from wallets.money import format_money
from wallets.services.actors import Actor
from wallets.services.policies import business_set_runway_days, currency_policy_set_approval
from wallets.services.security_events import security_event_record

ACTIVITY = "/dashboard/settings/activity/"
Kind = SecurityEvent.Kind


def record(business, kind=Kind.API_KEY_CREATED, when=None, **details):
    details = details or {"prefix": "wsk_abc", "name": "Server"}
    if when:  # the log is append-only (a trigger refuses UPDATE): an old event is made old
        return SecurityEvent.objects.create(kind=kind, business=business, actor_type="user", actor_id="1",
                                            actor_name="alice", details=details, created_at=when)
    return security_event_record(kind=kind, business_id=business.id, actor=Actor.user(1), actor_name="alice",
                                 details=details)


def test_policy_change_reads_like_a_sentence(viewer_client, business):
    currency_policy_set_approval(business_id=business.id, currency="USD", approval_above=50_000)
    currency_policy_set_approval(business_id=business.id, currency="USD", approval_above=100_000, actor_name="alice")
    body = viewer_client.get(ACTIVITY).content.decode()
    assert "USD approval threshold $500.00 → $1,000.00" in body
    assert "USD approval threshold none → $500.00" in body
    assert body.index("$500.00 → $1,000.00") < body.index("none → $500.00")  # newest first


@pytest.mark.parametrize(("kind", "details", "expected"), [
    (Kind.POLICY_DELETED, {"currency": "JPY", "low_balance_below": 500, "approval_above": None},
     "JPY policy deleted (it held: low-balance threshold ¥500, approval threshold none)"),
    (Kind.SETTINGS_CHANGED, {"setting": "runway_days", "before": 7, "after": 14}, "Runway alerts (days) 7 → 14"),
    (Kind.MEMBER_ROLE_CHANGED, {"email": "o@acme.test", "before": "viewer", "after": "approver"},
     "o@acme.test: Viewer → Approver"),
    (Kind.ADJUSTMENT_APPROVED, {"currency": "KWD", "amount": 1250, "is_credit": False, "customer_id": "cus_1"},
     f"{format_money(1250, 'KWD')} debit for cus_1"),
    (Kind.WEBHOOK_CHANGED, {"endpoint_id": "whe_1", "change": "disabled"}, "endpoint id: whe_1; change: disabled"),
    (Kind.POLICY_CHANGED, {"unexpected": "shape"}, "unexpected: shape"),
])
def test_describe(kind, details, expected):
    assert describe(SecurityEvent(kind=kind, details=details)) == expected


def test_filters_by_kind_and_days(viewer_client, business):
    now = timezone.now()
    record(business, when=now - datetime.timedelta(days=10))
    business_set_runway_days(business_id=business.id, runway_days=30)
    day = timezone.localdate(now).isoformat()
    body = viewer_client.get(ACTIVITY, {"kind": Kind.SETTINGS_CHANGED}).content.decode()
    assert "7 → 30" in body
    assert "wsk_abc" not in body
    body = viewer_client.get(ACTIVITY, {"from_date": day, "to_date": day}).content.decode()
    assert "7 → 30" in body
    assert "wsk_abc" not in body
    old = (now - datetime.timedelta(days=10)).date().isoformat()
    body = viewer_client.get(ACTIVITY, {"to_date": old}).content.decode()
    assert "wsk_abc" in body
    assert "7 → 30" not in body
    response = viewer_client.get(ACTIVITY, {"from_date": day, "to_date": old})
    assert response.status_code == 400
    assert "before the start date" in response.content.decode()


def test_empty_state_and_pagination(viewer_client, business):
    assert "No activity matches" in viewer_client.get(ACTIVITY, {"kind": Kind.POLICY_DELETED}).content.decode()
    for _ in range(55):
        record(business)
    body = viewer_client.get(ACTIVITY, {"kind": Kind.API_KEY_CREATED}).content.decode()
    assert "1–50 of 55" in body
    assert 'rel="next"' in body
    body = viewer_client.get(ACTIVITY, {"kind": Kind.API_KEY_CREATED, "page": 2}).content.decode()
    assert "51–55 of 55" in body


def test_csv_is_utc_with_a_bom_and_safe_cells(viewer_client, business):
    record(business, when=datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC),
           prefix="wsk_x", name="=HYPERLINK(\"http://evil\")")
    currency_policy_set_approval(business_id=business.id, currency="USD", approval_above=50_000)
    response = viewer_client.get(f"{ACTIVITY}export.csv", {"kind": Kind.API_KEY_CREATED})
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][0] == "created_at_utc"
    assert len(rows) == 2  # the kind filter applies to the CSV too
    assert rows[1][0] == "2026-03-01T12:30:00Z"
    assert rows[1][1] == "api_key_created"
    assert rows[1][6].startswith("Key wsk_x…")  # the details cell starts with text, not a formula
    assert not any(cell.startswith("=") for cell in rows[1])


def test_another_business_events_never_show(viewer_client, business, other_business):
    record(other_business, prefix="wsk_globex", name="Globex key")
    record(business)
    body = viewer_client.get(ACTIVITY).content.decode()
    assert "wsk_abc" in body
    assert "wsk_globex" not in body
    csv_body = b"".join(viewer_client.get(f"{ACTIVITY}export.csv").streaming_content).decode()
    assert "wsk_globex" not in csv_body


def test_every_role_may_read(client_for, make_user, business):
    record(business)
    for role in Membership.Role.values:
        client = client_for(make_user(role, business))
        assert client.get(ACTIVITY).status_code == 200


@pytest.mark.parametrize("rows", [2, 30])
def test_query_budget_is_flat(viewer_client, business, count_queries, rows):
    for i in range(rows):
        record(business, kind=[Kind.API_KEY_CREATED, Kind.SETTINGS_CHANGED, Kind.POLICY_CHANGED][i % 3],
               **({"setting": "runway_days", "before": 1, "after": 2} if i % 3 == 1 else
                  {"currency": "USD", "changes": {"approval_above": {"before": 1, "after": 2}}} if i % 3 == 2 else
                  {"prefix": "wsk_abc"}))
    assert count_queries(viewer_client, ACTIVITY) <= 5  # session, user, membership, count, page
    assert count_queries(viewer_client, f"{ACTIVITY}export.csv") <= 4
