"""Against the last released period's list, when there is one (its main run, every status; per
pension: pension id and national id):
- the net amount rose more than the policy's percent: AMOUNT_JUMP (HOLD);
- a pension not listed then: NEW_PAYEE (WARN);
- a pension listed then that is missing now although its branch submitted, with no recorded reason
  (a death on record, or its row rejected at intake this period): PAYEE_VANISHED (REPORT; the finding
  carries the earlier row's lineage, it is no row of this run).
"""

from __future__ import annotations

import pandas as pd

from payroll.checks import NO_ROW, CheckResult, Reference, exceptions_frame, result
from payroll.checks.engine import Table, query, ref_input, released_payments, rows_input
from payroll.period import Period


def check(rows: Table, ref: Reference, period: Period) -> CheckResult:
    last = ref.history.last_period()
    if last is None:
        return result(rows, [])
    paid = released_payments(ref.history.lists_of({last}), paid_only=False)
    pct = int(ref.policy.amount_jump_percent)
    cur = rows_input(rows, ["branch_code", "pension_id", "national_id", "net_amount"])
    m = query(f"""
        WITH prev AS (SELECT pension_id, national_id, max(net_amount) AS net_amount FROM {paid}
                      GROUP BY pension_id, national_id)
        SELECT c.row_key, c.net_amount, p.net_amount AS prev_amount, p.pension_id IS NULL AS is_new
        FROM cur c LEFT JOIN prev p ON p.pension_id = c.pension_id AND p.national_id = c.national_id
        WHERE p.pension_id IS NULL OR c.net_amount * 100 > p.net_amount * (100 + {pct})
        ORDER BY c.row_key""", cur=cur)
    new = m[m["is_new"]]
    jump = m[~m["is_new"]]
    gone = query(f"""
        SELECT p.* FROM {paid} p
        WHERE p.branch_code IN (SELECT DISTINCT branch_code FROM cur)
          AND NOT EXISTS (SELECT 1 FROM cur c WHERE c.pension_id = p.pension_id AND c.national_id = p.national_id)
          AND NOT EXISTS (SELECT 1 FROM deaths d WHERE d.national_id = p.national_id)
          AND NOT EXISTS (SELECT 1 FROM rejected x WHERE x.pension_id = p.pension_id)
        ORDER BY p.branch_code, p.row_no""", cur=cur, deaths=ref_input(ref.deaths, ["national_id"]),
                 rejected=pd.DataFrame({"pension_id": pd.Series(sorted(ref.rejected_pension_ids), dtype="str")}))

    def rise(now: int, before: int) -> float:
        return round((now - before) * 100 / before, 1) if before else float("inf")

    return result(rows, [
        exceptions_frame(jump["row_key"], "AMOUNT_JUMP",
                         [{"previous_period": last, "previous_amount": int(b), "amount": int(a),
                           "increase_percent": rise(int(a), int(b)), "threshold_percent": pct,
                           "limit": int(b) * (100 + pct) // 100,
                           "evidence": f"net {int(a)} against {int(b)} in {last} (up {rise(int(a), int(b))}%): above "
                                       f"{int(b)} + {pct}% = {int(b) * (100 + pct) // 100}"}
                          for a, b in zip(jump["net_amount"], jump["prev_amount"], strict=True)]),
        exceptions_frame(new["row_key"], "NEW_PAYEE",
                         [{"previous_period": last, "evidence": f"not listed in {last}, the last released period"}]
                         * len(new)),
        exceptions_frame([NO_ROW] * len(gone), "PAYEE_VANISHED",
                         [{"previous_period": last, "previous_amount": int(r.net_amount),
                           "end_to_end_id": r.end_to_end_id, "run_id": int(r.run_id),
                           "lineage": {"branch_code": r.branch_code, "submission_id": int(r.submission_id),
                                       "source_sha256": r.source_sha256, "row_no": int(r.row_no),
                                       "pension_id": r.pension_id, "national_id": r.national_id},
                           "previous_status": r.status,
                           "evidence": f"listed for {int(r.net_amount)} in {last} by branch {r.branch_code} "
                                       f"(pension {r.pension_id}, {r.status}); not in this period's list, no death "
                                       "recorded, not rejected at intake"}
                          for r in gone.itertuples(index=False, name="Row")]),
    ])
