"""Held payments: who may clear a HOLD, and the record of each clearance.

A HOLD stops a payment until a user whose role may clear every HOLD code of the row (the catalogue's
`clear_roles`) clears it with a written justification; a supplementary run of the same period then pays
it (payroll.services.supplementary). Holds are cleared on a released run only: before its release a
run can still be superseded and what it holds is not final. The run's maker never clears its holds.

A clearance is open until the release of the supplementary run that took it: paid (paid_in_run_id),
or closed (closed_in_run_id) when that run's re-check held or blocked the row again; the row is then
cleared, if at all, on that supplementary run. A payment of a period has at most one open clearance.

Every change to the holds of a period (a clearance, a supplementary run, its release) locks the
period's main run row first and the run concerned second, always in that order: they serialize per
period on PostgreSQL without deadlocks (SQLite serializes every writer anyway).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from payroll import audit
from payroll.catalog import catalog
from payroll.errors import NotFound, PolicyViolation, Refused, WrongState
from payroll.legs import DEDICATED, ORDINARY, with_excess_columns
from payroll.money import exact_sum
from payroll.services.context import Context, actor
from payroll.services.runs import load_run
from payroll.store.files import read_table_verified
from payroll.store.models import HoldClearance, Run, RunException, TransferStatus

MIN_JUSTIFICATION = 20  # characters, after stripping surrounding white space


def main_run_id(run: Run) -> int:
    """The id of the main run of `run`'s period (the run itself for a main run)."""
    if run.kind == "main":
        return run.id
    if run.parent_run_id is None:
        raise WrongState("NO_MAIN_RUN", f"supplementary run {run.id} names no main run")
    return run.parent_run_id


def lock_period(session: Session, run_id: int) -> tuple[Run, Run]:
    """Lock the main run of `run_id`'s period, then the run itself; returns (main run, run)."""
    row = session.execute(select(Run.kind, Run.parent_run_id).where(Run.id == run_id)).one_or_none()
    if row is None:
        raise NotFound("run", run_id)
    main_id = run_id if row.kind == "main" or row.parent_run_id is None else row.parent_run_id
    main = load_run(session, main_id, lock=True)
    run = main if main_id == run_id else load_run(session, run_id, lock=True)
    return main, run


def is_open(c: HoldClearance) -> bool:
    return c.paid_in_run_id is None and c.closed_in_run_id is None


def open_clearances(session: Session, period: str) -> list[HoldClearance]:
    """The clearances of `period` that no released supplementary run has paid or closed, oldest first."""
    return list(session.execute(select(HoldClearance).join(Run, Run.id == HoldClearance.run_id).where(
        Run.period == period, HoldClearance.paid_in_run_id.is_(None), HoldClearance.closed_in_run_id.is_(None))
        .order_by(HoldClearance.id)).scalars())


def clearance_view(c: HoldClearance) -> dict[str, Any]:
    return {"clearance_id": c.id, "run_id": c.run_id, "end_to_end_id": c.end_to_end_id,
            "branch_code": c.branch_code, "pension_id": c.pension_id, "national_id": c.national_id,
            "net_amount": c.net_amount, "codes": json.loads(c.codes), "justification": c.justification,
            "cleared_by": c.cleared_by, "role": c.role, "cleared_at": c.cleared_at,
            "paid_in_run_id": c.paid_in_run_id, "closed_in_run_id": c.closed_in_run_id}


def read_payments(run: Run, **equal: str) -> pd.DataFrame:
    """The run's payments (verified against the recorded SHA-256), only rows whose columns equal `equal`."""
    try:
        table = read_table_verified(Path(run.payments_path), run.content_sha256)
    except (OSError, ValueError) as e:
        raise Refused("STORED_FILE_CHANGED", f"run {run.id}: {e}") from None
    for column, value in equal.items():
        table = table.filter(pc.equal(table[column], value))
    return table.to_pandas()


# HOLD codes on a PAYABLE row whose unpaid part a supplementary run pays once cleared: what a bank rejected
# (payroll.services.reconcile), and the excess over a dedicated account's cap held for want of an ordinary
# account (payroll.legs); the part that was paid is never paid again
PARTIAL_CODES = ("BANK_REJECTED", "CAP_EXCESS_HELD")


