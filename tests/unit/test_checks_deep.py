"""Deeper unit tests for the run checks: planted cases with exact counts and the evidence an auditor reads.

Released history is written as PAYMENTS_SCHEMA Parquet files in tmp_path (see `released`), the way a
released run stores its payments.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from payroll.catalog import severity
from payroll.checks import (
    NO_ROW,
    CheckResult,
    DoubleBenefit,
    History,
    Policy,
    Reference,
    ReleasedRun,
    accounts,
    anomalies,
    deaths,
    duplicates,
    exceptions_frame,
    registry,
    result,
    survivors,
)
from payroll.checks.pipeline import CHECKS, ROW_CHECKS, run_checks
from payroll.payments import PAYMENTS_SCHEMA, end_to_end_id, to_table
from payroll.period import Period
from tests.unit.test_checks import codes, detail_of, reference, rows_frame

PERIOD = Period(2026, 11)

SHA = "cd" * 32


# --------------------------------------------------------------------------- helpers


def row(nid: str, **kw: Any) -> dict[str, Any]:
    """A current row whose pension id and account follow the national id (so history can match it)."""
    return {"national_id": nid, "pension_id": f"P-{nid}", "account_code": f"ACC-{nid}", **kw}


def payment(nid: str, **kw: Any) -> dict[str, Any]:
    """A released payment: the same defaults as `row`, PAYABLE unless told."""
    return {"national_id": nid, "pension_id": f"P-{nid}", "account_code": f"ACC-{nid}", **kw}


def released(tmp_path: Path, period: str, run_id: int, *payments: dict[str, Any], kind: str = "main"
             ) -> ReleasedRun:
    """Write a released run's rows as Parquet (PAYMENTS_SCHEMA) and return its ReleasedRun."""
    out = []
    for i, p in enumerate(payments):
        d: dict[str, Any] = {
            "row_key": i, "submission_id": run_id * 10 + 1, "branch_code": "B001", "source_sha256": SHA,
            "row_no": i + 2, "full_name": f"Name {p['national_id']}", "birth_date": "1955-03-01",
            "benefit_type": "OLD_AGE", "gross_amount": 1_000_000, "deduction_amount": 0, "net_amount": 1_000_000,
            "insured_id": None, "share_bp": None, "bank_code": "054", "status": "PAYABLE", **p}
        d.setdefault("end_to_end_id", end_to_end_id(period, d["branch_code"], d["pension_id"], d["national_id"]))
        if "gross_amount" not in p:
            d["gross_amount"] = d["net_amount"] + d["deduction_amount"]
        out.append(d)
    df = pd.DataFrame(out, columns=[*PAYMENTS_SCHEMA.names])
    path = tmp_path / f"payments-{period}-run{run_id}.parquet"
    pq.write_table(to_table(df), path)
    return ReleasedRun(period, run_id, path, kind)


def with_(ref: Reference, *runs: ReleasedRun, **policy: Any) -> Reference:
    return dataclasses.replace(ref, history=History(list(runs)), policy=Policy(**policy))


def e2e(period: str, nid: str, branch: str = "B001") -> str:
    return end_to_end_id(period, branch, f"P-{nid}", nid)


def findings(r: CheckResult, code: str) -> list[dict[str, Any]]:
    return list(r.exceptions[r.exceptions["code"] == code]["detail"])


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(("file_name", "registry_name"), [
    ("김 민수", "김민수"),              # Hangul spacing
    ("KIM MIN-SU", "Kim Minsu"),      # case, hyphen
    ("José", "Jose"),                 # Latin diacritic
    ("Jose\u0301", "José"),           # decomposed vs composed accent
    ("آرش", "ارش"),                   # alef madda vs bare alef
    ("فاطمة", "فاطمه"),               # teh marbuta vs heh
    ("O'Brien", "OBRIEN"),            # apostrophe
])
def test_registry_names_equal_after_normalization_give_nothing(file_name: str, registry_name: str) -> None:
    rows = rows_frame({"national_id": "N1", "full_name": file_name})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": registry_name,
                                          "birth_date": "1955-03-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100]


def _names_case() -> tuple[pd.DataFrame, Reference]:
    rows = rows_frame(
        {"national_id": "N1", "full_name": "کریمی علی"},             # reordered: 100
        {"national_id": "N2", "full_name": "Alexander Hamiltom"},   # one letter off: 94.4
        {"national_id": "N3", "full_name": "علی کریمی"},            # another person's name: 75
        {"national_id": "N4"},                                      # clean
    )
    reg = [{"national_id": "N1", "full_name": "علی کریمی", "birth_date": "1955-03-01"},
           {"national_id": "N2", "full_name": "Alexander Hamilton", "birth_date": "1955-03-01"},
           {"national_id": "N3", "full_name": "علی رضایی", "birth_date": "1955-03-01"},
           {"national_id": "N4", "full_name": "Name N4", "birth_date": "1955-03-01"}]
    return rows, reference(rows, registry_rows=reg)


