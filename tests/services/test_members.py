"""The team service (``wallets.services.members``): invitations with a set-password token, role
changes and removals, the last-approver and no-self-lock-out rules, and their security events."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import connection

from wallets.exceptions import InvalidInput, NotAllowed
from wallets.models import Membership, SecurityEvent
from wallets.services.actors import Actor
from wallets.services.members import member_change_role, member_invite, member_remove, member_set_password_link_parts

Role = Membership.Role
Kind = SecurityEvent.Kind


@pytest.fixture
def member(business):
    def make(username, role):
        user = get_user_model().objects.create_user(username=username, email=f"{username}@acme.test", password="x")
        return Membership.objects.create(user=user, business=business, role=role)

    return make


def test_invite_creates_a_user_without_a_password_and_a_working_token(business):
    membership = member_invite(business_id=business.id, email=" New.Person@Acme.test ", name="New  Person",
                               role=Role.OPERATOR, actor=Actor.user(1), actor_name="boss")
    user = membership.user
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "new.person@acme.test", "new.person@acme.test", "New", "Person")
    assert not user.has_usable_password()
    assert membership.business_id == business.id
    assert membership.role == Role.OPERATOR
    _uidb64, token = member_set_password_link_parts(user)
    assert default_token_generator.check_token(user, token)
    (event,) = SecurityEvent.objects.filter(kind=Kind.MEMBER_INVITED)
    assert event.business_id == business.id
    assert event.actor_name == "boss"
    assert event.details["email"] == "new.person@acme.test"
    assert event.details["role"] == "operator"
    assert token not in str(event.details)


def test_invite_refuses_an_existing_email_and_bad_input(business, member):
    member("taken", Role.VIEWER)
    with pytest.raises(InvalidInput) as exc:
        member_invite(business_id=business.id, email="TAKEN@acme.test", role=Role.VIEWER)
    assert "already exists" in exc.value.errors["email"][0]
    with pytest.raises(InvalidInput) as exc:
        member_invite(business_id=business.id, email="nope", role="owner")
    assert set(exc.value.errors) == {"email", "role"}
    assert not SecurityEvent.objects.filter(kind=Kind.MEMBER_INVITED).exists()
    assert get_user_model().objects.count() == 1


def test_role_change_is_logged(business, member):
    boss = member("boss", Role.APPROVER)
    olivia = member("olivia", Role.VIEWER)
    member_change_role(business_id=business.id, membership_id=olivia.pk, role=Role.APPROVER,
                       actor=Actor.user(boss.user_id))
    olivia.refresh_from_db()
    assert olivia.role == Role.APPROVER
    (event,) = SecurityEvent.objects.filter(kind=Kind.MEMBER_ROLE_CHANGED)
    assert (event.details["before"], event.details["after"], event.details["username"]) == (
        "viewer", "approver", "olivia")


def test_the_last_approver_cannot_be_demoted_or_removed(business, member):
    boss = member("boss", Role.APPROVER)
    with pytest.raises(NotAllowed, match="last approver"):
        member_change_role(business_id=business.id, membership_id=boss.pk, role=Role.OPERATOR)
    with pytest.raises(NotAllowed, match="last approver"):
        member_remove(business_id=business.id, membership_id=boss.pk)
    boss.refresh_from_db()
    assert boss.role == Role.APPROVER
    second = member("second", Role.APPROVER)
    member_change_role(business_id=business.id, membership_id=boss.pk, role=Role.OPERATOR)
    with pytest.raises(NotAllowed, match="last approver"):
        member_remove(business_id=business.id, membership_id=second.pk)


def test_nobody_changes_or_removes_themselves(business, member):
    boss = member("boss", Role.APPROVER)
    member("other", Role.APPROVER)
    me = Actor.user(boss.user_id)
    with pytest.raises(NotAllowed, match="your own role"):
        member_change_role(business_id=business.id, membership_id=boss.pk, role=Role.VIEWER, actor=me)
    with pytest.raises(NotAllowed, match="yourself"):
        member_remove(business_id=business.id, membership_id=boss.pk, actor=me)
    assert Membership.objects.filter(pk=boss.pk, role=Role.APPROVER).exists()


def test_remove_deletes_the_membership_and_deactivates_the_user(business, member):
    member("boss", Role.APPROVER)
    olivia = member("olivia", Role.OPERATOR)
    member_remove(business_id=business.id, membership_id=olivia.pk, actor_name="boss")
    user = get_user_model().objects.get(username="olivia")
    assert not Membership.objects.filter(pk=olivia.pk).exists()
    assert not user.is_active
    assert not user.has_usable_password()
    (event,) = SecurityEvent.objects.filter(kind=Kind.MEMBER_REMOVED)
    assert event.details["username"] == "olivia"
    assert event.details["role"] == "operator"


def test_another_business_member_is_not_found(business, other_business, member):
    olivia = member("olivia", Role.OPERATOR)
    with pytest.raises(Membership.DoesNotExist):
        member_change_role(business_id=other_business.id, membership_id=olivia.pk, role=Role.VIEWER)
    with pytest.raises(Membership.DoesNotExist):
        member_remove(business_id=other_business.id, membership_id=olivia.pk)
    assert Membership.objects.get(pk=olivia.pk).role == Role.OPERATOR


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor == "sqlite",
                    reason="SQLite serializes every writer (BEGIN IMMEDIATE): no concurrent row locks to prove")
def test_two_concurrent_demotions_leave_one_approver(business, member):
    """Each demotion alone is allowed (there are two approvers); together they would leave none."""
    a, b = member("a", Role.APPROVER), member("b", Role.APPROVER)
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(membership):
        try:
            barrier.wait()
            member_change_role(business_id=business.id, membership_id=membership.pk, role=Role.OPERATOR)
            outcomes.append("ok")
        except NotAllowed:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=(m,)) for m in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(business=business, role=Role.APPROVER).count() == 1
