"""Reconciliation: what the banks say they did with a released run's transfers.

``pension reconcile RUN FILE`` reads a pain.002 status report or a camt.054 notification
(``bank_formats.status``) against the run's transfers, as planned from its verified payments file
(``payroll.bankfiles``: the same files, message ids and legs as at release). Every line of the report
gets one explicit outcome:

* ``applied``: the transfer's status moved (accepted / pending -> settled / rejected, or a first status);
* ``unchanged``: the transfer already had this status (a report read again, or a repeated line);
* ``stale``: a non-final status for a transfer that already has a final one (a late report), ignored;
* ``unknown_reference``: no transfer of this run has that end-to-end id (or the message id it quotes is
  not one of the run's files);
* ``amount_mismatch``: the bank reports another amount than the run sent; the status is not applied and
  the finding ``BANK_AMOUNT_MISMATCH`` holds the payment for finance;
* ``conflict``: a final status contradicted by another final status; not applied, ``BANK_STATUS_CONFLICT``.
  The one exception: a settled transfer whose money a camt.054 books back (a return, RTRN, or a reversal,
  RVSL) becomes rejected, as a bank's return after payment is.

A status for a whole message or payment-information block (a file rejected whole) applies to each of
its transfers that the report does not list itself. A rejected transfer becomes the finding
``BANK_REJECTED`` (HOLD) with the bank's reason code; once a finance lead clears it (``pension hold
clear``), the next supplementary run of the period reissues the rejected amount. Final statuses
(settled, rejected) never change. A report file is read once per run (by SHA-256): reading it again
changes nothing. The run's ``reconciliation`` is ``reconciled`` when every transfer has a final status,
else ``partial``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from bank_formats.status import PaymentStatus, StatusReport, read_status_report
from payroll import audit
from payroll.approvals import RUN_MAKERS, require_role
from payroll.errors import Refused, WrongState
from payroll.services.context import Context, actor
from payroll.services.release import plan_for
from payroll.services.runs import load_run
from payroll.store.files import put_object, read_table_verified
from payroll.store.models import BankReport, RunException, TransferStatus

FINAL = ("settled", "rejected")
# camt.054 statuses of money booked back to the disbursement account after a transfer settled
RETURNED = ("RTRN", "RVSL")


def _lines(report: StatusReport, by_msg: dict[str, set[str]], ours: set[str]
           ) -> list[tuple[PaymentStatus, str | None]]:
    """The report's transaction lines, then a group status's for each transfer it covers and the report
    does not list; each with the problem that makes it untrustworthy (or None): a quoted message that is
    not one of the run's files, or a notification booked on another account than the disbursement one."""
    out: list[tuple[PaymentStatus, str | None]] = []
    listed = set()
    for p in report.payments:
        listed.add(p.end_to_end_id)
        problem = None
        if p.original_msg_id is not None and p.original_msg_id not in by_msg:
            problem = f"message {p.original_msg_id} is not a file of this run"
        elif p.account is not None and p.account not in ours:
            problem = f"booked on account {p.account}, not the disbursement account"
        out.append((p, problem))
    for g in report.groups:
        if g.original_msg_id not in by_msg:
            out.append((PaymentStatus(end_to_end_id=f"(message {g.original_msg_id})", outcome=g.outcome,
                                      iso_status=g.iso_status, reason_code=g.reason_code, reason_text=g.reason_text,
                                      amount_minor=None, currency=None, original_msg_id=g.original_msg_id,
                                      original_payment_info_id=g.original_payment_info_id),
                        f"message {g.original_msg_id} is not a file of this run"))
            continue
        if g.original_payment_info_id not in (None, f"{g.original_msg_id}P1"):
            continue  # a block this engine never writes: nothing of the run is in it
        for e2e in sorted(by_msg[g.original_msg_id] - listed):
            out.append((PaymentStatus(end_to_end_id=e2e, outcome=g.outcome, iso_status=g.iso_status,
                                      reason_code=g.reason_code, reason_text=g.reason_text, amount_minor=None,
                                      currency=None, original_msg_id=g.original_msg_id,
                                      original_payment_info_id=g.original_payment_info_id), None))
    return out


def _decide(line: PaymentStatus, problem: str | None, sent: int | None, currency: str,
            current: TransferStatus | None) -> str:
    if problem is not None or sent is None:
        return "unknown_reference"
    if line.amount_minor is not None and (line.amount_minor != sent or (line.currency or currency) != currency):
        return "amount_mismatch"
    if current is None:
        return "applied"
    if (current.outcome, current.iso_status, current.reason_code) == (line.outcome, line.iso_status,
                                                                       line.reason_code):
        return "unchanged"
    if current.outcome == "settled" and line.outcome == "rejected" and line.iso_status in RETURNED:
        return "applied"  # the money came back after it was paid: a booked return or reversal
    if current.outcome in FINAL:
        return "conflict" if line.outcome in FINAL and line.outcome != current.outcome else (
            "unchanged" if line.outcome == current.outcome else "stale")
    return "applied"


