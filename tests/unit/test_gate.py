"""Unit tests for the data-quality gate (validations/): suite, custom expectations, findings, Data Docs.

Each rule gets a small normalized frame (what payroll intake hands over) and the exact findings it
must give. The GX context is built once per process (validations.context caches it); the first test
pays for importing great_expectations.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from payroll.benefits import benefit_rules
from payroll.country import CountryProfile, profile
from payroll.identifiers import iban, ir_nid
from payroll.period import Period

PERIOD = Period(2026, 11)
IR = profile("IR")
KR = profile("KR")
STRING_COLUMNS = ("pension_id", "national_id", "full_name", "birth_date", "benefit_type", "account_code")
AMOUNT_COLUMNS = ("gross_amount", "deduction_amount", "net_amount")
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


def nid(nine: str) -> str:
    """A valid Iranian national code from its first nine digits."""
    return nine + ir_nid.calc_check_digit(nine)


def sheba(bban: str) -> str:
    """A valid SHEBA from its 22-digit BBAN."""
    return "IR" + iban.calc_check_digits("IR", bban) + bban


def ir_row(i: int, **overrides: Any) -> dict[str, Any]:
    """A clean IR payee (row number i + 1): distinct pension id, national id and account."""
    gross = overrides.pop("gross", 200_000_000 + i)
    deduction = overrides.pop("deduction", 1_000_000)
    row = {
        "row_no": i + 1,
        "pension_id": f"P{i:05d}",
        "national_id": nid(f"{100000000 + i:09d}"),
        "full_name": f"Ali Karimi {i}",
        "birth_date": "1955-03-01",
        "benefit_type": "OLD_AGE",
        "gross_amount": gross,
        "deduction_amount": deduction,
        "net_amount": None if gross is None or deduction is None else gross - deduction,
        "account_code": sheba(f"0540{i:018d}"),
    }
    row.update(overrides)
    return row


def kr_row(i: int, **overrides: Any) -> dict[str, Any]:
    """A clean KR payee: RRN of someone born 1955-01-01, Shinhan account, won amounts."""
    row = {
        "row_no": i + 1,
        "pension_id": f"K{i:05d}",
        "national_id": f"5501011{i:06d}",
        "full_name": f"Kim Minsu {i}",
        "birth_date": "1955-01-01",
        "benefit_type": "OLD_AGE",
        "gross_amount": 700_000 + i,
        "deduction_amount": 10_000,
        "net_amount": 690_000 + i,
        "account_code": f"088{110000000000 + i:012d}",
    }
    row.update(overrides)
    return row


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The normalized frame intake produces: str columns (NA for missing), Int64 amounts."""
    df = pd.DataFrame(list(rows))
    for c in STRING_COLUMNS:
        df[c] = df[c].astype("str")
    for c in AMOUNT_COLUMNS:
        df[c] = df[c].astype("Int64")
    df["row_no"] = df["row_no"].astype(np.int64)
    return df


def ir_frame(*bad: dict[str, Any], n: int = 4) -> pd.DataFrame:
    """Rows 2..n+1 clean, then each `bad` override applied to the row of its `row_no` (or appended)."""
    rows = {i + 1: ir_row(i) for i in range(1, n + 1)}
    for b in bad:
        b = dict(b)
        r = b.pop("row_no")
        rows[r] = ir_row(r - 1, **b)
    return frame(rows[k] for k in sorted(rows))


def gate(df: pd.DataFrame, country: CountryProfile = IR) -> Any:
    from validations.gate import run_gate

    return run_gate(df, country, PERIOD, benefit_rules(country.code))


def found(result: Any) -> list[tuple[int, str, str]]:
    return [(int(r), c, k) for r, c, k in result.findings[["row_no", "column", "code"]].itertuples(index=False)]


def message(result: Any, row_no: int, column: str) -> str:
    f = result.findings
    return str(f.loc[(f["row_no"] == row_no) & (f["column"] == column), "message"].item())


@pytest.fixture(scope="module", autouse=True)
def gx_ready() -> None:
    from validations.context import gx_context

    gx_context()


# --------------------------------------------------------------------------- clean lists


