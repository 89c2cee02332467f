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
from payroll.errors import Refused
from payroll.services.context import Context
from payroll.services.runs import load_run
from payroll.store.files import write_atomic
from payroll.store.models import RunException

EXCEPTION_REPORT_COLUMNS = ["code", "severity", "stage", "branch_code", "pension_id", "national_id", "row",
                            "submission_id", "source_sha256", "detail", "description"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def exception_rows(ctx: Context, run_id: int) -> list[dict[str, Any]]:
    with ctx.uow() as session:
        load_run(session, run_id)
        found = session.execute(select(RunException).where(RunException.run_id == run_id)).scalars().all()
    codes = catalog()
    rows: list[dict[str, Any]] = [{"code": e.code, "severity": e.severity, "stage": e.stage, "branch_code": e.branch_code,
             "pension_id": e.pension_id, "national_id": e.national_id, "row": e.row_no,
             "submission_id": e.submission_id, "source_sha256": e.source_sha256, "detail": e.detail,
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


def verify_audit(ctx: Context) -> dict[str, Any]:
    with ctx.uow() as session:
        return audit.verify(session).as_dict()
