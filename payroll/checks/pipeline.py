"""The ordered list of run checks, and the verdict per row: the worst severity found wins.

Every check sees every row, so an auditor sees every reason a payment was stopped, not only the first.
"""

from __future__ import annotations

import pandas as pd

from payroll.catalog import SEVERITY_RANK, severity
from payroll.checks import Check, Reference, accounts, deaths, duplicates, registry
from payroll.period import Period

CHECKS: list[Check] = [registry.check, deaths.check, accounts.check, duplicates.check]

RANK_TO_STATUS = {0: "PAYABLE", 1: "PAYABLE", 2: "HOLD", 3: "BLOCK"}


def run_checks(rows: pd.DataFrame, ref: Reference, period: Period) -> tuple[pd.Series, pd.DataFrame]:
    """Returns (status per row: PAYABLE | HOLD | BLOCK, exceptions with code, severity, detail)."""
    found = [check(rows, ref, period).exceptions for check in CHECKS]
    exc = pd.concat(found, ignore_index=True).sort_values(["row_key", "code"], kind="stable")
    exc["severity"] = exc["code"].map(severity)
    worst = exc["severity"].map(SEVERITY_RANK).groupby(exc["row_key"]).max()
    rank = worst.reindex(rows.index, fill_value=0).astype(int)
    return rank.map(RANK_TO_STATUS), exc.reset_index(drop=True)
