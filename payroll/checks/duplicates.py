"""One person, one pension list: the same national id paid by two branches holds every such row."""

from __future__ import annotations

import pandas as pd

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.period import Period


def check(rows: pd.DataFrame, ref: Reference, period: Period) -> CheckResult:
    branches = rows.groupby("national_id")["branch_code"].transform("nunique")
    dup = rows[branches > 1]
    seen = {nid: [{"branch_code": b, "pension_id": p, "row": int(r)} for b, p, r in
                  zip(g["branch_code"], g["pension_id"], g["row_no"], strict=True)]
            for nid, g in dup.groupby("national_id")}
    return result(rows, [
        exceptions_frame(dup.index, "DUPLICATE_ACROSS_BRANCHES",
                         [{"paid_by": seen[nid]} for nid in dup["national_id"]]),
    ])