def test_clean_ir_frame_passes_with_no_findings() -> None:
    result = gate(ir_frame(n=5))
    assert result.success is True
    assert found(result) == []
    assert list(result.findings.columns) == ["row_no", "column", "code", "message", "value"]
    assert all(e["success"] for e in result.expectations)
    rules = [e["rule"] for e in result.expectations]
    assert len(rules) == len(set(rules))
    assert "domestic:account_code" in rules  # IR only: SHEBA, not a foreign IBAN
    assert {"type", "column", "code", "success", "unexpected_count", "element_count", "seconds"} <= set(
        result.expectations[0])
    assert all(e["seconds"] >= 0 for e in result.expectations)
    assert result.seconds > 0


def test_clean_kr_frame_passes_with_no_findings() -> None:
    result = gate(frame(kr_row(i) for i in range(1, 5)), KR)
    assert result.success is True
    assert found(result) == []
    assert "domestic:account_code" not in {e["rule"] for e in result.expectations}


# --------------------------------------------------------------------------- one rule at a time


def test_missing_values_one_finding_per_empty_cell() -> None:
    result = gate(ir_frame({"row_no": 3, "full_name": None}, {"row_no": 4, "birth_date": None, "gross": None}))
    # row 4: gross empty, so net was computed as <NA> too
    assert found(result) == [
        (3, "full_name", "MISSING_VALUE"),
        (4, "birth_date", "MISSING_VALUE"),
        (4, "gross_amount", "MISSING_VALUE"),
        (4, "net_amount", "MISSING_VALUE"),
    ]
    assert message(result, 3, "full_name") == "full_name is empty"
    assert result.success is False


def test_pension_id_pattern() -> None:
    result = gate(ir_frame({"row_no": 2, "pension_id": "P-0001"}, {"row_no": 5, "pension_id": "A" * 21}))
    assert found(result) == [(2, "pension_id", "INVALID_PENSION_ID"), (5, "pension_id", "INVALID_PENSION_ID")]
    assert message(result, 2, "pension_id") == "pension id 'P-0001' is not 1 to 20 letters or digits"


def test_ir_national_id_pattern_and_check_digit_one_finding_per_row() -> None:
    good = nid("001354241")
    result = gate(ir_frame(
        {"row_no": 2, "national_id": good[:9] + str((int(good[9]) + 1) % 10)},  # check digit
        {"row_no": 3, "national_id": "12345"},  # pattern and check digit: reported once
        {"row_no": 4, "national_id": "1111111111"},  # placeholder, refused by policy
    ))
    assert found(result) == [
        (2, "national_id", "INVALID_NATIONAL_ID"),
        (3, "national_id", "INVALID_NATIONAL_ID"),
        (4, "national_id", "INVALID_NATIONAL_ID"),
    ]
    assert message(result, 2, "national_id") == "national id ******2410: the number's checksum or check digit is invalid"
    assert message(result, 3, "national_id") == "national id ***** is not 10 digits"  # the pattern came first
    assert message(result, 4, "national_id") == (
        "national id ******1111: one of the parts of the number are invalid or unknown")
    by_rule = {e["rule"]: e["unexpected_count"] for e in result.expectations}
    assert by_rule["pattern:national_id"] == 1 and by_rule["check:national_id"] == 3


def test_kr_national_id_structure_not_checksum() -> None:
    result = gate(frame([
        kr_row(1, national_id="9710139019903"),  # wrong old check digit: may be a post-2020 number
        kr_row(2, national_id="9702301234567"),  # 30 February
        kr_row(3, national_id="970230123456"),  # 12 digits
    ]), KR)
    assert found(result) == [(3, "national_id", "INVALID_NATIONAL_ID"), (4, "national_id", "INVALID_NATIONAL_ID")]
    assert message(result, 3, "national_id") == (
        "national id 970230-1******: one of the parts of the number are invalid or unknown")
    assert message(result, 4, "national_id") == "national id ************ is not 13 digits"


