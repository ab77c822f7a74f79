"""The whole OpenAPI schema against the app, by Schemathesis (docs/security.md#schema-fuzzing):
for every operation, requests that fit the schema and requests that do not, as four callers (an
org admin, a store manager of another store of the same organization, a kiosk, nobody); every
answer must be below 500 and be what the schema says the operation answers (status, media type,
headers, body). A fixed seed and a fixed number of cases per operation keep a run repeatable and
its time bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, CheckFunction, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation

from ridgeline.app import app_services, create_app
from ridgeline.auth.credentials import issue_access_token
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Operator, Role, TokenFamily
from tests.api.test_route_security import path_values
from tests.conftest import empty_all_tables
from tests.factories import Tenant, bearer, make_operator, make_store, make_tenant

SEED = 20261204
# Cases per operation and caller. Positive cases fit the schema and carry the tenant's real ids in
# the path, so they reach the routes' logic; negative ones break the schema somewhere.
CASES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}
PRINCIPALS = ("org_admin", "other_store_manager", "kiosk", "anonymous")

load_all_checks()
# Every check that judges one answer. Left out, as they cannot apply to one request at a time:
# `use_after_free` and `ensure_resource_availability` follow a resource across a sequence of
# calls (stateful testing), `object_level_authorization` compares two callers' sequences, and
# `ignored_auth` sends its own requests through Schemathesis' transport (which would start our
# app's lifespan on its own event loop). tests/api/test_route_security.py covers what the last
# two would: every route refuses anonymous callers, other organizations get 404.
STATEFUL_CHECKS = {
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
    "ignored_auth",
}
CHECK_FUNCTIONS: list[CheckFunction] = [
    check
    for check in (CHECKS.get_one(name) for name in CHECKS.get_all_names())
    if not isinstance(check, type) and check.__name__ not in STATEFUL_CHECKS
]


async def _access_token(database: Database, operator: Operator, secret_key: str) -> str:
    now = datetime.now(UTC)
    async with database.transaction() as session:
        family = TokenFamily(operator_id=operator.id, created_at=now)
        session.add(family)
    token, _ = issue_access_token(
        secret_key=secret_key, operator_id=operator.id, family_id=family.id, now=now, ttl_s=3600
    )
    return token


async def _headers(
    database: Database, settings: Settings, tenant: Tenant, principal: str
) -> dict[str, str]:
    if principal == "org_admin":
        return bearer(await _access_token(database, tenant.admin, settings.secret_key))
    if principal == "other_store_manager":
        other = await make_store(database, tenant.organization, "Other St")
        manager = await make_operator(
            database, Role.STORE_MANAGER, tenant.organization, stores=[other]
        )
        return bearer(await _access_token(database, manager, settings.secret_key))
    if principal == "kiosk":
        return bearer(tenant.kiosk_key)
    return {}


def _send_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis' request (the `requests` library's arguments) as httpx's."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    # No operation takes cookies; httpx warns about per-request cookies even when empty.
    assert not kwargs.pop("cookies", None), kwargs
    if "data" in kwargs and isinstance(kwargs["data"], bytes | str):
        kwargs["content"] = kwargs.pop("data")
    return kwargs


class Run:
    """One caller's run: the app on a database holding a tenant, one event loop for it all."""

    def __init__(self, runner: asyncio.Runner, settings: Settings, principal: str) -> None:
        self.runner = runner
        self.database = Database(settings.database_url)
        self.app = create_app(settings, database=self.database)
        tenant = runner.run(make_tenant(self.database))
        self.ids = {name: str(value) for name, value in path_values(tenant).items()}
        self.headers = runner.run(_headers(self.database, settings, tenant, principal))
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.cases = 0

    def call(self, case: schemathesis.Case[Any]) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=self.headers)
        response = self.runner.run(self.client.request(**_send_kwargs(kwargs)))
        self.cases += 1
        case.validate_response(response, checks=CHECK_FUNCTIONS, headers=self.headers)

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(app_services(self.app).pos_connector.aclose())
        self.runner.run(empty_all_tables(self.database))
        self.runner.run(self.database.dispose())


@pytest.fixture
def run(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Run]:
    with asyncio.Runner() as runner:
        found = Run(runner, settings, request.param)
        try:
            yield found
        finally:
            found.close()


# A 422 VALIDATION_ERROR may answer a request that fits the schema: it also enforces what no
# OpenAPI schema states (a cursor must be one we issued, a time zone must exist, `ends_at` after
# `starts_at`, an id must name an object of the caller's organization). Every other status
# outside the default list still fails the check.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "410", "422", "429"]
            }
        }
    }
)


def _operations(run: Run) -> list[APIOperation[Any, Any, Any, Any]]:
    schema = schemathesis.openapi.from_dict(run.app.openapi(), config=CONFIG)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    return [result.ok() for result in results if isinstance(result, Ok)]


def _exercise(run: Run, operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode) -> None:
    names = [p.name for p in operation.path_parameters]
    fixed = {name: run.ids[name] for name in names if name in run.ids}
    # The caller's credentials are fixed: a generated (or broken) `Authorization` would be
    # replaced by them on the way out, and a check would judge a request that was never sent.
    strategy = operation.as_strategy(
        mode,
        path_parameters=fixed if mode is GenerationMode.POSITIVE else None,
        headers=run.headers or None,
    )

    @seed(SEED)
    @hypothesis_settings(
        max_examples=CASES[mode],
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: schemathesis.Case[Any]) -> None:
        run.call(case)

    try:
        check()
    except Unsatisfiable:
        # Nothing to break: an operation without parameters or body has no negative cases.
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.parametrize("run", PRINCIPALS, indirect=True)
def test_every_operation_answers_as_its_schema_says(
    run: Run, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.perf_counter()
    failures: list[str] = []
    operations = _operations(run)
    for operation in operations:
        for mode in CASES:
            try:
                _exercise(run, operation, mode)
            except FailureGroup as group:
                failures.append(f"{operation.label} [{mode.value}]: {group}")
    elapsed = time.perf_counter() - began
    # The run's numbers in the test output, for docs/security.md#schema-fuzzing.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    assert reporter is not None
    with capsys.disabled():
        reporter.write_line(
            f"schemathesis {request.node.callspec.id}: {len(operations)} operations, "
            f"{run.cases} cases, {elapsed:.1f} s"
        )
    assert not failures, "\n\n".join(failures)
