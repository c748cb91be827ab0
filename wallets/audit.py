"""Receivers of Django's auth signals that append to the security audit log (``SecurityEvent``).

Connected in ``WalletsConfig.ready``. A failed login records the user name tried, never the
password (Django passes the credentials with the password already masked; only the name is kept).
A lockout by django-axes (too many failed logins for one user name from one address, see
``AXES_*`` in the settings) is recorded when it starts and at every attempt refused during it.
"""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from wallets.http.client_ip import client_ip
from wallets.models import SecurityEvent
from wallets.services.actors import Actor
from wallets.services.security_events import security_event_record


def _business_of(user) -> str | None:
    membership = getattr(user, "membership", None) if user is not None else None
    return membership.business_id if membership is not None else None


@receiver(user_logged_in, dispatch_uid="wallets_audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    security_event_record(kind=SecurityEvent.Kind.LOGIN, business_id=_business_of(user), actor=Actor.user(user.pk),
                          actor_name=user.get_username(), ip=client_ip(request))


@receiver(user_logged_out, dispatch_uid="wallets_audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is None:  # the session had expired: nobody to name
        return
    security_event_record(kind=SecurityEvent.Kind.LOGOUT, business_id=_business_of(user), actor=Actor.user(user.pk),
                          actor_name=user.get_username(), ip=client_ip(request))


@receiver(user_login_failed, dispatch_uid="wallets_audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    user_model = get_user_model()
    username = str(credentials.get(user_model.USERNAME_FIELD) or credentials.get("username") or "")[:150]
    user = (user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
            .select_related("membership").first())
    security_event_record(
        kind=SecurityEvent.Kind.LOGIN_FAILED, business_id=_business_of(user),
        actor=Actor.user(user.pk) if user else None, actor_name=username, ip=client_ip(request),
        details={"username": username, "known_user": user is not None},
    )


@receiver(user_locked_out, dispatch_uid="wallets_audit_login_locked_out")
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    user_model = get_user_model()
    username = str(username or "")[:150]
    user = (user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
            .select_related("membership").first())
    failures = getattr(request, "axes_failures_since_start", None)
    security_event_record(
        kind=SecurityEvent.Kind.LOGIN_LOCKED_OUT, business_id=_business_of(user),
        actor=Actor.user(user.pk) if user else None, actor_name=username, ip=client_ip(request) or ip_address,
        details={"username": username, "known_user": user is not None, "failures": failures,
                 "path": getattr(request, "path", "")},
    )
