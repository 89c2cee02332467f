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
