"""The policy the run checks apply: thresholds from configuration, permitted double benefits from
reference data (data/reference/double_benefits.csv), for the configured country."""

from __future__ import annotations

import csv
from pathlib import Path

from payroll.benefits import benefit_rules
from payroll.checks import DoubleBenefit, Policy
from payroll.config import Settings
from payroll.legs import dedicated_account_cap


def double_benefits(path: Path, country: str) -> tuple[DoubleBenefit, ...]:
    """Permitted pairs for `country`; a rule naming an unknown benefit or a bad cap refuses the file."""
    known = set(benefit_rules(country))
    rules = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, r in enumerate(csv.DictReader(f), start=2):
            if r["country"] != country:
                continue
            benefits = frozenset(b.strip() for b in r["benefits"].split("|"))
            if len(benefits) != 2 or not benefits <= known:
                raise ValueError(f"{path}: row {n}, column benefits: {r['benefits']!r} must name two benefit "
                                 f"types of {country} ({', '.join(sorted(known))})")
            if not r["max_combined_gross"].isascii() or not r["max_combined_gross"].isdigit():
                raise ValueError(f"{path}: row {n}, column max_combined_gross: {r['max_combined_gross']!r} is not "
                                 "a whole number of minor units")
            rules.append(DoubleBenefit(benefits, int(r["max_combined_gross"])))
    return tuple(rules)


def policy_for(settings: Settings) -> Policy:
    return Policy(
        death_in_period=settings.death_in_period,
        name_similarity_threshold=settings.name_similarity_threshold,
        amount_jump_percent=settings.amount_jump_percent,
        account_change_window_days=settings.account_change_window_days,
        double_benefits=double_benefits(settings.reference_dir / "double_benefits.csv", settings.country),
        dedicated_account_cap=dedicated_account_cap(settings.reference_dir / "dedicated_account_caps.csv",
                                                    settings.country),
    )
