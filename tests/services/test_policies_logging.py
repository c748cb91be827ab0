"""Bug 12 (rest): every threshold change, policy deletion and runway-days change leaves a trace in
the business's activity log, in the service's transaction (``wallets.services.policies``)."""

import pytest
from django.db import transaction

from wallets.models import CurrencyPolicy, SecurityEvent
from wallets.services.actors import Actor
from wallets.services.policies import (
    business_set_runway_days,
    currency_policy_delete,
    currency_policy_set_approval,
    currency_policy_set_low_balance,
    currency_policy_update,
)

Kind = SecurityEvent.Kind
ACTOR = {"actor": Actor.user(7), "actor_name": "alice", "ip": "10.0.0.1"}


def events(business, kind):
    return list(SecurityEvent.objects.filter(business=business, kind=kind).order_by("id"))


def test_approval_threshold_change_is_logged_with_before_and_after(business):
    currency_policy_set_approval(business_id=business.id, currency="USD", approval_above=50_000, **ACTOR)
    currency_policy_set_approval(business_id=business.id, currency="USD", approval_above=100_000, **ACTOR)
    first, second = events(business, Kind.POLICY_CHANGED)
    assert first.details == {"currency": "USD", "changes": {"approval_above": {"before": None, "after": 50_000}}}
    assert second.details["changes"] == {"approval_above": {"before": 50_000, "after": 100_000}}
    assert (second.actor_type, second.actor_id, second.actor_name, second.ip) == ("user", "7", "alice", "10.0.0.1")
    assert CurrencyPolicy.objects.get(business=business, currency="USD").approval_above == 100_000


def test_low_balance_change_is_logged_and_no_change_logs_nothing(business):
    currency_policy_set_low_balance(business_id=business.id, currency="INR", low_balance_below=2_500)
    currency_policy_set_low_balance(business_id=business.id, currency="INR", low_balance_below=2_500)
    currency_policy_set_low_balance(business_id=business.id, currency="INR", low_balance_below=None)
    logged = events(business, Kind.POLICY_CHANGED)
    assert [e.details["changes"]["low_balance_below"] for e in logged] == [
        {"before": None, "after": 2_500}, {"before": 2_500, "after": None}]
    assert logged[0].actor_type == "system"


def test_update_of_both_fields_is_one_event(business):
    currency_policy_update(business_id=business.id, currency="EUR",
                           changes={"low_balance_below": 100, "approval_above": 0})
    (event,) = events(business, Kind.POLICY_CHANGED)
    assert set(event.details["changes"]) == {"low_balance_below", "approval_above"}


@pytest.mark.parametrize("bad", [-1, True, 1.5, "10"])
def test_bad_values_change_nothing(business, bad):
    with pytest.raises(ValueError, match="minor units"):
        currency_policy_update(business_id=business.id, currency="USD", changes={"approval_above": bad})
    assert not CurrencyPolicy.objects.filter(business=business).exists()
    assert not SecurityEvent.objects.filter(business=business).exists()


def test_delete_records_what_the_policy_held(business):
    currency_policy_update(business_id=business.id, currency="USD",
                           changes={"low_balance_below": 1_000, "approval_above": 20_000})
    assert currency_policy_delete(business_id=business.id, currency="USD", **ACTOR) is True
    assert not CurrencyPolicy.objects.filter(business=business).exists()
    (event,) = events(business, Kind.POLICY_DELETED)
    assert event.details == {"currency": "USD", "low_balance_below": 1_000, "approval_above": 20_000}
    assert currency_policy_delete(business_id=business.id, currency="USD") is False
    assert len(events(business, Kind.POLICY_DELETED)) == 1


def test_runway_days_change_is_logged(business):
    business_set_runway_days(business_id=business.id, runway_days=14, **ACTOR)
    business_set_runway_days(business_id=business.id, runway_days=14, **ACTOR)
    (event,) = events(business, Kind.SETTINGS_CHANGED)
    assert event.details == {"setting": "runway_days", "before": 7, "after": 14}
    business.refresh_from_db()
    assert business.runway_days == 14


def test_the_service_owns_its_transaction(business):
    """The service refuses to run inside another transaction (durable): no change without its event."""
    with pytest.raises(RuntimeError), transaction.atomic():
        currency_policy_set_approval(business_id=business.id, currency="USD", approval_above=1)