def test_registry_variant_and_mismatch() -> None:
    rows, ref = _names_case()
    r = registry.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(100, "NAME_VARIANT"), (101, "NAME_VARIANT"), (102, "IDENTITY_MISMATCH")]
    assert severity("NAME_VARIANT") == "WARN" and severity("IDENTITY_MISMATCH") == "HOLD"
    assert list(r.kept.index) == [100, 101, 103]  # a variant is paid
    assert detail_of(r.exceptions, 100, "NAME_VARIANT")["name_score"] == 100.0
    variant = detail_of(r.exceptions, 101, "NAME_VARIANT")
    assert {k: v for k, v in variant.items() if k != "name_score"} == {
        "fields": ["full_name"], "file": {"full_name": "Alexander Hamiltom", "birth_date": "1955-03-01"},
        "registry": {"full_name": "Alexander Hamilton", "birth_date": "1955-03-01"}, "threshold": 90.0,
        "evidence": "name in file 'Alexander Hamiltom', in registry 'Alexander Hamilton': similarity 94.4 above "
                    "the threshold 90"}
    assert variant["name_score"] == pytest.approx(94.4, abs=1e-5)
    assert detail_of(r.exceptions, 102, "IDENTITY_MISMATCH")["evidence"] == (
        "name in file 'علی کریمی', in registry 'علی رضایی': similarity 75 at or below the threshold 90")


def test_registry_threshold_is_strict_and_moves_cases() -> None:
    rows, ref = _names_case()
    # a score exactly equal to the threshold is not "above" it: HOLD (75 is exact in any float type)
    at = registry.check(rows, with_(ref, name_similarity_threshold=75.0), PERIOD)
    assert codes(at.exceptions) == [(100, "NAME_VARIANT"), (101, "NAME_VARIANT"), (102, "IDENTITY_MISMATCH")]
    assert detail_of(at.exceptions, 102, "IDENTITY_MISMATCH")["evidence"] == (
        "name in file 'علی کریمی', in registry 'علی رضایی': similarity 75 at or below the threshold 75")
    # just below the score: WARN, paid
    below = registry.check(rows, with_(ref, name_similarity_threshold=74.9), PERIOD)
    assert codes(below.exceptions) == [(100, "NAME_VARIANT"), (101, "NAME_VARIANT"), (102, "NAME_VARIANT")]
    assert detail_of(below.exceptions, 102, "NAME_VARIANT")["evidence"].endswith("similarity 75 above the "
                                                                                 "threshold 74.9")
    assert list(below.kept.index) == [100, 101, 102, 103]
    # stricter: the one-letter-off name moves to HOLD; 100 is never above 100
    stricter = registry.check(rows, with_(ref, name_similarity_threshold=95.0), PERIOD)
    assert codes(stricter.exceptions) == [(100, "NAME_VARIANT"), (101, "IDENTITY_MISMATCH"),
                                          (102, "IDENTITY_MISMATCH")]
    strict = registry.check(rows, with_(ref, name_similarity_threshold=100.0), PERIOD)
    assert codes(strict.exceptions) == [(100, "IDENTITY_MISMATCH"), (101, "IDENTITY_MISMATCH"),
                                        (102, "IDENTITY_MISMATCH")]
    assert list(strict.kept.index) == [103]


def test_registry_score_equal_to_a_decimal_threshold_is_held() -> None:
    rows, ref = _names_case()
    r = registry.check(rows, with_(ref, name_similarity_threshold=94.4), PERIOD)
    assert codes(r.exceptions) == [(100, "NAME_VARIANT"), (101, "IDENTITY_MISMATCH"), (102, "IDENTITY_MISMATCH")]
    detail = detail_of(r.exceptions, 101, "IDENTITY_MISMATCH")
    assert detail["name_score"] == 94.4
    assert detail["evidence"] == ("name in file 'Alexander Hamiltom', in registry 'Alexander Hamilton': "
                                  "similarity 94.4 at or below the threshold 94.4")
    assert list(r.kept.index) == [100, 103]


def test_registry_similar_name_with_other_birth_date_is_held() -> None:
    rows = rows_frame({"national_id": "N1", "full_name": "Alexander Hamiltom", "birth_date": "1955-03-02"})
    ref = reference(rows, registry_rows=[{"national_id": "N1", "full_name": "Alexander Hamilton",
                                          "birth_date": "1955-03-01"}])
    r = registry.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(100, "IDENTITY_MISMATCH")]
    assert detail_of(r.exceptions, 100, "IDENTITY_MISMATCH")["fields"] == ["full_name", "birth_date"]
    assert len(r.kept) == 0


# --------------------------------------------------------------------------- deaths


def test_deaths_hold_policy_holds_a_death_in_the_period() -> None:
    rows = rows_frame({"national_id": "N1"}, {"national_id": "N2"}, {"national_id": "N3"})
    ref = reference(rows, deaths_rows=[{"national_id": "N1", "date_of_death": "2026-11-14"},
                                       {"national_id": "N2", "date_of_death": "2026-10-14"}])
    paid = deaths.check(rows, ref, PERIOD)
    assert codes(paid.exceptions) == [(100, "DIED_IN_PERIOD"), (101, "DECEASED")]
    assert list(paid.kept.index) == [100, 102]

    held = deaths.check(rows, with_(ref, death_in_period="hold"), PERIOD)
    assert codes(held.exceptions) == [(100, "DIED_IN_PERIOD_HELD"), (101, "DECEASED")]
    assert severity("DIED_IN_PERIOD_HELD") == "HOLD" and severity("DIED_IN_PERIOD") == "WARN"
    assert detail_of(held.exceptions, 100, "DIED_IN_PERIOD_HELD") == {
        "date_of_death": "2026-11-14", "policy": "held for review (death policy 'hold')",
        "evidence": "died 2026-11-14, during the period; held for review (death policy 'hold')"}
    assert list(held.kept.index) == [102]


