"""Schemathesis against a real gunicorn server, from two schemas: the project's own OpenAPI
document (``GET /api/schema``) and Dodo Payments' extract (``tests/api/dodo-openapi-customers-wallets.yaml``).

Both generate valid data (positive) and invalid data (negative), with a valid API key. Part of
the cases aim at a real customer (the generated ``customer_id`` is swapped for one that exists)
so that writes get past the 404 and reach the ledger. Checks:

- ``not_a_server_error``: no 5xx, ever;
- ``response_schema_conformance`` / ``content_type_conformance``: every documented response
  matches its schema and media type;
- ``negative_data_rejection``: invalid input is refused with a 4xx;
- our own ``dodo_error_body``: every 4xx is JSON ``{"code", "message"}`` (API-NOTES);
- ``status_code_conformance`` and ``positive_data_acceptance`` for our own schema (it documents
  every status it answers), with the business refusals that valid-looking data can meet
  (insufficient funds 400, unknown customer 404, key reused 422) accepted as answers.

Dodo's extract documents only the 200 of each operation (no 400/401/404/422 at all), so for it
``status_code_conformance`` is off; error bodies are still checked by ``dodo_error_body``, and a
4xx to data that Dodo's schema calls valid must carry one of the codes API-NOTES allows for
valid-shaped input (see ``VALID_INPUT_REFUSALS``); anything else is a failure.

After the run the books must be sound (the invariant oracle, ``tests.support.oracle``).

Examples per operation: ``WALLETS_FUZZ_EXAMPLES`` (default 25 for CI; 500 for a long run).
"""

import os
import random

import pytest
import schemathesis
import yaml
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support import oracle
from tests.support.servers import REPO_ROOT
from wallets import ledger, services
from wallets.services.actors import Actor
from wallets.services.api_keys import api_key_create, business_get_or_create

EXAMPLES = int(os.environ.get("WALLETS_FUZZ_EXAMPLES", "25"))
DODO_SCHEMA = REPO_ROOT / "tests" / "api" / "dodo-openapi-customers-wallets.yaml"

# Refusals that schema-valid input can legitimately meet (API-NOTES: the shape is right, the
# request breaks a business rule or names something that does not exist).
VALID_INPUT_REFUSALS = {
    400: {"INSUFFICIENT_WALLET_FUNDS"},
    404: {"NOT_FOUND"},
    422: {"IDEMPOTENCY_KEY_REUSED", "EXCHANGE_RATE_NOT_FOUND", "INVALID_REQUEST_BODY", "MAXIMUM_KEYS_REACHED"},
}


# gunicorn answers these itself, in plain text, before Django sees the request (request line over
# 4094 bytes, too many or too large headers): the application's JSON error body cannot apply.
SERVER_LIMITS = {400, 414, 431}


class FuzzEnv:
    def __init__(self, url: str, raw_key: str, customer_ids: list[str]):
        self.url, self.raw_key, self.customer_ids = url, raw_key, customer_ids
        self.headers = {"Authorization": f"Bearer {raw_key}"}
        self.rng = random.Random(7)
        self.cases = 0
        self.statuses: dict[int, int] = {}
        self.unsatisfiable: list[str] = []
        self.server_refusals = 0


@pytest.fixture
def fuzz_env(gunicorn_server):
    business = business_get_or_create(name="Fuzz")[0]
    _, raw_key = api_key_create(business=business, name="fuzz")
    customers = []
    for n in range(3):
        customer = services.customer_create(business_id=business.id, email=f"fuzz{n}@example.com", name="Fuzz")[0]
        ledger.post(business_id=business.id, customer_id=customer.id, currency="USD",
                                   amount=10_000, is_credit=True, actor=Actor.command("fuzz"))
        customers.append(customer.id)
    server = gunicorn_server(workers=2, env={"WALLETS_API_RATE_LIMIT": "100000/min"})
    env = FuzzEnv(server.url, raw_key, customers)
    yield env
    print(f"fuzz: {env.cases} cases, statuses {dict(sorted(env.statuses.items()))} "
          f"({env.server_refusals} refused by gunicorn itself), "
          f"no invalid input possible for {env.unsatisfiable}")
    with connection.cursor() as cursor:
        assert oracle.violations(cursor) == []


def configure(schema, env: FuzzEnv):
    schema.config.update(base_url=env.url, headers=env.headers)
    # We send a valid API key ourselves (``ignored_auth`` then removes or spoils it to prove auth
    # is enforced); generated credentials would only be a second, random scheme. Query parameters
    # the schema does not name are ignored by decision (API-NOTES: unknown fields are ignored).
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    return schema


@pytest.fixture
def own_schema(fuzz_env):
    return configure(schemathesis.openapi.from_url(f"{fuzz_env.url}/api/schema"), fuzz_env)