def test_ir_account_check_digits_and_foreign_iban() -> None:
    good = sheba("0540102680020817909002")
    result = gate(ir_frame(
        {"row_no": 2, "account_code": good[:-1] + "3"},
        {"row_no": 3, "account_code": "DE89370400440532013000"},  # valid IBAN, not Iranian
        {"row_no": 4, "account_code": "12345"},
    ))
    assert found(result) == [(2, "account_code", "INVALID_ACCOUNT_CODE"), (3, "account_code", "INVALID_ACCOUNT_CODE"),
                             (4, "account_code", "INVALID_ACCOUNT_CODE")]
    assert message(result, 2, "account_code") == (
        "account code IR82******************9003: the number's checksum or check digit is invalid")
    assert message(result, 3, "account_code") == (
        "account code DE89**************3000 is not an Iranian SHEBA (IR and 24 digits): "
        "pensions are paid to IR accounts")
    assert message(result, 4, "account_code") == "account code *****: the number has an invalid format"


def test_kr_account_bank_code() -> None:
    result = gate(frame([kr_row(1, account_code="999110123456789"), kr_row(2)]), KR)
    assert found(result) == [(2, "account_code", "INVALID_ACCOUNT_CODE")]
    assert message(result, 2, "account_code") == (
        "account code 999-********6789: one of the parts of the number are invalid or unknown")


def test_unknown_benefit_type_is_not_also_checked_against_limits() -> None:
    result = gate(ir_frame({"row_no": 3, "benefit_type": "BONUS", "gross": 5, "deduction": 0,
                                    "birth_date": "2020-01-01"}))
    assert found(result) == [(3, "benefit_type", "UNKNOWN_BENEFIT_TYPE")]
    assert message(result, 3, "benefit_type") == (
        "benefit type 'BONUS' is not one of DISABILITY, OLD_AGE, SURVIVOR, SURVIVOR_CHILD")


def test_gross_amount_within_the_limits_of_its_benefit_type() -> None:
    result = gate(ir_frame(
        {"row_no": 2, "gross": 50_000_000},  # OLD_AGE minimum 104,000,000
        {"row_no": 3, "gross": 1_500_000_001, "benefit_type": "DISABILITY"},  # cap 1,500,000,000
        {"row_no": 4, "gross": 20_000_000, "benefit_type": "SURVIVOR_CHILD", "birth_date": "2012-05-05"},  # ok
        {"row_no": 5, "gross": 5_000_000, "benefit_type": "SURVIVOR_CHILD", "birth_date": "2012-05-05"},
        {"row_no": 6, "gross": 104_000_000},  # exactly the minimum
        n=5,
    ))
    assert found(result) == [(2, "gross_amount", "AMOUNT_OUT_OF_RANGE"), (3, "gross_amount", "AMOUNT_OUT_OF_RANGE"),
                             (5, "gross_amount", "AMOUNT_OUT_OF_RANGE")]
    assert message(result, 2, "gross_amount") == (
        "gross_amount 50000000 is below the minimum pension 104000000 for OLD_AGE")
    assert message(result, 3, "gross_amount") == "gross_amount 1500000001 is above the cap 1500000000 for DISABILITY"
    assert message(result, 5, "gross_amount") == (
        "gross_amount 5000000 is below the minimum pension 10000000 for SURVIVOR_CHILD")


def test_signs_and_net_equals_gross_minus_deduction() -> None:
    result = gate(ir_frame(
        {"row_no": 2, "deduction": -1000},  # net = gross + 1000: consistent, but a negative deduction
        {"row_no": 3, "gross": 200_000_000, "deduction": 200_000_000},  # net 0
        {"row_no": 4, "net_amount": 123},  # not gross - deduction
        {"row_no": 5, "gross": 0, "deduction": 0},  # gross 0: not positive (before the range check)
    ))
    assert found(result) == [
        (2, "deduction_amount", "NON_POSITIVE_AMOUNT"),
        (3, "net_amount", "NON_POSITIVE_AMOUNT"),
        (4, "net_amount", "AMOUNT_MISMATCH"),
        (5, "gross_amount", "NON_POSITIVE_AMOUNT"),
        (5, "net_amount", "NON_POSITIVE_AMOUNT"),
    ]
    assert message(result, 2, "deduction_amount") == "deduction_amount -1000 is negative"
    assert message(result, 3, "net_amount") == "net_amount 0 is not positive"
    assert message(result, 4, "net_amount") == (
        "net_amount 123 is not gross_amount 200000003 minus deduction_amount 1000000 = 199000003")


