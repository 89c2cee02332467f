"""Reports for finance and auditors: the run's exception report, and the audit chain's verification."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from payroll import audit
from payroll.catalog import SEVERITY_RANK, catalog
from payroll.errors import NotFound, Refused
from payroll.period import Period
from payroll.services.context import Context
from payroll.services.runs import load_run
from payroll.store.files import write_atomic
from payroll.store.models import Run, RunException

EXCEPTION_REPORT_COLUMNS = ["code", "severity", "stage", "branch_code", "pension_id", "national_id", "row",
                            "submission_id", "source_sha256", "evidence", "detail", "description"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _evidence(detail: str) -> str:
    """The finding's evidence in words, as the check wrote it (intake findings: their message)."""
    d = json.loads(detail)
    return str(d.get("evidence") or d.get("message") or "")


def exception_rows(ctx: Context, run_id: int) -> list[dict[str, Any]]:
    with ctx.uow() as session:
        load_run(session, run_id)
        found = session.execute(select(RunException).where(RunException.run_id == run_id)).scalars().all()
    codes = catalog()
    rows: list[dict[str, Any]] = [{"code": e.code, "severity": e.severity, "stage": e.stage, "branch_code": e.branch_code,
             "pension_id": e.pension_id, "national_id": e.national_id, "row": e.row_no,
             "submission_id": e.submission_id, "source_sha256": e.source_sha256,
             "evidence": _evidence(e.detail), "detail": e.detail,
             "description": codes[e.code].description if e.code in codes else ""}
            for e in found]
    rows.sort(key=lambda r: (-SEVERITY_RANK[r["severity"]], r["stage"] != "run", r["code"], r["branch_code"],
                             r["row"]))
    return rows


def export_exceptions(ctx: Context, run_id: int, out: Path, fmt: str = "csv") -> dict[str, Any]:
    rows = exception_rows(ctx, run_id)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXCEPTION_REPORT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: spreadsheet_safe(v) for k, v in r.items()})
        data = buf.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheets read Persian text right
    elif fmt == "jsonl":
        data = "".join(json.dumps({**r, "detail": json.loads(r["detail"])}, ensure_ascii=False) + "\n"
                       for r in rows).encode()
    else:
        raise Refused("UNKNOWN_FORMAT", f"unknown report format {fmt!r}; csv or jsonl")
    write_atomic(Path(out), data)
    by_code = Counter(str(r["code"]) for r in rows)
    return {"run_id": run_id, "path": str(Path(out).resolve()), "format": fmt, "rows": len(rows),
            "by_code": dict(sorted(by_code.items()))}


RECOVERY_COLUMNS = ["national_id", "date_of_death", "period", "run_id", "branch_code", "pension_id",
                    "end_to_end_id", "amount"]


def recovery_list(ctx: Context, period: str) -> dict[str, Any]:
    """The overpayment recovery list the latest run of `period` found: for every recorded death, each
    payment released for a period after the month of death (OVERPAID_AFTER_DEATH findings)."""
    per = Period.parse(period)
    with ctx.uow() as session:
        run = session.execute(select(Run).where(Run.period == str(per), Run.status != "superseded",
                                                Run.kind == "main")
                              .order_by(Run.id.desc()).limit(1)).scalar_one_or_none()
        if run is None:
            raise NotFound("run for period", str(per))
        found = session.execute(select(RunException).where(
            RunException.run_id == run.id, RunException.code == "OVERPAID_AFTER_DEATH")
            .order_by(RunException.national_id)).scalars().all()
    people, payments = [], []
    for e in found:
        d = json.loads(e.detail)
        people.append({"national_id": e.national_id, "date_of_death": d["date_of_death"], "periods": d["periods"],
                       "payments": len(d["payments"]), "total": d["total"], "branch_code": e.branch_code,
                       "pension_id": e.pension_id})
        payments += [{"national_id": e.national_id, "date_of_death": d["date_of_death"], **p}
                     for p in d["payments"]]
    return {"period": str(per), "run_id": run.id, "run_status": run.status, "currency": ctx.country.currency,
            "people": people, "payments": [{k: p[k] for k in RECOVERY_COLUMNS} for p in payments],
            "count": len(people), "total": sum(p["total"] for p in people)}


def export_recovery(ctx: Context, period: str, out: Path) -> dict[str, Any]:
    """The recovery list as CSV, one line per payment to recover (spreadsheet-safe cells)."""
    found = recovery_list(ctx, period)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RECOVERY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in found["payments"]:
        w.writerow({k: spreadsheet_safe(v) for k, v in p.items()})
    write_atomic(Path(out), buf.getvalue().encode("utf-8-sig"))
    return {**found, "path": str(Path(out).resolve())}


def verify_audit(ctx: Context) -> dict[str, Any]:
    with ctx.uow() as session:
        return audit.verify(session).as_dict()