# --------------------------------------------------------------------------- deaths.recovery


def test_recovery_lists_payments_released_after_the_month_of_death(tmp_path: Path) -> None:
    aug = released(tmp_path, "2026-08", 10,
                   payment("D1", net_amount=1_000_000), payment("D2"), payment("D4"))
    sep_main = released(tmp_path, "2026-09", 11,
                        payment("D1", net_amount=1_000_000, row_no=7, submission_id=111),
                        payment("D2", net_amount=900_000),                # died 09-30: month of death
                        payment("D3"),
                        payment("D4", status="HOLD"),                     # never sent to a bank
                        payment("D5", net_amount=700_000, branch_code="B002", row_no=4, submission_id=121,
                                status="HOLD"))
    sep_supp = released(tmp_path, "2026-09", 12,                          # D5's hold cleared and paid
                        payment("D5", net_amount=700_000, branch_code="B002", row_no=4, submission_id=121),
                        kind="supplementary")
    oct_main = released(tmp_path, "2026-10", 13,
                        payment("D1", net_amount=1_050_001, row_no=9, submission_id=131),
                        payment("D2", net_amount=900_000, row_no=3, submission_id=131),
                        payment("D3", net_amount=800_000),                # died 10-05: month of death
                        payment("D4", status="HOLD"),
                        payment("A1"))                                    # alive
    rows = rows_frame(row("D1"), row("D2"), row("D3"), row("D4"), row("A1"))  # D5 is not in this run
    ref = with_(reference(rows, deaths_rows=[
        {"national_id": "D1", "date_of_death": "2026-08-14"},
        {"national_id": "D2", "date_of_death": "2026-09-30"},
        {"national_id": "D3", "date_of_death": "2026-10-05"},
        {"national_id": "D4", "date_of_death": "2026-08-20"},
        {"national_id": "D5", "date_of_death": "2026-07-10"},
        {"national_id": "D6", "date_of_death": "2026-01-01"},   # never paid in the history
    ]), aug, sep_main, sep_supp, oct_main)
    r = deaths.recovery(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(NO_ROW, "OVERPAID_AFTER_DEATH")] * 3
    assert severity("OVERPAID_AFTER_DEATH") == "REPORT"
    assert list(r.kept.index) == [100, 101, 102, 103, 104]  # a report stops no row
    by_person = {d["lineage"]["national_id"]: d for d in r.exceptions["detail"]}
    assert sorted(by_person) == ["D1", "D2", "D5"]

    assert by_person["D1"] == {
        "date_of_death": "2026-08-14", "periods": ["2026-09", "2026-10"], "total": 2_050_001,
        "payments": [
            {"period": "2026-09", "run_id": 11, "branch_code": "B001", "pension_id": "P-D1",
             "end_to_end_id": e2e("2026-09", "D1"), "amount": 1_000_000},
            {"period": "2026-10", "run_id": 13, "branch_code": "B001", "pension_id": "P-D1",
             "end_to_end_id": e2e("2026-10", "D1"), "amount": 1_050_001}],
        "lineage": {"branch_code": "B001", "submission_id": 131, "source_sha256": SHA, "row_no": 9,
                    "pension_id": "P-D1", "national_id": "D1"},
        "evidence": "died 2026-08-14; 2 payment(s) released after the month of death (2026-09, 2026-10) "
                    "total 2050001"}
    assert by_person["D2"]["periods"] == ["2026-10"]
    assert [(p["period"], p["run_id"], p["amount"]) for p in by_person["D2"]["payments"]] == [
        ("2026-10", 13, 900_000)]
    assert by_person["D2"]["total"] == 900_000
    assert by_person["D2"]["lineage"] == {"branch_code": "B001", "submission_id": 131, "source_sha256": SHA,
                                          "row_no": 3, "pension_id": "P-D2", "national_id": "D2"}
    # a person not in this run, held in the main run and paid by the supplementary one: counted once
    assert by_person["D5"]["payments"] == [
        {"period": "2026-09", "run_id": 12, "branch_code": "B002", "pension_id": "P-D5",
         "end_to_end_id": e2e("2026-09", "D5", "B002"), "amount": 700_000}]
    assert by_person["D5"]["lineage"] == {"branch_code": "B002", "submission_id": 121, "source_sha256": SHA,
                                          "row_no": 4, "pension_id": "P-D5", "national_id": "D5"}
    assert by_person["D5"]["evidence"] == ("died 2026-07-10; 1 payment(s) released after the month of death "
                                           "(2026-09) total 700000")


def test_recovery_without_history_finds_nothing() -> None:
    rows = rows_frame(row("D1"))
    ref = reference(rows, deaths_rows=[{"national_id": "D1", "date_of_death": "2026-08-14"}])
    r = deaths.recovery(rows, ref, PERIOD)
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100]


# --------------------------------------------------------------------------- duplicates

PAIR = DoubleBenefit(frozenset({"OLD_AGE", "SURVIVOR"}), 3_000_000)


