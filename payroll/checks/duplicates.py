"""One person, one pension list; one pension, one payment; one account, one payee.

- The same national id on more than one row: a permitted double benefit (two rows, two different
  benefits that double_benefits.csv allows together) is paid and reported (DOUBLE_BENEFIT, WARN) while
  the combined gross stays within the rule's cap, else held (DOUBLE_BENEFIT_OVER_CAP). Any other
  repetition holds every row: DUPLICATE_ACROSS_BRANCHES when several branches pay the person,
  DUPLICATE_IN_BRANCH when one branch lists them twice.
- The same pension id on more than one row (another branch or another person): DUPLICATE_PENSION_ID.
- The same account for payees who are not survivors of one insured person: ACCOUNT_SHARED_ACROSS_PAYEES,
  every row held (a known fraud pattern).
"""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter
from typing import Any

import pandas as pd

from payroll.checks import CheckResult, DoubleBenefit, Reference, exceptions_frame, result
from payroll.checks.engine import Table, columns, query, rows_input
from payroll.period import Period

_FIELDS = ["branch_code", "pension_id", "national_id", "row_no", "benefit_type", "gross_amount", "account_code",
           "insured_id"]


def _repeated(rows: Table, key: str, distinct: str) -> pd.DataFrame:
    """Rows whose `key` appears on more than one row (with more than one `distinct` value if given)."""
    having = f"count(DISTINCT {distinct}) > 1" if distinct else "count(*) > 1"
    have = set(columns(rows))
    fields = [c for c in _FIELDS if c in have]
    picked = ", ".join(["t.row_key", *(f"t.{c}" for c in fields if c != "insured_id"),
                        "t.insured_id" if "insured_id" in have else "NULL::VARCHAR AS insured_id"])
    return query(f"SELECT {picked} FROM t JOIN (SELECT {key} FROM t GROUP BY {key} HAVING {having}) k "
                 f"USING ({key}) ORDER BY t.{key}, t.branch_code, t.row_no", t=rows_input(rows, fields))


_SAME_PERSON = ("DOUBLE_BENEFIT", "DOUBLE_BENEFIT_OVER_CAP", "DUPLICATE_ACROSS_BRANCHES", "DUPLICATE_IN_BRANCH")


def _who(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"branch_code": r["branch_code"], "pension_id": r["pension_id"], "national_id": r["national_id"],
             "row": int(r["row_no"]), "benefit_type": r["benefit_type"], "gross_amount": int(r["gross_amount"])}
            for r in group]


def _groups(found: pd.DataFrame, key: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """The query's rows (sorted by key) as (key, records) groups."""
    return [(k, list(g)) for k, g in groupby(found.to_dict("records"), key=itemgetter(key))]


def _permitted(group: list[dict[str, Any]], rules: tuple[DoubleBenefit, ...]) -> DoubleBenefit | None:
    benefits = frozenset(r["benefit_type"] for r in group)
    if len(group) != 2 or len(benefits) != 2 or len({r["pension_id"] for r in group}) != 2:
        return None
    return next((r for r in rules if r.benefits == benefits), None)


def _same_person(dup: pd.DataFrame, ref: Reference) -> list[pd.DataFrame]:
    found: dict[str, tuple[list[int], list[dict[str, Any]]]] = {code: ([], []) for code in _SAME_PERSON}
    for nid, g in _groups(dup, "national_id"):
        who = _who(g)
        rule = _permitted(g, ref.policy.double_benefits)
        if rule is not None:
            combined = sum(int(r["gross_amount"]) for r in g)
            within = combined <= rule.max_combined_gross
            code = "DOUBLE_BENEFIT" if within else "DOUBLE_BENEFIT_OVER_CAP"
            detail = {"paid_by": who, "combined_gross": combined, "cap": rule.max_combined_gross,
                      "evidence": f"{' + '.join(sorted(rule.benefits))} is a permitted pair; combined gross "
                                  f"{combined} is {'within' if within else 'over'} the cap {rule.max_combined_gross}"}
        else:
            several = len({r["branch_code"] for r in g}) > 1
            code = "DUPLICATE_ACROSS_BRANCHES" if several else "DUPLICATE_IN_BRANCH"
            detail = {"paid_by": who, "evidence": f"national id {nid} is paid on {len(g)} rows: "
                      + ", ".join(f"{w['branch_code']} pension {w['pension_id']} ({w['benefit_type']}) row {w['row']}"
                                  for w in who)}
        keys, details = found[code]
        keys.extend(r["row_key"] for r in g)
        details.extend([detail] * len(g))
    return [exceptions_frame(found["DOUBLE_BENEFIT"][0], "DOUBLE_BENEFIT", found["DOUBLE_BENEFIT"][1]),
            exceptions_frame(found["DOUBLE_BENEFIT_OVER_CAP"][0], "DOUBLE_BENEFIT_OVER_CAP",
                             found["DOUBLE_BENEFIT_OVER_CAP"][1]),
            exceptions_frame(found["DUPLICATE_ACROSS_BRANCHES"][0], "DUPLICATE_ACROSS_BRANCHES",
                             found["DUPLICATE_ACROSS_BRANCHES"][1]),
            exceptions_frame(found["DUPLICATE_IN_BRANCH"][0], "DUPLICATE_IN_BRANCH", found["DUPLICATE_IN_BRANCH"][1])]


def check(rows: Table, ref: Reference, period: Period) -> CheckResult:
    same_person = _same_person(_repeated(rows, "national_id", ""), ref)

    pid_keys, pid_details = [], []
    for pid, g in _groups(_repeated(rows, "pension_id", ""), "pension_id"):
        who = _who(g)
        pid_keys += [r["row_key"] for r in g]
        pid_details += [{"paid_by": who, "evidence": f"pension id {pid} is on {len(g)} rows: "
                         + ", ".join(f"{w['branch_code']} row {w['row']} ({w['national_id']})" for w in who)}] * len(g)

    acc_keys, acc_details = [], []
    for acc, g in _groups(_repeated(rows, "account_code", "national_id"), "account_code"):
        insured = {r["insured_id"] for r in g}
        if len(insured) == 1 and not pd.isna(next(iter(insured))):
            continue  # survivors of one insured person; the account check still wants the holder's own
        payees = sorted({r["national_id"] for r in g})
        acc_keys += [r["row_key"] for r in g]
        acc_details += [{"account_code": acc, "payees": _who(g),
                         "evidence": f"account {acc} receives payments for {len(payees)} payees: "
                         + ", ".join(payees)}] * len(g)
    return result(rows, [*same_person,
                         exceptions_frame(pid_keys, "DUPLICATE_PENSION_ID", pid_details),
                         exceptions_frame(acc_keys, "ACCOUNT_SHARED_ACROSS_PAYEES", acc_details)])
