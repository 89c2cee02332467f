"""Writes the bad-input files of tests/integration/test_bad_input.py (deterministic; run to rebuild).

Each file is what a real branch system produces when it goes wrong: see the table in
tests/integration/test_bad_input.py for what the engine must do with each.
    .venv/bin/python tests/data/intake/make_files.py
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import openpyxl

from payroll.identifiers import iban, ir_nid

HERE = Path(__file__).resolve().parent
HEADER = ["pension_id", "national_id", "full_name", "birth_date", "benefit_type", "gross_amount",
          "deduction_amount", "net_amount", "account_code"]
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def nid(i: int) -> str:
    nine = f"{100000000 + i:09d}"
    return nine + ir_nid.calc_check_digit(nine)


def sheba(i: int) -> str:
    bban = f"0540{i:018d}"
    return "IR" + iban.calc_check_digits("IR", bban) + bban


def row(i: int, **over: str) -> list[str]:
    r = {"pension_id": f"P{i:05d}", "national_id": nid(i), "full_name": f"علی کریمی {i}".translate(str.maketrans("0123456789", "ABCDEFGHIJ")),
         "birth_date": "1950-03-01", "benefit_type": "OLD_AGE", "gross_amount": "125000000",
         "deduction_amount": "5000000", "net_amount": "120000000", "account_code": sheba(i)}
    r.update(over)
    return [r[c] for c in HEADER]


def csv_text(rows: list[list[str]], header: list[str] = HEADER, sep: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def write(name: str, data: bytes | str) -> None:
    (HERE / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def main() -> None:
    write("empty.csv", b"")
    write("header_only.csv", csv_text([]))
    write("wrong_headers.csv", csv_text([row(1)], header=["id", "code", "name", "born", "type", "gross",
                                                           "deduction", "net", "iban"]))
    # Windows-1256 has Arabic yeh/kaf only, and no Persian digits: what old Windows exports look like
    persian = [row(i, full_name=n) for i, n in enumerate(["علي كريمي", "فاطمه نظری", "محمد رضايي"], start=1)]
    write("windows_1256.csv", csv_text(persian).replace("ی", "ي").encode("cp1256"))
    write("utf8_bom.csv", "\ufeff" + csv_text(persian))
    write("digits_persian.csv", csv_text([
        [c.translate(PERSIAN) if k in (1, 5, 6, 7) else c for k, c in enumerate(row(1))],
        [c.translate(ARABIC_INDIC) if k in (1, 5, 6, 7) else c for k, c in enumerate(row(2))],
    ]))
    write("thousands.csv", csv_text([
        row(1, gross_amount="125,000,000", deduction_amount="5,000,000", net_amount="120,000,000"),
        row(2, gross_amount="۱۲۵٬۰۰۰٬۰۰۰", deduction_amount="۵٬۰۰۰٬۰۰۰", net_amount="۱۲۰٬۰۰۰٬۰۰۰"),
        row(3, gross_amount="12,50,00,000"),
    ]))
    write("decimals.csv", csv_text([row(1, net_amount="120000000.50"), row(2, gross_amount="125000000.00"),
                                    row(3, deduction_amount="5000000٫5"), row(4)]))
    write("negative_zero.csv", csv_text([row(1, gross_amount="125000000", deduction_amount="125000000", net_amount="0"),
                                         row(2, deduction_amount="-5000000", net_amount="130000000"),
                                         row(3, gross_amount="-125000000", deduction_amount="0",
                                             net_amount="-125000000"),
                                         row(4)]))
    write("dates.csv", csv_text([row(1, birth_date="1328/12/10"), row(2, birth_date="1950/03/01"),
                                 row(3, birth_date="01/03/1950"), row(4, birth_date="1329/12/31"),
                                 row(5, birth_date="19500301"), row(6, birth_date="۱۳۲۹/۰۱/۰۱")]))
    write("duplicated_rows.csv", csv_text([row(1), row(2), row(1), row(3), row(3, net_amount="110000000",
                                                                            deduction_amount="15000000")]))
    write("extra_field.csv", csv_text([row(1), row(2)]).rstrip("\n") + "\n" + ",".join(row(3)) + ",surplus\n")
    write("formula_injection.csv", csv_text([row(1, full_name="=HYPERLINK(\"http://x.example\",\"click\")"),
                                             row(2, full_name="+98 21 5555"), row(3, full_name="-2+3"),
                                             row(4, full_name="@SUM(A1:A9)")]))
    write("nul_byte.csv", csv_text([row(1), row(2)]).encode("utf-8").replace(b"P00002", b"P0\x000002"))
    write("replacement_char.csv", csv_text([row(1), row(2, full_name="علی \ufffd\ufffd\ufffd")]))
    write("semicolon_multiline.csv", csv_text([row(1, full_name="علی\nکریمی"), row(2)], sep=";"))
    write("tab.tsv", csv_text([row(1), row(2)], sep="\t"))
    # an Iranian branch system: Persian headers (Arabic kaf/yeh in one), its own column order, labels
    order = [1, 0, 2, 3, 4, 5, 6, 7, 8]
    persian_header = ["كد ملي", "شماره مستمری", "نام و نام خانوادگی", "تاریخ تولد", "نوع مستمری", "مبلغ ناخالص",
                      "کسورات", "خالص پرداختی", "شماره شبا"]
    write("persian_headers.csv", csv_text([[row(i)[k] for k in order] for i in (1, 2)],
                                          header=persian_header).replace("OLD_AGE", "بازنشستگی"))
    write("unknown_column.csv", csv_text([row(1) + ["x"], row(2) + ["y"]], header=HEADER + ["remarks"]))
    # a Korean branch system's export in CP949: Korean headers, hyphenated RRN and account, a label
    korean = [["연금번호", "주민등록번호", "성명", "생년월일", "급여종류", "지급총액", "공제액", "실지급액", "계좌번호"],
              ["K0001", "450312-1234567", "김 민수", "1945.03.12", "노령연금", "700,000", "20,000", "680,000",
               "088-110123456789"],
              ["K0002", "480921-2345678", "이 영희", "1948-09-21", "유족연금", "450000", "0", "450000",
               "004-22334455667"]]
    write("korean_cp949.csv", csv_text(korean[1:], header=korean[0]).encode("cp949"))
    _xlsx()


def _xlsx() -> None:
    """A workbook as Excel saves it: a formula cell with its saved value, one without (written by a
    program, never opened in Excel), merged cells, a date cell, a national id stored as a number."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "مستمری"
    ws.append(HEADER)
    import datetime
    r2 = row(1)
    r2[1] = int(r2[1])  # type: ignore[call-overload]  # Excel drops leading zeros of a numeric id
    r2[3] = datetime.datetime(1950, 3, 1)  # type: ignore[call-overload]
    r2[5], r2[6] = 125000000, 5000000  # type: ignore[call-overload]
    r2[7] = "=F2-G2"
    ws.append(r2)
    r3 = row(2)
    r3[7] = "=F3-G3"
    ws.append(r3)
    ws.append(row(3))
    ws.append(row(4, full_name=""))
    ws.merge_cells("C4:C5")
    ws.append(row(5))
    other = wb.create_sheet("notes")
    other.append(["nothing to see"])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":  # Excel saved H2's value, never H3's
                data = re.sub(rb"<f>F2-G2</f><v></v>", b"<f>F2-G2</f><v>120000000</v>", data)
            if item.filename == "docProps/core.xml":  # pinned, so the file is rebuilt byte for byte
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2026-11-01T00:00:00Z", data)
            info = zipfile.ZipInfo(item.filename, date_time=(2026, 11, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    write("formulas_merged.xlsx", out.getvalue())


if __name__ == "__main__":
    main()
