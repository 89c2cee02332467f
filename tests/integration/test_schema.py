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