def test_birth_date_plausible_and_age_within_limits() -> None:
    result = gate(ir_frame(
        {"row_no": 2, "birth_date": "2026-12-01"},  # after the end of the period
        {"row_no": 3, "birth_date": "1899-12-31"},
        {"row_no": 4, "birth_date": "2015-03-02"},  # 11 years old, OLD_AGE
        {"row_no": 5, "birth_date": "2000-01-01", "benefit_type": "SURVIVOR_CHILD", "gross": 20_000_000},  # 26
        {"row_no": 6, "birth_date": "1981-11-30"},  # 45 on the last day of the period: ok
        {"row_no": 7, "birth_date": "1981-12-01"},  # 44
        n=6,
    ))
    assert found(result) == [(2, "birth_date", "INVALID_DATE"), (3, "birth_date", "INVALID_DATE"),
                             (4, "birth_date", "AGE_OUT_OF_RANGE"), (5, "birth_date", "AGE_OUT_OF_RANGE"),
                             (7, "birth_date", "AGE_OUT_OF_RANGE")]
    assert message(result, 2, "birth_date") == "birth date 2026-12-01 is after the end of the period 2026-11"
    assert message(result, 3, "birth_date") == "birth date 1899-12-31 is before 1900"
    assert message(result, 4, "birth_date") == (
        "born 2015-03-02: 11 years old at the end of 2026-11; OLD_AGE needs at least 45")
    assert message(result, 5, "birth_date") == (
        "born 2000-01-01: 26 years old at the end of 2026-11; SURVIVOR_CHILD is paid only up to age 19")
    assert message(result, 7, "birth_date") == (
        "born 1981-12-01: 44 years old at the end of 2026-11; OLD_AGE needs at least 45")


def test_kr_age_limits_come_from_the_kr_rules() -> None:
    result = gate(frame([kr_row(1, birth_date="1975-06-01"), kr_row(2, birth_date="1971-11-30")]), KR)
    assert found(result) == [(2, "birth_date", "AGE_OUT_OF_RANGE")]
    assert message(result, 2, "birth_date") == (
        "born 1975-06-01: 51 years old at the end of 2026-11; OLD_AGE needs at least 55")


def test_duplicate_pension_and_national_id_names_the_other_rows() -> None:
    key = {"pension_id": "P00001", "national_id": nid("100000001")}
    result = gate(ir_frame({"row_no": 4, **key, "full_name": "Other"}, {"row_no": 6, **key, "gross": 300_000_000},
                           n=5))
    assert found(result) == [(2, "pension_id", "DUPLICATE_ROW"), (4, "pension_id", "DUPLICATE_ROW"),
                             (6, "pension_id", "DUPLICATE_ROW")]
    assert message(result, 2, "pension_id") == (
        "pension id and national id also appear in row(s) 4, 6 with different values")
    assert message(result, 6, "pension_id") == (
        "pension id and national id also appear in row(s) 2, 4 with different values")


def test_account_shared_by_different_payees() -> None:
    shared = sheba("0540102680020817909002")
    result = gate(ir_frame(
        {"row_no": 3, "account_code": shared},
        {"row_no": 5, "account_code": shared},
        # the same payee twice on one account (two pensions) is not a shared account
        {"row_no": 6, "account_code": sheba("0170000000000000000077"), "national_id": nid("100000099")},
        {"row_no": 7, "account_code": sheba("0170000000000000000077"), "national_id": nid("100000099")},
        n=6,
    ))
    assert found(result) == [(3, "account_code", "ACCOUNT_SHARED"), (5, "account_code", "ACCOUNT_SHARED")]
    assert message(result, 3, "account_code") == (
        "account IR82******************9002 is also given for another payee in row(s) 5")
    assert result.findings["value"].tolist() == ["IR82******************9002"] * 2


