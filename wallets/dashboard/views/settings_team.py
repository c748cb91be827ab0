"""Settings → Team: the business's members and their roles; invite (a set-password link shown
once), change a role, remove (after a confirmation step). Managing is for approvers and superusers
(``manager_required``); everyone in the business may see who is on the team. The rules (last
approver, nobody locks themselves out) and the activity-log records are the service's
(``wallets.services.members``); the set-password page uses Django's password-reset tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import PasswordResetConfirmView
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from wallets.dashboard.access import dashboard_view, manager_required
from wallets.dashboard.forms_settings import InviteForm, RoleForm
from wallets.dashboard.views.common import render_page
from wallets.exceptions import InvalidInput, NotAllowed
from wallets.models import Membership
from wallets.selectors.members import member_get, member_list
from wallets.services.members import (
    member_change_role,
    member_invitation_renew,
    member_invite,
    member_remove,
    member_set_password_link_parts,
)
from wallets.services.security_events import request_actor


def _team_page(request, *, invite_form=None, invited=None, status=200) -> HttpResponse:
    members = list(member_list(business_id=request.access.business_id))
    response = render_page(request, "dashboard/settings/team.html", {
        "nav": "settings", "settings_nav": "team", "members": members,
        "approver_count": sum(1 for m in members if m.role == Membership.Role.APPROVER),
        "invite_form": invite_form or InviteForm(), "invited": invited,
        "invite_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }, status=status)
    if invited:
        response["Cache-Control"] = "no-store"  # the set-password link is shown in this response only
    return response


@require_http_methods(["GET", "HEAD"])
@dashboard_view
def team(request):
    return _team_page(request)


@require_http_methods(["POST"])
@dashboard_view
@manager_required
def team_invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            membership = member_invite(business_id=request.access.business_id, email=form.cleaned_data["email"],
                                       name=form.cleaned_data["name"], role=form.cleaned_data["role"],
                                       **request_actor(request))
        except InvalidInput as exc:
            for field, problems in exc.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            return _team_page(request, invited={"membership": membership, "link": _link(request, membership)})
    return _team_page(request, invite_form=form, status=400)


def _link(request, membership: Membership) -> str:
    uidb64, token = member_set_password_link_parts(membership.user)
    return request.build_absolute_uri(reverse("dashboard:set_password", kwargs={"uidb64": uidb64, "token": token}))


def _member_or_404(request, membership_id) -> Membership:
    membership = member_get(business_id=request.access.business_id, membership_id=membership_id)
    if membership is None:
        raise Http404("No such team member.")
    return membership


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view
def team_member(request, membership_id):
    membership = _member_or_404(request, membership_id)
    form = RoleForm(initial={"role": membership.role})
    error = link = None
    if request.method == "POST":
        if not request.access.can_manage:
            raise PermissionDenied("Only an approver may change roles.")
        if request.POST.get("action") == "link":
            try:
                member_invitation_renew(business_id=request.access.business_id, membership_id=membership.pk,
                                        **request_actor(request))
            except NotAllowed as exc:
                error = exc.message
            else:
                link = _link(request, membership)
        elif (form := RoleForm(request.POST)).is_valid():
            try:
                member_change_role(business_id=request.access.business_id, membership_id=membership.pk,
                                   role=form.cleaned_data["role"], **request_actor(request))
            except NotAllowed as exc:
                error = exc.message
            else:
                messages.success(request, f"{membership.user.get_username()} is now "
                                          f"{Membership.Role(form.cleaned_data['role']).name.title()}.")
                return redirect("dashboard:settings_team")
    response = render_page(request, "dashboard/settings/member.html", {
        "nav": "settings", "settings_nav": "team", "member": membership, "form": form, "error": error,
        "is_self": membership.user_id == request.user.pk, "link": link,
    }, status=400 if request.method == "POST" and not link else 200)
    if link:
        response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@dashboard_view
@manager_required
def team_member_remove(request, membership_id):
    membership = _member_or_404(request, membership_id)
    error = None
    if request.method == "POST" and request.POST.get("confirm") == "1":
        name = membership.user.get_username()
        try:
            member_remove(business_id=request.access.business_id, membership_id=membership.pk,
                          **request_actor(request))
        except NotAllowed as exc:
            error = exc.message
        except Membership.DoesNotExist as exc:  # removed by someone else meanwhile
            raise Http404("No such team member.") from exc
        else:
            messages.success(request, f"Removed {name} from the team.")
            return redirect("dashboard:settings_team")
    return render_page(request, "dashboard/settings/member_remove.html", {
        "nav": "settings", "settings_nav": "team", "member": membership, "error": error,
    }, status=400 if error else 200)


class SetPasswordView(PasswordResetConfirmView):
    """The page an invitation's link opens: choose a password, then sign in. A used, expired or
    made-up link is a 404 that says so."""

    template_name = "dashboard/set_password.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        if not self.validlink and response.status_code == 200:
            response.status_code = 404
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set. Sign in with your email and the new password.")
        return response


set_password = SetPasswordView.as_view()
