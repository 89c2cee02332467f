"""Every bad input the issue lists, each a real file under tests/data/intake, with its exact outcome.

Each one is either read correctly (digits and separators normalized, the encoding detected) or
refused with an error naming file, row and column; none is accepted wrongly. The files are made by
tests/data/intake/make_files.py. (Storage-level guarantees: tests/integration/test_bad_input_store.py.)
"""

from __future__ import annotations

from pathlib import Path

from payroll.country import profile
from payroll.intake import IntakeResult, Limits, read_payee_file
from payroll.period import Period

FILES = Path(__file__).resolve().parent.parent / "data" / "intake"
IR = profile("IR")
PERIOD = Period(2026, 11)


def read(name: str, **kw: object) -> IntakeResult:
    return read_payee_file((FILES / name).read_bytes(), name, profile=IR, period=PERIOD, **kw)  # type: ignore[arg-type]


def cells(r: IntakeResult) -> list[tuple[int | None, str | None, str]]:
    return [(e.row, e.column, e.code) for e in r.row_errors]


def refusal(r: IntakeResult) -> tuple[str, int | None, str | None]:
    assert r.status == "rejected" and len(r.accepted) == 0
    f = r.file_errors[0]
    return f.code, f.row, f.column


def test_empty_file() -> None:
    r = read("empty.csv")
    assert refusal(r) == ("EMPTY_FILE", None, None)
    assert r.file_errors[0].message == "empty.csv: the file is empty"


def test_header_only() -> None:
    assert refusal(read("header_only.csv")) == ("NO_ROWS", None, None)


def test_wrong_headers_name_each_missing_field_and_the_headers_that_would_do() -> None:
    r = read("wrong_headers.csv")
    assert refusal(r) == ("MISSING_COLUMNS", 1, "pension_id")
    message = r.file_errors[0].message
    assert message.startswith("wrong_headers.csv: no column for pension_id (pension_id / شماره مستمری")
    assert "national_id (national_id / کد ملی" in message


def test_windows_1256_is_detected_and_names_come_out_persian() -> None:
    r = read("windows_1256.csv")
    assert (r.status, r.source["encoding"], r.row_errors) == ("accepted", "Windows-1256", [])
    assert r.accepted["full_name"].tolist() == ["علی کریمی", "فاطمه نظری", "محمد رضایی"]


def test_windows_1256_forced_as_utf8_is_refused_at_the_first_bad_byte() -> None:
    r = read("windows_1256.csv", encoding="utf-8")
    assert refusal(r) == ("ENCODING", 2, "full_name")
    assert "windows_1256.csv: not valid UTF-8 at byte" in r.file_errors[0].message


def test_korean_cp949_with_its_own_headers_is_detected() -> None:
    r = read_payee_file((FILES / "korean_cp949.csv").read_bytes(), "korean_cp949.csv", profile=profile("KR"),
                        period=PERIOD, system="kr-legacy")
    assert (r.status, r.source["encoding"], r.row_errors) == ("accepted", "CP949/EUC-KR", [])
    assert r.accepted[["national_id", "full_name", "birth_date", "benefit_type", "net_amount",
                       "account_code"]].values.tolist() == [
        ["4503121234567", "김 민수", "1945-03-12", "OLD_AGE", 680_000, "088110123456789"],
        ["4809212345678", "이 영희", "1948-09-21", "SURVIVOR", 450_000, "00422334455667"]]


def test_utf8_with_bom_reads_the_same_names() -> None:
    r = read("utf8_bom.csv")
    assert (r.status, r.source["encoding"], r.row_errors) == ("accepted", "UTF-8", [])
    assert r.accepted["pension_id"].tolist() == ["P00001", "P00002", "P00003"]


def test_replacement_characters_are_refused_where_they_appear() -> None:
    r = read("replacement_char.csv")
    assert refusal(r) == ("ENCODING", 3, "full_name")
    assert "replacement character" in r.file_errors[0].message


def test_persian_and_arabic_indic_digits_in_ids_and_amounts() -> None:
    r = read("digits_persian.csv")
    assert (r.status, r.row_errors) == ("accepted", [])
    assert r.accepted[["national_id", "gross_amount", "net_amount"]].values.tolist() == [
        ["1000000011", 125_000_000, 120_000_000], ["1000000028", 125_000_000, 120_000_000]]


def test_thousands_separators_in_whole_groups_of_three_only() -> None:
    r = read("thousands.csv")
    assert r.accepted["gross_amount"].tolist() == [125_000_000, 125_000_000]
    assert r.accepted["net_amount"].tolist() == [120_000_000, 120_000_000]
    assert cells(r) == [(4, "gross_amount", "INVALID_AMOUNT")]
    assert r.row_errors[0].message.startswith("gross_amount '12,50,00,000' is not a whole number")


def test_decimals_are_refused_never_rounded() -> None:
    r = read("decimals.csv")
    assert cells(r) == [(2, "net_amount", "INVALID_AMOUNT"), (3, "gross_amount", "INVALID_AMOUNT"),
                        (4, "deduction_amount", "INVALID_AMOUNT")]
    assert all("has decimals; IRR has no minor unit" in e.message for e in r.row_errors)
    assert r.accepted["row_no"].tolist() == [5]


def test_negative_and_zero_amounts() -> None:
    r = read("negative_zero.csv")
    got = {(e.row, e.column): e.code for e in r.row_errors}
    assert got[(2, "net_amount")] == "NON_POSITIVE_AMOUNT"
    assert got[(3, "deduction_amount")] == "NON_POSITIVE_AMOUNT"
    assert got[(4, "gross_amount")] == "NON_POSITIVE_AMOUNT"
    assert got[(4, "net_amount")] == "NON_POSITIVE_AMOUNT"
    assert r.accepted["row_no"].tolist() == [5]


