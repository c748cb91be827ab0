"""drf-spectacular extensions: how the project's OpenAPI document describes authentication.

The bearer scheme is named ``API_KEY`` as in Dodo's schema, so a client generated from either
document looks the same. Imported by ``wallets.api.views`` so it is registered before any
schema is generated.
"""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "wallets.api.auth.ApiKeyAuthentication"
    name = "API_KEY"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A business's API key: `Authorization: Bearer wsk_…` (see `create_api_key`).",
        }


class BusinessSessionScheme(SessionScheme):
    """A logged-in dashboard user in the browsable API (CSRF-checked writes)."""

    target_class = "wallets.api.auth.BusinessSessionAuthentication"
