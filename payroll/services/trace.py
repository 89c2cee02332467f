"""A payee's story: everything the engine did with one national id, in time order.

Which branch file carried the payee (submission id, version, file name, SHA-256) and at which row; the
rows intake rejected; each approval of those files; each run that included a row (its kind and status,
the row's status and payment reference), the run's findings on the payee with their evidence, and the
run's approvals; for a released run, the bank file and message id of each transfer (leg) that paid the
row; the status each bank reported for each transfer; the clearances of held payments.

The national id is normalized as intake normalizes it (the country profile's `compact`: Persian and
Arabic-Indic digits, separators, dropped leading zeros), so '۰۰۱۳۵۴۲۴۱۹' and '001-354241-9' find the
payee of 0013542419. Branch rows and run payments live in Parquet objects: each is verified against its
recorded SHA-256 and filtered on the national id by pyarrow; only the matching rows are decoded.

Who may trace whom: auditors and HQ finance (finance, finance_lead) any payee; a clerk or a branch head
the payees of their own branch, a province approver those of their province, and they see only what
their branches did (another branch's rows of the same person stay hidden). Administrators manage
reference data and never see payments. A branch or province user asking for a payee with nothing in
their scope is refused (OUT_OF_SCOPE) whether or not the id exists elsewhere, so the refusal tells
nothing about other branches. For HQ roles an id the engine never saw gives an empty story
(`found` false), not an error: "never paid" is an answer.

Times: a submission's events (rows, intake rejections) at its submission time; a run's findings at the
run's creation, except the findings a bank report raised (stage bank), placed at the latest bank status
of the payee's transfers in that run; each transfer's status at the time it was last updated (the
engine keeps the latest status of a transfer; the audit trail has the rest).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import or_, select, true
from sqlalchemy.orm import Session

from payroll.approvals import Actor
from payroll.bankfiles import PlannedFile
from payroll.errors import PolicyViolation, Refused
from payroll.legs import transfer_legs, with_excess_columns
from payroll.masking import mask_national_id
from payroll.period import Period
from payroll.services.access import branch_scope
from payroll.services.context import Context, actor
from payroll.services.release import plan_for
from payroll.services.reports import record_read
from payroll.store.files import sha256_bytes
from payroll.store.models import (
    Approval,
    BankReport,
    HoldClearance,
    IntakeError,
    ReleasedFile,
    Run,
    RunException,
    Submission,
    TransferStatus,
)

ROW_FIELDS = ("row_no", "pension_id", "full_name", "benefit_type", "net_amount", "account_code")
PAYMENT_FIELDS = ("submission_id", "branch_code", "row_no", "pension_id", "status", "end_to_end_id", "net_amount",
                  "account_code", "bank_code", "excess_amount", "excess_account_code", "excess_bank_code")
# events at the same time are told in this order
_ORDER = {e: i for i, e in enumerate((
    "submission.received", "intake.row_rejected", "submission.approval", "run.created", "run.finding",
    "run.approval", "payment.released", "bank.status", "hold.cleared"))}


def _scope(session: Session, who: Actor) -> tuple[frozenset[str] | None, str]:
    """The branches `who` may trace payees of (None: all) and the scope in words."""
    return branch_scope(session, who, "tracing a payee")


def _matching(path: str | None, sha256: str | None, what: str, national_id: str) -> pa.Table | None:
    """The rows of a stored Parquet object whose national_id is `national_id`, after verifying its bytes."""
    if path is None or sha256 is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise Refused("STORED_FILE_CHANGED", f"{what}: {e}") from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise Refused("STORED_FILE_CHANGED", f"{what}: {path}: stored content changed (sha256 {actual}, "
                      f"recorded {sha256})")
    table = pq.read_table(pa.BufferReader(data), filters=pc.field("national_id") == national_id)
    return table if table.num_rows else None


def _plain(value: Any) -> Any:
    """A scalar read from pandas as plain Python (numpy integers as int, missing as None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _evidence(detail: dict[str, Any]) -> str:
    return str(detail.get("evidence") or detail.get("message") or "")


def _when(at: str | None) -> datetime:
    if not at:
        return datetime.max.replace(tzinfo=UTC)
    t = datetime.fromisoformat(at)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class _Story:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, event: str, at: str | None, **fields: Any) -> None:
        self.events.append({"at": at, "event": event, **fields})

    def told(self) -> list[dict[str, Any]]:
        return sorted(self.events, key=lambda e: (_when(e["at"]), _ORDER[e["event"]]))