def test_duplicates_double_benefit_within_and_over_the_cap() -> None:
    rows = rows_frame(
        row("N1", pension_id="P1", benefit_type="OLD_AGE", gross_amount=1_000_000, row_no=2),
        row("N1", pension_id="P2", benefit_type="SURVIVOR", gross_amount=2_000_000, row_no=3),   # = cap
        row("N2", pension_id="P3", benefit_type="OLD_AGE", gross_amount=2_000_000, row_no=4),
        row("N2", pension_id="P4", benefit_type="SURVIVOR", gross_amount=1_000_001, row_no=5,
            branch_code="B002"),                                                                # cap + 1
        row("N3", pension_id="P5", benefit_type="DISABILITY", row_no=6),
        row("N3", pension_id="P6", benefit_type="SURVIVOR", row_no=7, branch_code="B002"),        # no rule
        row("N4", pension_id="P7", benefit_type="OLD_AGE", row_no=8),
        row("N4", pension_id="P8", benefit_type="SURVIVOR", row_no=9),
        row("N4", pension_id="P9", benefit_type="SURVIVOR", row_no=10),                           # three rows
        row("N5", pension_id="P10", benefit_type="OLD_AGE", row_no=11),
        row("N5", pension_id="P11", benefit_type="OLD_AGE", row_no=12),                           # same benefit
        row("N6", pension_id="P12", row_no=13),
    )
    ref = with_(reference(rows), double_benefits=(PAIR,))
    r = duplicates.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [
        (100, "DOUBLE_BENEFIT"), (101, "DOUBLE_BENEFIT"),
        (102, "DOUBLE_BENEFIT_OVER_CAP"), (103, "DOUBLE_BENEFIT_OVER_CAP"),
        (104, "DUPLICATE_ACROSS_BRANCHES"), (105, "DUPLICATE_ACROSS_BRANCHES"),
        (106, "DUPLICATE_IN_BRANCH"), (107, "DUPLICATE_IN_BRANCH"), (108, "DUPLICATE_IN_BRANCH"),
        (109, "DUPLICATE_IN_BRANCH"), (110, "DUPLICATE_IN_BRANCH")]
    assert list(r.kept.index) == [100, 101, 111]
    within = detail_of(r.exceptions, 100, "DOUBLE_BENEFIT")
    assert within == detail_of(r.exceptions, 101, "DOUBLE_BENEFIT")
    assert within["combined_gross"] == 3_000_000 and within["cap"] == 3_000_000
    assert [(w["pension_id"], w["benefit_type"], w["gross_amount"]) for w in within["paid_by"]] == [
        ("P1", "OLD_AGE", 1_000_000), ("P2", "SURVIVOR", 2_000_000)]
    assert within["evidence"] == ("OLD_AGE + SURVIVOR is a permitted pair; combined gross 3000000 is within "
                                  "the cap 3000000")
    over = detail_of(r.exceptions, 103, "DOUBLE_BENEFIT_OVER_CAP")
    assert over["evidence"] == ("OLD_AGE + SURVIVOR is a permitted pair; combined gross 3000001 is over "
                                "the cap 3000000")
    assert detail_of(r.exceptions, 108, "DUPLICATE_IN_BRANCH")["evidence"] == (
        "national id N4 is paid on 3 rows: B001 pension P7 (OLD_AGE) row 8, B001 pension P8 (SURVIVOR) row 9, "
        "B001 pension P9 (SURVIVOR) row 10")

    # the same permitted pair with no rule in the policy: a plain duplicate
    no_rule = duplicates.check(rows, reference(rows), PERIOD)
    assert [c for _, c in codes(no_rule.exceptions)].count("DOUBLE_BENEFIT") == 0
    assert codes(no_rule.exceptions)[:4] == [(100, "DUPLICATE_IN_BRANCH"), (101, "DUPLICATE_IN_BRANCH"),
                                             (102, "DUPLICATE_ACROSS_BRANCHES"), (103, "DUPLICATE_ACROSS_BRANCHES")]
    assert list(no_rule.kept.index) == [111]


def test_duplicates_same_pension_id_on_two_rows() -> None:
    rows = rows_frame(row("N7", pension_id="P7", row_no=2),
                      row("N8", pension_id="P7", row_no=3, branch_code="B002"),
                      row("N9", pension_id="P9", row_no=4))
    r = duplicates.check(rows, reference(rows), PERIOD)
    assert codes(r.exceptions) == [(100, "DUPLICATE_PENSION_ID"), (101, "DUPLICATE_PENSION_ID")]
    assert detail_of(r.exceptions, 101, "DUPLICATE_PENSION_ID")["evidence"] == (
        "pension id P7 is on 2 rows: B001 row 2 (N7), B002 row 3 (N8)")
    assert severity("DUPLICATE_PENSION_ID") == "HOLD"
    assert list(r.kept.index) == [102]