def test_one_finding_per_row_and_column_first_expectation_wins() -> None:
    result = gate(ir_frame({"row_no": 2, "national_id": "12AB"}, {"row_no": 3, "account_code": None,
                                                                   "pension_id": None}))
    assert found(result) == [(2, "national_id", "INVALID_NATIONAL_ID"), (3, "account_code", "MISSING_VALUE"),
                             (3, "pension_id", "MISSING_VALUE")]
    assert message(result, 2, "national_id") == "national id **** is not 10 digits"
    assert not result.findings.duplicated(["row_no", "column"]).any()


def test_findings_sorted_by_row_then_column_and_typed() -> None:
    result = gate(ir_frame({"row_no": 5, "full_name": None, "benefit_type": "X"}, {"row_no": 2, "pension_id": "-"}))
    assert found(result) == [(2, "pension_id", "INVALID_PENSION_ID"), (5, "benefit_type", "UNKNOWN_BENEFIT_TYPE"),
                             (5, "full_name", "MISSING_VALUE")]
    assert result.findings["row_no"].dtype == np.int64


def test_row_numbers_are_the_frames_not_positions() -> None:
    df = ir_frame({"row_no": 3, "pension_id": "?"})
    df["row_no"] = [10, 12, 17, 30]  # blank lines and removed duplicates leave gaps
    result = gate(df)
    assert found(result) == [(12, "pension_id", "INVALID_PENSION_ID")]


# --------------------------------------------------------------------------- masking, file level


def test_identifiers_are_masked_in_messages_values_and_the_result() -> None:
    bad_nid = nid("123456789")[:9] + str((int(nid("123456789")[9]) + 1) % 10)
    bad_account = sheba("0170000000000000001234")[:-1] + "5"
    df = ir_frame({"row_no": 2, "national_id": bad_nid}, {"row_no": 3, "account_code": bad_account},
                  {"row_no": 4, "national_id": bad_nid})  # also a duplicate national id, different pension id
    result = gate(df)
    text = " ".join(result.findings["message"]) + " ".join(str(v) for v in result.findings["value"])
    assert bad_nid not in text and bad_account not in text
    assert ir_nid.mask(bad_nid) in text and iban.mask(bad_account) in text
    dumped = json.dumps(result.result)
    for raw in df["national_id"].tolist() + df["account_code"].tolist():
        assert raw not in dumped  # GX lists row numbers only (exclude_unexpected_values)


def test_missing_column_is_a_file_level_finding_and_fails_the_gate() -> None:
    df = ir_frame({"row_no": 3, "pension_id": "??"}).drop(columns="full_name")
    result = gate(df)
    assert found(result) == [(1, "full_name", "MISSING_COLUMNS"), (3, "pension_id", "INVALID_PENSION_ID")]
    assert message(result, 1, "full_name") == "column full_name is missing"
    assert result.success is False and result.file_level is True
    errored = [e for e in result.expectations if "error" in e]
    assert [e["rule"] for e in errored] == ["not_null:full_name"]
    assert all(e["success"] is False for e in errored)


def test_amounts_that_are_not_integers_are_a_file_level_finding() -> None:
    df = ir_frame()
    df["gross_amount"] = df["gross_amount"].astype("float64")
    result = gate(df)
    assert found(result) == [(1, "gross_amount", "WRONG_TYPE")]
    assert message(result, 1, "gross_amount") == "column gross_amount holds float64, not whole numbers of minor units"
    assert result.file_level is True and result.success is False


def test_row_numbers_must_be_unique() -> None:
    df = ir_frame()
    df["row_no"] = 2
    with pytest.raises(ValueError, match="row_no is not unique"):
        gate(df)


# --------------------------------------------------------------------------- result and Data Docs


def test_result_is_json_and_its_lists_are_trimmed_while_findings_keep_every_row() -> None:
    rows = [ir_row(i, pension_id=f"BAD-{i}") for i in range(1, 151)]
    result = gate(frame(rows))
    assert len(result.findings) == 150
    assert set(result.findings["code"]) == {"INVALID_PENSION_ID"}
    dumped = json.loads(json.dumps(result.result))
    [evr] = [r for r in dumped["results"] if r["expectation_config"]["meta"]["rule"] == "pattern:pension_id"]
    assert evr["result"]["unexpected_count"] == 150
    listed = evr["result"]["unexpected_index_list"]
    assert listed == [{"row_no": list(range(2, 102))}]
    assert dumped["success"] is False
    assert dumped["statistics"]["evaluated_expectations"] == len(result.expectations)
    assert dumped["meta"]["country"] == "IR" and dumped["meta"]["period"] == "2026-11"
    assert "104000000.0" not in json.dumps(result.result)  # money bounds stay integers