def _released_legs(session: Session, run: Run, legs: pd.DataFrame) -> list[dict[str, Any]]:
    """Each leg of the payee's payments in `run` with the released bank file that carried it."""
    files = list(session.execute(select(ReleasedFile).where(ReleasedFile.run_id == run.id)).scalars())
    by_name = {f.file_name: f for f in files}
    plan: list[PlannedFile] | None = None
    out = []
    for leg in legs.itertuples(index=False):
        of_bank = [f for f in files if f.bank_code == leg.bank_code]
        record = of_bank[0] if len(of_bank) == 1 and of_bank[0].msg_id else None
        msg_id = record.msg_id if record else None
        if record is None:  # the bank's transfers were split over several files: which one is the plan's
            plan = plan if plan is not None else plan_for(session, run)
            planned = next((p for p in plan if (p.transfers["end_to_end_id"] == leg.end_to_end_id).any()), None)
            record = by_name.get(planned.name) if planned else None
            msg_id = planned.msg_id if planned else None
        out.append({"end_to_end_id": leg.end_to_end_id, "leg": leg.leg or None, "amount": int(leg.amount),
                    "bank_code": leg.bank_code, "account_code": leg.account_code,
                    "file": record.file_name if record else None, "msg_id": msg_id,
                    "file_sha256": record.sha256 if record else None,
                    "format": record.file_format if record else None})
    return out