def test_duplicates_account_shared_across_payees_but_not_by_survivors_of_one_insured() -> None:
    rows = rows_frame(
        row("N9", account_code="ACC-X", insured_id=None, share_bp=None),             # unrelated pair
        row("N10", account_code="ACC-X", insured_id=None, share_bp=None),
        row("S1", account_code="ACC-S", benefit_type="SURVIVOR", insured_id="I1", share_bp=2500),  # survivors
        row("S2", account_code="ACC-S", benefit_type="SURVIVOR", insured_id="I1", share_bp=2500),
        row("S3", account_code="ACC-M", benefit_type="SURVIVOR", insured_id="I2", share_bp=5000),  # + stranger
        row("U1", account_code="ACC-M", insured_id=None, share_bp=None),
        row("S4", account_code="ACC-T", benefit_type="SURVIVOR", insured_id="I3", share_bp=2500),  # two insured
        row("S5", account_code="ACC-T", benefit_type="SURVIVOR", insured_id="I4", share_bp=2500),
        row("N11", insured_id=None, share_bp=None),
    )
    r = duplicates.check(rows, reference(rows), PERIOD)
    assert codes(r.exceptions) == [(k, "ACCOUNT_SHARED_ACROSS_PAYEES") for k in (100, 101, 104, 105, 106, 107)]
    assert list(r.kept.index) == [102, 103, 108]
    assert detail_of(r.exceptions, 100, "ACCOUNT_SHARED_ACROSS_PAYEES")["evidence"] == (
        "account ACC-X receives payments for 2 payees: N10, N9")
    assert detail_of(r.exceptions, 105, "ACCOUNT_SHARED_ACROSS_PAYEES")["evidence"] == (
        "account ACC-M receives payments for 2 payees: S3, U1")


def test_duplicates_account_shared_without_insured_column() -> None:
    rows = rows_frame(row("N1", account_code="ACC-X"), row("N2", account_code="ACC-X"), row("N3"))
    assert "insured_id" not in rows
    r = duplicates.check(rows, reference(rows), PERIOD)
    assert codes(r.exceptions) == [(100, "ACCOUNT_SHARED_ACROSS_PAYEES"), (101, "ACCOUNT_SHARED_ACROSS_PAYEES")]


# --------------------------------------------------------------------------- survivors


def test_survivor_shares_over_100_percent_are_held_on_every_row() -> None:
    rows = rows_frame(
        row("S1", benefit_type="SURVIVOR", insured_id="I1", share_bp=5000),      # 50 + 25 + 25 = 100: fine
        row("S2", benefit_type="SURVIVOR", insured_id="I1", share_bp=2500),
        row("S3", benefit_type="SURVIVOR", insured_id="I1", share_bp=2500),
        row("T1", benefit_type="SURVIVOR", insured_id="I2", share_bp=5000, row_no=20),   # 125%, two branches
        row("T2", benefit_type="SURVIVOR", insured_id="I2", share_bp=2500, row_no=21),
        row("T3", benefit_type="SURVIVOR", insured_id="I2", share_bp=2500, row_no=5, branch_code="B002"),
        row("T4", benefit_type="SURVIVOR", insured_id="I2", share_bp=2500, row_no=22),
        row("U1", benefit_type="SURVIVOR", insured_id="I3", share_bp=3333),      # 99.99%: fine
        row("U2", benefit_type="SURVIVOR", insured_id="I3", share_bp=3333),
        row("U3", benefit_type="SURVIVOR", insured_id="I3", share_bp=3333),
        row("V1", benefit_type="SURVIVOR", insured_id="I4", share_bp=3334),      # 100.01%
        row("V2", benefit_type="SURVIVOR", insured_id="I4", share_bp=3333),
        row("V3", benefit_type="SURVIVOR", insured_id="I4", share_bp=3334),
        row("W1", insured_id=None, share_bp=None),                              # not a survivor
        row("W2", insured_id=None, share_bp=None),
    )
    r = survivors.check(rows, reference(rows), PERIOD)
    assert codes(r.exceptions) == [(k, "SURVIVOR_SHARES_OVER_100") for k in (103, 104, 105, 106, 110, 111, 112)]
    assert severity("SURVIVOR_SHARES_OVER_100") == "HOLD"
    assert list(r.kept.index) == [100, 101, 102, 107, 108, 109, 113, 114]
    detail = detail_of(r.exceptions, 105, "SURVIVOR_SHARES_OVER_100")
    assert all(detail_of(r.exceptions, k, "SURVIVOR_SHARES_OVER_100") == detail for k in (103, 104, 106))
    assert detail["insured_id"] == "I2" and detail["total_percent"] == "125%"
    assert [(s["branch_code"], s["national_id"], s["row"], s["share_percent"]) for s in detail["shares"]] == [
        ("B001", "T1", 20, "50%"), ("B001", "T2", 21, "25%"), ("B001", "T4", 22, "25%"), ("B002", "T3", 5, "25%")]
    assert detail["evidence"] == "survivors of insured person I2 share 125%: T1 50%, T2 25%, T4 25%, T3 25%"
    v = detail_of(r.exceptions, 110, "SURVIVOR_SHARES_OVER_100")
    assert v["total_percent"] == "100.01%"
    assert v["evidence"] == "survivors of insured person I4 share 100.01%: V1 33.34%, V2 33.33%, V3 33.34%"


def test_survivors_without_the_columns_or_insured_ids_give_nothing() -> None:
    plain = rows_frame(row("N1"), row("N2"))
    assert len(survivors.check(plain, reference(plain), PERIOD).exceptions) == 0
    nulls = rows_frame(row("N1", insured_id=None, share_bp=6000), row("N2", insured_id=None, share_bp=6000))
    r = survivors.check(nulls, reference(nulls), PERIOD)
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100, 101]


# --------------------------------------------------------------------------- accounts with history


