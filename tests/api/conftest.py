"""Fixtures for the API tests: a clean rate-limit history, and Dodo's own OpenAPI schema as the
judge of every 200 body."""

import json
from pathlib import Path

import pytest
from django.core.cache import cache
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
# Dodo Payments' own schema for the endpoints we serve (an extract of their public spec, v1.112.2),
# kept in the repository so a clean clone tests itself.
DODO_SCHEMA_PATH = Path(__file__).resolve().parent / "dodo-openapi-customers-wallets.yaml"
DODO_SERVER = "https://test.dodopayments.com"


@pytest.fixture(autouse=True)
def _fresh_throttle_history():
    # The rate limiter counts in the cache; a test must not inherit another's requests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def dodo_openapi() -> OpenAPI:
    assert DODO_SCHEMA_PATH.exists(), f"Dodo's schema extract is expected at {DODO_SCHEMA_PATH}"
    return OpenAPI.from_file_path(str(DODO_SCHEMA_PATH))


@pytest.fixture
def dodo_valid(dodo_openapi):
    """``dodo_valid(response)``: the response body is valid for its operation in Dodo's schema.

    openapi-core finds the operation from the request's method and path (as if sent to Dodo's
    server) and validates the body against that operation's response schema, $refs resolved.
    """

    def check(response):
        assert response.status_code == 200, response.content
        request = response.wsgi_request
        openapi_request = MockRequest(
            DODO_SERVER,
            request.method,
            request.path,
            args=request.GET.dict(),
        )
        openapi_response = MockResponse(response.content, status_code=200, content_type=response["Content-Type"])
        dodo_openapi.validate_response(openapi_request, openapi_response)
        return json.loads(response.content)

    return check