def codes_to_clear(status: str, findings: list[RunException]) -> list[str] | None:
    """The HOLD codes a clearance of a payment clears: every HOLD code of a HOLD row; of a PAYABLE row
    only its PARTIAL_CODES (the part it was not paid). None when the payment is not cleared at all: a
    BLOCK, or a payment paid whole (a bank's amount query or contradiction on it is settled with the
    bank, never by paying it again)."""
    partial = status == "PAYABLE" and any(e.code in PARTIAL_CODES for e in findings)
    if status != "HOLD" and not partial:
        return None
    return sorted({e.code for e in findings if e.severity == "HOLD" and (e.code in PARTIAL_CODES or not partial)})


def rejected_of(session: Session, run_id: int, end_to_end_ids: list[str]) -> dict[str, int]:
    """What the banks rejected of each payment of the run: the sum of its rejected transfers (the payment
    itself, or its legs)."""
    legs = {e2e + s: e2e for e2e in end_to_end_ids for s in ("", DEDICATED, ORDINARY)}
    out = dict.fromkeys(end_to_end_ids, 0)
    for transfer, amount in session.execute(select(TransferStatus.end_to_end_id, TransferStatus.amount).where(
            TransferStatus.run_id == run_id, TransferStatus.outcome == "rejected")).tuples():
        if transfer in legs:
            out[legs[transfer]] += int(amount)
    return out


def unpaid_amounts(rows: pd.DataFrame, cleared_codes: dict[str, set[str]], rejected: dict[str, int]) -> dict[str, int]:
    """What a supplementary run pays of each cleared payment that its run paid in part (PARTIAL_CODES):
    what the banks rejected, plus a held excess over the dedicated account's cap; never the part paid."""
    out = {}
    rows = with_excess_columns(rows)
    for e2e, excess, account in zip(rows["end_to_end_id"], rows["excess_amount"], rows["excess_account_code"],
                                    strict=True):
        codes = cleared_codes[e2e] & set(PARTIAL_CODES)
        if codes:
            held = int(excess) if "CAP_EXCESS_HELD" in codes and not account else 0
            out[e2e] = rejected.get(e2e, 0) + held
    return out


def findings_by_row(session: Session, run_id: int) -> dict[tuple[int, int], list[RunException]]:
    """The run's findings on its rows, keyed by lineage (submission id, row number in the branch file)."""
    out: dict[tuple[int, int], list[RunException]] = defaultdict(list)
    for e in session.execute(select(RunException).where(RunException.run_id == run_id,
                                                          RunException.stage.in_(("run", "bank")))
                             .order_by(RunException.code, RunException.id)).scalars():
        out[(int(e.submission_id), int(e.row_no))].append(e)
    return out


def roles_for(codes: list[str]) -> frozenset[str]:
    """The roles that may clear every one of `codes` (a code unknown to the catalogue: none)."""
    known = catalog()
    roles: frozenset[str] | None = None
    for code in codes:
        may = known[code].clearable_by if code in known else frozenset()
        roles = may if roles is None else roles & may
    return roles or frozenset()


def _finding(e: RunException) -> dict[str, Any]:
    return {"code": e.code, "severity": e.severity, "detail": json.loads(e.detail)}


def _held_here(status: str, findings: list[RunException]) -> bool:
    """Whether something of the payment is held: the row is HOLD, or a PAYABLE row has a part held (a
    PARTIAL_CODES finding) or a bank's answer on it holds it (BANK_* findings)."""
    return status == "HOLD" or any(e.severity == "HOLD" and (e.stage == "bank" or e.code in PARTIAL_CODES)
                                   for e in findings)


def _why_not(clears: list[str] | None) -> str | None:
    """Why a listed payment cannot be cleared (None when it can)."""
    if clears is None:
        return ("paid whole by this run: the bank's answer on it is settled with the bank, and the payment is "
                "not paid again")
    if not clears:
        return "the run records no HOLD finding on it: nothing names what would be cleared"
    if not roles_for(clears):
        return f"no role may clear all of {', '.join(clears)}"
    return None