def test_account_changed_since_the_last_released_period(tmp_path: Path) -> None:
    runs = [
        released(tmp_path, "2026-07", 7, payment("O1", account_code="ACC-A")),
        released(tmp_path, "2026-08", 8, payment("O1", account_code="ACC-B")),
        released(tmp_path, "2026-09", 9, payment("O1", account_code="ACC-B"), payment("S1")),
        released(tmp_path, "2026-10", 10, payment("C1", account_code="ACC-A"), payment("O1", account_code="ACC-B"),
                 payment("S1")),
    ]
    rows = rows_frame(row("C1", account_code="ACC-B"), row("O1", account_code="ACC-C"), row("S1"), row("N1"))
    ref = with_(reference(rows), *runs)
    r = accounts.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(100, "ACCOUNT_CHANGED"), (101, "ACCOUNT_CHANGED")]
    assert severity("ACCOUNT_CHANGED") == "WARN"
    assert detail_of(r.exceptions, 100, "ACCOUNT_CHANGED") == {
        "previous_period": "2026-10", "previous_account": "ACC-A", "account_code": "ACC-B",
        "evidence": "account was ACC-A in 2026-10, is ACC-B now"}
    assert list(r.kept.index) == [100, 101, 102, 103]

    # no history at all: no change findings
    bare = accounts.check(rows, reference(rows), PERIOD)
    assert len(bare.exceptions) == 0


def _repeated_changes(tmp_path: Path) -> tuple[pd.DataFrame, Reference]:
    runs = [
        released(tmp_path, "2026-08", 8, payment("R3", account_code="ACC-A"), payment("R4", account_code="ACC-A")),
        released(tmp_path, "2026-09", 9, payment("R1", account_code="ACC-A"), payment("R2", account_code="ACC-A"),
                 payment("R3", account_code="ACC-B"), payment("R4", account_code="ACC-A")),
        released(tmp_path, "2026-10", 10, payment("R1", account_code="ACC-B"), payment("R2", account_code="ACC-B"),
                 payment("R3", account_code="ACC-B"), payment("R4", account_code="ACC-A", status="HOLD")),
        # a supplementary run pays rows of its period's list; it is not a list of its own
        released(tmp_path, "2026-10", 11, payment("R4", account_code="ACC-Z"), kind="supplementary"),
    ]
    rows = rows_frame(row("R1", account_code="ACC-C"),   # Sep A -> Oct B -> Nov C
                      row("R2", account_code="ACC-A"),   # Sep A -> Oct B -> Nov A
                      row("R3", account_code="ACC-D"),   # Aug A -> Sep B -> Oct B -> Nov D: September is in
                      row("R4", account_code="ACC-B"))   # Aug..Oct A (Oct held) -> Nov B: one change
    return rows, with_(reference(rows), *runs)


def test_account_changed_repeatedly_within_90_days(tmp_path: Path) -> None:
    rows, ref = _repeated_changes(tmp_path)
    r = accounts.check(rows, ref, PERIOD)  # default policy: 90 days
    assert codes(r.exceptions) == [(100, "ACCOUNT_CHANGED_REPEATEDLY"), (101, "ACCOUNT_CHANGED_REPEATEDLY"),
                                   (102, "ACCOUNT_CHANGED_REPEATEDLY"), (103, "ACCOUNT_CHANGED")]
    assert severity("ACCOUNT_CHANGED_REPEATEDLY") == "HOLD"
    assert detail_of(r.exceptions, 100, "ACCOUNT_CHANGED_REPEATEDLY") == {
        "accounts": [{"period": "2026-09", "account_code": "ACC-A"}, {"period": "2026-10", "account_code": "ACC-B"},
                     {"period": "2026-11", "account_code": "ACC-C"}],
        "changes_in_window": 2, "window_days": 90,
        "evidence": "account changed 2 times within 90 days: ACC-A (2026-09) -> ACC-B (2026-10) -> ACC-C (2026-11)"}
    assert detail_of(r.exceptions, 101, "ACCOUNT_CHANGED_REPEATEDLY")["evidence"] == (
        "account changed 2 times within 90 days: ACC-A (2026-09) -> ACC-B (2026-10) -> ACC-A (2026-11)")
    assert detail_of(r.exceptions, 102, "ACCOUNT_CHANGED_REPEATEDLY")["changes_in_window"] == 2
    # the held October row still gave the account; the supplementary run's rows are no list
    assert detail_of(r.exceptions, 103, "ACCOUNT_CHANGED") == {
        "previous_period": "2026-10", "previous_account": "ACC-A", "account_code": "ACC-B",
        "evidence": "account was ACC-A in 2026-10, is ACC-B now"}
    assert list(r.kept.index) == [103]


def test_account_change_window_follows_the_policy(tmp_path: Path) -> None:
    rows, ref = _repeated_changes(tmp_path)
    # 60 days before 30 November is 1 October: only the changes at October and November count
    r = accounts.check(rows, dataclasses.replace(ref, policy=Policy(account_change_window_days=60)), PERIOD)
    assert codes(r.exceptions) == [(100, "ACCOUNT_CHANGED_REPEATEDLY"), (101, "ACCOUNT_CHANGED_REPEATEDLY"),
                                   (102, "ACCOUNT_CHANGED"), (103, "ACCOUNT_CHANGED")]


