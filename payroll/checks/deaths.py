"""Death records.

check: died before the period starts is never paid (DECEASED, BLOCK); died during the period follows
the policy: paid through the month of death (DIED_IN_PERIOD, WARN) or held for review
(DIED_IN_PERIOD_HELD, HOLD).

recovery: for every recorded death, the payments already released for periods after the month of
death are an overpayment to recover (OVERPAID_AFTER_DEATH, REPORT): one finding per person, with every
period, run, payment reference and amount, whether or not the person is in this run's lists.
"""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter

import numpy as np

from payroll.checks import NO_ROW, CheckResult, Reference, exceptions_frame, result
from payroll.checks.engine import Table, query, ref_input, released_payments, rows_input
from payroll.money import exact_sum
from payroll.period import Period

POLICY_TEXT = {"pay": "paid through the month of death", "hold": "held for review (death policy 'hold')"}


def check(rows: Table, ref: Reference, period: Period) -> CheckResult:
    start, end = period.start.isoformat(), period.end.isoformat()  # ISO dates compare as text
    m = query("SELECT r.row_key, d.date_of_death FROM rows r JOIN deaths d ON d.national_id = r.national_id "
              "WHERE d.date_of_death <= ? ORDER BY r.row_key", [end],
              rows=rows_input(rows, ["national_id"]), deaths=ref_input(ref.deaths, ["national_id", "date_of_death"]))
    before = m[m["date_of_death"] < start]
    during = m[m["date_of_death"] >= start]
    policy = ref.policy.death_in_period
    return result(rows, [
        exceptions_frame(before["row_key"], "DECEASED",
                         [{"date_of_death": d, "period_start": start,
                           "evidence": f"died {d}, before the period starts on {start}"}
                          for d in before["date_of_death"]]),
        exceptions_frame(during["row_key"], "DIED_IN_PERIOD" if policy == "pay" else "DIED_IN_PERIOD_HELD",
                         [{"date_of_death": d, "policy": POLICY_TEXT[policy],
                           "evidence": f"died {d}, during the period; {POLICY_TEXT[policy]}"}
                          for d in during["date_of_death"]]),
    ])


def recovery(rows: Table, ref: Reference, period: Period) -> CheckResult:
    paid = released_payments(ref.history.released)
    m = query(f"""
        SELECT d.national_id, d.date_of_death, p.period, p.run_id, p.branch_code, p.submission_id,
               p.source_sha256, p.row_no, p.pension_id, p.net_amount, p.end_to_end_id
        FROM {paid} p JOIN deaths d ON d.national_id = p.national_id
        WHERE p.period > substr(d.date_of_death, 1, 7)
        ORDER BY d.national_id, p.period, p.run_id, p.end_to_end_id""", deaths=ref_input(ref.deaths, ["national_id", "date_of_death"]))
    details = []
    for nid, group in groupby(m.to_dict("records"), key=itemgetter("national_id")):  # sorted by the query
        paid_rows = list(group)
        last = paid_rows[-1]
        total = exact_sum(np.array([p["net_amount"] for p in paid_rows], dtype=np.int64))
        periods = sorted({p["period"] for p in paid_rows})
        details.append({
            "date_of_death": last["date_of_death"], "periods": periods, "total": total,
            "payments": [{"period": p["period"], "run_id": int(p["run_id"]), "branch_code": p["branch_code"],
                          "pension_id": p["pension_id"], "end_to_end_id": p["end_to_end_id"],
                          "amount": int(p["net_amount"])} for p in paid_rows],
            "lineage": {"branch_code": last["branch_code"], "submission_id": int(last["submission_id"]),
                        "source_sha256": last["source_sha256"], "row_no": int(last["row_no"]),
                        "pension_id": last["pension_id"], "national_id": nid},
            "evidence": f"died {last['date_of_death']}; {len(paid_rows)} payment(s) released after the month of "
                        f"death ({', '.join(periods)}) total {total}",
        })
    return result(rows, [exceptions_frame([NO_ROW] * len(details), "OVERPAID_AFTER_DEATH", details)])