def list_holds(ctx: Context, run_id: int) -> dict[str, Any]:
    """The run's held payments: its HOLD rows, and its PAYABLE rows of which something is held (a leg the
    bank rejected, an excess over the cap, a bank's amount query or contradiction). For each: who the
    payment is for, every finding on the row, the codes a clearance clears and who may clear them (none
    when it cannot be cleared, with why), what a supplementary run pays of it once cleared (before that
    run checks it again), and its clearance if it has one."""
    with ctx.uow() as session:
        run = load_run(session, run_id)
        findings = findings_by_row(session, run.id)
        cleared = {c.end_to_end_id: c for c in session.execute(
            select(HoldClearance).where(HoldClearance.run_id == run.id)).scalars()}
        payments = read_payments(run)
        keys = zip(payments["submission_id"].astype(int), payments["row_no"].astype(int), strict=True)
        rows = payments[[_held_here(st, findings.get(k, [])) for st, k in zip(payments["status"], keys, strict=True)]]
        rejected = rejected_of(session, run.id, list(rows.loc[rows["status"] == "PAYABLE", "end_to_end_id"]))
    to_clear = {r.end_to_end_id: codes_to_clear(r.status, findings.get((int(r.submission_id), int(r.row_no)), []))
                for r in rows.itertuples(index=False)}
    partial = rows[rows["status"] == "PAYABLE"]
    unpaid = unpaid_amounts(partial, {e2e: set(to_clear[e2e] or ()) for e2e in partial["end_to_end_id"]}, rejected)
    holds = []
    for r in rows.itertuples(index=False):
        row_findings = findings.get((int(r.submission_id), int(r.row_no)), [])
        codes = sorted({e.code for e in row_findings if e.severity == "HOLD"})
        clears = to_clear[r.end_to_end_id]
        c = cleared.get(r.end_to_end_id)
        holds.append({
            "end_to_end_id": r.end_to_end_id, "status": r.status, "branch_code": r.branch_code,
            "pension_id": r.pension_id, "national_id": r.national_id, "full_name": r.full_name,
            "net_amount": int(r.net_amount), "account_code": r.account_code, "bank_code": r.bank_code,
            "submission_id": int(r.submission_id), "row_no": int(r.row_no), "codes": codes,
            "clears": clears or [], "clearable_by": sorted(roles_for(clears)) if clears else [],
            "not_clearable": _why_not(clears),
            "supplementary_amount": 0 if not clears else int(r.net_amount) if r.status == "HOLD"
            else unpaid.get(r.end_to_end_id, 0),
            "findings": [_finding(e) for e in row_findings],
            "clearance": clearance_view(c) if c is not None else None,
        })
    open_ = [h for h in holds if h["clearance"] and h["clearance"]["paid_in_run_id"] is None
             and h["clearance"]["closed_in_run_id"] is None]
    whole = payments[payments["status"] == "HOLD"]
    return {"run_id": run.id, "period": run.period, "kind": run.kind, "status": run.status,
            "clearable": run.status == "released", "held_count": len(whole),
            "held_total": exact_sum(whole["net_amount"].to_numpy()),
            "cleared_count": sum(1 for h in holds if h["clearance"]), "awaiting_payment_count": len(open_),
            "awaiting_payment_total": sum(h["supplementary_amount"] for h in open_),
            "holds": holds}


