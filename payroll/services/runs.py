"""Payment runs: consolidate every branch's approved list for a period, check it, approve it twice.

A run's rows live in a content-addressed Parquet file; run approvals bind to its SHA-256. A new run
for a period supersedes an unreleased older one; a released period is never run again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payroll import audit
from payroll.approvals import RUN_MAKERS, Item, authorize, may_sign, require_role, slots
from payroll.checks import LINEAGE_FIELDS, NO_ROW, History, Reference, ReleasedRun
from payroll.checks.engine import configure_from
from payroll.checks.policy import policy_for
from payroll.errors import NotFound, Refused, WrongState
from payroll.legs import paid_total
from payroll.payments import build_payments, consolidate_table, to_table, totals_by
from payroll.period import Period
from payroll.services.audit_witness import checkpoint_committed
from payroll.services.context import Context, actor, chain, signed_by
from payroll.services.reference import EXTRACT_SCHEMAS, EXTRACTS, extract_path
from payroll.store.files import put_table, read_table_verified, stored_file_problem
from payroll.store.models import (
    Approval,
    Branch,
    IntakeError,
    PeriodRelease,
    ReferenceLoad,
    Run,
    RunException,
    RunSubmission,
    Submission,
)

UNRELEASED = ("awaiting_approval", "approved")


def run_state(r: Run) -> dict[str, Any]:
    return {"id": r.id, "period": r.period, "status": r.status, "content_sha256": r.content_sha256,
            "payable_count": r.payable_count, "payable_total": r.payable_total, "levels_approved": r.levels_approved}


def run_view(r: Run) -> dict[str, Any]:
    summary = json.loads(r.summary)
    return {"run_id": r.id, "period": r.period, "kind": r.kind, "parent_run_id": r.parent_run_id,
            "status": r.status, "rows": r.rows,
            "payable_count": r.payable_count, "payable_total": r.payable_total, "held_count": r.held_count,
            "blocked_count": r.blocked_count, "exceptions": summary["exceptions"],
            "intake_rejections": summary["intake_rejections"], "missing_branches": summary["missing_branches"],
            "per_bank": summary["per_bank"], "content_sha256": r.content_sha256,
            "levels_approved": r.levels_approved, "created_by": r.created_by, "created_at": r.created_at}


def load_run(session: Session, run_id: int, lock: bool = False) -> Run:
    q = select(Run).where(Run.id == run_id)
    run = session.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if run is None:
        raise NotFound("run", run_id)
    return run


def released_period(session: Session, period: str) -> PeriodRelease | None:
    """The release of `period` if it was released: a released period is never paid again, so nothing
    more is made for it (a run, a branch list); what it missed is paid by a supplementary run."""
    return session.get(PeriodRelease, period)


def history_before(session: Session, period: Period) -> History:
    """Every run released for a period before `period` (main and supplementary), oldest first; each
    payments file is verified against the hash recorded when the run was made."""
    released = []
    for r in session.execute(select(Run).where(Run.status == "released", Run.period < str(period))
                             .order_by(Run.period, Run.id)).scalars():
        path = Path(r.payments_path)
        if (problem := stored_file_problem(path, r.content_sha256)) is not None:
            raise Refused("STORED_FILE_CHANGED", f"released run {r.id} ({r.period}): {problem}")
        released.append(ReleasedRun(period=r.period, run_id=r.id, path=path, kind=getattr(r, "kind", None) or "main"))
    return History(released)


def reference_for(ctx: Context, session: Session, period: Period) -> Reference:
    """What the checks of a run for `period` judge against: the reference extracts in force, the
    payments released before the period, and the institution's policy. The extracts are read from their
    Parquet objects in place by the checks' DuckDB queries (an empty table stands for a kind never loaded):
    no extract passes through pandas."""
    tables = {kind: extract_path(session, kind, ctx.home) or EXTRACT_SCHEMAS[kind].empty_table()
              for kind in EXTRACTS}
    return Reference(
        registry=tables["registry"],
        deaths=tables["deaths"],
        accounts=tables["accounts"],
        history=history_before(session, period),
        policy=policy_for(ctx.settings),
    )


def _approved_submissions(session: Session, period: str) -> list[Submission]:
    subs = list(session.execute(select(Submission).where(
        Submission.period == period, Submission.status == "approved").order_by(Submission.branch_code)).scalars())
    submission_chain = chain(session, "submission")
    for s in subs:
        levels = len(slots(submission_chain, s.accepted_total))
        signed = session.execute(select(Approval.level, Approval.slot).where(
            Approval.item_type == "submission", Approval.item_id == s.id, Approval.decision == "approve",
            Approval.content_sha256 == s.content_sha256)).all()
        if len(set(signed)) != levels:
            raise Refused("APPROVAL_VOID", f"submission {s.id} of branch {s.branch_code} is marked approved but "
                          f"only {len(set(signed))} of {levels} approvals bind to its content; refusing the run")
    return subs


def _missing_branches(session: Session, period: str, covered: set[str]) -> list[dict[str, str]]:
    out = []
    for b in session.execute(select(Branch).order_by(Branch.branch_code)).scalars():
        if b.branch_code in covered:
            continue
        latest = session.execute(select(Submission).where(
            Submission.branch_code == b.branch_code, Submission.period == period)
            .order_by(Submission.version.desc()).limit(1)).scalar_one_or_none()
        state = "no submission" if latest is None else f"submission {latest.id} is {latest.status}"
        out.append({"branch_code": b.branch_code, "state": state})
    return out


def _same_run(session: Session, period: str) -> Run | None:
    """The period's newest main run when it was made from exactly the lists approved now (same
    submissions, same rows) and no reference extract was loaded after it: making it again would give
    the same run. None otherwise."""
    run = session.execute(select(Run).where(Run.period == period, Run.kind == "main",
                                            Run.status.in_((*UNRELEASED, "released")))
                          .order_by(Run.id.desc()).limit(1)).scalar_one_or_none()
    if run is None:
        return None
    made_from = set(session.execute(select(RunSubmission.submission_id, RunSubmission.rows_sha256)
                                    .where(RunSubmission.run_id == run.id)).tuples())
    approved = set(session.execute(select(Submission.id, Submission.rows_sha256).where(
        Submission.period == period, Submission.status == "approved")).tuples())
    newer_reference = session.execute(select(func.count()).select_from(ReferenceLoad).where(
        ReferenceLoad.loaded_at > run.created_at)).scalar_one()
    return run if made_from == approved and not newer_reference else None


def create_run(ctx: Context, period: str, *, user: str, reuse: bool = False) -> dict[str, Any]:
    """Consolidate and check the period's approved lists into a new run (superseding an unreleased
    one). With `reuse` (a resumed monthly flow), the period's run made from exactly these lists and
    reference extracts is returned as it is (``reused``), whatever its status, instead of being
    made again."""
    per = Period.parse(period)
    configure_from(ctx.settings)
    with ctx.uow() as session:
        who = actor(session, user)
        require_role(who, RUN_MAKERS, "creating a payment run")
        if reuse and (same := _same_run(session, str(per))) is not None:
            return {**run_view(same), "reused": True}
        if released_period(session, str(per)) is not None:
            raise WrongState("PERIOD_RELEASED", f"period {per} was already released; it is never paid twice")
        subs = _approved_submissions(session, str(per))
        if not subs:
            raise Refused("NOTHING_TO_PAY", f"no branch has an approved submission for {per}")
        parts = []
        for s in subs:
            try:
                if s.rows_path is None or s.rows_sha256 is None:
                    raise ValueError("an approved submission has no stored rows")
                parts.append((s.id, s.branch_code, s.content_sha256, read_table_verified(Path(s.rows_path),
                                                                                         s.rows_sha256)))
            except (OSError, ValueError) as e:
                raise Refused("STORED_FILE_CHANGED", f"submission {s.id}: {e}") from None
        ref = reference_for(ctx, session, per)
        intake = list(session.execute(select(IntakeError, Submission.branch_code, Submission.content_sha256)
                                      .join(Submission, Submission.id == IntakeError.submission_id)
                                      .where(IntakeError.submission_id.in_([s.id for s in subs]))))
        missing = _missing_branches(session, str(per), {s.branch_code for s in subs})
        ref.rejected_pension_ids = frozenset(e.pension_id for e, _, _ in intake if e.pension_id)

    payments, exceptions = build_payments(consolidate_table(parts), ref, per)
    payments_path, payments_sha = put_table(ctx.home, "runs", to_table(payments))
    status_counts = payments["status"].value_counts()
    summary = {
        "exceptions": dict(sorted(Counter(exceptions["code"]).items())),
        "intake_rejections": dict(sorted(Counter(e.code for e, _, _ in intake).items())),
        "missing_branches": missing,
        "per_bank": totals_by(payments, "bank_code"),
        "per_branch": totals_by(payments, "branch_code"),
        "submissions": [s.id for s in subs],
    }

    with ctx.uow() as session:
        if released_period(session, str(per)) is not None:
            raise WrongState("PERIOD_RELEASED", f"period {per} was released while this run was being made")
        for old in session.execute(select(Run).where(Run.period == str(per), Run.status.in_(UNRELEASED))
                                   .with_for_update()).scalars():
            before = run_state(old)
            old.status = "superseded"
            audit.append(session, actor=user, role=who.role, action="run.supersede", item_type="run",
                         item_id=old.id, before=before, after=run_state(old))
        run = Run(period=str(per), status="awaiting_approval", created_by=user, created_at=audit.now_iso(),
                  payments_path=str(payments_path), content_sha256=payments_sha, rows=len(payments),
                  payable_count=int(status_counts.get("PAYABLE", 0)), payable_total=paid_total(payments),
                  held_count=int(status_counts.get("HOLD", 0)), blocked_count=int(status_counts.get("BLOCK", 0)),
                  summary=json.dumps(summary, ensure_ascii=False), levels_approved=0)
        session.add(run)
        session.flush()
        session.add_all(RunSubmission(run_id=run.id, submission_id=s.id, rows_sha256=s.rows_sha256) for s in subs)
        session.flush()
        insert_rows(session, RunException.__tablename__, EXCEPTION_COLUMNS,
                    [*run_exception_rows(run.id, payments, exceptions),
                     *((run.id, e.code, "BLOCK", "intake", branch, e.submission_id, sha, e.row_no, e.pension_id,
                        e.national_id, json.dumps({"column": e.column_name, "message": e.message}, ensure_ascii=False))
                       for e, branch, sha in intake)])
        audit.append(session, actor=user, role=who.role, action="run.create", item_type="run", item_id=run.id,
                     after=run_state(run), detail={"submissions": summary["submissions"],
                                                   "exceptions": summary["exceptions"]})
        return run_view(run)


# a run_exceptions row as insert_rows writes it (the id is the database's)
EXCEPTION_COLUMNS = ("run_id", "code", "severity", "stage", "branch_code", "submission_id", "source_sha256",
                     "row_no", "pension_id", "national_id", "detail")
INSERT_CHUNK = 50_000


def insert_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert plain tuples (one value per column) into `table` inside the session's transaction, no ORM
    object per row: COPY on PostgreSQL, executemany in chunks on SQLite. Returns the rows written."""
    conn = session.connection()
    names = ", ".join(columns)
    written = 0
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection  # psycopg's connection: its cursor has copy()
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
        return written
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    it = iter(rows)
    while chunk := list(islice(it, INSERT_CHUNK)):
        conn.exec_driver_sql(sql, chunk)
        written += len(chunk)
    return written


