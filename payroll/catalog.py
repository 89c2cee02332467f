"""Exception codes and their severities, read from data/reference/exception_codes.csv.

Severity BLOCK: never paid; HOLD: not paid until cleared by someone with the right role (the code's
`clear_roles`), then paid in a supplementary run; WARN: paid and reported; REPORT: not a payment of
this run (an overpayment to recover, a payee who vanished), reported for follow-up. The catalogue is
data so that auditors read the same descriptions the engine uses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from payroll.config import REPO_DATA_DIR

SEVERITY_RANK = {"REPORT": 0, "WARN": 1, "HOLD": 2, "BLOCK": 3}


@dataclass(frozen=True)
class ExceptionCode:
    code: str
    stage: str
    severity: str
    description: str
    clear_roles: str = ""  # '|'-separated roles that may clear a HOLD of this code

    @property
    def clearable_by(self) -> frozenset[str]:
        return frozenset(r for r in self.clear_roles.split("|") if r)


@cache
def catalog(path: Path = REPO_DATA_DIR / "reference" / "exception_codes.csv") -> dict[str, ExceptionCode]:
    with open(path, newline="", encoding="utf-8") as f:
        codes = {r["code"]: ExceptionCode(**r) for r in csv.DictReader(f)}
    bad = [c.code for c in codes.values() if c.severity not in SEVERITY_RANK]
    if bad:
        raise ValueError(f"{path}: unknown severity for {bad}")
    unclearable = [c.code for c in codes.values() if c.severity == "HOLD" and not c.clearable_by]
    if unclearable:
        raise ValueError(f"{path}: a HOLD must name the roles that may clear it: {unclearable}")
    return codes


def severity(code: str) -> str:
    return catalog()[code].severity
