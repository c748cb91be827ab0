"""A business's team: inviting a member, changing a role, removing a member.

Rules, enforced here (not only in the page):
- a member is a Django user with one ``Membership``; an invited user has an unusable password until
  they follow their set-password link (``member_set_password_link_parts``, Django's password-reset
  token: it stops working once the password is set, or after ``PASSWORD_RESET_TIMEOUT``);
- the business never loses its last approver: the last one cannot be demoted or removed (the
  approvers' rows are locked first, so two concurrent demotions cannot both pass);
- nobody changes their own role or removes themselves (an approver who could would lock themselves
  out of managing the team);
- a removed member's membership is deleted and their user deactivated (their name stays on the
  entries and requests they made), unless the user is also staff of the installation.

Every change records a ``SecurityEvent`` (``MEMBER_INVITED``, ``MEMBER_ROLE_CHANGED``,
``MEMBER_REMOVED``) in the same transaction. ``details`` never holds a password or token.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from wallets.exceptions import InvalidInput, NotAllowed
from wallets.models import Membership, SecurityEvent
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record

Role = Membership.Role


def member_invite(
    *, business_id: str, email: str, name: str = "", role: str, actor: Actor | None = None, actor_name: str = "",
    ip: str | None = None,
) -> Membership:
    """Create a user (user name = the email, unusable password) who is a ``role`` of the business."""
    email = (email or "").strip().lower()
    name = " ".join((name or "").split())
    errors: dict[str, list[str]] = {}
    if role not in Role.values:
        errors["role"] = ["Choose a role."]
    if not email or "@" not in email or len(email) > 150:
        errors["email"] = ["Enter an email address."]
    if len(name) > 150:
        errors["name"] = ["At most 150 characters."]
    if errors:
        raise InvalidInput("Invalid invitation.", errors)
    first, _, last = name.partition(" ")
    user_model = get_user_model()
    with transaction.atomic(durable=True):
        if user_model.objects.filter(username__iexact=email).exists() \
                or user_model.objects.filter(email__iexact=email).exists():
            raise InvalidInput("Invalid invitation.", {"email": ["A user with this email already exists."]})
        user = user_model(username=email, email=email, first_name=first[:150], last_name=last[:150])
        user.set_unusable_password()
        user.save()
        membership = Membership.objects.create(business_id=business_id, user=user, role=role)
        security_event_record(
            kind=SecurityEvent.Kind.MEMBER_INVITED, business_id=business_id, actor=actor, actor_name=actor_name,
            ip=ip, details=_member_details(membership) | {"role": role},
        )
    return membership


def member_invitation_renew(
    *, business_id: str, membership_id: int, actor: Actor | None = None, actor_name: str = "",
    ip: str | None = None,
) -> Membership:
    """For a member who has not chosen a password yet (the link was lost or expired): record a new
    invitation (``MEMBER_INVITED`` with ``renewed``); the caller shows the new link."""
    with transaction.atomic(durable=True):
        membership = _lock_member(business_id=business_id, membership_id=membership_id)
        if membership.user.has_usable_password() or not membership.user.is_active:
            raise NotAllowed("This member has already chosen a password.")
        security_event_record(
            kind=SecurityEvent.Kind.MEMBER_INVITED, business_id=business_id, actor=actor, actor_name=actor_name,
            ip=ip, details=_member_details(membership) | {"role": membership.role, "renewed": True},
        )
    return membership


def member_set_password_link_parts(user) -> tuple[str, str]:
    """``(uidb64, token)`` for the set-password page (Django's password-reset token)."""
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


def member_change_role(
    *, business_id: str, membership_id: int, role: str, actor: Actor | None = None, actor_name: str = "",
    ip: str | None = None,
) -> Membership:
    """Give a member another role. Refuses the last approver's demotion and one's own change."""
    if role not in Role.values:
        raise InvalidInput("Invalid role.", {"role": ["Choose a role."]})
    with transaction.atomic(durable=True):
        membership = _lock_member(business_id=business_id, membership_id=membership_id)
        _refuse_self(membership, actor, "change your own role")
        before = membership.role
        if before == role:
            return membership
        if before == Role.APPROVER:
            _refuse_last_approver(business_id, membership, "demote")
        membership.role = role
        membership.save(update_fields=["role"])
        security_event_record(
            kind=SecurityEvent.Kind.MEMBER_ROLE_CHANGED, business_id=business_id, actor=actor, actor_name=actor_name,
            ip=ip, details=_member_details(membership) | {"before": before, "after": role},
        )
    return membership


def member_remove(
    *, business_id: str, membership_id: int, actor: Actor | None = None, actor_name: str = "", ip: str | None = None,
) -> None:
    """Remove a member: delete the membership and deactivate the user (not staff users)."""
    with transaction.atomic(durable=True):
        membership = _lock_member(business_id=business_id, membership_id=membership_id)
        _refuse_self(membership, actor, "remove yourself")
        if membership.role == Role.APPROVER:
            _refuse_last_approver(business_id, membership, "remove")
        details = _member_details(membership) | {"role": membership.role}
        user = membership.user
        membership.delete()
        if not (user.is_staff or user.is_superuser):
            user.is_active = False
            user.set_unusable_password()
            user.save(update_fields=["is_active", "password"])
        security_event_record(
            kind=SecurityEvent.Kind.MEMBER_REMOVED, business_id=business_id, actor=actor, actor_name=actor_name,
            ip=ip, details=details,
        )


def _lock_member(*, business_id: str, membership_id: int) -> Membership:
    # Approvers first (a fixed order), then the member: the last-approver check sees a settled count.
    list(Membership.objects.select_for_update(no_key=True).filter(business_id=business_id, role=Role.APPROVER)
         .order_by("pk").values_list("pk", flat=True))
    membership = (Membership.objects.select_for_update(no_key=True).select_related("user")
                  .filter(business_id=business_id, pk=membership_id).first())
    if membership is None:
        raise Membership.DoesNotExist("No such member in this business.")
    return membership


def _refuse_self(membership: Membership, actor: Actor | None, what: str) -> None:
    if actor is not None and actor == Actor.user(membership.user_id):
        raise NotAllowed(f"You cannot {what}; ask another approver.")


def _refuse_last_approver(business_id: str, membership: Membership, verb: str) -> None:
    others = Membership.objects.filter(business_id=business_id, role=Role.APPROVER,
                                       user__is_active=True).exclude(pk=membership.pk)
    if not others.exists():
        raise NotAllowed(f"You cannot {verb} the last approver: make someone else an approver first.")


def _member_details(membership: Membership) -> dict:
    user = membership.user
    return {"membership_id": membership.pk, "user_id": user.pk, "username": user.get_username(),
            "email": user.email}
