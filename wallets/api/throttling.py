"""Per-key rate limit (``WALLETS_API_RATE_LIMIT``, e.g. ``6000/min``); over it is 429."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from wallets.api.auth import ApiPrincipal


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        # DRF binds THROTTLE_RATES once, at import; reading the settings per request lets a
        # changed REST_FRAMEWORK setting (override_settings in tests) take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        principal = request.auth
        if not isinstance(principal, ApiPrincipal):
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"{principal.actor.type}:{principal.actor.id}"}
