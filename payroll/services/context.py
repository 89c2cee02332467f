"""What every use case needs: settings, the database engine, the country profile, PENSION_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from payroll.approvals import Actor, Level
from payroll.config import Settings, load_settings
from payroll.country import CountryProfile, profile
from payroll.errors import NotFound, Refused
from payroll.store.db import current_revision, head_revision, make_engine, unit_of_work
from payroll.store.files import make_private_dir
from payroll.store.models import Approval, ApprovalLevel, User


class Context:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.home: Path = self.settings.resolved_home
        make_private_dir(self.home)  # 0700: it holds national ids, names and accounts
        self.country: CountryProfile = profile(self.settings.country)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @contextmanager
    def uow(self) -> Iterator[Session]:
        with unit_of_work(self.engine) as session:
            yield session

    def require_schema(self) -> None:
        current = current_revision(self.engine)
        if current is None:
            raise Refused("NOT_INITIALIZED", "the database has no schema yet; run `pension init` first")
        if current != head_revision():
            raise Refused("SCHEMA_OUTDATED", f"the database schema is at revision {current}, this engine needs "
                          f"{head_revision()}; run `pension init` to upgrade it")

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def actor(session: Session, user_id: str) -> Actor:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return Actor(user.user_id, user.role, user.branch_code, user.province_code)


def signed_by(session: Session, item_type: str, item_id: int, content_sha256: str) -> set[str]:
    """Users who already signed this content of the item (any level, any decision)."""
    return set(session.execute(select(Approval.user_id).where(
        Approval.item_type == item_type, Approval.item_id == item_id,
        Approval.content_sha256 == content_sha256)).scalars())


def chain(session: Session, item_type: str) -> list[Level]:
    rows = session.execute(select(ApprovalLevel).where(ApprovalLevel.item_type == item_type)
                           .order_by(ApprovalLevel.level)).scalars().all()
    if not rows:
        raise Refused("NO_APPROVAL_CHAIN", f"no approval chain for {item_type}s; run `pension init`")
    return [Level(r.level, frozenset(r.roles.split("|")), r.scope, r.required, r.min_total) for r in rows]
