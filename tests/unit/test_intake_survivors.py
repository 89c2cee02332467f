"""Unit tests for the survivor columns of a payee list: insured_id and share_percent.

A survivor (benefit type SURVIVOR or SURVIVOR_CHILD) shares the pension of a deceased insured person;
the file names that person (insured_id, a national id) and the survivor's share in percent, read
exactly into basis points (share_bp). Both columns are optional: files without them read as before.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from payroll.intake import PAYEE_COLUMNS, ROWS_SCHEMA
from tests.unit.test_intake import HEADER, IR, KR, PERIOD, PERSIAN, csv_bytes, found, nid, payee, read

SURVIVOR_HEADER = HEADER + ",insured_id,share_percent"
DEAD = nid("300000001")  # the deceased insured person: 3000000011
DEAD_KR = "4501011234567"  # an RRN of someone born 1945-01-01


def survivor(i: int, share: str = "50", insured: str = DEAD, benefit: str = "SURVIVOR", **kw: str) -> dict[str, str]:
    return payee(i, benefit_type=benefit, insured_id=insured, share_percent=share, **kw)


# --------------------------------------------------------------------------- shares read exactly

EXACT_SHARES = [
    ("50", 5000), ("33.33", 3333), ("12.5", 1250), ("50%", 5000), ("۵۰٪", 5000), ("٣٣٫٣٣", 3333),
    ("100", 10000), ("100.00", 10000), ("0.01", 1), ("25 %", 2500), (" 66.67 ", 6667), ("۱۲.۵%", 1250),
]


def test_shares_are_read_exactly_into_basis_points() -> None:
    rows = [survivor(i, share) for i, (share, _) in enumerate(EXACT_SHARES, start=1)]
    r = read(csv_bytes(rows, SURVIVOR_HEADER))
    assert r.status == "accepted"
    assert r.row_errors == [] and r.file_errors == []
    assert list(r.accepted.columns) == list(ROWS_SCHEMA.names)
    assert r.accepted["share_bp"].tolist() == [bp for _, bp in EXACT_SHARES]
    assert str(r.accepted["share_bp"].dtype) == "Int32"
    assert r.accepted["insured_id"].tolist() == [DEAD] * len(EXACT_SHARES)
    table = r.accepted_table()
    assert table.schema.equals(ROWS_SCHEMA)
    assert table.column("share_bp").to_pylist() == [bp for _, bp in EXACT_SHARES]
    assert table.column("share_bp").type == pa.int32()


def test_survivor_child_and_other_benefits_in_one_file() -> None:
    rows = [survivor(1, "50"), survivor(2, "25", benefit="SURVIVOR_CHILD"), payee(3),
            payee(4, benefit_type="DISABILITY", insured_id="", share_percent="")]
    r = read(csv_bytes(rows, SURVIVOR_HEADER))
    assert r.row_errors == []
    assert r.accepted["row_no"].tolist() == [2, 3, 4, 5]
    assert r.accepted["insured_id"].tolist()[:2] == [DEAD, DEAD]
    assert r.accepted["insured_id"].isna().tolist() == [False, False, True, True]
    assert r.accepted["share_bp"].tolist()[:2] == [5000, 2500]
    assert r.accepted["share_bp"].isna().tolist() == [False, False, True, True]
    assert r.accepted_table().column("insured_id").to_pylist() == [DEAD, DEAD, None, None]


def test_insured_id_is_normalized_like_a_national_id() -> None:
    written = ["۳۰۰-۰۰۰۰۰۱-۱", "300 000001 1", nid("013542410")[1:]]  # Persian digits, spaces, dropped zero
    rows = [survivor(i, "20", insured=w) for i, w in enumerate(written, start=1)]
    r = read(csv_bytes(rows, SURVIVOR_HEADER))
    assert r.row_errors == []
    assert r.accepted["insured_id"].tolist() == [DEAD, DEAD, nid("013542410")]


# --------------------------------------------------------------------------- bad shares

BAD_SHARES = [
    pytest.param("0", "is not a share of a pension", id="zero"),
    pytest.param("100.5", "is not a share of a pension", id="over-100"),
    pytest.param("100.01", "is not a share of a pension", id="just-over-100"),
    pytest.param("12.345", "has more than 2 decimals", id="three-decimals"),
    pytest.param("abc", "is not a percentage", id="text"),
    pytest.param("-5", "is not a share of a pension", id="negative"),
    pytest.param("50.", "is not a percentage", id="dangling-point"),
    pytest.param("33,33", "is not a percentage", id="comma-decimal"),
    pytest.param("%", "is not a percentage", id="sign-only"),
    pytest.param("1/2", "is not a percentage", id="fraction"),
]


@pytest.mark.parametrize(("share", "says"), BAD_SHARES)
def test_a_bad_share_is_refused_naming_row_and_column(share: str, says: str) -> None:
    r = read(csv_bytes([survivor(1, "50"), survivor(2, share), survivor(3, "25")], SURVIVOR_HEADER))
    assert found(r) == [("INVALID_SHARE", 3, "share_percent")]
    assert f"share_percent '{share}' {says}" in r.row_errors[0].message
    assert r.row_errors[0].pension_id == "P00002"
    assert r.status == "accepted"
    assert r.accepted["row_no"].tolist() == [2, 4]
    assert r.accepted["share_bp"].tolist() == [5000, 2500]


def test_every_bad_share_in_one_file_is_reported_on_its_own_row() -> None:
    shares = ["0", "100.5", "12.345", "abc", "-5", "33.33"]
    r = read(csv_bytes([survivor(i, s) for i, s in enumerate(shares, start=1)], SURVIVOR_HEADER))
    assert found(r) == [("INVALID_SHARE", row, "share_percent") for row in (2, 3, 4, 5, 6)]
    assert r.rows_rejected == 5
    assert r.accepted["row_no"].tolist() == [7]
    assert r.accepted["share_bp"].tolist() == [3333]


# --------------------------------------------------------------------------- survivor rows need both fields


def test_survivor_row_without_insured_id_is_a_missing_value() -> None:
    r = read(csv_bytes([survivor(1, "50", insured=""), survivor(2)], SURVIVOR_HEADER))
    assert found(r) == [("MISSING_VALUE", 2, "insured_id")]
    assert r.row_errors[0].message.startswith("insured_id is empty; a survivor benefit (SURVIVOR)")
    assert r.accepted["row_no"].tolist() == [3]


def test_survivor_child_row_without_share_is_a_missing_value() -> None:
    r = read(csv_bytes([survivor(1), survivor(2, "", benefit="SURVIVOR_CHILD")], SURVIVOR_HEADER))
    assert found(r) == [("MISSING_VALUE", 3, "share_percent")]
    assert "SURVIVOR_CHILD" in r.row_errors[0].message
    assert r.accepted["row_no"].tolist() == [2]


def test_survivor_row_without_either_field_names_both_columns() -> None:
    r = read(csv_bytes([survivor(1, "", insured="")], SURVIVOR_HEADER))
    assert found(r) == [("MISSING_VALUE", 2, "insured_id"), ("MISSING_VALUE", 2, "share_percent")]
    assert r.rows_rejected == 1 and len(r.accepted) == 0


def test_survivor_row_in_a_file_without_the_columns_is_accepted_as_before() -> None:
    r = read(csv_bytes([payee(1, benefit_type="SURVIVOR"), payee(2)]))
    assert r.row_errors == [] and r.file_errors == []
    assert r.accepted["insured_id"].isna().all() and r.accepted["share_bp"].isna().all()


# --------------------------------------------------------------------------- other benefits must leave them empty


@pytest.mark.parametrize(("insured", "share", "columns"), [
    pytest.param(DEAD, "50", ["insured_id", "share_percent"], id="both"),
    pytest.param(DEAD, "", ["insured_id"], id="insured-only"),
    pytest.param("", "50", ["share_percent"], id="share-only"),
    pytest.param("", "abc", ["share_percent"], id="bad-share-only-said-once"),
    pytest.param("123", "", ["insured_id"], id="bad-insured-only-said-once"),
])
def test_survivor_fields_on_an_old_age_row_are_refused(insured: str, share: str, columns: list[str]) -> None:
    r = read(csv_bytes([payee(1, insured_id=insured, share_percent=share), survivor(2)], SURVIVOR_HEADER))
    assert found(r) == [("SURVIVOR_FIELDS_ON_OTHER_BENEFIT", 2, c) for c in columns]
    assert all("benefit type OLD_AGE is not a survivor benefit" in f.message for f in r.row_errors)
    assert r.accepted["row_no"].tolist() == [3]


def test_survivor_fields_on_a_disability_row_are_refused() -> None:
    r = read(csv_bytes([payee(1, benefit_type="DISABILITY", insured_id=DEAD, share_percent="50")],
                       SURVIVOR_HEADER))
    assert found(r) == [("SURVIVOR_FIELDS_ON_OTHER_BENEFIT", 2, "insured_id"),
                        ("SURVIVOR_FIELDS_ON_OTHER_BENEFIT", 2, "share_percent")]


def test_unknown_benefit_type_is_reported_once_not_as_a_non_survivor() -> None:
    r = read(csv_bytes([survivor(1, benefit="SURVIVER")], SURVIVOR_HEADER))
    assert found(r) == [("UNKNOWN_BENEFIT_TYPE", 2, "benefit_type")]


# --------------------------------------------------------------------------- the insured id


def test_insured_id_with_a_wrong_check_digit_is_an_invalid_national_id() -> None:
    wrong = DEAD[:-1] + str((int(DEAD[-1]) + 1) % 10)
    r = read(csv_bytes([survivor(1, insured=wrong), survivor(2)], SURVIVOR_HEADER))
    assert found(r) == [("INVALID_NATIONAL_ID", 2, "insured_id")]
    message = r.row_errors[0].message
    assert message == f"insured_id ******{wrong[-4:]}: the number's checksum or check digit is invalid"
    assert wrong not in message  # masked like a national id
    assert r.accepted["row_no"].tolist() == [3]


@pytest.mark.parametrize("insured", ["12345", "30000000112", "1111111111", "30000A0011"])
def test_malformed_insured_id_is_an_invalid_national_id(insured: str) -> None:
    r = read(csv_bytes([survivor(1, insured=insured)], SURVIVOR_HEADER))
    assert found(r) == [("INVALID_NATIONAL_ID", 2, "insured_id")]
    assert r.row_errors[0].message.startswith("insured_id ")


def test_survivor_naming_themself_as_the_insured_person_is_refused() -> None:
    own = payee(1)["national_id"]
    written = f"{own[:3]}-{own[3:9]}-{own[9]}".translate(PERSIAN)  # the same id, written otherwise
    r = read(csv_bytes([survivor(1, insured=written), survivor(2)], SURVIVOR_HEADER))
    assert found(r) == [("INVALID_NATIONAL_ID", 2, "insured_id")]
    assert "insured_id is the payee's own national id" in r.row_errors[0].message
    assert r.accepted["row_no"].tolist() == [3]


def test_findings_on_one_row_follow_the_column_order() -> None:
    row = survivor(1, "abc", insured="123", pension_id="P_1")
    r = read(csv_bytes([row], SURVIVOR_HEADER))
    assert found(r) == [("INVALID_PENSION_ID", 2, "pension_id"), ("INVALID_NATIONAL_ID", 2, "insured_id"),
                        ("INVALID_SHARE", 2, "share_percent")]


# --------------------------------------------------------------------------- branch system headers, formats

IR_LEGACY = ["شماره مستمری", "کد ملی", "نام و نام خانوادگی", "تاریخ تولد", "نوع مستمری", "مبلغ ناخالص", "کسورات",
             "خالص پرداختی", "شماره شبا", "کد ملی بیمه شده", "سهم (درصد)"]
KR_LEGACY = ["연금번호", "주민등록번호", "성명", "생년월일", "급여종류", "지급총액", "공제액", "실지급액", "계좌번호",
             "피보험자 주민등록번호", "지급률(%)"]
FIELDS = [*PAYEE_COLUMNS, "insured_id", "share_percent"]


@pytest.mark.parametrize("system", ["ir-legacy", None])
def test_ir_legacy_headers_name_the_survivor_columns(system: str | None) -> None:
    rows = [survivor(1, "۳۳٫۳۳٪", insured=DEAD.translate(PERSIAN), benefit="بازماندگان"),
            survivor(2, "۶۶٫۶۷", benefit="فرزند بازمانده"),
            survivor(3, "۱۰۰", insured="", benefit="بازماندگان")]
    r = read(csv_bytes([[row[f] for f in FIELDS] for row in rows], IR_LEGACY), system=system)
    assert r.file_errors == [] and r.warnings == []
    assert r.source["columns"]["کد ملی بیمه شده"] == "insured_id"
    assert r.source["columns"]["سهم (درصد)"] == "share_percent"
    assert found(r) == [("MISSING_VALUE", 4, "insured_id")]
    assert r.accepted["benefit_type"].tolist() == ["SURVIVOR", "SURVIVOR_CHILD"]
    assert r.accepted["insured_id"].tolist() == [DEAD, DEAD]
    assert r.accepted["share_bp"].tolist() == [3333, 6667]


def test_kr_legacy_headers_name_the_survivor_columns() -> None:
    rows = [payee(1, national_id="5503011234567", account_code="088-110123456789", benefit_type="유족연금",
                  insured_id="450101-1234567", share_percent="60%"),
            payee(2, national_id="1503013234567", account_code="088-110123456780", birth_date="2015-03-01",
                  benefit_type="자녀유족연금", insured_id=DEAD_KR, share_percent="40")]
    r = read(csv_bytes([[row[f] for f in FIELDS] for row in rows], KR_LEGACY), prof=KR, system="kr-legacy")
    assert r.file_errors == [] and r.row_errors == []
    assert r.accepted["insured_id"].tolist() == [DEAD_KR, DEAD_KR]
    assert r.accepted["share_bp"].tolist() == [6000, 4000]


def test_parquet_with_integer_shares_is_read() -> None:
    rows = [survivor(1), survivor(2)]
    arrays = {c: pa.array([r[c] for r in rows]) for c in (*PAYEE_COLUMNS, "insured_id")}
    arrays["share_percent"] = pa.array([50, None], type=pa.int64())
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(arrays), sink)
    r = read(sink.getvalue().to_pybytes(), "branch.parquet")
    assert found(r) == [("MISSING_VALUE", 3, "share_percent")]
    assert r.accepted["share_bp"].tolist() == [5000]


# --------------------------------------------------------------------------- files without (or with half) the columns


def test_file_without_the_columns_gives_null_survivor_fields() -> None:
    r = read(csv_bytes([payee(1), payee(2)]))
    assert r.status == "accepted" and r.row_errors == []
    assert list(r.accepted.columns) == list(ROWS_SCHEMA.names)
    assert r.accepted["insured_id"].isna().tolist() == [True, True]
    assert r.accepted["share_bp"].isna().tolist() == [True, True]
    table = r.accepted_table()
    assert table.schema.equals(ROWS_SCHEMA)
    assert table.column("insured_id").null_count == 2 and table.column("share_bp").null_count == 2


def test_refused_file_has_the_survivor_columns_too() -> None:
    r = read(b"", "branch.csv")
    assert r.status == "rejected"
    assert list(r.accepted.columns) == list(ROWS_SCHEMA.names)


@pytest.mark.parametrize(("present", "lacking"), [("insured_id", "share_percent"), ("share_percent", "insured_id")])
def test_a_file_with_only_one_survivor_column_is_refused(present: str, lacking: str) -> None:
    r = read(csv_bytes([survivor(1)], HEADER + "," + present))
    assert r.status == "rejected"
    assert [(f.code, f.row, f.column) for f in r.file_errors] == [("MISSING_COLUMNS", 1, lacking)]
    assert f"has a {present} column but no column for {lacking}" in r.file_errors[0].message



def test_files_parsed_together_give_what_each_gives_alone() -> None:
    """payee_file.parse_cells parses a batch in one pass per column set; each file's typed rows, findings
    (row numbers after blank lines included), Jalali count and exact copies are what it gets alone."""
    from payroll.intake import ParsedFile, parse_cells, read_payee_cells, read_payee_table

    files = {
        "plain.csv": csv_bytes([payee(1), payee(2, gross_amount="1,000,002", net_amount="۹۵۰۰۰۲"),
                                payee(3, birth_date="1334/01/15"), payee(1)]),
        "survivors.csv": csv_bytes([survivor(1), survivor(2, share="33.333"), payee(3)], SURVIVOR_HEADER),
        "bad.csv": csv_bytes([payee(1, net_amount="12.5"), {}, payee(2, birth_date="15/03/1955"),
                              payee(3, national_id="12")]),
        "more-survivors.csv": csv_bytes([survivor(4, share="۵۰٪"), survivor(5, insured="")], SURVIVOR_HEADER),
        "jalali.csv": csv_bytes([payee(7, birth_date="۱۳۳۴-۰۱-۱۵"), payee(8, birth_date="1334-13-01")]),
    }
    cells = [read_payee_cells(data, name, profile=IR, period=PERIOD) for name, data in files.items()]
    together = parse_cells(cells, IR)  # type: ignore[arg-type]
    for (name, data), batch in zip(files.items(), together, strict=True):
        alone = read_payee_table(data, name, profile=IR, period=PERIOD)
        assert isinstance(alone, ParsedFile) and batch.file_name == name
        assert batch.norm.equals(alone.norm), name
        assert batch.parse_findings == alone.parse_findings, name
        assert batch.warnings == alone.warnings, name
        assert batch.copies.equals(alone.copies), name
    assert any(w.code == "JALALI_DATES" for w in together[-1].warnings)
    assert {f.code for f in together[2].parse_findings} >= {"INVALID_AMOUNT", "INVALID_DATE"}
    assert {f.code for f in together[1].parse_findings} == {"INVALID_SHARE"}
