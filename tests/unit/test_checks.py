"""Unit tests for the run checks (registry, deaths, accounts, duplicates) and the pipeline verdict."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pytest

from payroll.checks import (
    EXCEPTION_COLUMNS,
    Reference,
    accounts,
    anomalies,
    deaths,
    duplicates,
    registry,
    result,
    survivors,
)
from payroll.checks.pipeline import CHECKS, run_checks
from payroll.period import Period

PERIOD = Period(2026, 11)


# --------------------------------------------------------------------------- helpers


def rows_frame(*rows: dict[str, Any], first_key: int = 100) -> pd.DataFrame:
    """Consolidated rows; the index is the row key (deliberately not 0..n-1)."""
    defaults = {"submission_id": 1, "branch_code": "B001", "source_sha256": "ab" * 32, "birth_date": "1955-03-01",
                "benefit_type": "OLD_AGE", "gross_amount": 1_000_000, "deduction_amount": 0,
                "net_amount": 1_000_000}
    out = [{**defaults, "row_no": i + 2, "pension_id": f"P{i + 1}", "full_name": f"Name {r['national_id']}",
            "account_code": f"ACC-{r['national_id']}", **r} for i, r in enumerate(rows)]
    df = pd.DataFrame(out)
    df["net_amount"] = df["net_amount"].astype("int64")
    df.index = pd.RangeIndex(first_key, first_key + len(df), name="row_key")
    return df


def reference(rows: pd.DataFrame, *, registry_rows: Iterable[dict[str, str]] | None = None,
              deaths_rows: Iterable[dict[str, str]] | None = None,
              accounts_rows: Iterable[dict[str, Any]] | None = None) -> Reference:
    """Reference tables; by default every row of `rows` is registered as-is with an open, owned, dedicated
    account (so a check only finds what a test plants)."""
    if registry_rows is None:
        registry_rows = [{"national_id": n, "full_name": f, "birth_date": b} for n, f, b in
                         zip(rows["national_id"], rows["full_name"], rows["birth_date"], strict=True)]
    if accounts_rows is None:
        accounts_rows = [{"account_code": a, "bank_code": "054", "holder_national_id": n, "dedicated": True,
                          "status": "open"} for a, n in zip(rows["account_code"], rows["national_id"], strict=True)]
    return Reference(
        registry=pd.DataFrame(list(registry_rows), columns=["national_id", "full_name", "birth_date"], dtype=str),
        deaths=pd.DataFrame(list(deaths_rows or []), columns=["national_id", "date_of_death"], dtype=str),
        accounts=pd.DataFrame(list(accounts_rows), columns=["account_code", "bank_code", "holder_national_id",
                                                             "dedicated", "status"]),
    )


def codes(exceptions: pd.DataFrame) -> list[tuple[int, str]]:
    return sorted(zip(exceptions["row_key"].astype(int), exceptions["code"], strict=True))


def detail_of(exceptions: pd.DataFrame, row_key: int, code: str) -> dict[str, Any]:
    hit = exceptions[(exceptions["row_key"] == row_key) & (exceptions["code"] == code)]
    assert len(hit) == 1
    detail: dict[str, Any] = hit["detail"].iloc[0]
    return detail


# --------------------------------------------------------------------------- registry


def test_registry_clean_rows_give_nothing() -> None:
    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2"})
    r = registry.check(rows, reference(rows), PERIOD)
    assert list(r.exceptions.columns) == EXCEPTION_COLUMNS
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100, 101]


def test_registry_not_found() -> None:
    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2"}, {"national_id": "N3"})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": "Name N1", "birth_date": "1955-03-01"},
                                         {"national_id": "N3", "full_name": "Name N3", "birth_date": "1955-03-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(101, "NOT_IN_REGISTRY")]
    assert detail_of(r.exceptions, 101, "NOT_IN_REGISTRY") == {
        "reason": "national id not found in the civil registry extract",
        "evidence": "national id not found in the civil registry extract"}
    assert list(r.kept.index) == [100, 102]


@pytest.mark.parametrize(("file_name", "registry_name"), [
    ("علي كريمي", "علی کریمی"),          # Arabic yeh and kaf vs Persian forms
    ("محمد\u200cرضا", "محمد رضا"),        # zero-width non-joiner vs space
    ("  Kim   Min-Su ", "Kim Min-Su"),   # repeated and surrounding spaces
    ("\ufee3\ufea4\ufee4\ufeaa", "محمد"),  # presentation forms (NFKC)
])
def test_registry_names_equal_after_normalization_are_not_a_mismatch(file_name: str, registry_name: str) -> None:
    rows = rows_frame({"national_id": "N1", "full_name": file_name})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": registry_name,
                                          "birth_date": "1955-03-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100]


def test_registry_name_truly_different_is_identity_mismatch() -> None:
    rows = rows_frame({"national_id": "N1", "full_name": "علی کریمی"}, {"national_id": "N2"})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": "علی رضایی", "birth_date": "1955-03-01"},
                                         {"national_id": "N2", "full_name": "Name N2", "birth_date": "1955-03-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(100, "IDENTITY_MISMATCH")]
    assert detail_of(r.exceptions, 100, "IDENTITY_MISMATCH") == {
        "fields": ["full_name"], "file": {"full_name": "علی کریمی", "birth_date": "1955-03-01"},
        "registry": {"full_name": "علی رضایی", "birth_date": "1955-03-01"}, "name_score": 75.0, "threshold": 90.0,
        "evidence": "name in file 'علی کریمی', in registry 'علی رضایی': similarity 75 at or below the threshold 90"}
    assert list(r.kept.index) == [101]


def test_registry_birth_date_differs() -> None:
    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2", "birth_date": "1955-03-01"})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": "Name N1", "birth_date": "1955-03-01"},
                                         {"national_id": "N2", "full_name": "Name N2", "birth_date": "1956-03-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(101, "IDENTITY_MISMATCH")]
    assert detail_of(r.exceptions, 101, "IDENTITY_MISMATCH") == {
        "fields": ["birth_date"], "file": {"full_name": "Name N2", "birth_date": "1955-03-01"},
        "registry": {"full_name": "Name N2", "birth_date": "1956-03-01"}, "name_score": 100.0, "threshold": 90.0,
        "evidence": "birth date in file 1955-03-01, in registry 1956-03-01"}


def test_registry_name_and_birth_date_differ_in_one_finding() -> None:
    rows = rows_frame({"national_id": "N1", "full_name": "Ali"})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": "Reza", "birth_date": "1950-01-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(100, "IDENTITY_MISMATCH")]
    detail = detail_of(r.exceptions, 100, "IDENTITY_MISMATCH")
    assert {k: detail[k] for k in ("fields", "file", "registry")} == {
        "fields": ["full_name", "birth_date"],
        "file": {"full_name": "Ali", "birth_date": "1955-03-01"},
        "registry": {"full_name": "Reza", "birth_date": "1950-01-01"}}
    assert detail["name_score"] < 90 and "birth date in file 1955-03-01, in registry 1950-01-01" in detail["evidence"]
    assert len(r.kept) == 0


# --------------------------------------------------------------------------- deaths


def test_deaths_before_during_and_after_the_period() -> None:
    rows = rows_frame(*({"national_id": f"N{i}"} for i in range(1, 7)))
    ref = reference(rows, deaths_rows=[
        {"national_id": "N1", "date_of_death": "2026-10-31"},   # day before the period
        {"national_id": "N2", "date_of_death": "2026-11-01"},   # first day
        {"national_id": "N3", "date_of_death": "2026-11-30"},   # last day
        {"national_id": "N4", "date_of_death": "2026-12-01"},   # after the period
        {"national_id": "N5", "date_of_death": "1999-01-15"},   # long before
        {"national_id": "X9", "date_of_death": "2026-11-10"},   # not a payee
    ])
    r = deaths.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(100, "DECEASED"), (101, "DIED_IN_PERIOD"), (102, "DIED_IN_PERIOD"),
                                   (104, "DECEASED")]
    assert detail_of(r.exceptions, 100, "DECEASED") == {
        "date_of_death": "2026-10-31", "period_start": "2026-11-01",
        "evidence": "died 2026-10-31, before the period starts on 2026-11-01"}
    assert detail_of(r.exceptions, 102, "DIED_IN_PERIOD") == {
        "date_of_death": "2026-11-30", "policy": "paid through the month of death",
        "evidence": "died 2026-11-30, during the period; paid through the month of death"}
    # BLOCK rows are not kept; WARN rows (died in the period) are.
    assert list(r.kept.index) == [101, 102, 103, 105]


def test_deaths_without_records_keeps_everything() -> None:
    rows = rows_frame({"national_id": "N1"})
    r = deaths.check(rows, reference(rows), PERIOD)
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100]


# --------------------------------------------------------------------------- accounts


def test_accounts_each_problem_and_a_row_with_two() -> None:
    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2"}, {"national_id": "N3"}, {"national_id": "N4"},
                      {"national_id": "N5"}, {"national_id": "N6"})
    ref = reference(rows, accounts_rows=[
        {"account_code": "ACC-N1", "bank_code": "054", "holder_national_id": "N1", "dedicated": True,
         "status": "open"},                                                           # clean
        # ACC-N2 absent: unknown
        {"account_code": "ACC-N3", "bank_code": "012", "holder_national_id": "N3", "dedicated": True,
         "status": "closed"},
        {"account_code": "ACC-N4", "bank_code": "017", "holder_national_id": "N9", "dedicated": True,
         "status": "open"},
        {"account_code": "ACC-N5", "bank_code": "017", "holder_national_id": "N5", "dedicated": False,
         "status": "open"},
        {"account_code": "ACC-N6", "bank_code": "054", "holder_national_id": "N8", "dedicated": True,
         "status": "closed"},                                                         # closed and not owned
    ])
    r = accounts.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(101, "ACCOUNT_UNKNOWN"), (102, "ACCOUNT_CLOSED"), (103, "ACCOUNT_NOT_OWNED"),
                                   (104, "ACCOUNT_NOT_DEDICATED"), (105, "ACCOUNT_CLOSED"),
                                   (105, "ACCOUNT_NOT_OWNED")]
    ex = r.exceptions
    assert detail_of(ex, 101, "ACCOUNT_UNKNOWN") == {"account_code": "ACC-N2",
                                                     "evidence": "account ACC-N2 is not in the account registry"}
    assert detail_of(ex, 102, "ACCOUNT_CLOSED") == {"account_code": "ACC-N3", "status": "closed",
                                                    "evidence": "account ACC-N3 is closed"}
    assert detail_of(ex, 103, "ACCOUNT_NOT_OWNED") == {"account_code": "ACC-N4", "holder_national_id": "N9",
                                                       "payee_national_id": "N4",
                                                       "evidence": "account ACC-N4 is held by N9, not by the payee N4"}
    assert detail_of(ex, 104, "ACCOUNT_NOT_DEDICATED") == {
        "account_code": "ACC-N5", "dedicated": False, "evidence": "account ACC-N5 is not a dedicated pension account"}
    assert detail_of(ex, 105, "ACCOUNT_NOT_OWNED")["holder_national_id"] == "N8"
    assert list(r.kept.index) == [100]


# --------------------------------------------------------------------------- duplicates across branches


def test_same_national_id_in_two_branches_holds_every_such_row() -> None:
    rows = rows_frame(
        {"national_id": "N1", "branch_code": "B001", "pension_id": "P1", "row_no": 2},
        {"national_id": "N2", "branch_code": "B001", "pension_id": "P2", "row_no": 3},
        {"national_id": "N1", "branch_code": "B002", "pension_id": "Q7", "row_no": 5},
        {"national_id": "N1", "branch_code": "B001", "pension_id": "P9", "row_no": 4},
        {"national_id": "N3", "branch_code": "B002", "pension_id": "Q8", "row_no": 6},
    )
    r = duplicates.check(rows, reference(rows), PERIOD)
    assert codes(r.exceptions) == [(100, "DUPLICATE_ACROSS_BRANCHES"), (102, "DUPLICATE_ACROSS_BRANCHES"),
                                   (103, "DUPLICATE_ACROSS_BRANCHES")]
    paid = [("B001", "P1", 2), ("B001", "P9", 4), ("B002", "Q7", 5)]  # by branch, then row
    for key in (100, 102, 103):
        detail = detail_of(r.exceptions, key, "DUPLICATE_ACROSS_BRANCHES")
        assert [(p["branch_code"], p["pension_id"], p["row"]) for p in detail["paid_by"]] == paid
        assert detail["evidence"] == ("national id N1 is paid on 3 rows: B001 pension P1 (OLD_AGE) row 2, "
                                      "B001 pension P9 (OLD_AGE) row 4, B002 pension Q7 (OLD_AGE) row 5")
    assert list(r.kept.index) == [101, 104]


def test_same_national_id_twice_in_one_branch_under_two_pension_ids_is_held() -> None:
    rows = rows_frame({"national_id": "N1", "pension_id": "P1"}, {"national_id": "N1", "pension_id": "P2"})
    r = duplicates.check(rows, reference(rows), PERIOD)
    assert codes(r.exceptions) == [(100, "DUPLICATE_IN_BRANCH"), (101, "DUPLICATE_IN_BRANCH")]
    assert list(r.kept.index) == []


# --------------------------------------------------------------------------- result() and the pipeline


def test_result_keeps_warn_rows_and_drops_hold_and_block_rows() -> None:
    from payroll.checks import exceptions_frame

    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2"}, {"national_id": "N3"}, {"national_id": "N4"})
    r = result(rows, [exceptions_frame([100], "DIED_IN_PERIOD", [{}]), exceptions_frame([101], "ACCOUNT_CLOSED", [{}]),
                      exceptions_frame([102], "DECEASED", [{}])])
    assert list(r.kept.index) == [100, 103]
    assert codes(r.exceptions) == [(100, "DIED_IN_PERIOD"), (101, "ACCOUNT_CLOSED"), (102, "DECEASED")]


def test_pipeline_worst_severity_wins() -> None:
    rows = rows_frame(*({"national_id": f"N{i}"} for i in range(1, 7)))
    base = reference(rows)
    ref = Reference(
        registry=base.registry[base.registry["national_id"] != "N5"],          # N5: NOT_IN_REGISTRY (HOLD)
        deaths=pd.DataFrame({"national_id": ["N2", "N3", "N5"],
                             "date_of_death": ["2026-11-15", "2026-11-15", "2026-10-01"]}),
        accounts=base.accounts.assign(status=lambda a: a["account_code"].map(
            lambda c: "closed" if c in ("ACC-N3", "ACC-N4") else "open")),
    )
    status, exc = run_checks(rows, ref, PERIOD)
    assert status.to_dict() == {
        100: "PAYABLE",  # nothing found
        101: "PAYABLE",  # WARN only (died in the period)
        102: "HOLD",     # WARN + HOLD
        103: "HOLD",     # HOLD only
        104: "BLOCK",    # HOLD (not in registry) + BLOCK (deceased)
        105: "PAYABLE",
    }
    assert list(exc.columns) == [*EXCEPTION_COLUMNS, "severity"]
    assert list(zip(exc["row_key"], exc["code"], exc["severity"], strict=True)) == [
        (101, "DIED_IN_PERIOD", "WARN"),
        (102, "ACCOUNT_CLOSED", "HOLD"),
        (102, "DIED_IN_PERIOD", "WARN"),
        (103, "ACCOUNT_CLOSED", "HOLD"),
        (104, "DECEASED", "BLOCK"),
        (104, "NOT_IN_REGISTRY", "HOLD"),
    ]


def test_pipeline_every_row_payable_when_nothing_is_found() -> None:
    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2"})
    status, exc = run_checks(rows, reference(rows), PERIOD)
    assert status.to_dict() == {100: "PAYABLE", 101: "PAYABLE"}
    assert len(exc) == 0


def test_pipeline_runs_every_check() -> None:
    assert CHECKS == [registry.check, deaths.check, accounts.check, deaths.recovery, duplicates.check,
                      survivors.check, anomalies.check]
