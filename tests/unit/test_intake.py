"""Unit tests for payroll.intake: bytes in, normalized rows and findings out (no database, no I/O)."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from payroll.benefits import BenefitRule, benefit_rules
from payroll.country import profile
from payroll.identifiers import iban, ir_nid
from payroll.intake import PAYEE_COLUMNS, ROWS_SCHEMA, IntakeResult, read_payee_file
from payroll.period import Period
from validations import run_gate

PERIOD = Period(2026, 11)
IR = profile("IR")
KR = profile("KR")
HEADER = "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,deduction_amount,net_amount,account_code"
AMOUNTS = ("gross_amount", "deduction_amount", "net_amount")

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


# --------------------------------------------------------------------------- helpers


def nid(nine: str) -> str:
    """A valid Iranian national code built from its first nine digits."""
    return nine + ir_nid.calc_check_digit(nine)


def sheba(bban: str) -> str:
    """A valid SHEBA built from its 22-digit BBAN."""
    return "IR" + iban.calc_check_digits("IR", bban) + bban


def payee(i: int = 1, **overrides: str) -> dict[str, str]:
    """A clean payee row; row i has a distinct pension id, national id, account and amount."""
    row = {
        "pension_id": f"P{i:05d}",
        "national_id": nid(f"{100000000 + i:09d}"),
        "full_name": f"Ali Karimi {i}",
        "birth_date": "1955-03-01",
        "benefit_type": "OLD_AGE",
        "gross_amount": str(1_000_000 + i),
        "deduction_amount": "50000",
        "net_amount": str(950_000 + i),
        "account_code": sheba(f"0540{i:018d}"),
    }
    row.update(overrides)
    return row


def csv_bytes(rows: Iterable[Mapping[str, str] | Sequence[str]], header: Sequence[str] | str = HEADER,
              *, bom: bool = False) -> bytes:
    """Render rows as CSV (UTF-8, '\\n' line ends); dict rows follow the header, list rows are raw fields."""
    cols = header.split(",") if isinstance(header, str) else list(header)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols] if isinstance(r, Mapping) else list(r))
    return (b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8")


def parquet_bytes(rows: Sequence[Mapping[str, str]], amount_type: pa.DataType | None = None,
                  **column_arrays: pa.Array) -> bytes:
    amount_type = amount_type or pa.int64()
    arrays = {}
    for c in PAYEE_COLUMNS:
        if c in column_arrays:
            arrays[c] = column_arrays[c]
        elif c in AMOUNTS:
            conv = float if pa.types.is_floating(amount_type) else int
            arrays[c] = pa.array([conv(r[c]) for r in rows], type=amount_type)
        else:
            arrays[c] = pa.array([r[c] for r in rows], type=pa.string())
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue().to_pybytes()


def loose_rules(country: str) -> dict[str, BenefitRule]:
    """The country's benefit types without amount and age limits: these tests are about reading and
    row rules, not about the minimum pension (tests/unit/test_gate.py covers the limits)."""
    return {k: replace(r, min_gross=1, max_gross=10**15, min_age=0, max_age=150)
            for k, r in benefit_rules(country).items()}


def loose_gate(frame, prof, period):  # noqa: ANN001, ANN201
    return run_gate(frame, prof, period, loose_rules(prof.code))


def read(data: bytes, file_name: str = "branch.csv", prof=IR, **kw) -> IntakeResult:  # noqa: ANN001
    return read_payee_file(data, file_name, profile=prof, period=PERIOD, gate=loose_gate, **kw)


def found(result: IntakeResult) -> list[tuple[str, int | None, str | None]]:
    return [(f.code, f.row, f.column) for f in result.row_errors]


# --------------------------------------------------------------------------- a clean file


def test_clean_file_is_accepted_typed_and_numbered_from_row_2() -> None:
    rows = [payee(1), payee(2), payee(3)]
    r = read(csv_bytes(rows))
    assert r.status == "accepted"
    assert (r.rows_read, r.rows_rejected) == (3, 0)
    assert r.row_errors == [] and r.file_errors == [] and r.warnings == []
    assert list(r.accepted.columns) == list(ROWS_SCHEMA.names)
    assert r.accepted["row_no"].tolist() == [2, 3, 4]
    assert r.accepted["row_no"].dtype == np.int32
    for c in AMOUNTS:
        assert r.accepted[c].dtype == np.int64
    assert r.accepted["net_amount"].tolist() == [950_001, 950_002, 950_003]
    assert r.accepted["pension_id"].tolist() == ["P00001", "P00002", "P00003"]
    assert r.accepted["national_id"].tolist() == [p["national_id"] for p in rows]
    assert r.counted_total == 2_850_006
    assert r.accepted_total == 2_850_006
    assert type(r.accepted_total) is int and type(r.counted_total) is int
    table = r.accepted_table()
    assert table.schema.equals(ROWS_SCHEMA)
    assert table.num_rows == 3


# --------------------------------------------------------------------------- each row rule alone

ROW_RULES = [
    pytest.param({"pension_id": "P_001"}, "INVALID_PENSION_ID", "pension_id", id="pension-id-underscore"),
    pytest.param({"pension_id": "P" * 21}, "INVALID_PENSION_ID", "pension_id", id="pension-id-21-chars"),
    pytest.param({"national_id": "1000000020"}, "INVALID_NATIONAL_ID", "national_id", id="nid-bad-check-digit"),
    pytest.param({"national_id": "12345"}, "INVALID_NATIONAL_ID", "national_id", id="nid-5-digits"),
    pytest.param({"national_id": "10000000211"}, "INVALID_NATIONAL_ID", "national_id", id="nid-11-digits"),
    pytest.param({"national_id": "1111111111"}, "INVALID_NATIONAL_ID", "national_id", id="nid-placeholder"),
    pytest.param({"full_name": "\u200c\u200c"}, "MISSING_VALUE", "full_name", id="name-no-letters"),
    pytest.param({"birth_date": "1955-02-30"}, "INVALID_DATE", "birth_date", id="date-feb-30"),
    pytest.param({"birth_date": "1899-12-31"}, "INVALID_DATE", "birth_date", id="date-before-1900"),
    pytest.param({"birth_date": "2026-12-01"}, "INVALID_DATE", "birth_date", id="date-after-period"),
    pytest.param({"birth_date": "01/03/1955"}, "INVALID_DATE", "birth_date", id="date-not-iso"),
    pytest.param({"benefit_type": "PENSION"}, "UNKNOWN_BENEFIT_TYPE", "benefit_type", id="benefit-unknown"),
    pytest.param({"gross_amount": "1,25,0000", "deduction_amount": "0", "net_amount": "1250000"},
                 "INVALID_AMOUNT", "gross_amount", id="amount-separators-not-in-threes"),
    pytest.param({"gross_amount": "12.5", "deduction_amount": "0", "net_amount": "12"},
                 "INVALID_AMOUNT", "gross_amount", id="amount-decimal"),
    pytest.param({"gross_amount": "1e6", "deduction_amount": "0", "net_amount": "1000000"},
                 "INVALID_AMOUNT", "gross_amount", id="amount-exponent"),
    pytest.param({"net_amount": "+950001"}, "INVALID_AMOUNT", "net_amount", id="amount-plus-sign"),
    pytest.param({"gross_amount": "1" * 16, "deduction_amount": "0", "net_amount": "1" * 15},
                 "INVALID_AMOUNT", "gross_amount", id="amount-16-digits"),
    pytest.param({"gross_amount": "100", "deduction_amount": "100", "net_amount": "0"},
                 "NON_POSITIVE_AMOUNT", "net_amount", id="net-zero"),
    pytest.param({"gross_amount": "1000", "deduction_amount": "-5", "net_amount": "1005"},
                 "NON_POSITIVE_AMOUNT", "deduction_amount", id="deduction-negative"),
    pytest.param({"gross_amount": "1000", "deduction_amount": "5", "net_amount": "990"},
                 "AMOUNT_MISMATCH", "net_amount", id="net-not-gross-minus-deduction"),
    pytest.param({"account_code": "IR000540000000000000000002"}, "INVALID_ACCOUNT_CODE", "account_code",
                 id="sheba-bad-check-digits"),
    pytest.param({"account_code": "IR12054000000000000000002"}, "INVALID_ACCOUNT_CODE", "account_code",
                 id="sheba-25-chars"),
    pytest.param({"account_code": "not-an-iban"}, "INVALID_ACCOUNT_CODE", "account_code", id="account-garbage"),
]


@pytest.mark.parametrize(("overrides", "code", "column"), ROW_RULES)
def test_each_row_rule_fires_alone(overrides: dict[str, str], code: str, column: str) -> None:
    r = read(csv_bytes([payee(1), payee(2, **overrides), payee(3)]))
    assert r.status == "accepted"
    assert found(r) == [(code, 3, column)]
    assert r.rows_read == 3 and r.rows_rejected == 1
    assert r.accepted["row_no"].tolist() == [2, 4]
    f = r.row_errors[0]
    assert f.pension_id == (payee(2, **overrides)["pension_id"])
    assert f.message


@pytest.mark.parametrize("column", PAYEE_COLUMNS)
def test_missing_value_in_each_column(column: str) -> None:
    r = read(csv_bytes([payee(1), payee(2, **{column: "  "})]))
    assert found(r) == [("MISSING_VALUE", 3, column)]
    assert r.row_errors[0].message == f"{column} is empty"
    assert r.rows_rejected == 1
    assert r.accepted["row_no"].tolist() == [2]


def test_messages_name_the_offending_value() -> None:
    r = read(csv_bytes([payee(1, benefit_type="PENSION"), payee(2, gross_amount="12.5", net_amount="12",
                                                                   deduction_amount="0")]))
    assert [f.message for f in r.row_errors] == [
        "benefit type 'PENSION' is not one of DISABILITY, OLD_AGE, SURVIVOR, SURVIVOR_CHILD",
        "gross_amount '12.5' has decimals; IRR has no minor unit, so amounts are whole IRR (nothing is rounded: "
        "correct the amount in the branch system)",
    ]


def test_national_id_messages_are_masked_and_say_why() -> None:
    r = read(csv_bytes([payee(1, national_id="1000000020"), payee(2, national_id="12345")]))
    assert [f.message for f in r.row_errors] == [
        "national id ******0020: the number's checksum or check digit is invalid",
        "national id ***** is not 10 digits",
    ]


def test_birth_date_boundaries_are_accepted() -> None:
    r = read(csv_bytes([payee(1, birth_date="1900-01-01"), payee(2, birth_date="2026-11-30")]))
    assert found(r) == []
    assert r.accepted["birth_date"].tolist() == ["1900-01-01", "2026-11-30"]


def test_lower_case_benefit_type_is_accepted_upper_cased() -> None:
    r = read(csv_bytes([payee(1, benefit_type="old_age"), payee(2, benefit_type=" Survivor ")]))
    assert found(r) == []
    assert r.accepted["benefit_type"].tolist() == ["OLD_AGE", "SURVIVOR"]


def test_row_with_two_problems_reports_both_and_counts_once() -> None:
    r = read(csv_bytes([payee(1), payee(2, pension_id="P-#1", account_code="IR000540000000000000000002")]))
    assert found(r) == [("INVALID_PENSION_ID", 3, "pension_id"), ("INVALID_ACCOUNT_CODE", 3, "account_code")]
    assert r.rows_rejected == 1
    assert r.accepted["row_no"].tolist() == [2]


def test_non_positive_gross_and_net_both_reported() -> None:
    r = read(csv_bytes([payee(1, gross_amount="-100", deduction_amount="0", net_amount="-100")]))
    assert found(r) == [("NON_POSITIVE_AMOUNT", 2, "gross_amount"), ("NON_POSITIVE_AMOUNT", 2, "net_amount")]
    assert r.rows_rejected == 1


def test_a_blank_line_is_ignored_with_a_warning_and_rows_keep_their_numbers() -> None:
    data = csv_bytes([payee(1)]) + b"\n" + csv_bytes([payee(2)]).split(b"\n", 1)[1]
    r = read(data)
    assert r.rows_read == 2 and r.row_errors == []
    assert [(w.code, w.message) for w in r.warnings] == [("BLANK_ROWS", "branch.csv: 1 empty row(s) ignored (row 3)")]
    assert r.accepted["row_no"].tolist() == [2, 4]


def test_a_row_error_after_a_blank_line_names_the_row_as_the_file_numbers_it() -> None:
    bad = payee(2)
    bad["benefit_type"] = "WIDOW"
    data = csv_bytes([payee(1)]) + b"\n\n" + csv_bytes([bad]).split(b"\n", 1)[1]
    assert found(read(data)) == [("UNKNOWN_BENEFIT_TYPE", 5, "benefit_type")]


# --------------------------------------------------------------------------- duplicates in the file


def test_exact_copy_rejects_only_the_later_row() -> None:
    r = read(csv_bytes([payee(1), payee(2), payee(1)]))
    assert found(r) == [("DUPLICATE_ROW", 4, "pension_id")]
    assert r.row_errors[0].message == "exact copy of row 2"
    assert r.accepted["row_no"].tolist() == [2, 3]
    assert r.rows_rejected == 1


def test_copy_that_differs_only_in_id_spelling_is_an_exact_copy() -> None:
    """Duplicates are judged after normalization: a 9-digit id equals its padded form."""
    p = payee(1, national_id=nid("012345678"))
    r = read(csv_bytes([p, payee(1, national_id=p["national_id"][1:])]))
    assert found(r) == [("DUPLICATE_ROW", 3, "pension_id")]
    assert r.row_errors[0].message == "exact copy of row 2"


def test_same_key_different_content_rejects_every_occurrence() -> None:
    r = read(csv_bytes([payee(1), payee(2), payee(1, full_name="Someone Else"), payee(1)]))
    assert found(r) == [("DUPLICATE_ROW", 2, "pension_id"), ("DUPLICATE_ROW", 4, "pension_id"),
                        ("DUPLICATE_ROW", 5, "pension_id")]
    assert [f.message for f in r.row_errors] == [  # row 5 is an exact copy of row 2: dropped before the gate
        "pension id and national id also appear in row(s) 4 with different values",
        "pension id and national id also appear in row(s) 2 with different values",
        "exact copy of row 2",
    ]
    assert r.accepted["row_no"].tolist() == [3]
    assert r.rows_rejected == 3


def test_same_pension_id_with_other_national_id_is_not_a_duplicate() -> None:
    r = read(csv_bytes([payee(1), payee(2, pension_id="P00001")]))
    assert found(r) == []
    assert len(r.accepted) == 2


# --------------------------------------------------------------------------- normalization


def test_persian_and_arabic_indic_digits_are_normalized() -> None:
    code = nid("001354241")
    rows = [
        payee(1, national_id=code.translate(PERSIAN), gross_amount="1000000".translate(ARABIC_INDIC),
              deduction_amount="50000".translate(PERSIAN), net_amount="950000".translate(ARABIC_INDIC)),
        payee(2, national_id=nid("100000002").translate(ARABIC_INDIC), birth_date="۱۹۵۵-۰۱-۰۱"),
    ]
    r = read(csv_bytes(rows))
    assert found(r) == []
    assert r.accepted["national_id"].tolist() == [code, nid("100000002")]
    assert r.accepted.loc[0, ["gross_amount", "deduction_amount", "net_amount"]].tolist() == [1_000_000, 50_000,
                                                                                              950_000]
    assert r.accepted.loc[1, "birth_date"] == "1955-01-01"
    assert r.accepted_total == 950_000 + 950_002


def test_nine_digit_national_id_is_left_padded() -> None:
    code = nid("012345678")  # leading zero dropped by a spreadsheet
    r = read(csv_bytes([payee(1, national_id=code[1:]), payee(2, national_id="۰" + code[1:].translate(PERSIAN))]))
    assert found(r) == []
    assert r.accepted["national_id"].tolist() == [code, code]


def test_national_id_with_dashes_and_spaces_is_compacted() -> None:
    code = nid("001354241")
    r = read(csv_bytes([payee(1, national_id=f"{code[:3]}-{code[3:9]}-{code[9]}"),
                        payee(2, national_id=f" {code[:5]} {code[5:]} ")]))
    assert found(r) == []
    assert r.accepted["national_id"].tolist() == [code, code]


def test_spaced_lower_case_sheba_is_compacted() -> None:
    acct = sheba("0540102680020817909002")
    spaced = " ".join(acct[i:i + 4] for i in range(0, len(acct), 4)).lower()
    r = read(csv_bytes([payee(1, account_code=spaced)]))
    assert found(r) == []
    assert r.accepted["account_code"].tolist() == [acct]


def test_arabic_yeh_and_kaf_names_become_persian() -> None:
    r = read(csv_bytes([payee(1, full_name="علي  كريمي"), payee(2, full_name="محمد\u200cرضا")]))
    assert found(r) == []
    assert r.accepted["full_name"].tolist() == ["علی کریمی", "محمد رضا"]


def test_utf8_bom_file_is_read() -> None:
    r = read(csv_bytes([payee(1), payee(2)], bom=True))
    assert r.status == "accepted"
    assert r.warnings == []
    assert r.accepted["pension_id"].tolist() == ["P00001", "P00002"]


def test_header_with_spaces_and_any_column_order_is_read() -> None:
    cols = list(PAYEE_COLUMNS)[::-1]
    data = (" , ".join(cols) + "\n" + ",".join(payee(1)[c] for c in cols) + "\n").encode()
    r = read(data)
    assert r.status == "accepted" and found(r) == []
    assert r.accepted.loc[0, "pension_id"] == "P00001"
    assert r.accepted.loc[0, "net_amount"] == 950_001


# --------------------------------------------------------------------------- whole-file refusals


def _parquet_float_amounts() -> bytes:
    return parquet_bytes([payee(1)], amount_type=pa.float64())


FILE_REFUSALS = [
    pytest.param(b"", "branch.csv", "EMPTY_FILE", None, None, "the file is empty", id="empty-bytes"),
    pytest.param(b" \n\n", "branch.csv", "EMPTY_FILE", None, None, "the file is empty", id="whitespace-only"),
    pytest.param(HEADER.encode() + b"\n", "branch.csv", "NO_ROWS", None, None, "header but no payee rows",
                 id="header-only"),
    pytest.param(HEADER.encode(), "branch.csv", "NO_ROWS", None, None, "header but no payee rows",
                 id="header-only-no-newline"),
    pytest.param(csv_bytes([payee(1)], header=HEADER.replace(",account_code", "")), "branch.csv",
                 "MISSING_COLUMNS", 1, "account_code", "no column for account_code (account_code / شماره شبا / 계좌번호)", id="missing-column"),
    pytest.param(csv_bytes([payee(1)]) + "P2,x,\u00e9".encode("latin-1") + b"\n", "branch.csv", "ENCODING", 3,
                 "full_name", "(row 3, column full_name)", id="latin-1"),
    pytest.param(csv_bytes([payee(1)]) + b"P2,\x00\n", "branch.csv", "FILE_MALFORMED", 3, None,
                 "NUL byte at row 3", id="nul-byte"),
    pytest.param(csv_bytes([payee(1), [*payee(2).values(), "extra"]]), "branch.csv", "FILE_MALFORMED", 3, None,
                 "row 3 has 10 fields but the header has 9", id="extra-field"),
    pytest.param(csv_bytes([payee(1)]), "branch.xlsx", "FILE_MALFORMED", None, None, "not a readable XLSX workbook",
                 id="xlsx-extension-not-a-workbook"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "branch.xls", "UNSUPPORTED_FORMAT", None, None,
                 "old binary Excel (.xls) is not accepted", id="xls-binary"),
    pytest.param(csv_bytes([payee(1)]), "branch.pdf", "UNSUPPORTED_FORMAT", None, None, "unsupported file type",
                 id="pdf-extension"),
    pytest.param(_parquet_float_amounts(), "branch.parquet", "INVALID_AMOUNT", None, "gross_amount",
                 "column gross_amount holds floating-point numbers", id="parquet-float-amounts"),
    pytest.param(b"not parquet", "branch.parquet", "FILE_MALFORMED", None, None, "not a readable Parquet file",
                 id="parquet-garbage"),
]


@pytest.mark.parametrize(("data", "name", "code", "row", "column", "text"), FILE_REFUSALS)
def test_file_level_refusal(data: bytes, name: str, code: str, row: int | None, column: str | None,
                            text: str) -> None:
    r = read(data, name)
    assert r.status == "rejected"
    assert [(f.code, f.row, f.column) for f in r.file_errors] == [(code, row, column)]
    assert text in r.file_errors[0].message
    assert r.file_errors[0].message.startswith(name)
    assert len(r.accepted) == 0
    assert list(r.accepted.columns) == list(ROWS_SCHEMA.names)
    assert r.accepted_total == 0
    assert r.rows_read == 0
    assert r.counted_total is None


def test_parquet_content_is_detected_whatever_the_name() -> None:
    r = read(parquet_bytes([payee(1)]), "branch.csv")
    assert r.status == "accepted"
    assert r.accepted["net_amount"].tolist() == [950_001]


def test_duplicate_header_column_refuses_the_file() -> None:
    data = csv_bytes([[*payee(1).values(), "Someone Else"]], header=HEADER + ",full_name")
    r = read(data)
    assert r.status == "rejected"
    assert [(f.code, f.row) for f in r.file_errors] == [("DUPLICATE_COLUMN", 1)]
    assert "full_name" in r.file_errors[0].message


def test_parquet_duplicate_column_is_refused() -> None:
    names = [*PAYEE_COLUMNS, "full_name"]
    p = payee(1)
    arrays = [pa.array([int(p[c])]) if c in AMOUNTS else pa.array([p[c]]) for c in PAYEE_COLUMNS]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_arrays([*arrays, pa.array(["Other"])], names=names), sink)
    r = read(sink.getvalue().to_pybytes(), "branch.parquet")
    assert r.status == "rejected"
    assert len(r.file_errors) == 1
    assert len(r.accepted) == 0


# --------------------------------------------------------------------------- declared count and total


def _mixed_rows() -> list[dict[str, str]]:
    return [
        payee(1),                                                   # accepted, net 950_001
        payee(2, account_code="IR000540000000000000000002"),        # rejected, net 950_002 readable
        payee(3, net_amount="12.5"),                                # rejected, net unreadable
        payee(4, net_amount="900000"),                              # AMOUNT_MISMATCH, net 900_000 readable
    ]


def test_counted_total_sums_every_readable_net_amount() -> None:
    r = read(csv_bytes(_mixed_rows()))
    assert r.status == "accepted"
    assert r.counted_total == 950_001 + 950_002 + 900_000
    assert r.accepted_total == 950_001
    assert r.accepted_total == int(r.accepted["net_amount"].sum())
    assert found(r) == [("INVALID_ACCOUNT_CODE", 3, "account_code"), ("INVALID_AMOUNT", 4, "net_amount"),
                        ("AMOUNT_MISMATCH", 5, "net_amount")]
    assert r.rows_rejected == 3


def test_declared_count_and_total_that_agree_accept_the_file() -> None:
    r = read(csv_bytes(_mixed_rows()), declared_count=4, declared_total=2_800_003)
    assert r.status == "accepted"
    assert r.file_errors == []
    assert r.accepted["row_no"].tolist() == [2]


def test_declared_count_mismatch_rejects_the_whole_file() -> None:
    r = read(csv_bytes(_mixed_rows()), declared_count=5, declared_total=2_800_003)
    assert r.status == "rejected"
    assert [(f.code, f.row) for f in r.file_errors] == [("DECLARED_COUNT_MISMATCH", None)]
    assert r.file_errors[0].message == "branch.csv: declared 5 rows but the file has 4"
    assert len(r.accepted) == 0
    assert r.rows_read == 4
    assert r.counted_total == 2_800_003
    assert len(r.row_errors) == 3  # row findings are still reported


def test_declared_total_mismatch_rejects_the_whole_file() -> None:
    r = read(csv_bytes(_mixed_rows()), declared_count=4, declared_total=3_750_004)
    assert r.status == "rejected"
    assert [f.code for f in r.file_errors] == ["DECLARED_TOTAL_MISMATCH"]
    assert r.file_errors[0].message == ("branch.csv: declared total 3750004 but the net amounts add up to "
                                        "2800003 (1 row(s) have no readable net_amount)")
    assert r.counted_total == 2_800_003
    assert len(r.accepted) == 0


def test_both_declarations_wrong_give_two_file_errors() -> None:
    r = read(csv_bytes([payee(1)]), declared_count=2, declared_total=1)
    assert [f.code for f in r.file_errors] == ["DECLARED_COUNT_MISMATCH", "DECLARED_TOTAL_MISMATCH"]
    assert r.file_errors[1].message == "branch.csv: declared total 1 but the net amounts add up to 950001"


def test_unknown_extra_column_warns_but_accepts() -> None:
    rows = [{**payee(1), "remarks": "x"}, {**payee(2), "remarks": "y"}]
    r = read(csv_bytes(rows, header=HEADER + ",remarks"))
    assert r.status == "accepted"
    assert [(f.code, f.row, f.column) for f in r.warnings] == [("UNKNOWN_COLUMN", 1, "remarks")]
    assert "'remarks'" in r.warnings[0].message
    assert "remarks" not in r.accepted.columns
    assert len(r.accepted) == 2


# --------------------------------------------------------------------------- Parquet


def test_parquet_with_int64_amounts_is_accepted() -> None:
    r = read(parquet_bytes([payee(1), payee(2, benefit_type="disability")]), "branch.parquet")
    assert r.status == "accepted"
    assert found(r) == []
    assert r.accepted["row_no"].tolist() == [2, 3]
    assert r.accepted["net_amount"].dtype == np.int64
    assert r.accepted["net_amount"].tolist() == [950_001, 950_002]
    assert r.accepted["benefit_type"].tolist() == ["OLD_AGE", "DISABILITY"]
    assert r.accepted_total == 1_900_003


def test_parquet_null_text_is_a_missing_value() -> None:
    r = read(parquet_bytes([payee(1), payee(2)], full_name=pa.array(["Ali", None])), "branch.parquet")
    assert found(r) == [("MISSING_VALUE", 3, "full_name")]
    assert r.accepted["row_no"].tolist() == [2]


def test_parquet_null_amount_rejects_only_its_own_row() -> None:
    rows = [payee(1), payee(2)]
    r = read(parquet_bytes(rows, net_amount=pa.array([950_001, None], type=pa.int64())), "branch.parquet")
    assert found(r) == [("MISSING_VALUE", 3, "net_amount")]
    assert r.accepted["row_no"].tolist() == [2]
    assert r.counted_total == 950_001


def test_parquet_timestamp_birth_date_is_read_as_iso_text() -> None:
    r = read(parquet_bytes([payee(1)], birth_date=pa.array([datetime.datetime(1955, 3, 1)])), "branch.parquet")
    assert found(r) == []
    assert r.accepted["birth_date"].tolist() == ["1955-03-01"]


def test_parquet_date32_birth_date_is_read_as_iso_text() -> None:
    r = read(parquet_bytes([payee(1)], birth_date=pa.array([datetime.date(1955, 3, 1)])), "branch.parquet")
    assert found(r) == []
    assert r.accepted["birth_date"].tolist() == ["1955-03-01"]


# --------------------------------------------------------------------------- Korea


def test_korean_profile_accepts_rrn_and_bank_account() -> None:
    rows = [payee(1, national_id="550301-1234567", account_code="088-110123456789"),
            payee(2, national_id="5503011234568", account_code="999-110123456789")]
    r = read(csv_bytes(rows), prof=KR)
    assert found(r) == [("INVALID_ACCOUNT_CODE", 3, "account_code")]
    assert r.accepted["national_id"].tolist() == ["5503011234567"]
    assert r.accepted["account_code"].tolist() == ["088110123456789"]


def test_korean_profile_refuses_iranian_id_and_impossible_birth_date() -> None:
    rows = [payee(1, account_code="088-110123456789"),  # a 10-digit Iranian code is not an RRN
            payee(2, national_id="550231-1234567", account_code="088-110123456780")]
    r = read(csv_bytes(rows), prof=KR)
    assert found(r) == [("INVALID_NATIONAL_ID", 2, "national_id"), ("INVALID_NATIONAL_ID", 3, "national_id")]