def test_window_periods() -> None:
    assert accounts.window_periods(Period(2026, 11), 90) == ["2026-09", "2026-10"]
    assert accounts.window_periods(Period(2026, 11), 89) == ["2026-10"]
    assert accounts.window_periods(Period(2026, 11), 150) == ["2026-08", "2026-09", "2026-10"]
    assert accounts.window_periods(Period(2026, 1), 62) == ["2025-12"]
    assert accounts.window_periods(Period(2026, 11), 10) == []


# --------------------------------------------------------------------------- anomalies


def test_anomalies_without_history_find_nothing() -> None:
    rows = rows_frame(row("N1"), row("N2", net_amount=9_000_000))
    r = anomalies.check(rows, reference(rows), PERIOD)
    assert len(r.exceptions) == 0
    assert list(r.kept.index) == [100, 101]


def _anomaly_case(tmp_path: Path) -> tuple[pd.DataFrame, Reference]:
    sep = released(tmp_path, "2026-09", 9, payment("J1", net_amount=10), payment("K1"))
    oct_ = released(tmp_path, "2026-10", 10,
                    payment("E1", net_amount=1_000_000, row_no=2),              # exactly +20%
                    payment("J1", net_amount=1_000_000, row_no=3),              # +25%
                    payment("J2", net_amount=1_000_000, row_no=4),              # +60%
                    payment("D0", net_amount=1_000_000, row_no=5),              # down
                    payment("V1", net_amount=1_234_000, row_no=17, submission_id=555),  # vanished
                    payment("V2", branch_code="B002", row_no=6),                # branch B002 did not submit
                    payment("V3", row_no=7),                                    # died
                    payment("H1", status="HOLD", row_no=8),                     # listed (held): not new
                    payment("V4", status="HOLD", net_amount=1_100_000, row_no=30),  # listed, held, vanished
                    payment("V5", row_no=9))                                    # rejected at intake now
    rows = rows_frame(row("E1", net_amount=1_200_000), row("J1", net_amount=1_250_000),
                      row("J2", net_amount=1_600_000), row("D0", net_amount=500_000), row("N1"), row("H1"),
                      row("K1"))
    ref = with_(reference(rows, deaths_rows=[{"national_id": "V3", "date_of_death": "2026-10-20"}]), sep, oct_)
    return rows, dataclasses.replace(ref, rejected_pension_ids=frozenset({"P-V5"}))


def test_anomalies_against_the_last_released_period(tmp_path: Path) -> None:
    rows, ref = _anomaly_case(tmp_path)
    r = anomalies.check(rows, ref, PERIOD)
    assert codes(r.exceptions) == [(NO_ROW, "PAYEE_VANISHED"), (NO_ROW, "PAYEE_VANISHED"), (101, "AMOUNT_JUMP"),
                                   (102, "AMOUNT_JUMP"), (104, "NEW_PAYEE"), (106, "NEW_PAYEE")]
    assert (severity("AMOUNT_JUMP"), severity("NEW_PAYEE"), severity("PAYEE_VANISHED")) == ("HOLD", "WARN", "REPORT")
    assert detail_of(r.exceptions, 101, "AMOUNT_JUMP") == {
        "previous_period": "2026-10", "previous_amount": 1_000_000, "amount": 1_250_000, "increase_percent": 25.0,
        "threshold_percent": 20, "limit": 1_200_000,
        "evidence": "net 1250000 against 1000000 in 2026-10 (up 25.0%): above 1000000 + 20% = 1200000"}
    assert detail_of(r.exceptions, 102, "AMOUNT_JUMP")["increase_percent"] == 60.0
    assert detail_of(r.exceptions, 104, "NEW_PAYEE") == {
        "previous_period": "2026-10", "evidence": "not listed in 2026-10, the last released period"}
    vanished = findings(r, "PAYEE_VANISHED")
    assert [v["lineage"]["national_id"] for v in vanished] == ["V1", "V4"]  # by branch, then row
    assert vanished[0] == {
        "previous_period": "2026-10", "previous_amount": 1_234_000, "end_to_end_id": e2e("2026-10", "V1"),
        "run_id": 10, "previous_status": "PAYABLE",
        "lineage": {"branch_code": "B001", "submission_id": 555, "source_sha256": SHA, "row_no": 17,
                    "pension_id": "P-V1", "national_id": "V1"},
        "evidence": "listed for 1234000 in 2026-10 by branch B001 (pension P-V1, PAYABLE); not in this period's "
                    "list, no death recorded, not rejected at intake"}
    assert (vanished[1]["previous_status"], vanished[1]["previous_amount"]) == ("HOLD", 1_100_000)
    assert list(r.kept.index) == [100, 103, 104, 105, 106]

    # a looser policy: only more than 50% is a jump
    loose = anomalies.check(rows, dataclasses.replace(ref, policy=Policy(amount_jump_percent=50)), PERIOD)
    assert [k for k, c in codes(loose.exceptions) if c == "AMOUNT_JUMP"] == [102]
    assert detail_of(loose.exceptions, 102, "AMOUNT_JUMP")["evidence"] == (
        "net 1600000 against 1000000 in 2026-10 (up 60.0%): above 1000000 + 50% = 1500000")