def test_render_data_docs_writes_one_offline_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from validations.docs import render_data_docs

    monkeypatch.chdir(tmp_path)  # nothing may be written to the current directory
    result = gate(ir_frame({"row_no": 3, "national_id": "12345"}))
    out = tmp_path / "docs" / "gate.html"
    assert render_data_docs(result.result, out, "Branch 12, 2026-11") == out
    page = out.read_text(encoding="utf-8")
    assert "Branch 12, 2026-11" in page
    for e in result.expectations:
        assert e["type"] in page and e["rule"] in page and e["code"] in page
    assert "INVALID_NATIONAL_ID" in page and "Failed" in page
    # nothing to fetch: no external or relative assets, no scripts
    assert not re.findall(r"<(?:script|link|img)\b[^>]*(?:src|href)\s*=", page, flags=re.I)
    assert not re.findall(r"https?://", page)
    assert ["docs"] == sorted(os.listdir(tmp_path))  # no GX folders, no temp file left behind
    assert os.listdir(tmp_path / "docs") == ["gate.html"]


def test_render_data_docs_replaces_the_page_atomically(tmp_path: Path) -> None:
    from validations.docs import render_data_docs

    out = tmp_path / "gate.html"
    out.write_text("old", encoding="utf-8")
    render_data_docs(gate(ir_frame()).result, out, "Branch <b>7</b> & co")
    page = out.read_text(encoding="utf-8")
    assert "Branch &lt;b&gt;7&lt;/b&gt; &amp; co" in page and "<b>7</b>" not in page  # the title is escaped
    assert "Succeeded" in page
    assert os.listdir(tmp_path) == ["gate.html"]


# --------------------------------------------------------------------------- process hygiene


def test_context_is_created_once_and_gx_is_configured() -> None:
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine

    from validations.context import batch_definition, gx_context

    assert gx_context() is gx_context()
    assert batch_definition() is batch_definition()
    assert pandas_engine.HASH_THRESHOLD == 0
    bars = gx_context().variables.progress_bars
    assert bars is not None and bars.globally is False and bars.metric_calculations is False
    assert gx_context().config.analytics_enabled is False


