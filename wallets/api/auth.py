"""Who is calling: a business's bearer API key, or a logged-in dashboard user's session.

Either way the request carries an ``ApiPrincipal``: the one business it may see, whether it may
write, and the actor recorded on ledger entries.
"""

from dataclasses import dataclass, replace

from rest_framework import authentication, exceptions, permissions

from wallets.models import LedgerEntry
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_confirm, api_key_identify

REVOKED = "Invalid or revoked API key."


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    business_id: str
    read_only: bool
    actor: Actor
    #: The API key's id while it is known from this process's cache only: it must be confirmed before
    #: anything is answered (``HasBusiness``), or by the posting's own lock statement on the actions a
    #: viewset lists in ``confirms_api_key`` (see ``wallets.services.api_keys``).
    unconfirmed_key: str | None = None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            scheme, _, token = header.decode("ascii").partition(" ")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid API key.") from exc
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <API key>'.")
        found = api_key_identify(token.strip())
        if found is None:
            raise exceptions.AuthenticationFailed(REVOKED)
        api_key, fresh = found
        principal = ApiPrincipal(
            business_id=api_key.business_id, read_only=api_key.read_only, actor=Actor.api_key(api_key.id),
            unconfirmed_key=None if fresh else api_key.id,
        )
        return (None, principal)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class BusinessSessionAuthentication(authentication.SessionAuthentication):
    """A dashboard user in the browsable API, limited to their business (CSRF-checked writes)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        membership = getattr(user, "membership", None)
        if membership is not None:
            principal = ApiPrincipal(
                business_id=membership.business_id, read_only=not membership.can_post, actor=Actor.user(user.pk)
            )
        elif user.is_superuser and request.session.get("business_id"):
            principal = ApiPrincipal(
                business_id=request.session["business_id"], read_only=False, actor=Actor.user(user.pk)
            )
        else:
            raise exceptions.PermissionDenied("Your user does not belong to a business.")
        return (user, principal)


class HasBusiness(permissions.BasePermission):
    """Authenticated as a business; writes need a key or role that may write."""

    message = "This API key is read-only."

    def has_permission(self, request, view) -> bool:
        principal = request.auth
        if not isinstance(principal, ApiPrincipal):
            raise exceptions.NotAuthenticated("Missing API key: send 'Authorization: Bearer <API key>'.")
        if principal.unconfirmed_key is not None and (
            principal.read_only or getattr(view, "action", None) not in getattr(view, "confirms_api_key", ())
        ):
            principal = confirmed(request)
        if request.method in permissions.SAFE_METHODS:
            return True
        if principal.read_only and principal.actor.type == LedgerEntry.ActorType.USER:
            self.message = "Your role may read but not change balances or customers."
        return not principal.read_only


def confirmed(request) -> ApiPrincipal:
    """The request's principal with its cached API key confirmed (one primary-key lookup); a key
    revoked since it was cached fails authentication here."""
    principal = request.auth
    assert isinstance(principal, ApiPrincipal)
    assert principal.unconfirmed_key is not None
    api_key = api_key_confirm(principal.unconfirmed_key)
    if api_key is None:
        raise exceptions.AuthenticationFailed(REVOKED)
    request.auth = principal = replace(principal, read_only=api_key.read_only, unconfirmed_key=None)
    return principal


def unconfirmed_key_revoked(request) -> bool:
    """For an error answered before a cached key was confirmed (a refused body on a posting path):
    whether the key was revoked meanwhile, so the answer is the 401 a revoked key gets, not the error."""
    principal = getattr(request, "_auth", None)
    if not isinstance(principal, ApiPrincipal) or principal.unconfirmed_key is None:
        return False
    try:
        confirmed(request)
    except exceptions.AuthenticationFailed:
        return True
    return False
