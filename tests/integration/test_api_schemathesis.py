"""The HTTP API against its own OpenAPI document, property-based (schemathesis 4): whatever a signed-in
finance user, auditor or clerk sends that the document allows, or nearly allows, the API answers without
a server error, and every refusal is a problem document (RFC 9457). SQLite only, on a home with the sample
month submitted, approved, run, approved and released.

The document is read from the app itself (GET /api/v1/openapi.json over ASGI) when the module is
imported: schemathesis' eager `@schema.parametrize()` needs it at collection (its lazy
`schemathesis.pytest.from_fixture` loader fails under pytest 9.2: "'Function' object has no attribute
'_nodeid'"). Until the module's fixture puts the sample month in it, the app's home is an empty
temporary folder; reading the document touches no database.

Checks, and why only these:
- ``not_a_server_error``: the point of the test;
- ``negative_data_rejection``: a request that breaks the document is refused with a 4xx;
- ``refusals_are_problems`` (below): every 4xx is ``application/problem+json`` with type, title, status,
  detail and code, as payroll.web.problems promises.
Not used: ``status_code_conformance``, ``content_type_conformance`` and ``response_schema_conformance``
(the routes return dicts without response models, refusals are problem documents the document does not
describe, and 401/403/404/409 are not declared per route), ``unsupported_method`` (a 405 has no Allow
header: tests/integration/test_api.py::test_a_405_names_the_allowed_methods checks it), ``ignored_auth``
and ``missing_required_header`` (the document declares no security scheme or required header), and the
stateful checks (no links in the document).

An integer path id past 2**63-1 (once a 500: SQLite's OverflowError) is sent deterministically by its own
test below, for every route with an id; the property test draws ids within the documented bounds.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import negative_data_rejection
from sqlalchemy import update

from payroll import services
from payroll.config import Settings
from payroll.services import Context, init_database
from payroll.services.users import session_generation
from payroll.store.models import User
from payroll.web.app import create_app
from tests import month

USERS = ("fin-2", "audit-1", "clerk-b01")  # finance, auditor, clerk (of B01)
PASSWORD = "correct horse battery staple"
BIGINT_MAX = 2**63 - 1
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code"}

_HOME = Path(tempfile.mkdtemp(prefix="pension-api-fuzz-"))
atexit.register(shutil.rmtree, _HOME, True)
SETTINGS = Settings(home=_HOME / "home", db_url=f"sqlite:///{_HOME / 'pension.db'}")
APP = create_app(SETTINGS)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


def _integer_path_parameters(operation: Any) -> list[str]:
    return [p["name"] for p in operation.definition.raw.get("parameters", [])
            if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"]


ID_OPERATIONS = sorted(op.label for op in (r.ok() for r in schema.get_all_operations() if isinstance(r, Ok))
                       if _integer_path_parameters(op))


@pytest.fixture(scope="module")
def tokens(plan: dict) -> Iterator[Tokens]:
    """Bearer tokens of USERS on the app, once its home holds the released sample month."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PREFECT_API_URL", raising=False)  # no Prefect server: decisions resume no flow
        ctx = Context(SETTINGS)
        init_database(ctx, sample=True)
        month.approve_all(ctx, plan, month.submit_all(ctx, plan))
        run = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])
        for user in plan["run"]["approvers"]:
            services.approve_run(ctx, run["run_id"], user=user)
        month.release(ctx, plan, run["run_id"])
        hashed = PasswordHasher().hash(PASSWORD)  # a session's user must still be able to sign in
        with ctx.uow() as s:
            s.execute(update(User).values(password_hash=hashed))
        yield Tokens(ctx)
        ctx.dispose()


class Tokens:
    """A live bearer token of a user, issued afresh for each request: a case that signs out
    (POST /auth/logout ends the user's sessions) leaves the next case a working token."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __getitem__(self, user: str) -> str:
        return APP.state.sessions.issue(user, session_generation(self.ctx, user))


@pytest.fixture(params=USERS)
def user(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def refusals_are_problems(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx is an RFC 9457 problem document with the members payroll.web.problems always writes."""
    if response.status_code < 400:
        return None
    media = (response.headers.get("content-type") or [""])[0].split(";")[0]
    assert media == "application/problem+json", f"{response.status_code} answered as {media!r}"
    body = response.json()
    assert PROBLEM_MEMBERS <= set(body), f"problem without {PROBLEM_MEMBERS - set(body)}: {body}"
    assert body["status"] == response.status_code, body
    return None


def _past_bigint(case: schemathesis.Case) -> bool:
    return any(isinstance(v, int) and not -BIGINT_MAX - 1 <= v <= BIGINT_MAX
               for v in (case.path_parameters or {}).values())


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_no_server_error(case: schemathesis.Case, tokens: Tokens, user: str) -> None:
    if _past_bigint(case):
        return  # test_a_path_id_past_64_bits_is_not_a_server_error sends those
    response = case.call(headers={"Authorization": f"Bearer {tokens[user]}"})
    case.validate_response(response, checks=[not_a_server_error, negative_data_rejection, refusals_are_problems])


@pytest.mark.parametrize("label", ID_OPERATIONS)
def test_a_path_id_past_64_bits_is_not_a_server_error(tokens: Tokens, label: str) -> None:
    operation = schema.find_operation_by_label(label)
    assert operation is not None
    names = _integer_path_parameters(operation)
    path_parameters: dict[str, Any] = {name: BIGINT_MAX + 1 for name in names}
    for p in operation.definition.raw.get("parameters", []):  # the other path parameters: plain strings
        if p.get("in") == "path" and p["name"] not in names:
            path_parameters[p["name"]] = "csv" if p["name"] == "fmt" else "x"
    # a body the route accepts, so that the request reaches the database
    body: Any = {"/clear": {"justification": "x" * 30}, "/reject": {"reason": "wrong month"}}.get(
        label[label.rfind("/"):])
    case = operation.Case(path_parameters=path_parameters) if body is None else operation.Case(
        path_parameters=path_parameters, body=body)
    response = case.call(headers={"Authorization": f"Bearer {tokens['fin-2']}"})
    case.validate_response(response, checks=[not_a_server_error])