@pytest.fixture
def dodo_schema(fuzz_env):
    assert DODO_SCHEMA.exists(), f"Dodo's schema must be beside the repository: {DODO_SCHEMA}"
    raw = yaml.safe_load(DODO_SCHEMA.read_text())
    # Dodo's Metadata value is ``oneOf`` [string, integer, number, boolean]; every integer is also a
    # number, so under ``oneOf`` no integer value is valid at all. ``anyOf`` is what it means.
    value = raw["components"]["schemas"]["Metadata"]["additionalProperties"]
    value["anyOf"] = value.pop("oneOf")
    return configure(schemathesis.openapi.from_dict(raw), fuzz_env)


@schemathesis.check
def dodo_error_body(ctx, response, case):
    """Every 4xx is Dodo's JSON error body; 4xx to valid-shaped input only for allowed reasons."""
    if response.status_code < 400:
        return True
    body = response.json()
    not_an_error_body = f"error body is not {{code, message}}: {response.text[:300]}"
    assert isinstance(body, dict), not_an_error_body
    assert isinstance(body.get("code"), str), not_an_error_body
    assert isinstance(body.get("message"), str), not_an_error_body
    if case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        allowed = VALID_INPUT_REFUSALS.get(response.status_code, set())
        assert body["code"] in allowed, (
            f"valid input refused with {response.status_code} {body['code']}: {body['message']}"
        )
    return True


def aim_at_real_customer(case, env: FuzzEnv) -> None:
    """Half the cases name a customer that exists, so writes reach the service layer."""
    if "customer_id" in (case.path_parameters or {}) and env.rng.random() < 0.5:
        case.path_parameters["customer_id"] = env.rng.choice(env.customer_ids)


# An empty query parameter means "not given" (API-NOTES; what an HTML form sends for a blank
# field: the dashboard, the browsable API's filter form), a deliberate leniency. In negative cases
# an empty value is made invalid for real, so the case still tests rejection.
EMPTY_FILTER_STANDS_FOR = {"created_at_gte": "not-a-date", "created_at_lte": "not-a-date", "currency": "usd",
                           "page_number": "x", "page_size": "x",
                           # balances in time: ?as_of= (wallet list) and ?from=&to= (statement)
                           "as_of": "not-a-date", "from": "not-a-date", "to": "not-a-date",
                           # the extensions' list filters (ledger entries, holds)
                           "event_type": "not-a-kind", "is_credit": "maybe",
                           "status": "not-a-status",
                           # the webhook list's cursor paging
                           "limit": "x", "iterator": "!"}


def make_empty_filters_invalid(case) -> None:
    if case.meta is None or case.meta.generation.mode != GenerationMode.NEGATIVE or not case.query:
        return
    for name, invalid in EMPTY_FILTER_STANDS_FOR.items():
        if name not in case.query:
            continue
        value = case.query[name]
        # Serialized in form style, "" / {} / [""] / [] send an empty value or none, and an
        # object sends its own keys instead of this parameter: all "not given".
        if _blank(value):
            case.query[name] = invalid


def _blank(value) -> bool:
    """Sent as an empty value or not at all: "", None, an object (its own keys are sent instead),
    or a list of such (``[]``, ``[""]``, ``[None, ""]`` …)."""
    if isinstance(value, list):
        return all(_blank(item) for item in value)
    return isinstance(value, dict) or value in ("", None)


def run_case(case, env: FuzzEnv, *, excluded: list) -> None:
    aim_at_real_customer(case, env)
    make_empty_filters_invalid(case)
    response = case.call()
    env.cases += 1
    env.statuses[response.status_code] = env.statuses.get(response.status_code, 0) + 1
    if response.status_code in SERVER_LIMITS and "json" not in response.headers.get("content-type", [""])[0]:
        # Refused by gunicorn before the application (a request line over 4094 bytes, headers over
        # its limits): a 4xx as it should be, but neither documented by the API nor its JSON body.
        # Valid data can make a URL that long too (414); anything else must have been invalid.
        negative = case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE
        assert negative or response.status_code == 414, f"valid input refused by gunicorn: {response.status_code}"
        env.server_refusals += 1
        return
    case.validate_response(response, excluded_checks=excluded, headers=env.headers)


def fuzz(schema, env: FuzzEnv, *, excluded: list) -> list[str]:
    """Every operation, valid and invalid data; returns the failures (shrunk by Hypothesis)."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check_operation(case):
                run_case(case, env, excluded=excluded)

            try:
                check_operation()
            except Unsatisfiable:
                # No invalid input exists for this operation (e.g. its only parameter is a
                # free-form path string): nothing to reject.
                env.unsatisfiable.append(f"{operation.label} [{mode.value}]")
            except (Exception, BaseExceptionGroup) as exc:  # this operation failed; go on with the others
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


@pytest.mark.slow
def test_fuzz_own_schema(own_schema, fuzz_env):
    failures = fuzz(own_schema, fuzz_env, excluded=[schemathesis.checks.positive_data_acceptance])
    assert failures == [], "\n\n".join(failures)


@pytest.mark.slow
def test_fuzz_dodo_schema(dodo_schema, fuzz_env):
    failures = fuzz(dodo_schema, fuzz_env, excluded=[schemathesis.checks.status_code_conformance,
                                                     schemathesis.checks.positive_data_acceptance])
    assert failures == [], "\n\n".join(failures)