def test_jalali_slashes_and_compact_dates_are_read_day_first_is_refused() -> None:
    r = read("dates.csv")
    assert cells(r) == [(4, "birth_date", "INVALID_DATE"), (5, "birth_date", "INVALID_DATE")]
    assert "puts the day first" in r.row_errors[0].message
    assert r.row_errors[1].message == "birth_date '1329/12/31' is not a real Jalali (Solar Hijri) date"
    assert dict(zip(r.accepted["row_no"], r.accepted["birth_date"], strict=True)) == {
        2: "1950-03-01", 3: "1950-03-01", 6: "1950-03-01", 7: "1950-03-21"}
    assert [w.code for w in r.warnings] == ["JALALI_DATES"]


def test_duplicated_rows_keep_the_first_exact_copy_and_refuse_disagreeing_ones() -> None:
    r = read("duplicated_rows.csv")
    assert cells(r) == [(4, "pension_id", "DUPLICATE_ROW"), (5, "pension_id", "DUPLICATE_ROW"),
                        (6, "pension_id", "DUPLICATE_ROW")]
    assert r.row_errors[0].message == "exact copy of row 2"
    assert r.accepted["row_no"].tolist() == [2, 3]


def test_a_row_with_an_extra_field_refuses_the_file_naming_the_row() -> None:
    r = read("extra_field.csv")
    assert refusal(r) == ("FILE_MALFORMED", 4, None)
    assert r.file_errors[0].message.startswith("extra_field.csv: row 4 has 10 fields but the header has 9")


def test_nul_byte_is_refused_with_its_row() -> None:
    r = read("nul_byte.csv")
    assert refusal(r) == ("FILE_MALFORMED", 3, None)


def test_semicolons_and_quoted_newlines() -> None:
    r = read("semicolon_multiline.csv")
    assert (r.status, r.source["delimiter"], r.row_errors) == ("accepted", ";", [])
    assert r.accepted["full_name"].tolist()[0] == "علی کریمی"  # the newline inside the name is a space


def test_tab_separated() -> None:
    r = read("tab.tsv")
    assert (r.status, r.source["delimiter"], len(r.accepted)) == ("accepted", "tab", 2)


def test_a_branch_system_with_persian_headers_in_its_own_order() -> None:
    r = read("persian_headers.csv", system="ir-legacy")
    assert (r.status, r.row_errors) == ("accepted", [])
    assert r.accepted[["pension_id", "national_id", "benefit_type"]].values.tolist() == [
        ["P00001", "1000000011", "OLD_AGE"], ["P00002", "1000000028", "OLD_AGE"]]
    assert r.source["columns"]["كد ملي"] == "national_id"


def test_a_system_refuses_headers_of_another_system() -> None:
    r = read("persian_headers.csv", system="kr-legacy")
    assert refusal(r)[0] == "MISSING_COLUMNS"


def test_unknown_columns_are_reported() -> None:
    r = read("unknown_column.csv")
    assert r.status == "accepted"
    assert [(w.code, w.row, w.column) for w in r.warnings] == [("UNKNOWN_COLUMN", 1, "remarks")]


def test_formula_text_stays_text_and_is_only_a_name() -> None:
    r = read("formula_injection.csv")
    assert r.status == "accepted"
    assert r.accepted["full_name"].tolist()[0].startswith("=HYPERLINK(")


def test_xlsx_values_not_formulas_and_merged_cells_refused() -> None:
    r = read("formulas_merged.xlsx")
    assert (r.status, r.source["format"], r.source["sheet"]) == ("accepted", "xlsx", "مستمری")
    assert cells(r) == [(3, "net_amount", "FORMULA_WITHOUT_VALUE"), (4, "full_name", "MERGED_CELLS"),
                        (5, "full_name", "MERGED_CELLS")]
    first = r.accepted.iloc[0]
    # the saved value of =F2-G2, a numeric id that lost its leading zeros... kept as ten digits, a date cell
    assert (first["row_no"], first["net_amount"], first["national_id"], first["birth_date"]) == (
        2, 120_000_000, "1000000011", "1950-03-01")
    assert r.accepted["row_no"].tolist() == [2, 6]
    assert [w.code for w in r.warnings] == ["FORMULA_CELLS"]


def test_xlsx_named_sheet() -> None:
    assert refusal(read("formulas_merged.xlsx", sheet="nope")) == ("NO_SUCH_SHEET", None, None)
    r = read("formulas_merged.xlsx", sheet="notes")
    assert refusal(r)[0] == "MISSING_COLUMNS"


def test_row_limit_is_checked_before_the_rows_are_read() -> None:
    r = read("duplicated_rows.csv", limits=Limits(max_rows=3))
    assert refusal(r) == ("TOO_MANY_ROWS", None, None)
    assert refusal(read("formulas_merged.xlsx", limits=Limits(max_rows=2)))[0] == "TOO_MANY_ROWS"


def test_too_many_bad_rows_refuse_the_whole_list() -> None:
    r = read("decimals.csv", limits=Limits(max_bad_row_percent=50))
    assert refusal(r)[0] == "TOO_MANY_BAD_ROWS"
    assert "3 of 4 rows (75.0%) have errors" in r.file_errors[0].message
    assert cells(r)  # the rows are still named, so the branch knows what to fix
