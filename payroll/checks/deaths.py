"""Death records: died before the period starts is never paid; died during it is paid through
the month of death and reported."""

from __future__ import annotations

import pandas as pd

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.period import Period


def check(rows: pd.DataFrame, ref: Reference, period: Period) -> CheckResult:
    m = rows[["national_id"]].reset_index(names="row_key").merge(ref.deaths, on="national_id", how="inner")
    start, end = period.start.isoformat(), period.end.isoformat()  # ISO dates compare as text
    before = m[m["date_of_death"] < start]
    during = m[(m["date_of_death"] >= start) & (m["date_of_death"] <= end)]
    return result(rows, [
        exceptions_frame(before["row_key"], "DECEASED",
                         [{"date_of_death": d, "period_start": start} for d in before["date_of_death"]]),
        exceptions_frame(during["row_key"], "DIED_IN_PERIOD",
                         [{"date_of_death": d, "policy": "paid through the month of death"}
                          for d in during["date_of_death"]]),
    ])
