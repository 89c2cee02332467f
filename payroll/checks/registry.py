"""Civil registry: the payee must exist, with the same name and birth date (after normalization)."""

from __future__ import annotations

import pandas as pd

from payroll.checks import CheckResult, Reference, exceptions_frame, result
from payroll.normalize import normalize_name_series
from payroll.period import Period


def check(rows: pd.DataFrame, ref: Reference, period: Period) -> CheckResult:
    reg = ref.registry.rename(columns={"full_name": "reg_name", "birth_date": "reg_birth"})
    m = rows[["national_id", "full_name", "birth_date"]].reset_index(names="row_key").merge(
        reg, on="national_id", how="left")
    missing = m[m["reg_name"].isna()]
    found = m[m["reg_name"].notna()]
    name_differs = normalize_name_series(found["full_name"]) != normalize_name_series(found["reg_name"])
    birth_differs = found["birth_date"] != found["reg_birth"]
    mismatched = found[name_differs | birth_differs]
    details = []
    for r, nd, bd in zip(mismatched.itertuples(index=False), name_differs[mismatched.index],
                         birth_differs[mismatched.index], strict=True):
        fields = [f for f, differs in (("full_name", nd), ("birth_date", bd)) if differs]
        details.append({"fields": fields,
                        "file": {f: getattr(r, f) for f in fields},
                        "registry": {f: getattr(r, "reg_name" if f == "full_name" else "reg_birth")
                                     for f in fields}})
    return result(rows, [
        exceptions_frame(missing["row_key"], "NOT_IN_REGISTRY",
                         [{"reason": "national id not found in the civil registry extract"}] * len(missing)),
        exceptions_frame(mismatched["row_key"], "IDENTITY_MISMATCH", details),
    ])
