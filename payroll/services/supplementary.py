"""Supplementary runs: pay the held payments of a released period once their HOLD was cleared.

A supplementary run takes every open clearance of the period (a HOLD cleared on the main run, or on an
earlier released supplementary run), reads the held rows from the payments file of the run where they
were held, and judges them again with the row checks (registry, deaths, accounts) against the reference
in force today: something may have changed since (a death recorded). A row is PAYABLE only if it has no
BLOCK finding now and every HOLD code it has now was cleared; otherwise it stays HOLD or BLOCK, and a
HOLD needs a new clearance on this run once it is released. A payment keeps its end-to-end id, the
stable reference that was never sent to a bank.

The run is approved like any run (two HQ finance users) and released by release_run, which marks its
clearances paid (or closed) in the release transaction; no PeriodRelease is written for it. A newer
supplementary run of the period supersedes an unreleased older one. The maker may not be one of the
users who cleared its rows.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from payroll import audit
from payroll.approvals import RUN_MAKERS, require_role
from payroll.catalog import severity
from payroll.checks import NO_ROW
from payroll.checks.pipeline import ROW_CHECKS, run_checks
from payroll.errors import PolicyViolation, Refused, WrongState
from payroll.legs import LEG_EXCESS, paid_total, split_over_cap
from payroll.payments import PAYMENTS_SCHEMA, account_banks, to_table, totals_by
from payroll.period import Period
from payroll.services.context import Context, actor
from payroll.services.holds import open_clearances, rejected_of, unpaid_amounts
from payroll.services.release import run_transfers
from payroll.services.runs import UNRELEASED, load_run, reference_for, run_state, run_view
from payroll.store.files import put_table, read_table_verified
from payroll.store.models import HoldClearance, PeriodRelease, Run, RunException, TransferStatus

# the columns of a payments file that a run adds to the consolidated branch rows
_PAYMENT_ONLY = ("row_key", "bank_code", "status", "end_to_end_id", "excess_amount", "excess_account_code",
                 "excess_bank_code")


def _held_rows(runs: dict[int, Run], by_payment: dict[str, list[HoldClearance]]) -> pd.DataFrame:
    """Each cleared payment's row, from the payments file of the latest run where it was held."""
    wanted: dict[int, list[str]] = {}
    for e2e, cs in by_payment.items():
        wanted.setdefault(max(c.run_id for c in cs), []).append(e2e)
    frames = []
    for run_id, ids in sorted(wanted.items()):
        run = runs[run_id]
        try:
            table = read_table_verified(Path(run.payments_path), run.content_sha256)
        except (OSError, ValueError) as e:
            raise Refused("STORED_FILE_CHANGED", f"run {run.id}: {e}") from None
        part = table.filter(pc.is_in(table["end_to_end_id"], value_set=pa.array(ids, pa.string()))).to_pandas()
        missing = sorted(set(ids) - set(part["end_to_end_id"]))
        if missing:
            raise Refused("STORED_FILE_CHANGED", f"run {run.id} has no payment {', '.join(missing)}, which was "
                          "cleared on it")
        frames.append(part)
    rows = pd.concat(frames, ignore_index=True).drop(columns=["row_key"])  # this run numbers its own rows
    rows = rows.sort_values(["branch_code", "submission_id", "row_no"], kind="stable").reset_index(drop=True)
    rows.index.name = "row_key"
    return rows


def credited_in_period(session: Session, period: str) -> dict[str, int]:
    """What the period's released runs paid into each account (the cap is per month); a transfer a bank
    rejected credited nothing."""
    out: dict[str, int] = {}
    for run in session.execute(select(Run).where(Run.period == period, Run.status == "released")).scalars():
        rejected = set(session.execute(select(TransferStatus.end_to_end_id).where(
            TransferStatus.run_id == run.id, TransferStatus.outcome == "rejected")).scalars())
        legs = run_transfers(run)
        legs = legs[~legs["end_to_end_id"].isin(rejected)]
        for account, amount in legs.groupby("account_code")["amount"].sum().items():
            out[str(account)] = out.get(str(account), 0) + int(amount)
    return out