def run_exception_rows(run_id: int, payments: pd.DataFrame, exceptions: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The run's findings as run_exceptions rows (EXCEPTION_COLUMNS), each with its lineage: the payment
    row's, or for a finding that is no row of this run (an overpayment, a vanished payee), the earlier
    payment's it carries itself. Lineage is looked up for all findings at once, not row by row."""
    keys = exceptions["row_key"].to_numpy()
    at = pd.Index(payments["row_key"]).get_indexer(keys)
    if ((at < 0) & (keys != NO_ROW)).any():
        raise ValueError("a finding names a row key that is no payment of the run")
    pos = np.where(at < 0, 0, at)  # a NO_ROW finding's lineage is its own; position 0 is a placeholder
    lineage = {f: payments[f].take(pos).tolist() if len(payments) else [None] * len(keys) for f in LINEAGE_FIELDS}
    out = []
    for i, (key, code, sev, detail) in enumerate(zip(keys, exceptions["code"], exceptions["severity"],
                                                     exceptions["detail"], strict=True)):
        detail = dict(detail)
        if key == NO_ROW:
            src = detail.pop("lineage")
        else:
            src = {f: lineage[f][i] for f in LINEAGE_FIELDS}
        out.append((run_id, code, sev, "run", src["branch_code"], int(src["submission_id"]), src["source_sha256"],
                    int(src["row_no"]), src["pension_id"], src["national_id"],
                    json.dumps(detail, ensure_ascii=False, sort_keys=True)))
    return out


def _stale_submissions(session: Session, run: Run) -> list[int]:
    """Submissions consolidated into the run that are no longer the branch's approved version."""
    return list(session.execute(select(RunSubmission.submission_id).join(
        Submission, Submission.id == RunSubmission.submission_id).where(
        RunSubmission.run_id == run.id,
        (Submission.status != "approved") | (Submission.rows_sha256 != RunSubmission.rows_sha256))).scalars())


def require_current(session: Session, run: Run) -> None:
    stale = _stale_submissions(session, run)
    if stale:
        raise WrongState("RUN_STALE", f"run {run.id} consolidated submission(s) {stale} which are no longer the "
                         "approved version; create a new run for the period")


def approve_run(ctx: Context, run_id: int, *, user: str, expect_sha256: str | None = None) -> dict[str, Any]:
    with ctx.uow() as session:
        run = load_run(session, run_id, lock=True)
        who = actor(session, user)
        may_sign(who, Item("run", run.id, run.created_by, run.levels_approved), chain(session, "run"))
        if run.status != "awaiting_approval":
            raise WrongState("WRONG_STATE", f"run {run.id} is {run.status}; only a run awaiting approval can be "
                             "approved")
        if expect_sha256 is not None and expect_sha256 != run.content_sha256:
            raise Refused("HASH_MISMATCH", f"run {run.id} has content {run.content_sha256}, not {expect_sha256}")
        require_current(session, run)
        levels = slots(chain(session, "run"), run.payable_total)
        level = authorize(who, Item("run", run.id, run.created_by, run.levels_approved), levels,
                          signed_by(session, "run", run.id, run.content_sha256))
        before = run_state(run)
        now = audit.now_iso()
        session.add(Approval(item_type="run", item_id=run.id, level=level.level, slot=level.slot, user_id=user,
                             role=who.role,
                             content_sha256=run.content_sha256, decision="approve", decided_at=now))
        run.levels_approved += 1
        if run.levels_approved == len(levels):
            run.status = "approved"
            run.approved_at = now
        entry = audit.append(session, actor=user, role=who.role, action="run.approve", item_type="run",
                             item_id=run.id, before=before, after=run_state(run), detail={"level": level.level})
        result = {"run_id": run.id, "period": run.period, "level": level.level, "levels_required": len(levels),
                  "status": run.status, "content_sha256": run.content_sha256}
    # committed: now a witness outside the database (never before: it would witness what may roll back)
    checkpoint_committed(ctx, entry.seq, entry.entry_hash, "run.approve", f"run {run_id}")
    return result


def show_run(ctx: Context, run_id: int) -> dict[str, Any]:
    with ctx.uow() as session:
        run = load_run(session, run_id)
        view = run_view(run)
        view["approvals"] = [{"level": a.level, "user": a.user_id, "at": a.decided_at}
                             for a in session.execute(select(Approval).where(
                                 Approval.item_type == "run", Approval.item_id == run.id)
                                 .order_by(Approval.level)).scalars()]
        view["release_dir"] = run.release_dir
        return view
