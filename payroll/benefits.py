"""Benefit types and their limits, per country, read from data/reference/benefit_rules.csv.

The quality gate checks each row against its benefit type: gross amount between the minimum pension
and the cap, age at the end of the period between the type's limits (old-age over the pension age,
survivor children under the age limit). Branch systems may write the type by a local label (Persian,
Korean); `labels` maps those to the code. The limits are data so that finance can change a cap
without a code change.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from payroll.config import REPO_DATA_DIR
from payroll.normalize import normalize_name


@dataclass(frozen=True)
class BenefitRule:
    benefit_type: str
    min_gross: int  # minor units, inclusive
    max_gross: int  # minor units, inclusive: the cap
    min_age: int  # whole years at the end of the period, inclusive
    max_age: int  # inclusive
    labels: tuple[str, ...]
    description: str


@cache
def benefit_rules(country: str, path: Path = REPO_DATA_DIR / "reference" / "benefit_rules.csv"
                  ) -> dict[str, BenefitRule]:
    rules: dict[str, BenefitRule] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for n, r in enumerate(csv.DictReader(f), start=2):
            if r["country"] != country:
                continue
            try:
                rule = BenefitRule(r["benefit_type"], int(r["min_gross"]), int(r["max_gross"]),
                                   int(r["min_age"]), int(r["max_age"]),
                                   tuple(x.strip() for x in r["labels"].split("|") if x.strip()),
                                   r["description"])
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}: row {n}: {e}") from None
            if not (0 < rule.min_gross <= rule.max_gross and 0 <= rule.min_age <= rule.max_age):
                raise ValueError(f"{path}: row {n}: limits are not ordered (min <= max)")
            rules[rule.benefit_type] = rule
    if not rules:
        raise ValueError(f"{path}: no benefit rules for country {country}")
    return rules


@cache
def benefit_labels(country: str) -> dict[str, str]:
    """Normalized local label (and the code itself) -> benefit type code."""
    out: dict[str, str] = {}
    for code, rule in benefit_rules(country).items():
        out[code] = code
        for label in rule.labels:
            out[normalize_name(label)] = code
    return out