def test_anomalies_compare_with_the_main_list_of_the_last_period(tmp_path: Path) -> None:
    """A pension held in the last main run and paid by its supplementary run is neither new nor doubled."""
    main = released(tmp_path, "2026-10", 10, payment("A1"), payment("B1", status="HOLD"))
    supp = released(tmp_path, "2026-10", 11, payment("B1"), kind="supplementary")
    rows = rows_frame(row("A1"), row("B1", net_amount=1_250_000))
    r = anomalies.check(rows, with_(reference(rows), main, supp), PERIOD)
    assert codes(r.exceptions) == [(101, "AMOUNT_JUMP")]
    assert detail_of(r.exceptions, 101, "AMOUNT_JUMP")["previous_amount"] == 1_000_000


# --------------------------------------------------------------------------- pipeline


def test_pipeline_row_checks_are_the_three_row_local_checks() -> None:
    assert ROW_CHECKS == [registry.check, deaths.check, accounts.check]
    assert CHECKS[:3] == ROW_CHECKS


def test_pipeline_no_row_findings_and_reports_never_change_a_status(tmp_path: Path) -> None:
    runs = [released(tmp_path, "2026-09", 9, payment("N1"), payment("N2"), payment("X1")),
            released(tmp_path, "2026-10", 10, payment("N1"), payment("N2"), payment("X1"), payment("V1"))]
    rows = rows_frame(row("N1"), row("N2", full_name="Alexander Hamiltom"), row("N3"))
    base = reference(rows, deaths_rows=[{"national_id": "X1", "date_of_death": "2026-08-01"}])
    ref = with_(dataclasses.replace(base, registry=base.registry.assign(
        full_name=lambda g: g["full_name"].where(g["national_id"] != "N2", "Alexander Hamilton"))), *runs)
    status, exc = run_checks(rows, ref, PERIOD)
    assert status.to_dict() == {100: "PAYABLE", 101: "PAYABLE", 102: "PAYABLE"}
    assert list(zip(exc["row_key"], exc["code"], exc["severity"], strict=True)) == [
        (NO_ROW, "OVERPAID_AFTER_DEATH", "REPORT"),
        (NO_ROW, "PAYEE_VANISHED", "REPORT"),
        (101, "NAME_VARIANT", "WARN"),
        (102, "NEW_PAYEE", "WARN"),
    ]
    assert detail_of(exc, NO_ROW, "OVERPAID_AFTER_DEATH")["total"] == 2_000_000

    # even a stopping code on NO_ROW decides no row's status
    def stray(rows: pd.DataFrame, ref: Reference, period: Period) -> CheckResult:
        return result(rows, [exceptions_frame([NO_ROW], "ACCOUNT_CLOSED", [{"evidence": "not a row"}])])

    status, exc = run_checks(rows, ref, PERIOD, checks=[stray, registry.check])
    assert status.to_dict() == {100: "PAYABLE", 101: "PAYABLE", 102: "PAYABLE"}
    assert codes(exc) == [(NO_ROW, "ACCOUNT_CLOSED"), (101, "NAME_VARIANT")]


def test_pipeline_statuses_for_a_mix(tmp_path: Path) -> None:
    runs = [released(tmp_path, "2026-10", 10, payment("W1"), payment("J1"), payment("B1"), payment("H1"),
                     payment("G1"))]
    rows = rows_frame(row("W1"), row("J1", net_amount=2_000_000), row("B1"), row("H1", account_code="ACC-X"),
                      row("N1"))
    base = reference(rows, deaths_rows=[{"national_id": "W1", "date_of_death": "2026-11-03"},
                                        {"national_id": "B1", "date_of_death": "2026-10-03"}])
    ref = with_(base, *runs)
    status, exc = run_checks(rows, ref, PERIOD)
    assert list(zip(exc["row_key"], exc["code"], exc["severity"], strict=True)) == [
        (NO_ROW, "PAYEE_VANISHED", "REPORT"),
        (100, "DIED_IN_PERIOD", "WARN"),       # WARN only: paid
        (101, "AMOUNT_JUMP", "HOLD"),
        (102, "DECEASED", "BLOCK"),
        (103, "ACCOUNT_CHANGED", "WARN"),      # WARN only: paid
        (104, "NEW_PAYEE", "WARN"),
    ]
    assert status.to_dict() == {100: "PAYABLE", 101: "HOLD", 102: "BLOCK", 103: "PAYABLE", 104: "PAYABLE"}
    held = run_checks(rows, with_(base, *runs, death_in_period="hold"), PERIOD)[0]
    assert held.to_dict() == {100: "HOLD", 101: "HOLD", 102: "BLOCK", 103: "PAYABLE", 104: "PAYABLE"}


def test_a_jump_is_not_hidden_by_a_pension_listed_twice_last_period(tmp_path: Path) -> None:
    """Two rows of one pension last period (both held as duplicates) are not added up: the larger one is
    the base, so +50% against it is still a jump."""
    rows = rows_frame(row("N1", net_amount=1_500_000))
    last = released(tmp_path, "2026-10", 7, payment("N1", status="HOLD"),
                    payment("N1", status="HOLD", branch_code="B002", row_no=9))
    r = anomalies.check(rows, with_(reference(rows), last), PERIOD)
    assert codes(r.exceptions) == [(100, "AMOUNT_JUMP")]
    assert detail_of(r.exceptions, 100, "AMOUNT_JUMP")["previous_amount"] == 1_000_000
