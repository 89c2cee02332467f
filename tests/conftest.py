"""Shared fixtures. Database tests run on SQLite and, when PENSION_TEST_PG_URL is set or PostgreSQL
answers on 127.0.0.1:5432, on PostgreSQL too (each test in a schema of its own, dropped afterwards)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from payroll.config import REPO_DATA_DIR, Settings
from payroll.services import Context, init_database

SAMPLE = REPO_DATA_DIR / "sample"
PG_URL_EXPLICIT = os.environ.get("PENSION_TEST_PG_URL")
PG_URL = PG_URL_EXPLICIT or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_answers(url: str) -> bool:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


PG_AVAILABLE = _pg_answers(PG_URL)


def pytest_report_header(config: pytest.Config) -> str:
    return f"PostgreSQL for database tests: {'yes, ' + PG_URL if PG_AVAILABLE else 'not reachable; SQLite only'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pension.db'}"
        return
    if not PG_AVAILABLE:
        if PG_URL_EXPLICIT:
            pytest.fail(f"PENSION_TEST_PG_URL={PG_URL_EXPLICIT} is set but PostgreSQL does not answer")
        pytest.skip("PostgreSQL is not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _gate_memo() -> Iterator[None]:
    """The quality gate is a pure function of (rows, country, period, rules) and costs ~0.5 s of Great
    Expectations overhead per file however small; the integration tests submit the same sample files
    hundreds of times. Within this test process the gate runs once per distinct file and its result
    is reused for identical rows. Every distinct file still goes through GX; the gate's own tests
    (tests/unit/test_gate.py, test_bad_input.py) see only distinct frames, and the CLI, demo and
    collection tests run in processes of their own, without the memo."""
    import pandas as pd

    from payroll.intake import payee_file

    real = payee_file.default_gate
    memo: dict[tuple[object, ...], object] = {}

    def memoized(frame: pd.DataFrame, profile: object, period: object) -> object:
        key = (tuple(frame.columns), len(frame), int(pd.util.hash_pandas_object(frame, index=False).sum()),
               profile.code, str(period))  # type: ignore[attr-defined]
        if key not in memo:
            memo[key] = real(frame, profile, period)  # type: ignore[arg-type]
        return memo[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(payee_file, "default_gate", memoized)
        yield


def make_context(home: Path, db_url: str, **overrides: object) -> Context:
    return Context(Settings(home=home, db_url=db_url, **overrides))


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> Iterator[Context]:
    """A store with the schema, the approval chain, banks and the sample reference data."""
    context = make_context(tmp_path / "home", db_url)
    init_database(context, sample=True)
    yield context
    context.dispose()


@pytest.fixture(scope="session")
def plan() -> dict:
    return json.loads((SAMPLE / "plan.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))
