"""Survivor benefits: the shares of one deceased insured person's survivors together may not exceed
100% of the pension (spouse 50%, each child 25%, parents 20% in Iran). Every row of a group over 100%
is held; the evidence lists each survivor's share, wherever their branch."""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.checks.engine import Table, columns, query, rows_input
from payroll.period import Period

FULL = 10_000  # shares are basis points: 100% = 10000


def _percent(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}".rstrip("0").rstrip(".") + "%"


def check(rows: Table, ref: Reference, period: Period) -> CheckResult:
    if not {"insured_id", "share_bp"} <= set(columns(rows)):
        return result(rows, [])
    frame = rows_input(rows, ["branch_code", "pension_id", "national_id", "row_no", "insured_id", "share_bp"])
    over = query(f"""
        SELECT t.* FROM t JOIN (SELECT insured_id FROM t WHERE insured_id IS NOT NULL GROUP BY insured_id
                                HAVING sum(share_bp) > {FULL}) g USING (insured_id)
        ORDER BY t.insured_id, t.branch_code, t.row_no""", t=frame)
    keys, details = [], []
    for insured, grp in groupby(over.to_dict("records"), key=itemgetter("insured_id")):
        g = list(grp)
        total = sum(int(r["share_bp"]) for r in g)
        shares = [{"branch_code": r["branch_code"], "pension_id": r["pension_id"], "national_id": r["national_id"],
                   "row": int(r["row_no"]), "share_percent": _percent(int(r["share_bp"]))} for r in g]
        keys += [r["row_key"] for r in g]
        details += [{"insured_id": insured, "shares": shares, "total_percent": _percent(total),
                     "evidence": f"survivors of insured person {insured} share {_percent(total)}: "
                     + ", ".join(f"{s['national_id']} {s['share_percent']}" for s in shares)}] * len(g)
    return result(rows, [exceptions_frame(keys, "SURVIVOR_SHARES_OVER_100", details)])