def rejected_amounts(session: Session, taken: list[HoldClearance]) -> dict[str, int]:
    """For each cleared payment a bank rejected (BANK_REJECTED), what the banks rejected of it. One query per
    run (rejected_of reads the run's rejected transfers), not one per clearance."""
    by_run: dict[int, list[str]] = {}
    for c in taken:
        if "BANK_REJECTED" in json.loads(c.codes):
            by_run.setdefault(c.run_id, []).append(c.end_to_end_id)
    out: dict[str, int] = {}
    for run_id, e2es in by_run.items():
        for e2e, amount in rejected_of(session, run_id, e2es).items():
            out[e2e] = out.get(e2e, 0) + amount
    return out


def _decide(rows: pd.DataFrame, status: pd.Series, exceptions: pd.DataFrame,
            cleared_codes: dict[str, set[str]]) -> pd.Series:
    """PAYABLE when no BLOCK and every HOLD code found now was cleared; else what the checks said."""
    holds = exceptions[exceptions["severity"] == "HOLD"].groupby("row_key")["code"].agg(set)
    out = status.copy()
    for key in out.index[out == "HOLD"]:
        if holds.get(key, set()) <= cleared_codes[rows.at[key, "end_to_end_id"]]:
            out.at[key] = "PAYABLE"
    return out