def reconcile(ctx: Context, run_id: int, path: Path, *, user: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise Refused("FILE_NOT_FOUND", f"{path}: no such file")
    try:
        report = read_status_report(path)
    except ValueError as e:
        raise Refused("BANK_REPORT_INVALID", f"{path.name}: {e}; nothing was recorded", file=path.name) from None
    with ctx.uow() as session:
        run = load_run(session, run_id, lock=True)  # one reconciler of a run at a time
        who = actor(session, user)
        require_role(who, RUN_MAKERS, "reading a bank report")
        if run.status != "released":
            raise WrongState("RUN_NOT_RELEASED", f"run {run.id} is {run.status}; only a released run has bank files")
        earlier = session.execute(select(BankReport).where(BankReport.run_id == run.id,
                                                           BankReport.sha256 == report.sha256)).scalar_one_or_none()
        if earlier is not None:
            return {**_view(session, run), "report_id": earlier.id, "already_read": True,
                    "outcomes": json.loads(earlier.outcomes), "lines": []}
        reused = session.execute(select(BankReport).where(BankReport.run_id == run.id,
                                                          BankReport.msg_id == report.msg_id)).scalar_one_or_none()
        if reused is not None:
            raise Refused("BANK_REPORT_ID_REUSED", f"{path.name}: message {report.msg_id} was already read from "
                          f"{reused.file_name} (report {reused.id}) with other content; a bank never reuses a "
                          "message id, so this one is not trusted; nothing was recorded", file=path.name)
        planned = plan_for(session, run)
        by_msg = {f.msg_id: set(f.transfers["end_to_end_id"]) for f in planned}
        transfers = pd.concat([f.transfers for f in planned], ignore_index=True) if planned else None
        sent = {} if transfers is None else dict(zip(transfers["end_to_end_id"], transfers["amount"].astype(int),
                                                     strict=True))
        payment_of = {} if transfers is None else dict(zip(transfers["end_to_end_id"], transfers["payment_id"],
                                                           strict=True))
        statuses = {s.end_to_end_id: s for s in session.execute(
            select(TransferStatus).where(TransferStatus.run_id == run.id)).scalars()}
        stored, _ = put_object(ctx.home, "bank_reports", path.read_bytes(), path.suffix or ".xml")
        row = BankReport(run_id=run.id, file_name=path.name, sha256=report.sha256, message=report.message,
                         msg_id=report.msg_id, stored_path=str(stored), read_by=user, read_at=audit.now_iso(),
                         outcomes="{}")
        session.add(row)
        session.flush()
        lines, findings = [], []
        debtor = ctx.settings.debtor_account
        ours = {debtor} if ctx.country.account_is_iban else {debtor, debtor[3:]}
        for line, problem in _lines(report, by_msg, ours):
            e2e = line.end_to_end_id
            current = statuses.get(e2e)
            outcome = _decide(line, problem, sent.get(e2e), ctx.country.currency, current)
            lines.append({"end_to_end_id": e2e, "bank_status": line.iso_status, "status": line.outcome,
                          "reason_code": line.reason_code, "reported_amount": line.amount_minor,
                          "sent_amount": sent.get(e2e), "outcome": outcome, "problem": problem})
            if outcome == "applied":
                if current is None:
                    current = TransferStatus(run_id=run.id, end_to_end_id=e2e, amount=sent[e2e])
                    session.add(current)
                    statuses[e2e] = current
                current.outcome, current.iso_status = line.outcome, line.iso_status
                current.reason_code, current.reason_text = line.reason_code, line.reason_text
                current.report_id, current.updated_at = row.id, row.read_at
                if line.outcome == "rejected":
                    findings.append(("rejected", e2e, line))
            elif outcome in ("amount_mismatch", "conflict"):
                findings.append((outcome, e2e, line))
        session.add_all(_findings(session, run.id, findings, payment_of, sent, statuses, report, row.id))
        counts = dict(sorted(Counter(x["outcome"] for x in lines).items()))
        row.outcomes = json.dumps(counts)
        final = sum(1 for s in statuses.values() if s.outcome in FINAL)
        before = run.reconciliation
        run.reconciliation = "reconciled" if final == len(sent) else "partial"
        audit.append(session, actor=user, role=who.role, action="run.reconcile", item_type="run", item_id=run.id,
                     before={"reconciliation": before}, after={"reconciliation": run.reconciliation},
                     detail={"report_id": row.id, "file": path.name, "sha256": report.sha256,
                             "message": report.message, "msg_id": report.msg_id, "outcomes": counts})
        return {**_view(session, run), "report_id": row.id, "already_read": False, "outcomes": counts,
                "lines": lines}


def _findings(session: Any, run_id: int, found: list[tuple[str, str, PaymentStatus]], payment_of: dict[str, str],
              sent: dict[str, int], statuses: dict[str, TransferStatus], report: StatusReport,
              report_id: int) -> list[RunException]:
    """The findings a report raises, each with the lineage of the payment row; one per transfer and code."""
    if not found:
        return []
    run_row = _payment_rows(session, run_id)
    have = {(e.code, json.loads(e.detail).get("end_to_end_id"))
            for e in session.execute(select(RunException).where(RunException.run_id == run_id,
                                                                RunException.stage == "bank")).scalars()}
    out = []
    for kind, e2e, line in found:
        r = run_row.loc[payment_of[e2e]]
        current = statuses.get(e2e)
        said = f"{line.iso_status}" + (f" {line.reason_code}" if line.reason_code else "")
        evidence = {
            "rejected": f"the bank rejected transfer {e2e} of {sent[e2e]} ({said}"
                        f"{': ' + line.reason_text if line.reason_text else ''}) in {report.message} {report.msg_id}",
            "amount_mismatch": f"the bank reports {line.amount_minor} {line.currency or ''} for transfer {e2e}, the "
                               f"run sent {sent[e2e]} ({report.message} {report.msg_id}); status {said} not applied",
            "conflict": f"transfer {e2e} is already {current.outcome if current else '?'}; {report.message} "
                        f"{report.msg_id} says {line.outcome} ({said}); not applied",
        }[kind]
        detail = {"end_to_end_id": e2e, "payment_id": payment_of[e2e], "amount": sent[e2e],
                  "bank_status": line.iso_status, "reason_code": line.reason_code, "reason_text": line.reason_text,
                  "reported_amount": line.amount_minor, "report_id": report_id, "report_msg_id": report.msg_id,
                  "evidence": evidence}
        finding = RunException(run_id=run_id, severity="HOLD", stage="bank",
                               code="BANK_REJECTED" if kind == "rejected" else
                               "BANK_AMOUNT_MISMATCH" if kind == "amount_mismatch" else "BANK_STATUS_CONFLICT",
                               branch_code=r["branch_code"], submission_id=int(r["submission_id"]),
                               source_sha256=r["source_sha256"], row_no=int(r["row_no"]),
                               pension_id=r["pension_id"], national_id=r["national_id"],
                               detail=json.dumps(detail, ensure_ascii=False, sort_keys=True))
        if (finding.code, e2e) not in have:  # one finding per transfer and code, however many reports say it
            have.add((finding.code, e2e))
            out.append(finding)
    return out


def _payment_rows(session: Any, run_id: int) -> pd.DataFrame:
    run = load_run(session, run_id)
    table = read_table_verified(Path(run.payments_path), run.content_sha256)
    cols = ["end_to_end_id", "branch_code", "submission_id", "source_sha256", "row_no", "pension_id", "national_id"]
    return table.select(cols).to_pandas().set_index("end_to_end_id")


def _view(session: Any, run: Any) -> dict[str, Any]:
    counts = Counter(s.outcome for s in session.execute(
        select(TransferStatus).where(TransferStatus.run_id == run.id)).scalars())
    planned = plan_for(session, run)
    transfers = sum(len(f.transfers) for f in planned)
    return {"run_id": run.id, "reconciliation": run.reconciliation, "transfers": transfers,
            "statuses": {k: counts.get(k, 0) for k in ("settled", "rejected", "accepted", "pending")},
            "without_status": transfers - sum(counts.values())}


def reconciliation_view(ctx: Context, run_id: int) -> dict[str, Any]:
    with ctx.uow() as session:
        run = load_run(session, run_id)
        reports = [{"report_id": r.id, "file": r.file_name, "message": r.message, "msg_id": r.msg_id,
                    "read_by": r.read_by, "read_at": r.read_at, "outcomes": json.loads(r.outcomes)}
                   for r in session.execute(select(BankReport).where(BankReport.run_id == run.id)
                                            .order_by(BankReport.id)).scalars()]
        return {**_view(session, run), "reports": reports}
