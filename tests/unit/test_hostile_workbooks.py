"""Hostile branch files at intake: zip bombs, understated sheet dimensions, DOCTYPEs, huge cells.

The workbooks are real files under tests/data/intake (made by make_hostile.py there; README.md says how
each was made). Each one is refused with a code naming what is wrong, or read whole; none may exhaust
memory, read a local file, or drop rows without a word. (Through the service: tests/integration/
test_hostile_store.py.)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from payroll.country import profile
from payroll.intake import FileRefused, IntakeResult, Limits, read_payee_file, read_raw
from payroll.intake.findings import excerpt
from payroll.intake.parsing import Problems, parse_amount
from payroll.period import Period

FILES = Path(__file__).resolve().parent.parent / "data" / "intake"
IR = profile("IR")
PERIOD = Period(2026, 11)
HEADER = "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,deduction_amount,net_amount,account_code"
GOOD_ROW = "P00001,1000000010,Ali Karimi,1950-03-01,OLD_AGE,125000000,5000000,120000000,IR130540000000000000000001"


def read(name: str, **kw: object) -> IntakeResult:
    return read_payee_file((FILES / name).read_bytes(), name, profile=IR, period=PERIOD, **kw)  # type: ignore[arg-type]


def refused(name: str, **kw: object) -> FileRefused:
    with pytest.raises(FileRefused) as e:
        read_raw((FILES / name).read_bytes(), name, **kw)  # type: ignore[arg-type]
    return e.value


# --- zip bombs -----------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_from_its_directory_naming_the_part_and_its_size() -> None:
    z = zipfile.ZipFile(FILES / "bomb.xlsx")
    sheet = z.getinfo("xl/worksheets/sheet1.xml")
    assert (FILES / "bomb.xlsx").stat().st_size < 200_000 and sheet.file_size > 100 * 1024**2
    e = refused("bomb.xlsx")
    assert e.finding.code == "FILE_TOO_LARGE"
    assert f"part xl/worksheets/sheet1.xml inflates from {sheet.compress_size} to {sheet.file_size} bytes" in (
        e.finding.message)
    assert "over the limit of 100:1" in e.finding.message


def test_a_zip_bomb_whose_directory_lies_is_stopped_while_inflating() -> None:
    sheet = zipfile.ZipFile(FILES / "bomb_lying_directory.xlsx").getinfo("xl/worksheets/sheet1.xml")
    assert sheet.file_size == 150_000  # the directory's claim: a small sheet, a sane ratio
    e = refused("bomb_lying_directory.xlsx")
    assert e.finding.code == "FILE_TOO_LARGE"
    limit = 100 * sheet.compress_size
    assert e.finding.message.startswith(
        f"bomb_lying_directory.xlsx: part xl/worksheets/sheet1.xml inflates past {limit} bytes (100 times its "
        f"{sheet.compress_size} compressed bytes) although the workbook's directory says 150000")


def test_the_total_a_workbook_may_inflate_to_is_a_limit() -> None:
    data = (FILES / "dimension_understated.xlsx").read_bytes()
    sizes = {i.filename: i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    with pytest.raises(FileRefused) as e:
        read_raw(data, "B01.xlsx", max_unpacked_bytes=sum(sizes.values()) - 1)
    assert e.value.finding.code == "FILE_TOO_LARGE"
    assert e.value.finding.message.startswith(
        f"B01.xlsx: the workbook inflates to {sum(sizes.values())} bytes (its largest part, "
        f"xl/worksheets/sheet1.xml, {sizes['xl/worksheets/sheet1.xml']} bytes), over the limit of "
        f"{sum(sizes.values()) - 1} bytes")
    assert len(read_raw(data, "B01.xlsx", max_unpacked_bytes=sum(sizes.values())).frame) == 258


def test_the_default_inflation_limit_follows_the_row_limit() -> None:
    # 16 MiB for the parts every workbook has, and 2 KiB a row: ten rows may not inflate to 100 MB
    e = refused("bomb.xlsx", max_rows=10)
    assert e.finding.code == "FILE_TOO_LARGE"
    assert f"over the limit of {16 * 1024**2 + 10 * 2048} bytes" in e.finding.message


def test_the_sample_workbook_is_well_within_the_limits() -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "branches" / "B06.xlsx"
    assert len(read_raw(sample.read_bytes(), "B06.xlsx", max_rows=243).frame) == 243


# --- the sheet's <dimension> ---------------------------------------------------------------------


def test_an_understated_dimension_does_not_drop_rows() -> None:
    r = read("dimension_understated.xlsx")
    assert (r.status, r.rows_read, len(r.accepted), r.file_errors) == ("accepted", 258, 258, [])
    assert r.accepted["row_no"].tolist() == list(range(2, 260))


def test_a_dimension_of_one_cell_reads_the_whole_sheet() -> None:
    r = read("dimension_a1.xlsx")
    assert (r.status, r.rows_read, len(r.accepted)) == ("accepted", 258, 258)


def test_the_row_limit_counts_rows_not_the_dimension() -> None:
    r = read("dimension_understated.xlsx", limits=Limits(max_rows=200))  # the dimension says 99
    assert (r.status, r.file_errors[0].code) == ("rejected", "TOO_MANY_ROWS")
    assert r.file_errors[0].message.startswith("dimension_understated.xlsx: 201 rows is over the limit of 200")


def test_a_dimension_overstating_the_rows_does_not_refuse_a_small_sheet() -> None:
    data = (FILES / "dimension_understated.xlsx").read_bytes()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            part = src.read(i.filename)
            z.writestr(i, part.replace(b'<dimension ref="A1:K100"/>', b'<dimension ref="A1:K1048576"/>'))
    assert len(read_raw(out.getvalue(), "B01.xlsx", max_rows=300).frame) == 258


# --- DOCTYPE and entities ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "part"), [
    ("doctype_external_entity.xlsx", "xl/worksheets/sheet1.xml"),
    ("doctype_billion_laughs.xlsx", "xl/workbook.xml"),
    ("doctype_content_types.xlsx", "[Content_Types].xml"),
    ("doctype_utf16_styles.xlsx", "xl/styles.xml"),
])
def test_a_part_with_a_doctype_is_refused_naming_the_part(name: str, part: str) -> None:
    e = refused(name)
    assert (e.finding.code, e.finding.row, e.finding.column) == ("UNSAFE_XML", None, None)
    assert e.finding.message.startswith(f"{name}: part {part} declares a document type (<!DOCTYPE"), e.finding.message
    r = read(name)
    assert (r.status, r.file_errors[0].code, r.rows_read) == ("rejected", "UNSAFE_XML", 0)


def test_a_part_that_is_not_well_formed_is_malformed_not_a_crash() -> None:
    data = (FILES / "doctype_content_types.xlsx").read_bytes()
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            part = src.read(i.filename)
            if i.filename == "[Content_Types].xml":
                part = part.replace(b"<!DOCTYPE Types>", b"")
            if i.filename == "xl/worksheets/sheet1.xml":
                part = part.replace(b"</sheetData>", b"</sheetDat>")
            z.writestr(i, part)
    with pytest.raises(FileRefused) as e:
        read_raw(out.getvalue(), "B01.xlsx")
    assert e.value.finding.code == "FILE_MALFORMED"
    assert "xl/worksheets/sheet1.xml" in e.value.finding.message


# --- huge cells ----------------------------------------------------------------------------------


def _huge_csv(n: int) -> bytes:
    return (HEADER + "\n" + GOOD_ROW + "\n" + GOOD_ROW.replace("P00001", "P00002").replace(
        "Ali Karimi", "X" * n) + "\n").encode()


def test_a_huge_csv_cell_is_refused_at_read_time_naming_row_and_column() -> None:
    r = read_payee_file(_huge_csv(2_000_000), "B01.csv", profile=IR, period=PERIOD)
    assert (r.status, r.row_errors) == ("rejected", [])
    f = r.file_errors[0]
    assert (f.code, f.row, f.column) == ("CELL_TOO_LONG", 3, "full_name")
    assert f.message.startswith("B01.csv: row 3, column full_name holds 2000000 characters, more than the "
                                "1000 any field may have")
    assert len(f.message) < 600


def test_a_huge_xlsx_cell_is_refused_at_read_time() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER.split(","))
    ws.append(GOOD_ROW.split(","))
    ws.append(["P00002", "", "Y" * 50_000])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(FileRefused) as e:
        read_raw(buf.getvalue(), "B01.xlsx")
    assert (e.value.finding.code, e.value.finding.row, e.value.finding.column) == ("CELL_TOO_LONG", 3, "full_name")


def test_a_huge_parquet_string_is_refused_at_read_time() -> None:
    frame = pd.DataFrame([dict(zip(HEADER.split(","), GOOD_ROW.split(","), strict=True))] * 3)
    frame.loc[2, "account_code"] = "Z" * 5_000
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    with pytest.raises(FileRefused) as e:
        read_raw(buf.getvalue(), "B01.parquet")
    assert (e.value.finding.code, e.value.finding.row, e.value.finding.column) == (
        "CELL_TOO_LONG", 4, "account_code")


def test_the_cell_limit_is_a_setting() -> None:
    assert len(read_raw(_huge_csv(5_000), "B01.csv", max_cell_chars=5_000).frame) == 2
    with pytest.raises(FileRefused):
        read_raw(_huge_csv(5_001), "B01.csv", max_cell_chars=5_000)


def test_a_finding_keeps_at_most_200_characters_of_a_value_and_its_length() -> None:
    assert excerpt("abc") == "'abc'"
    long = excerpt("9" * 1_000_000)
    assert long == "'" + "9" * 200 + "...' (1000000 characters)"
    problems = Problems()
    parse_amount(pd.Series(["12", "1" * 1_000_000 + ".5"]), "net_amount", "IRR", problems)
    message = problems.frame()["message"].iat[0]
    assert len(message) < 500 and "(1000002 characters)" in message


def test_a_long_quoted_cell_holding_commas_is_refused_too() -> None:
    data = _huge_csv(0).replace(b",,", b',"' + b"a, " * 400 + b'",')
    with pytest.raises(FileRefused) as e:
        read_raw(data, "B01.csv")
    assert (e.value.finding.code, e.value.finding.row, e.value.finding.column) == ("CELL_TOO_LONG", 3, "full_name")
    assert "holds 1200 characters" in e.value.finding.message


def test_the_long_run_check_is_linear_on_runs_just_under_the_limit() -> None:
    """A file of cells each just under the limit: the check once retried a 1001-character regex at
    every position of every run (quadratic, minutes for a few megabytes); now one pass over the bytes."""
    from payroll.intake.reading import _refuse_long_run

    text = HEADER + "\n" + ("A" * 1000 + ",") * 8 + "B" * 1000 + "\n"
    text = text + ("P1," + "C" * 1000 + ",x,x,x,x,x,x,x\n") * 2_000  # about 2 MB of runs of 1000
    _refuse_long_run(text, ",", "B01.csv", 1000)  # nothing is over the limit (no timed assert: a quadratic
    # scan shows as minutes in the suite's durations, not as a flaky failure)


def test_a_long_run_is_counted_in_characters_not_bytes() -> None:
    from payroll.intake.reading import _refuse_long_run

    persian = "\u0639" * 1000  # 2000 UTF-8 bytes, 1000 characters: within the limit
    _refuse_long_run(HEADER + "\nP1,1," + persian + "\n", ",", "B01.csv", 1000)
    with pytest.raises(FileRefused) as e:
        _refuse_long_run(HEADER + "\nP1,1,ok,x\nP2,2," + persian + "\u0639\u0639,x\n", ",", "B01.csv", 1000)
    f = e.value.finding
    assert (f.code, f.row, f.column) == ("CELL_TOO_LONG", 3, "full_name")
    assert "holds 1002 characters" in f.message


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le"])
def test_a_doctype_in_utf16_without_a_byte_order_mark_after_whitespace_is_refused(encoding: str) -> None:
    """A part not named .xml whose first bytes are UTF-16 whitespace (b"\\x00 " or b" \\x00"): expat reads
    it as XML all the same, so its DOCTYPE is looked for too."""
    src = zipfile.ZipFile(io.BytesIO((FILES / "doctype_content_types.xlsx").read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            part = src.read(i.filename)
            if i.filename == "[Content_Types].xml":
                part = part.replace(b"<!DOCTYPE Types>", b"")
            z.writestr(i, part)
        z.writestr("customXml/item1.dat", ' \n<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode(encoding))
    with pytest.raises(FileRefused) as e:
        read_raw(out.getvalue(), "B01.xlsx")
    assert e.value.finding.code == "UNSAFE_XML", e.value.finding
    assert "customXml/item1.dat" in e.value.finding.message