def clear_hold(ctx: Context, run_id: int, end_to_end_id: str, *, user: str, justification: str) -> dict[str, Any]:
    """Clear the HOLD of one payment of a released run, so that a supplementary run pays it."""
    text = (justification or "").strip()
    with ctx.uow() as session:
        who = actor(session, user)
        # the policy before the payment: a user who may clear no hold learns nothing of runs or payments
        if who.role == "auditor":
            raise PolicyViolation("SOD_AUDITOR_READ_ONLY", f"{user} is an auditor; auditors never change anything")
        clearers = sorted({r for c in catalog().values() for r in c.clearable_by})
        if who.role not in clearers:
            raise PolicyViolation("WRONG_ROLE", f"clearing a hold needs a {' or '.join(clearers)}; {user} is a "
                                  f"{who.role}")
        _, run = lock_period(session, run_id)  # two clearers of one period queue here
        what = f"payment {end_to_end_id} of run {run.id}"
        if run.status != "released":
            raise WrongState("RUN_NOT_RELEASED", f"run {run.id} is {run.status}; holds are cleared on a released "
                             "run only (until its release a run can be superseded)")
        rows = read_payments(run, end_to_end_id=end_to_end_id)
        if rows.empty:
            raise NotFound("payment", f"{end_to_end_id} in run {run.id}")
        row = rows.iloc[0]
        findings = findings_by_row(session, run.id).get((int(row["submission_id"]), int(row["row_no"])), [])
        # a PAYABLE payment is cleared only for what of it was not paid (PARTIAL_CODES)
        codes = codes_to_clear(str(row["status"]), findings)
        if codes is None:
            why = ("a BLOCK is never paid and never cleared" if row["status"] == "BLOCK"
                   else "it was paid by this run; there is nothing to clear")
            raise WrongState("NOT_HELD", f"{what} is {row['status']}, not HOLD: {why}")
        earlier = list(session.execute(select(HoldClearance).join(Run, Run.id == HoldClearance.run_id).where(
            Run.period == run.period, HoldClearance.end_to_end_id == end_to_end_id).order_by(HoldClearance.id))
            .scalars())
        for c in earlier:
            if c.paid_in_run_id is not None:
                raise WrongState("ALREADY_PAID", f"{what} was cleared by {c.cleared_by} on run {c.run_id} and paid "
                                 f"by supplementary run {c.paid_in_run_id}; it is never paid twice")
        for c in earlier:
            if c.run_id == run.id:
                state = (f"; supplementary run {c.closed_in_run_id} held it again: clear it on that run"
                         if c.closed_in_run_id is not None else "; a supplementary run will pay it")
                raise WrongState("ALREADY_CLEARED", f"{what} was already cleared by {c.cleared_by} at {c.cleared_at} "
                                 f"(clearance {c.id}){state}")
            if is_open(c):
                raise WrongState("ALREADY_CLEARED", f"{what} is already cleared on run {c.run_id} by {c.cleared_by} "
                                 f"(clearance {c.id}) and awaits a supplementary run")
        if not codes:
            raise WrongState("NO_HOLD_FINDING", f"{what} is HOLD but the run records no HOLD finding on it; "
                             "nothing names what is being cleared")
        if who.role == "auditor":
            raise PolicyViolation("SOD_AUDITOR_READ_ONLY", f"{user} is an auditor; auditors never change anything")
        known = catalog()
        refused = [c for c in codes if who.role not in (known[c].clearable_by if c in known else frozenset())]
        if refused:
            needs = "; ".join(f"{c} by {' or '.join(sorted(known[c].clearable_by)) if c in known else 'nobody'}"
                              for c in refused)
            raise PolicyViolation("WRONG_ROLE", f"{user} is a {who.role} and may not clear {what}: its HOLD "
                                  f"code(s) {', '.join(codes)} are cleared only as follows: {needs}")
        if user == run.created_by:
            raise PolicyViolation("SOD_MAKER_CHECKER", f"{user} made run {run.id} and may not clear its holds")
        if len(text) < MIN_JUSTIFICATION:
            raise Refused("JUSTIFICATION_TOO_SHORT", f"clearing {what} needs a justification of at least "
                          f"{MIN_JUSTIFICATION} characters saying why it may be paid; got {len(text)}")
        clearance = HoldClearance(
            run_id=run.id, end_to_end_id=end_to_end_id, pension_id=str(row["pension_id"]),
            national_id=str(row["national_id"]), branch_code=str(row["branch_code"]),
            net_amount=int(row["net_amount"]), codes=json.dumps(codes), justification=text, cleared_by=user,
            role=who.role, cleared_at=audit.now_iso())
        session.add(clearance)
        session.flush()
        view = clearance_view(clearance)
        audit.append(session, actor=user, role=who.role, action="hold.clear", item_type="hold_clearance",
                     item_id=clearance.id, after=view,
                     detail={"run_id": run.id, "end_to_end_id": end_to_end_id, "codes": codes,
                             "justification": text, "net_amount": clearance.net_amount})
        return {**view, "period": run.period}
