"""Who may see which business, and who may move money.

- A user with a ``Membership`` sees that one business; operators and approvers may post.
- A superuser sees every business and picks one; the choice is kept in
  ``request.session["business_id"]`` (the key the API's session authentication reads too).
- Anyone else sees a page that says their account belongs to no business, whom to ask, and a
  "Log out" button (403; ``NoMembership``). Anonymous users are sent to the login page.

Every dashboard view is wrapped in ``dashboard_view``; views that write are also wrapped in
``operator_required``, so a forged POST by a viewer is refused on the server.
"""

import functools
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from wallets import selectors
from wallets.models import Business, Membership

SESSION_BUSINESS_KEY = "business_id"


@dataclass(frozen=True, slots=True)
class DashboardAccess:
    business: Business
    role: str  # a Membership.Role value, or "superuser"
    can_post: bool
    is_superuser: bool

    @property
    def business_id(self) -> str:
        return self.business.pk

    @property
    def can_manage(self) -> bool:
        """May manage the team, API keys and approval policies: approvers and superusers."""
        return self.is_superuser or self.role == Membership.Role.APPROVER

    @property
    def role_label(self) -> str:
        return {"superuser": "Superuser"}.get(self.role) or Membership.Role(self.role).name.title()


class NoBusiness(Exception):
    """A superuser on a fresh install: there is no business to show yet."""


class NoMembership(PermissionDenied):
    """A signed-in user who belongs to no business (and is no superuser)."""


def access_resolve(request) -> DashboardAccess:
    """The business this request may see. Raises PermissionDenied or NoBusiness."""
    cached = getattr(request, "_dashboard_access", None)
    if cached is not None:
        return cached
    user = request.user
    membership = selectors.membership_for_user(user_id=user.pk)
    if user.is_superuser:
        business = None
        chosen = request.session.get(SESSION_BUSINESS_KEY)
        if chosen:
            business = selectors.business_find(business_id=chosen)
        if business is None:
            business = membership.business if membership else selectors.business_first()
            if business is None:
                raise NoBusiness()
            request.session[SESSION_BUSINESS_KEY] = business.pk
        access = DashboardAccess(business=business, role="superuser", can_post=True, is_superuser=True)
    elif membership is not None:
        access = DashboardAccess(
            business=membership.business, role=membership.role, can_post=membership.can_post, is_superuser=False
        )
    else:
        raise NoMembership("Your user does not belong to a business. Ask an administrator for access.")
    request._dashboard_access = access
    return access


def dashboard_view(view):
    """Login required, business resolved into ``request.access``."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            request.access = access_resolve(request)
        except NoBusiness:
            return render(request, "dashboard/no_business.html", status=200)
        except NoMembership:
            return render(request, "dashboard/no_membership.html", {"admins": _administrators()}, status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _administrators() -> list[str]:
    """Who can add a user to a business: the active superusers' emails (or names), a few."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk")[:3]
    return [u.email or u.get_username() for u in users]


def operator_required(view):
    """Only users who may post (operators, approvers, superusers) reach ``view``."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.access.can_post:
            raise PermissionDenied("Your role may view but not change balances or settings.")
        return view(request, *args, **kwargs)

    return wrapper


def manager_required(view):
    """Only approvers and superusers (``DashboardAccess.can_manage``) reach ``view`` (team, keys, policies)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.access.can_manage:
            raise PermissionDenied("Only an approver may manage the team, API keys and approval policies.")
        return view(request, *args, **kwargs)

    return wrapper
