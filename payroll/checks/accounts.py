"""Dedicated accounts: the engine pays only to an open, dedicated account held by the payee; an account
that changed since the last released period is reported, and one that changed more than once within
the policy's window (90 days) is held.

The history is the lists of the runs released before this period (main runs, every status: an account
a branch gave is a change whether or not it was paid), per pension (pension id and national id).
A change happens at the period whose list first gives the new account; the changes counted are those
happening at periods that start within the window before the end of this period (90 days before
30 November is 1 September: changes at September, October and November, each against the list before).
"""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby, pairwise
from operator import itemgetter

import pandas as pd

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.checks.engine import Table, query, ref_input, released_payments, rows_input
from payroll.period import Period

_REGISTRY = """
SELECT r.row_key, r.national_id, r.account_code, a.bank_code, a.holder_national_id,
       CAST(a.dedicated AS BOOLEAN) AS dedicated, a.status
FROM rows r LEFT JOIN accounts a ON a.account_code = r.account_code
WHERE a.account_code IS NULL OR a.status <> 'open' OR a.holder_national_id <> r.national_id
   OR NOT CAST(a.dedicated AS BOOLEAN)
ORDER BY r.row_key
"""


def _registry_findings(rows: Table, ref: Reference) -> list[pd.DataFrame]:
    accounts = ref_input(ref.accounts, ["account_code", "bank_code", "holder_national_id", "dedicated", "status"])
    m = query(_REGISTRY, rows=rows_input(rows, ["national_id", "account_code"]), accounts=accounts)
    unknown = m[m["bank_code"].isna()]
    known = m[m["bank_code"].notna()]
    closed = known[known["status"] != "open"]
    not_owned = known[known["holder_national_id"] != known["national_id"]]
    not_dedicated = known[~known["dedicated"].astype(bool)]
    return [
        exceptions_frame(unknown["row_key"], "ACCOUNT_UNKNOWN",
                         [{"account_code": a, "evidence": f"account {a} is not in the account registry"}
                          for a in unknown["account_code"]]),
        exceptions_frame(closed["row_key"], "ACCOUNT_CLOSED",
                         [{"account_code": a, "status": s, "evidence": f"account {a} is {s}"}
                          for a, s in zip(closed["account_code"], closed["status"], strict=True)]),
        exceptions_frame(not_owned["row_key"], "ACCOUNT_NOT_OWNED",
                         [{"account_code": a, "holder_national_id": h, "payee_national_id": p,
                           "evidence": f"account {a} is held by {h}, not by the payee {p}"}
                          for a, h, p in zip(not_owned["account_code"], not_owned["holder_national_id"],
                                             not_owned["national_id"], strict=True)]),
        exceptions_frame(not_dedicated["row_key"], "ACCOUNT_NOT_DEDICATED",
                         [{"account_code": a, "dedicated": False,
                           "evidence": f"account {a} is not a dedicated pension account"}
                          for a in not_dedicated["account_code"]]),
    ]


def window_periods(period: Period, days: int) -> list[str]:
    """The periods before `period` that start within `days` days before its end, oldest first."""
    first = period.end - timedelta(days=days)
    out, p = [], period.previous()
    while p.start >= first:
        out.append(str(p))
        p = p.previous()
    return sorted(out)


def _change_findings(rows: Table, ref: Reference, period: Period) -> list[pd.DataFrame]:
    last = ref.history.last_period()
    if last is None:
        return []
    window = window_periods(period, ref.policy.account_change_window_days)
    change_points = {*window, str(period)}
    baseline = str(Period.parse(window[0]).previous()) if window else last
    lists = released_payments(ref.history.lists_of({*window, baseline, last}), paid_only=False)
    # pensions whose account now differs from one listed in those periods; then, for those only,
    # the whole ordered sequence of accounts
    m = query(f"""
        WITH past AS (SELECT DISTINCT period, pension_id, national_id, account_code FROM {lists}),
        cur AS (SELECT row_key, ? AS period, pension_id, national_id, account_code FROM rows),
        moved AS (SELECT DISTINCT c.row_key, c.pension_id, c.national_id FROM cur c JOIN past p
                  ON p.pension_id = c.pension_id AND p.national_id = c.national_id
                  AND p.account_code <> c.account_code)
        SELECT m.row_key, s.period, s.account_code
        FROM moved m JOIN (SELECT period, pension_id, national_id, account_code FROM past
                           UNION ALL SELECT period, pension_id, national_id, account_code FROM cur) s
          ON s.pension_id = m.pension_id AND s.national_id = m.national_id
        ORDER BY m.row_key, s.period, s.account_code""", [str(period)],
              rows=rows_input(rows, ["pension_id", "national_id", "account_code"]))
    days = ref.policy.account_change_window_days
    changed, repeated = [], []
    changed_d, repeated_d = [], []
    for key, grp in groupby(m.to_dict("records"), key=itemgetter("row_key")):  # sorted by the query
        seq = [(r["period"], r["account_code"]) for r in grp]
        current = seq[-1][1]
        changes = [(p, a, b) for (_, a), (p, b) in pairwise(seq) if a != b and p in change_points]
        accounts = [{"period": p, "account_code": a} for p, a in seq]
        if len(changes) > 1:
            repeated.append(key)
            repeated_d.append({"accounts": accounts, "changes_in_window": len(changes), "window_days": days,
                               "evidence": f"account changed {len(changes)} times within {days} days: "
                                           + " -> ".join(f"{a} ({p})" for p, a in seq)})
            continue
        before = [a for p, a in seq if p == last]
        if before and before[-1] != current:
            changed.append(key)
            changed_d.append({"previous_period": last, "previous_account": before[-1], "account_code": current,
                              "evidence": f"account was {before[-1]} in {last}, is {current} now"})
    return [exceptions_frame(changed, "ACCOUNT_CHANGED", changed_d),
            exceptions_frame(repeated, "ACCOUNT_CHANGED_REPEATEDLY", repeated_d)]


def check(rows: Table, ref: Reference, period: Period) -> CheckResult:
    return result(rows, _registry_findings(rows, ref) + _change_findings(rows, ref, period))
