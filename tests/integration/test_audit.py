"""The audit trail: one entry per state change, hash-chained; tampering is found and located."""

from __future__ import annotations

from sqlalchemy import select, text

from payroll import services
from payroll.services import Context
from payroll.store.models import AuditEntry
from tests.conftest import SAMPLE


def _some_history(ctx: Context) -> None:
    r = services.submit(ctx, SAMPLE / "branches" / "B01.csv", branch="B01", period="2026-11", user="clerk-b01")
    services.approve_submission(ctx, r["submission_id"], user="head-b01")
    services.approve_submission(ctx, r["submission_id"], user="prov-thr")


def _actions(ctx: Context) -> list[str]:
    with ctx.uow() as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def test_every_state_change_is_chained_and_verifies(ctx: Context) -> None:
    _some_history(ctx)
    actions = _actions(ctx)
    assert actions[-3:] == ["submission.submit", "submission.approve", "submission.approve"]
    report = services.verify_audit(ctx)
    assert report["ok"] is True and report["entries"] == len(actions) == report["head_seq"]


def _exec(ctx: Context, sql: str, **params: object) -> None:
    with ctx.uow() as s:
        s.execute(text(sql), params)


def test_an_edited_entry_is_named(ctx: Context) -> None:
    _some_history(ctx)
    _exec(ctx, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
    report = services.verify_audit(ctx)
    assert (report["ok"], report["broken_at"]) == (False, 5)
    assert "altered" in report["reason"]


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(ctx: Context) -> None:
    _some_history(ctx)
    with ctx.uow() as s:
        entry = s.get(AuditEntry, 4)
        entry.detail = '{"forged":true}'
        from payroll.audit import _entry_hash, _fields

        entry.entry_hash = _entry_hash(_fields(entry))
    report = services.verify_audit(ctx)
    assert (report["ok"], report["broken_at"]) == (False, 5)
    assert "does not follow" in report["reason"]


def test_a_deleted_entry_is_named(ctx: Context) -> None:
    _some_history(ctx)
    _exec(ctx, "DELETE FROM audit_log WHERE seq = 3")
    report = services.verify_audit(ctx)
    assert (report["ok"], report["broken_at"]) == (False, 3)
    assert "missing" in report["reason"]


def test_reordered_entries_are_found(ctx: Context) -> None:
    _some_history(ctx)
    _exec(ctx, "UPDATE audit_log SET seq = -1 WHERE seq = 2")
    _exec(ctx, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    _exec(ctx, "UPDATE audit_log SET seq = 3 WHERE seq = -1")
    report = services.verify_audit(ctx)
    assert (report["ok"], report["broken_at"]) == (False, 2)


def test_deleting_the_newest_entries_is_found(ctx: Context) -> None:
    _some_history(ctx)
    last = len(_actions(ctx))
    _exec(ctx, "DELETE FROM audit_log WHERE seq >= :s", s=last - 1)
    report = services.verify_audit(ctx)
    assert (report["ok"], report["broken_at"]) == (False, last - 1)
    assert "deleted" in report["reason"]


def test_a_refused_action_writes_nothing(ctx: Context) -> None:
    _some_history(ctx)
    before = _actions(ctx)
    try:
        services.approve_submission(ctx, 1, user="audit-1")
    except Exception:
        pass
    assert _actions(ctx) == before