def trace(ctx: Context, national_id: str, *, period: str | None = None, user: str) -> dict[str, Any]:
    """The story of the payee with `national_id` (any period, or only `period`), as `user` may see it."""
    nid = ctx.country.national_id.compact(str(national_id))
    if not nid:
        raise Refused("INVALID_NATIONAL_ID", f"{national_id!r} is no national id")
    per = str(Period.parse(period)) if period is not None else None
    story = _Story()
    with ctx.uow() as session:
        who = actor(session, user)
        branches, scope = _scope(session, who)

        def in_scope(column: Any) -> Any:
            return true() if branches is None else column.in_(sorted(branches))

        # the branch files: rows that carried the id, and rows intake rejected
        sub_filter = [in_scope(Submission.branch_code)] + ([Submission.period == per] if per else [])
        subs = list(session.execute(select(Submission).where(*sub_filter).order_by(Submission.id)).scalars())
        rows_of: dict[int, pa.Table] = {}
        for s in subs:
            found = _matching(s.rows_path, s.rows_sha256, f"submission {s.id}", nid)
            if found is not None:
                rows_of[s.id] = found
        rejected = list(session.execute(select(IntakeError).join(Submission, Submission.id == IntakeError.submission_id)
                                        .where(IntakeError.national_id == nid, *sub_filter)
                                        .order_by(IntakeError.submission_id, IntakeError.row_no)).scalars())
        sub_ids = sorted(set(rows_of) | {e.submission_id for e in rejected})
        by_id = {s.id: s for s in subs}
        for sid in sub_ids:
            s = by_id[sid]
            rows = rows_of[sid].select(list(ROW_FIELDS)).to_pylist() if sid in rows_of else []
            story.add("submission.received", s.submitted_at, submission_id=s.id, branch_code=s.branch_code,
                      period=s.period, version=s.version, file_name=s.file_name, sha256=s.content_sha256,
                      rows_sha256=s.rows_sha256, submitted_by=s.submitted_by, status=s.status, rows=rows)
        for ie in rejected:
            s = by_id[ie.submission_id]
            story.add("intake.row_rejected", s.submitted_at, submission_id=s.id, branch_code=s.branch_code,
                      row_no=ie.row_no, pension_id=ie.pension_id, code=ie.code, column=ie.column_name,
                      message=ie.message)
        for a in session.execute(select(Approval).where(Approval.item_type == "submission",
                                                        Approval.item_id.in_(sub_ids))
                                 .order_by(Approval.item_id, Approval.level, Approval.id)).scalars():
            story.add("submission.approval", a.decided_at, submission_id=int(a.item_id), level=a.level,
                      user=a.user_id, role=a.role, decision=a.decision, reason=a.reason,
                      content_sha256=a.content_sha256)

        # the runs of those periods: the payee's rows in their payments files, and their findings
        # (and any run with a finding on the id, e.g. an overpayment found in a later month: the finding
        # carries the lineage of the earlier payment it is about)
        periods = sorted({by_id[sid].period for sid in sub_ids})
        named = select(RunException.run_id).where(RunException.national_id == nid, in_scope(RunException.branch_code))
        runs = list(session.execute(select(Run).where(
            or_(Run.period.in_(periods), Run.id.in_(named)), *([Run.period == per] if per else []))
            .order_by(Run.id)).scalars())
        payments_of: dict[int, pd.DataFrame] = {}
        for r in runs:
            found = _matching(r.payments_path, r.content_sha256, f"run {r.id}", nid)
            if found is None:
                continue
            found = found.filter(pc.is_in(found["submission_id"], pa.array(sub_ids, pa.int64())))
            if found.num_rows:
                payments_of[r.id] = found.to_pandas()
        run_ids = [r.id for r in runs]
        keys = {(int(p.submission_id), int(p.row_no)) for df in payments_of.values()
                for p in df.itertuples(index=False)}
        findings = [e for e in session.execute(select(RunException).where(
            RunException.run_id.in_(run_ids), in_scope(RunException.branch_code),
            or_(RunException.national_id == nid, RunException.submission_id.in_([k[0] for k in keys])))
            .order_by(RunException.run_id, RunException.id)).scalars()
            if e.national_id == nid or (int(e.submission_id), int(e.row_no)) in keys]
        told = sorted(set(payments_of) | {e.run_id for e in findings})
        run_by_id = {r.id: r for r in runs}
        statuses: dict[int, list[TransferStatus]] = {}
        payment_ids: list[str] = []
        for rid in told:
            r = run_by_id[rid]
            df = payments_of.get(rid)
            payments = [] if df is None else [{f: _plain(getattr(p, f)) for f in PAYMENT_FIELDS}
                                              for p in df.itertuples(index=False)]
            payment_ids += [p["end_to_end_id"] for p in payments]
            story.add("run.created", r.created_at, run_id=r.id, kind=r.kind, parent_run_id=r.parent_run_id,
                      period=r.period, status=r.status, created_by=r.created_by, payments=payments)
            legs = (transfer_legs(with_excess_columns(df)) if df is not None
                    else pd.DataFrame(columns=["end_to_end_id"]))
            if r.status == "released" and len(legs):
                carried = _released_legs(session, r, legs)
                for pid, group in legs.groupby("payment_id", sort=True):
                    story.add("payment.released", r.released_at, run_id=r.id, released_by=r.released_by,
                              payment_id=pid, legs=[c for c in carried if c["end_to_end_id"] in
                                                    set(group["end_to_end_id"])])
                statuses[rid] = list(session.execute(select(TransferStatus).where(
                    TransferStatus.run_id == rid, TransferStatus.end_to_end_id.in_(legs["end_to_end_id"].tolist()))
                    .order_by(TransferStatus.end_to_end_id)).scalars())
            for a in session.execute(select(Approval).where(Approval.item_type == "run", Approval.item_id == rid)
                                     .order_by(Approval.level, Approval.id)).scalars():
                story.add("run.approval", a.decided_at, run_id=rid, level=a.level, user=a.user_id, role=a.role,
                          decision=a.decision, reason=a.reason, content_sha256=a.content_sha256)

        reports = {b.id: b for b in session.execute(select(BankReport).where(BankReport.id.in_(
            {t.report_id for ts in statuses.values() for t in ts}))).scalars()}
        for rid, ts in statuses.items():
            for t in ts:
                b = reports[t.report_id]
                story.add("bank.status", t.updated_at, run_id=rid, end_to_end_id=t.end_to_end_id, outcome=t.outcome,
                          iso_status=t.iso_status, reason_code=t.reason_code, reason_text=t.reason_text,
                          amount=t.amount, report={"id": b.id, "file_name": b.file_name, "message": b.message,
                                                   "msg_id": b.msg_id, "read_by": b.read_by, "read_at": b.read_at})
        for e in findings:
            r = run_by_id[e.run_id]
            at = r.created_at
            if e.stage == "bank" and statuses.get(r.id):
                at = max(t.updated_at for t in statuses[r.id])
            detail = json.loads(e.detail)
            story.add("run.finding", at, run_id=r.id, code=e.code, severity=e.severity, stage=e.stage,
                      branch_code=e.branch_code, submission_id=int(e.submission_id), row_no=e.row_no,
                      pension_id=e.pension_id, evidence=_evidence(detail), detail=detail)

        clear_filter = [in_scope(HoldClearance.branch_code),
                        or_(HoldClearance.national_id == nid, HoldClearance.end_to_end_id.in_(payment_ids))]
        if per:
            clear_filter.append(Run.period == per)
        for c in session.execute(select(HoldClearance).join(Run, Run.id == HoldClearance.run_id)
                                 .where(*clear_filter).order_by(HoldClearance.id)).scalars():
            story.add("hold.cleared", c.cleared_at, clearance_id=c.id, run_id=c.run_id, end_to_end_id=c.end_to_end_id,
                      branch_code=c.branch_code, pension_id=c.pension_id, net_amount=c.net_amount,
                      codes=json.loads(c.codes), justification=c.justification, cleared_by=c.cleared_by,
                      role=c.role, paid_in_run_id=c.paid_in_run_id, closed_in_run_id=c.closed_in_run_id)

    events = story.told()
    if branches is not None and not events:
        raise PolicyViolation("OUT_OF_SCOPE", f"{who.user_id} is a {who.role} of {scope} and may trace only payees "
                              f"of {scope}; national id {nid} has nothing in {scope}")
    # who looked whom up: the entry names the payee by masked id and by the hash of the full id
    record_read(ctx, user, "payee.trace", "payee", mask_national_id(nid, ctx.country.code),
                {"national_id_sha256": sha256_bytes(nid.encode()), "period": per,
                 "found": bool(events)})
    return {
        "national_id": nid, "query": str(national_id), "period": per, "user": who.user_id, "scope": scope,
        "found": bool(events),
        "branches": sorted({by_id[sid].branch_code for sid in sub_ids}),
        "pension_ids": sorted({str(r["pension_id"]) for t in rows_of.values() for r in t.to_pylist()
                               if r["pension_id"]} | {e.pension_id for e in rejected if e.pension_id}),
        "submissions": sub_ids,
        "runs": told,
        "payments": sorted(set(payment_ids)),
        "events": events,
    }