def test_importing_validations_does_not_import_great_expectations() -> None:
    code = ("import sys, validations, validations.suite, validations.docs, validations.findings, "
            "validations.context; print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_suite_meta_names_a_known_code_for_every_expectation() -> None:
    from validations.suite import EXCEPTION_CODES, build_suite

    for country in (IR, KR):
        suite = build_suite(country, PERIOD, benefit_rules(country.code))
        metas = [e.meta for e in suite.expectations]
        assert all({"code", "column", "message", "rule"} <= set(m) for m in metas)
        assert {m["code"] for m in metas} <= set(EXCEPTION_CODES)


# --------------------------------------------------------------------------- many files, one validation


def _comparable(result: Any) -> dict[str, Any]:
    """What a file's verdict is: findings, success, and per expectation its success, counts and listed
    rows (timings, run ids and the batch's own note left out)."""
    per_expectation = []
    for r in json.loads(json.dumps(result.result))["results"]:
        per_expectation.append((r["expectation_config"]["meta"]["rule"], r["success"], r["result"]))
    summaries = [{k: v for k, v in e.items() if k != "seconds"} for e in result.expectations]
    return {"findings": result.findings.to_dict("records"), "success": result.success,
            "file_level": result.file_level, "results": per_expectation, "summaries": summaries,
            "rows": result.result["meta"]["rows"]}


def _mixed_files() -> list[pd.DataFrame]:
    key = {"pension_id": "P00001", "national_id": nid("100000001")}
    shared = sheba("0540102680020817909002")
    return [
        ir_frame(n=5),  # clean
        ir_frame({"row_no": 3, "national_id": "123", "gross": 0}, {"row_no": 4, "benefit_type": "XX"},
                 {"row_no": 5, "pension_id": None, "full_name": None}, {"row_no": 6, "birth_date": "1890-01-01"},
                 {"row_no": 7, "gross": 10, "deduction": 0}, n=7),
        # a duplicate key and a shared account inside this file
        ir_frame({"row_no": 4, **key, "full_name": "Other"}, {"row_no": 5, "account_code": shared},
                 {"row_no": 6, "account_code": shared}, n=6),
        ir_frame(n=3),  # clean, and the same payees as the first file: no duplicate across files
        # the same key as the third file's duplicate, once: clean within this file
        ir_frame({"row_no": 2, **key}, {"row_no": 3, "account_code": shared}, n=2),
    ]


def test_a_batch_gives_each_file_the_verdict_of_the_single_file_gate() -> None:
    from validations.gate import run_gate_many

    files = _mixed_files()
    files[3]["row_no"] = [10, 12, 17]  # gaps in row numbers are kept
    many = run_gate_many(files, IR, PERIOD, benefit_rules("IR"))
    assert len(many) == len(files)
    for df, batched in zip(files, many, strict=True):
        assert _comparable(batched) == _comparable(gate(df))
    assert [r.success for r in many] == [True, False, False, True, True]
    assert found(many[2]) == [(2, "pension_id", "DUPLICATE_ROW"), (4, "pension_id", "DUPLICATE_ROW"),
                              (5, "account_code", "ACCOUNT_SHARED"), (6, "account_code", "ACCOUNT_SHARED")]


def test_a_batch_of_kr_files_and_a_file_of_other_column_types() -> None:
    from validations.gate import run_gate_many

    kr = [frame([kr_row(1), kr_row(2, birth_date="1975-06-01")]), frame([kr_row(1), kr_row(3)])]
    odd = frame([kr_row(1)])
    odd["gross_amount"] = odd["gross_amount"].astype("float64")  # validated in a batch of its own
    many = run_gate_many([*kr, odd], KR, PERIOD, benefit_rules("KR"))
    for df, batched in zip([*kr, odd], many, strict=True):
        assert _comparable(batched) == _comparable(gate(df, KR))
    assert many[2].file_level is True


def test_a_batch_result_renders_its_own_data_docs(tmp_path: Path) -> None:
    from validations.docs import render_data_docs
    from validations.gate import run_gate_many

    many = run_gate_many(_mixed_files()[:2], IR, PERIOD, benefit_rules("IR"))
    page = render_data_docs(many[1].result, tmp_path / "b.html", "Branch 2, 2026-11").read_text(encoding="utf-8")
    assert "INVALID_NATIONAL_ID" in page and "failed" in page


def test_configurations_built_once_change_nothing_but_time() -> None:
    """validations.context.configurations_built_once keeps each expectation's configuration while the gate
    runs: the verdict, findings and GX result are those of GX's own property, which is back afterwards."""
    from great_expectations.expectations.expectation import Expectation

    from validations.context import GX_LOCK
    from validations.gate import _run_gate

    df = ir_frame({"row_no": 3, "national_id": "0013542418"}, {"row_no": 4, "gross_amount": 1},
                  {"row_no": 5, "account_code": "DE89370400440532013000"}, n=6)
    property_before = Expectation.__dict__["configuration"]
    kept = gate(df)
    assert Expectation.__dict__["configuration"] is property_before
    with GX_LOCK:
        rebuilt = _run_gate(df, IR, PERIOD, benefit_rules("IR"))  # without the block: GX's property

    def result(r: Any) -> Any:
        out = json.loads(json.dumps(r.result))
        for k in ("run_id", "validation_time"):
            out["meta"].pop(k)
        return out

    assert found(kept) == found(rebuilt) and len(found(kept)) >= 3
    assert kept.findings.equals(rebuilt.findings)
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in kept.expectations] == \
        [{k: v for k, v in e.items() if k != "seconds"} for e in rebuilt.expectations]
    assert result(kept) == result(rebuilt)
