"""Settings → Team: who may see and manage the team, invitations with a set-password link shown
once, role changes and removals (confirmation step), the last approver, tenant isolation and a
flat query budget."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from wallets.models import Membership, SecurityEvent

Role = Membership.Role
TEAM = "/dashboard/settings/team/"


@pytest.fixture
def approver(make_user, business):
    return make_user(Role.APPROVER, business, username="alice")


@pytest.fixture
def approver_client(client_for, approver):
    return client_for(approver)


def invite(client, email="new@acme.test", role=Role.OPERATOR, name="New Person"):
    return client.post(f"{TEAM}invite/", {"email": email, "role": role, "name": name})


def link_in(body: str) -> str:
    match = re.search(r'value="(http://testserver/dashboard/welcome/[^"]+)"', body)
    assert match, "no set-password link shown"
    return match.group(1)


def test_everyone_sees_the_team_only_approvers_manage(viewer_client, operator_client, approver_client, approver):
    for client in (viewer_client, operator_client):
        body = client.get(TEAM).content.decode()
        assert "alice" in body
        assert "Last login" in body
        assert "Invite a member" not in body
        assert "Manage" not in body
        assert invite(client).status_code == 403
    body = approver_client.get(TEAM).content.decode()
    assert "Invite a member" in body
    assert "Last login" in body
    assert not get_user_model().objects.filter(username="new@acme.test").exists()


def test_invite_shows_the_link_once_and_the_link_sets_a_password(approver_client, business):
    response = invite(approver_client)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    link = link_in(body)
    assert "shown only now" in body
    assert "/dashboard/welcome/" not in approver_client.get(TEAM).content.decode()  # never again
    user = get_user_model().objects.get(username="new@acme.test")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user).role == Role.OPERATOR
    anonymous = Client()
    page = anonymous.get(link, follow=True)
    assert page.status_code == 200
    assert "Choose a password" in page.content.decode()
    form_url = page.redirect_chain[-1][0]
    done = anonymous.post(form_url, {"new_password1": "a-long-new-pass-42", "new_password2": "a-long-new-pass-42"})
    assert done.status_code == 302
    assert done.url == "/accounts/login/"
    signed_in = anonymous.post("/accounts/login/", {"username": "new@acme.test", "password": "a-long-new-pass-42"})
    assert signed_in.status_code == 302
    assert anonymous.get("/dashboard/").status_code == 200
    assert anonymous.get(link, follow=True).status_code == 404  # used: it works once


def test_a_made_up_link_is_a_404(client, db):
    assert client.get("/dashboard/welcome/MQ/abc-def/", follow=True).status_code == 404


def test_invite_errors_show_next_to_the_field_and_change_nothing(approver_client, approver):
    response = invite(approver_client, email="user1@acme.test")  # alice's email (make_user)
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    response = invite(approver_client, email="not-an-email")
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert get_user_model().objects.count() == 1
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.MEMBER_INVITED).exists()


def test_change_role_and_remove_with_confirmation(approver_client, operator):
    membership = operator.membership
    url = f"{TEAM}{membership.pk}/"
    assert approver_client.post(url, {"role": Role.VIEWER}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER
    confirm = approver_client.get(f"{url}remove/")
    assert confirm.status_code == 200
    assert "can no longer sign in" in confirm.content.decode()
    assert approver_client.post(f"{url}remove/", {}).status_code == 200  # no confirm: nothing happens
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert approver_client.post(f"{url}remove/", {"confirm": "1"}).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    kinds = list(SecurityEvent.objects.values_list("kind", flat=True))
    assert SecurityEvent.Kind.MEMBER_ROLE_CHANGED in kinds
    assert SecurityEvent.Kind.MEMBER_REMOVED in kinds


def test_last_approver_and_self_are_refused_with_a_message(superuser_client, approver_client, approver):
    own = f"{TEAM}{approver.membership.pk}/"
    body = approver_client.get(own).content.decode()
    assert "cannot change your own role" in body
    response = approver_client.post(own, {"role": Role.VIEWER})
    assert response.status_code == 400
    assert "your own role" in response.content.decode()
    response = superuser_client.post(own, {"role": Role.VIEWER})
    assert response.status_code == 400
    assert "last approver" in response.content.decode()
    response = superuser_client.post(f"{own}remove/", {"confirm": "1"})
    assert response.status_code == 400
    assert "last approver" in response.content.decode()
    approver.membership.refresh_from_db()
    assert approver.membership.role == Role.APPROVER


def test_viewers_and_operators_cannot_manage(viewer_client, operator_client, approver):
    url = f"{TEAM}{approver.membership.pk}/"
    for client in (viewer_client, operator_client):
        assert client.post(url, {"role": Role.VIEWER}).status_code == 403
        assert client.get(f"{url}remove/").status_code == 403
        assert client.post(f"{url}remove/", {"confirm": "1"}).status_code == 403
    assert Membership.objects.get(pk=approver.membership.pk).role == Role.APPROVER


def test_another_business_member_is_a_404(approver_client, make_user, other_business):
    theirs = make_user(Role.OPERATOR, other_business, username="globex-op").membership
    for path in (f"{TEAM}{theirs.pk}/", f"{TEAM}{theirs.pk}/remove/", f"{TEAM}not-a-number/"):
        assert approver_client.get(path).status_code == 404
    assert approver_client.post(f"{TEAM}{theirs.pk}/remove/", {"confirm": "1"}).status_code == 404
    assert "globex-op" not in approver_client.get(TEAM).content.decode()
    assert Membership.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("rows", [2, 30])
def test_query_budget_is_flat(approver_client, make_user, business, count_queries, rows):
    for i in range(rows):
        make_user(Role.VIEWER, business, username=f"member{i:02d}")
    assert count_queries(approver_client, TEAM) <= 4  # session, user, membership, members with users


def test_a_new_link_for_a_member_who_has_not_signed_in(approver_client, operator):
    invite(approver_client)
    membership = Membership.objects.get(user__username="new@acme.test")
    url = f"{TEAM}{membership.pk}/"
    assert "New set-password link" in approver_client.get(url).content.decode()
    response = approver_client.post(url, {"action": "link"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    link = link_in(response.content.decode())
    page = Client().get(link, follow=True)
    assert "Choose a password" in page.content.decode()
    renewed = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.MEMBER_INVITED, details__renewed=True)
    assert renewed.count() == 1
    # A member with a password gets no link.
    response = approver_client.post(f"{TEAM}{operator.membership.pk}/", {"action": "link"})
    assert response.status_code == 400
    assert "already chosen a password" in response.content.decode()
    assert "/dashboard/welcome/" not in response.content.decode()


def test_an_id_out_of_range_is_a_404_not_an_error(approver_client):
    for bad in ("99999999999999999999", "0", "-1"):
        assert approver_client.get(f"{TEAM}{bad}/").status_code == 404
