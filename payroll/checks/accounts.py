"""Dedicated accounts: the engine pays only to an open, dedicated account held by the payee."""

from __future__ import annotations

import pandas as pd

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.period import Period


def check(rows: pd.DataFrame, ref: Reference, period: Period) -> CheckResult:
    m = rows[["national_id", "account_code"]].reset_index(names="row_key").merge(
        ref.accounts, on="account_code", how="left")
    unknown = m[m["bank_code"].isna()]
    known = m[m["bank_code"].notna()]
    closed = known[known["status"] != "open"]
    not_owned = known[known["holder_national_id"] != known["national_id"]]
    not_dedicated = known[~known["dedicated"].astype(bool)]
    return result(rows, [
        exceptions_frame(unknown["row_key"], "ACCOUNT_UNKNOWN",
                         [{"account_code": a} for a in unknown["account_code"]]),
        exceptions_frame(closed["row_key"], "ACCOUNT_CLOSED",
                         [{"account_code": a, "status": s} for a, s in zip(closed["account_code"], closed["status"], strict=True)]),
        exceptions_frame(not_owned["row_key"], "ACCOUNT_NOT_OWNED",
                         [{"account_code": a, "holder_national_id": h, "payee_national_id": p}
                          for a, h, p in zip(not_owned["account_code"], not_owned["holder_national_id"],
                                             not_owned["national_id"], strict=True)]),
        exceptions_frame(not_dedicated["row_key"], "ACCOUNT_NOT_DEDICATED",
                         [{"account_code": a, "dedicated": False} for a in not_dedicated["account_code"]]),
    ])
