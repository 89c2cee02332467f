"""What the portal and the HTTP API read, each call checking the reader first (payroll.services.access):
lists of submissions and runs, a submission or run as its reader may see it, the lists waiting for a
reader's signature, a run's dashboard figures, its released bank files, the audit trail.

Writes go through the same services the CLI calls (submit_bytes, approve_*, reject_submission,
create_run, release_run, clear_hold), which check the approval policy themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from payroll.approvals import authorize, slots
from payroll.errors import NotFound, Refused
from payroll.period import Period
from payroll.services.access import (
    branch_scope,
    require_audit_reader,
    require_bank_file_reader,
    require_branch,
    require_run_reader,
)
from payroll.services.context import Context, actor, chain, signed_by
from payroll.services.holds import list_holds
from payroll.services.reports import exception_rows, export_exceptions, id_masker, masked_rows, record_read
from payroll.services.runs import run_view, show_run
from payroll.services.submissions import show_submission, submission_item
from payroll.store.models import AuditEntry, ReleasedFile, Run, Submission

MAX_PAGE = 500


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise Refused("BAD_PAGE", f"limit is 1 to {MAX_PAGE} and offset 0 or more; got {limit} and {offset}")
    return limit, offset


def _brief(s: Submission) -> dict[str, Any]:
    return {"submission_id": s.id, "branch_code": s.branch_code, "period": s.period, "version": s.version,
            "state": s.status, "file_name": s.file_name, "rows": s.rows, "rows_rejected": s.rows_rejected,
            "accepted_rows": s.accepted_rows, "accepted_total": s.accepted_total,
            "levels_approved": s.levels_approved, "submitted_by": s.submitted_by, "submitted_at": s.submitted_at}


def list_submissions(ctx: Context, *, user: str, period: str | None = None, branch: str | None = None,
                     state: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """The submissions `user` may read (their branch, province or all), newest first."""
    limit, offset = _page(limit, offset)
    with ctx.uow() as session:
        who = actor(session, user)
        branches, scope = branch_scope(session, who, "reading branch lists")
        q = select(Submission)
        if branches is not None:
            q = q.where(Submission.branch_code.in_(sorted(branches)))
        if period:
            q = q.where(Submission.period == str(Period.parse(period)))
        if branch:
            q = q.where(Submission.branch_code == branch)
        if state:
            q = q.where(Submission.status == state)
        total = session.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        rows = session.execute(q.order_by(Submission.id.desc()).limit(limit).offset(offset)).scalars()
        return {"scope": scope, "total": total, "limit": limit, "offset": offset, "items": [_brief(s) for s in rows]}


def submission_for(ctx: Context, submission_id: int, *, user: str) -> dict[str, Any]:
    """A submission with its receipt and approvals, and its other versions, if `user` may read its branch."""
    with ctx.uow() as session:
        who = actor(session, user)
        sub = session.get(Submission, submission_id)
        if sub is None:
            raise NotFound("submission", submission_id)
        require_branch(session, who, sub.branch_code, "reading a branch list")
        versions = [_brief(s) for s in session.execute(select(Submission).where(
            Submission.branch_code == sub.branch_code, Submission.period == sub.period)
            .order_by(Submission.version)).scalars()]
    return {**show_submission(ctx, submission_id), "versions": versions}


def approval_inbox(ctx: Context, *, user: str) -> dict[str, Any]:
    """The lists waiting for a signature `user` may give now (their role, scope and level; not their own
    list, not a level they signed), oldest first."""
    with ctx.uow() as session:
        who = actor(session, user)
        levels = chain(session, "submission")
        waiting = session.execute(select(Submission).where(Submission.status == "accepted")
                                  .order_by(Submission.id)).scalars().all()
        items = []
        for s in waiting:
            try:
                level = authorize(who, submission_item(session, s), slots(levels, s.accepted_total or 0),
                                  signed_by(session, "submission", s.id, s.content_sha256))
            except Refused:
                continue
            items.append({**_brief(s), "level": level.level, "slot": level.slot})
        return {"user": who.user_id, "role": who.role, "items": items}


def list_runs(ctx: Context, *, user: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    limit, offset = _page(limit, offset)
    with ctx.uow() as session:
        require_run_reader(actor(session, user))
        total = session.execute(select(func.count()).select_from(Run)).scalar_one()
        runs = session.execute(select(Run).order_by(Run.id.desc()).limit(limit).offset(offset)).scalars()
        return {"total": total, "limit": limit, "offset": offset, "items": [run_view(r) for r in runs]}


def run_for(ctx: Context, run_id: int, *, user: str) -> dict[str, Any]:
    with ctx.uow() as session:
        require_run_reader(actor(session, user))
    return show_run(ctx, run_id)


def holds_for(ctx: Context, run_id: int, *, user: str) -> dict[str, Any]:
    with ctx.uow() as session:
        require_run_reader(actor(session, user), "reading a run's holds")
    return list_holds(ctx, run_id)


def bank_files(ctx: Context, run_id: int, *, user: str) -> dict[str, Any]:
    """The released files of a run and its manifest, for finance."""
    with ctx.uow() as session:
        require_bank_file_reader(actor(session, user))
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound("run", run_id)
        files = session.execute(select(ReleasedFile).where(ReleasedFile.run_id == run_id)
                                .order_by(ReleasedFile.file_name)).scalars().all()
        if run.status != "released" or not run.release_dir:
            raise Refused("NOT_RELEASED", f"run {run_id} is {run.status}: no bank files yet")
        manifest = Path(run.release_dir) / "manifest.json"
        return {"run_id": run_id, "period": run.period, "release_dir": run.release_dir,
                "manifest": json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else None,
                "files": [{"file_name": f.file_name, "bank_code": f.bank_code, "format": f.file_format,
                           "transactions": f.transactions, "control_sum": f.control_sum, "sha256": f.sha256,
                           "msg_id": f.msg_id} for f in files]}


def bank_file(ctx: Context, run_id: int, file_name: str, *, user: str) -> tuple[bytes, str]:
    """The bytes and SHA-256 of one released file (a bank file, manifest.json or its signature), for
    finance; a bank file whose bytes no longer match the SHA-256 recorded at release is refused."""
    listing = bank_files(ctx, run_id, user=user)
    recorded = {f["file_name"]: f["sha256"] for f in listing["files"]}
    if file_name not in recorded and file_name not in ("manifest.json", "manifest.json.sig"):
        raise NotFound("bank file", f"{run_id}/{file_name}")
    path = Path(listing["release_dir"]) / file_name
    try:
        data = path.read_bytes()
    except OSError:
        raise Refused("STORED_FILE_CHANGED", f"run {run_id}: {file_name} is missing from the release archive") from None
    digest = hashlib.sha256(data).hexdigest()
    if file_name in recorded and digest != recorded[file_name]:
        raise Refused("STORED_FILE_CHANGED", f"run {run_id}: {file_name} no longer matches its recorded SHA-256")
    return data, digest


def audit_trail(ctx: Context, *, user: str, after_seq: int = 0, limit: int = 100,
                action: str | None = None) -> dict[str, Any]:
    """Audit entries after `after_seq`, oldest first, for auditors."""
    limit, _ = _page(limit, 0)
    with ctx.uow() as session:
        require_audit_reader(actor(session, user))
        q = select(AuditEntry).where(AuditEntry.seq > after_seq)
        if action:
            q = q.where(AuditEntry.action == action)
        rows = session.execute(q.order_by(AuditEntry.seq).limit(limit)).scalars().all()
        return {"after_seq": after_seq, "items": [
            {"seq": e.seq, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action,
             "item_type": e.item_type, "item_id": e.item_id, "detail": json.loads(e.detail or "{}"),
             "entry_hash": e.entry_hash} for e in rows]}


def exceptions_for(ctx: Context, run_id: int, *, user: str, code: str | None = None, branch: str | None = None,
                   severity: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """A page of the run's exception rows, filtered, as `user` may see them (HQ readers; national ids
    in full for the roles that need them). Reading it is on the audit chain, like a report."""
    limit, offset = _page(limit, offset)
    with ctx.uow() as session:
        require_run_reader(actor(session, user), "reading an exception report")
    found = exception_rows(ctx, run_id)
    chosen = [r for r in found if (code is None or r["code"] == code) and (branch is None or r["branch_code"] == branch)
              and (severity is None or r["severity"] == severity)]
    masker = id_masker(ctx, user, found)
    page = masked_rows(chosen[offset:offset + limit], masker)
    by_code = Counter(str(r["code"]) for r in found)
    record_read(ctx, user, "report.exceptions", "run", run_id,
                {"format": "api", "rows": len(page), "full_ids": masker.full,
                 "filters": {"code": code, "branch": branch, "severity": severity, "offset": offset}})
    return {"run_id": run_id, "total": len(chosen), "limit": limit, "offset": offset, "masked": not masker.full,
            "by_code": dict(sorted(by_code.items())),
            "items": [{**r, "detail": json.loads(r["detail"] or "{}")} for r in page]}


def export_for(ctx: Context, run_id: int, fmt: str, *, user: str) -> dict[str, Any]:
    """The run's exception report as a file (csv, jsonl, xlsx, html) for an HQ reader, under
    PENSION_HOME/reports/<user>/."""
    with ctx.uow() as session:
        require_run_reader(actor(session, user), "reading an exception report")
    folder = ctx.home / "reports" / user
    return export_exceptions(ctx, run_id, folder / f"exceptions-run{run_id}.{fmt}", fmt, user=user)


def whoami(ctx: Context, user: str) -> dict[str, Any]:
    with ctx.uow() as session:
        who = actor(session, user)
        return {"user_id": who.user_id, "role": who.role, "branch_code": who.branch_code,
                "province_code": who.province_code}