def create_supplementary_run(ctx: Context, period: str, *, user: str) -> dict[str, Any]:
    per = Period.parse(period)
    with ctx.uow() as session:
        who = actor(session, user)
        require_role(who, RUN_MAKERS, "creating a supplementary run")
        released = session.get(PeriodRelease, str(per))
        if released is None:
            raise WrongState("PERIOD_NOT_RELEASED", f"period {per} has no released main run; held payments are "
                             "cleared and paid after it is released")
        main_id = released.run_id
        taken = open_clearances(session, str(per))
        if not taken:
            raise Refused("NOTHING_CLEARED", f"no cleared hold of {per} awaits payment; a finance lead clears "
                          "held payments of the released run first (pension hold clear)")
        clearers = sorted({c.cleared_by for c in taken})
        if user in clearers:
            raise PolicyViolation("SOD_CLEARER_MAKES_RUN", f"{user} cleared held payment(s) of {per} and may not "
                                  "make the run that pays them")
        runs = {r.id: r for r in session.execute(select(Run).where(Run.id.in_({c.run_id for c in taken})))
                .scalars()}
        ref = reference_for(ctx, session, per)
        credited = credited_in_period(session, str(per))
        rejected = rejected_amounts(session, taken)

    by_payment: dict[str, list[HoldClearance]] = {}
    for c in taken:
        by_payment.setdefault(c.end_to_end_id, []).append(c)
    cleared_codes = {e2e: {code for c in cs for code in json.loads(c.codes)} for e2e, cs in by_payment.items()}
    rows = _held_rows(runs, by_payment)
    unpaid = unpaid_amounts(rows, cleared_codes, rejected)
    again = rows["end_to_end_id"].isin(list(unpaid))
    rows.loc[again, "net_amount"] = rows.loc[again, "end_to_end_id"].map(unpaid).astype("int64")
    checked = rows.drop(columns=[c for c in _PAYMENT_ONLY if c in rows.columns])
    status, exceptions = run_checks(checked, ref, per, checks=ROW_CHECKS)
    exceptions = exceptions[exceptions["row_key"] != NO_ROW]  # findings off this run's rows stay with the main run
    payments = rows.copy()
    payments["status"] = _decide(rows, status, exceptions, cleared_codes)
    # a cleared ACCOUNT_UNKNOWN has no registry entry: the account code itself names the bank
    banks = account_banks(payments, ref.accounts)  # "" where the registry does not list the account
    payments["bank_code"] = [b or ctx.country.account_bank_code(a)
                             for a, b in zip(payments["account_code"], banks, strict=True)]
    payments, split = split_over_cap(payments.drop(columns=list(LEG_EXCESS), errors="ignore"), ref.accounts,
                                     ref.policy.dedicated_account_cap, credited=credited)
    if len(split):
        split["severity"] = split["code"].map(severity)
        exceptions = pd.concat([exceptions, split], ignore_index=True).sort_values(["row_key", "code"], kind="stable")
    # a payment that would carry nothing (its excess held again: still no ordinary account) is not paid:
    # its clearance is closed and the new CAP_EXCESS_HELD finding can be cleared on this run
    nothing = (payments["status"] == "PAYABLE") & (payments["excess_account_code"] == "") & \
        (payments["excess_amount"] >= payments["net_amount"])
    payments.loc[nothing, "status"] = "HOLD"
    payments = payments.reset_index()[list(PAYMENTS_SCHEMA.names)]
    payments_path, payments_sha = put_table(ctx.home, "runs", to_table(payments))
    e2e_of = payments.set_index("row_key")["end_to_end_id"]
    ids_of = {e2e: sorted(c.id for c in cs) for e2e, cs in by_payment.items()}
    found_ids: dict[tuple[int, str], list[int]] = {}
    for key, code in zip(exceptions["row_key"], exceptions["code"], strict=True):
        if code in cleared_codes[e2e_of[key]]:
            found_ids[(int(key), code)] = ids_of[e2e_of[key]]
    items = [{"end_to_end_id": e2e, "clearance_ids": ids_of[e2e], "status": s}
             for e2e, s in sorted(zip(payments["end_to_end_id"], payments["status"], strict=True))]
    status_counts = payments["status"].value_counts()
    summary = {
        "exceptions": dict(sorted(Counter(exceptions["code"]).items())),
        "intake_rejections": {},
        "missing_branches": [],
        "per_bank": totals_by(payments, "bank_code"),
        "per_branch": totals_by(payments, "branch_code"),
        "submissions": sorted({int(s) for s in payments["submission_id"]}),
        "kind": "supplementary",
        "parent_run_id": main_id,
        "clearances": items,
    }
    payable = payments[payments["status"] == "PAYABLE"]
    taken_ids = sorted(c.id for c in taken)

    with ctx.uow() as session:
        load_run(session, main_id, lock=True)  # the period's lock (payroll.services.holds)
        still = {c.id for c in open_clearances(session, str(per))}
        if not set(taken_ids) <= still:
            raise WrongState("CLEARANCES_CHANGED", f"clearance(s) {sorted(set(taken_ids) - still)} were paid or "
                             "closed by another supplementary run while this one was being made; make it again")
        for old in session.execute(select(Run).where(Run.period == str(per), Run.kind == "supplementary",
                                                     Run.status.in_(UNRELEASED)).with_for_update()).scalars():
            before = run_state(old)
            old.status = "superseded"
            audit.append(session, actor=user, role=who.role, action="run.supersede", item_type="run",
                         item_id=old.id, before=before, after=run_state(old))
        run = Run(period=str(per), status="awaiting_approval", kind="supplementary", parent_run_id=main_id,
                  created_by=user, created_at=audit.now_iso(), payments_path=str(payments_path),
                  content_sha256=payments_sha, rows=len(payments), payable_count=len(payable),
                  payable_total=paid_total(payments),
                  held_count=int(status_counts.get("HOLD", 0)), blocked_count=int(status_counts.get("BLOCK", 0)),
                  summary=json.dumps(summary, ensure_ascii=False), levels_approved=0)
        session.add(run)
        session.flush()
        lineage = payments.set_index("row_key")
        session.add_all(
            RunException(run_id=run.id, code=e.code, severity=e.severity, stage="run",
                         branch_code=lineage.at[e.row_key, "branch_code"],
                         submission_id=int(lineage.at[e.row_key, "submission_id"]),
                         source_sha256=lineage.at[e.row_key, "source_sha256"],
                         row_no=int(lineage.at[e.row_key, "row_no"]),
                         pension_id=lineage.at[e.row_key, "pension_id"],
                         national_id=lineage.at[e.row_key, "national_id"],
                         detail=json.dumps(_with_clearances(e.detail, found_ids.get((int(e.row_key), e.code))),
                                           ensure_ascii=False, sort_keys=True))
            for e in exceptions.itertuples(index=False))
        audit.append(session, actor=user, role=who.role, action="run.create", item_type="run", item_id=run.id,
                     after=run_state(run), detail={"kind": "supplementary", "parent_run_id": main_id,
                                                   "clearances": taken_ids, "exceptions": summary["exceptions"]})
        return {**run_view(run), "kind": run.kind, "parent_run_id": main_id, "clearances": items}


def _with_clearances(detail: Any, clearance_ids: list[int] | None) -> Any:
    """A cleared HOLD finding names the clearance(s) that cleared its code."""
    if clearance_ids is None or not isinstance(detail, dict):
        return detail
    return {**detail, "cleared_by_clearances": clearance_ids}
