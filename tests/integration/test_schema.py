"""The Alembic migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from payroll.store.db import current_revision, make_engine, upgrade
from payroll.store.models import Base


def test_migrations_match_models_and_upgrade_is_repeatable(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    first = upgrade(engine)
    assert first == upgrade(engine) == current_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_commands_refuse_an_outdated_schema(tmp_path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from sqlalchemy import text

    from payroll.errors import Refused
    from tests.conftest import make_context

    ctx = make_context(tmp_path / "home", db_url)
    with pytest.raises(Refused) as e:
        ctx.require_schema()
    assert e.value.code == "NOT_INITIALIZED"
    upgrade(ctx.engine)
    ctx.require_schema()
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(Refused) as e:
        ctx.require_schema()
    assert e.value.code == "SCHEMA_OUTDATED"
    ctx.dispose()
