"""CSV batch files: formula-injection guard, exact round trips, encodings, all-or-nothing writes."""

from __future__ import annotations

import csv
import io
import pathlib
from datetime import date, datetime, timedelta, timezone

import pytest

from bank_formats.csvbatch import LayoutError, load_csv_layout, read_csv_batch, write_csv_batch
from bank_formats.model import CreditTransfer, Debtor, PaymentBatch

TEHRAN = timezone(timedelta(hours=3, minutes=30))
# First characters a spreadsheet may evaluate (OWASP CSV injection), written out independently here.
DANGEROUS = {"=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20"}
TRICKY_NAMES = [
    '=HYPERLINK("http://x")',
    "+1",
    "-2",
    "@SUM(A1)",
    "'quoted",
    "\tTab leading",
    "\rCR leading",
    "\uff1dfull-width equals",
    "\uff20full-width at",
    "محمد رضایی\u200cنژاد",
    "김민수",
    'comma, "quote" and\nnewline',
    "''two apostrophes",
    "plain = not leading",
]


def sheba(bank_code: str, serial: int) -> str:
    bban = f"{bank_code}{serial:019d}"
    check = 98 - int(bban + "1827" + "00") % 97  # IR = 18 27, mod 97-10
    return f"IR{check:02d}{bban}"


def irr_transactions(names: list[str]) -> list[CreditTransfer]:
    return [
        CreditTransfer(
            end_to_end_id=f"1404-08-P{i:08d}",
            amount_minor=85_000_000 + 12_345 * i,  # rials
            creditor_name=name,
            creditor_iban=sheba(["017", "012", "054"][i % 3], 1_000_000 + i),
            creditor_account_id=None,
            creditor_bank_code=["017", "012", "054"][i % 3],
            remittance="-مستمری آبان ۱۴۰۴" if i == 2 else "مستمری آبان ۱۴۰۴",
        )
        for i, name in enumerate(names)
    ]


def irr_batch(txs: list[CreditTransfer], **changes: object) -> PaymentBatch:
    fields: dict[str, object] = dict(
        msg_id="RUN-1404-08",
        created_at=datetime(2025, 11, 10, 8, 0, tzinfo=TEHRAN),
        initiating_party="صندوق بازنشستگی",
        payment_info_id="RUN-1404-08-1",
        requested_execution_date=date(2025, 11, 15),
        currency="IRR",
        debtor=Debtor(name="صندوق بازنشستگی", iban=sheba("010", 42), bank_code="010"),
        number_of_transactions=len(txs),
        control_sum_minor=sum(t.amount_minor for t in txs),
    )
    fields.update(changes)
    return PaymentBatch(**fields)  # type: ignore[arg-type]


def independent_rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def layout_file(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "layout.toml"
    path.write_text(text, "utf-8")
    return path


def test_formula_injection_guard_and_exact_round_trip(tmp_path: pathlib.Path) -> None:
    txs = irr_transactions(TRICKY_NAMES)
    path = tmp_path / "batch.csv"
    result = write_csv_batch(path, "ir_csv_batch_example", irr_batch(txs), txs)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM

    rows = independent_rows(data)
    assert rows[0] == ["ردیف", "شماره شبا", "مبلغ (ریال)", "نام و نام خانوادگی", "شرح", "شناسه پرداخت"]
    body = rows[1:]
    assert len(body) == len(txs)
    for row in body:
        for cell in row:
            assert cell[:1] not in DANGEROUS, row
        assert row[0].isascii() and row[0].isdigit()  # sequence
        assert row[2].isascii() and row[2].isdigit()  # amount in rials: digits only, never prefixed
    names_written = [row[3] for row in body]
    assert names_written[0] == "'" + TRICKY_NAMES[0] and names_written[4] == "''quoted"
    assert names_written[9] == TRICKY_NAMES[9] and names_written[-1] == "plain = not leading"  # untouched
    assert body[2][4] == "'-مستمری آبان ۱۴۰۴"  # the remittance column is guarded too
    assert [int(row[2]) for row in body] == [t.amount_minor for t in txs]

    parsed = read_csv_batch(path, "ir_csv_batch_example")
    assert [r["name"] for r in parsed.rows] == TRICKY_NAMES
    assert [r["amount"] for r in parsed.rows] == [t.amount_minor for t in txs]
    assert [r["sheba"] for r in parsed.rows] == [t.creditor_iban for t in txs]
    assert [r["description"] for r in parsed.rows] == [t.remittance for t in txs]
    assert [r["payment_id"] for r in parsed.rows] == [t.end_to_end_id for t in txs]
    assert [r["row"] for r in parsed.rows] == list(range(1, len(txs) + 1))
    assert result.transactions == len(txs) and result.bytes == len(data)


def test_reader_refuses_cells_the_guard_cannot_have_written(tmp_path: pathlib.Path) -> None:
    txs = irr_transactions(["علی", "=1+1"])
    path = tmp_path / "batch.csv"
    write_csv_batch(path, "ir_csv_batch_example", irr_batch(txs), txs)
    good = path.read_text("utf-8-sig")
    path.write_text(good.replace("'=1+1", "=1+1"), "utf-8-sig")
    with pytest.raises(ValueError, match=r"line 3: column 'name'.*formula character but has no guard apostrophe"):
        read_csv_batch(path, "ir_csv_batch_example")
    path.write_text(good.replace(",علی,", ",'علی,"), "utf-8-sig")
    with pytest.raises(ValueError, match=r"line 2: column 'name'.*apostrophe the formula guard would not have written"):
        read_csv_batch(path, "ir_csv_batch_example")
    path.write_text(good.replace(",85000000,", ",85000000.0,"), "utf-8-sig")
    with pytest.raises(ValueError, match=r"line 2: column 'amount'.*not all digits"):
        read_csv_batch(path, "ir_csv_batch_example")


LATIN1_LAYOUT = """
kind = "csv"
name = "latin1_bank"
encoding = "latin-1"
delimiter = ";"
line_ending = "\\n"
currency = "IRR"

[[columns]]
name = "sheba"
source = "tx.creditor_iban"

[[columns]]
name = "amount"
type = "amount"
source = "tx.amount_minor"
amount_format = "minor"

[[columns]]
name = "name"
label = "Beneficiary"
source = "tx.creditor_name"
"""


def test_persian_name_in_a_latin1_layout_is_refused(tmp_path: pathlib.Path) -> None:
    txs = irr_transactions(["Ali Rezaei", "José Núñez", "زهرا احمدی", "Reza"])
    path = tmp_path / "batch.csv"
    with pytest.raises(
        ValueError,
        match=r"transaction '1404-08-P00000002': column 'name' \('Beneficiary', from tx.creditor_name\): "
        r"character 'ز' \(U\+0632, ARABIC LETTER ZAIN\).*cannot be written in iso8859-1",
    ):
        write_csv_batch(path, layout_file(tmp_path, LATIN1_LAYOUT), irr_batch(txs), txs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout.toml"]  # no file, no temporary file
    latin = txs[:2]
    write_csv_batch(path, load_csv_layout(tmp_path / "layout.toml"), irr_batch(latin), latin)
    assert "José Núñez".encode("latin-1") in path.read_bytes()  # what latin-1 can carry, it carries
    assert path.read_bytes().splitlines()[0] == b"sheba;amount;Beneficiary"


def test_cp1256_refuses_the_persian_yeh(tmp_path: pathlib.Path) -> None:
    layout = layout_file(tmp_path, LATIN1_LAYOUT.replace('encoding = "latin-1"', 'encoding = "cp1256"'))
    ok = irr_transactions(["كريم", "گل کاظم"])  # Arabic letters and Persian گ ک without ی: all in cp1256
    write_csv_batch(tmp_path / "ok.csv", layout, irr_batch(ok), ok)
    assert "گل کاظم".encode("cp1256") in (tmp_path / "ok.csv").read_bytes()
    assert read_csv_batch(tmp_path / "ok.csv", layout).rows[1]["name"] == "گل کاظم"
    txs = irr_transactions(["كريم", "علی رضایی"])
    with pytest.raises(ValueError, match=r"'1404-08-P00000001': column 'name'.*U\+06CC, ARABIC LETTER FARSI YEH"):
        write_csv_batch(tmp_path / "bad.csv", layout, irr_batch(txs), txs)
    assert not (tmp_path / "bad.csv").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"number_of_transactions": 4}, r"declared 4 transactions .* but streamed 3 .*file not written"),
        ({"control_sum_minor": 5}, r"declared 3 transactions summing to 5 IRR, but streamed 3 summing to 255037035"),
    ],
)
def test_declared_count_or_sum_mismatch_leaves_nothing_behind(
    tmp_path: pathlib.Path, changes: dict[str, int], message: str
) -> None:
    txs = irr_transactions(["a", "b", "c"])
    path = tmp_path / "batch.csv"
    path.write_bytes(b"previous")
    with pytest.raises(ValueError, match=message):
        write_csv_batch(path, "ir_csv_batch_example", irr_batch(txs, **changes), txs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.csv"] and path.read_bytes() == b"previous"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end_to_end_id": "1404-08-P00000000"}, r"column end_to_end_id repeats an earlier transaction's"),
        ({"creditor_iban": "IR000170000000000001000001"}, r"column 'sheba'.*fails the IBAN mod 97-10 check"),
        ({"creditor_iban": None}, r"column 'sheba'.*is missing"),
        ({"creditor_name": "  "}, r"column 'name'.*is empty"),
        ({"creditor_name": "nul\x00byte"}, r"column 'name'.*control character U\+0000"),
        ({"creditor_name": "x" * 101}, r"column 'name'.*101 characters but the column holds 100"),
        ({"amount_minor": -5}, r"column amount_minor must be a positive int"),
    ],
)
def test_transaction_refusals_name_the_transaction_and_column(
    tmp_path: pathlib.Path, change: dict[str, object], message: str
) -> None:
    txs = irr_transactions(["a", "b", "c"])
    fields = {name: getattr(txs[1], name) for name in CreditTransfer.__slots__}  # type: ignore[attr-defined]
    txs[1] = CreditTransfer(**{**fields, **change})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"transaction '{txs[1].end_to_end_id}': {message}"):
        write_csv_batch(tmp_path / "batch.csv", "ir_csv_batch_example", irr_batch(txs), txs)
    assert list(tmp_path.iterdir()) == []


def test_long_description_is_cut_where_the_layout_allows(tmp_path: pathlib.Path) -> None:
    txs = irr_transactions(["علی"])
    txs[0] = CreditTransfer(**{**{n: getattr(txs[0], n) for n in CreditTransfer.__slots__}, "remittance": "ب" * 150})  # type: ignore[attr-defined, arg-type]
    path = tmp_path / "batch.csv"
    write_csv_batch(path, "ir_csv_batch_example", irr_batch(txs), txs)
    assert read_csv_batch(path, "ir_csv_batch_example").rows[0]["description"] == "ب" * 140


USD_LAYOUT = """
kind = "csv"
name = "usd_sheet"
encoding = "utf-8"
delimiter = "\\t"
header = false
line_ending = "\\n"
currency = "USD"

[[columns]]
name = "seq"
type = "integer"
source = "seq"

[[columns]]
name = "amount"
type = "amount"
source = "tx.amount_minor"
amount_format = "major"

[[columns]]
name = "account"
source = "tx.creditor_account_id"

[[columns]]
name = "date"
source = "batch.requested_execution_date"
format = "%Y-%m-%d"

[[columns]]
name = "company"
source = "param.company"
"""


def test_major_units_tab_delimited_without_header(tmp_path: pathlib.Path) -> None:
    layout = layout_file(tmp_path, USD_LAYOUT)
    txs = [
        CreditTransfer(f"E{i}", amount, "Name", None, acct, "091000019", "")
        for i, (amount, acct) in enumerate([(1250, "-100"), (5, "@200"), (100_000_000_01, "300")])
    ]
    batch = irr_batch(txs, currency="USD")
    path = tmp_path / "usd.tsv"
    write_csv_batch(path, layout, batch, txs, {"company": "=Pension Fund"})
    lines = path.read_text("utf-8").split("\n")
    assert lines == [
        "1\t12.50\t'-100\t2025-11-15\t'=Pension Fund",
        "2\t0.05\t'@200\t2025-11-15\t'=Pension Fund",
        "3\t100000000.01\t300\t2025-11-15\t'=Pension Fund",
        "",
    ]
    rows = read_csv_batch(path, layout).rows
    assert [r["amount"] for r in rows] == [1250, 5, 100_000_000_01]
    assert [r["account"] for r in rows] == ["-100", "@200", "300"] and rows[0]["company"] == "=Pension Fund"
    with pytest.raises(ValueError, match=r"needs parameter\(s\) company"):
        write_csv_batch(tmp_path / "x.tsv", layout, batch, txs)
    with pytest.raises(ValueError, match=r"batch currency is 'IRR' but the layout writes USD"):
        write_csv_batch(tmp_path / "x.tsv", layout, irr_batch(txs), txs, {"company": "x"})


def test_same_input_gives_the_same_bytes(tmp_path: pathlib.Path) -> None:
    txs = irr_transactions(TRICKY_NAMES)
    a = write_csv_batch(tmp_path / "a.csv", "ir_csv_batch_example", irr_batch(txs), txs)
    b = write_csv_batch(tmp_path / "b.csv", "ir_csv_batch_example", irr_batch(txs), iter(txs))
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes() and a.sha256 == b.sha256


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('source = "tx.creditor_name"', 'source = "tx.name"', r"column 'name': unknown source 'tx.name'"),
        ('label = "Beneficiary"', 'label = "=Beneficiary"', r"label '=Beneficiary' starts with a formula character"),
        ('name = "sheba"', 'name = "amount"', r"column name\(s\) 'amount' used twice"),
        ('amount_format = "minor"\n', "", r"amount_format must be \"minor\" .* or \"major\", got None"),
        ('amount_format = "minor"', 'amount_format = "major"', None),
        ('currency = "IRR"\n', "", None),
        ('source = "tx.creditor_name"', 'source = "seq"', r"seq is a number: use type = \"integer\""),
        ('encoding = "latin-1"', 'encoding = "utf-16"', r"does not write ASCII characters as ASCII bytes"),
        ('delimiter = ";"', 'delimiter = "ab"', r"delimiter must be one ASCII punctuation or whitespace character"),
        ('kind = "csv"', 'kind = "fixed_width"', r"kind must be \"csv\", got 'fixed_width'"),
    ],
)
def test_bad_csv_layouts_are_refused(tmp_path: pathlib.Path, old: str, new: str, message: str | None) -> None:
    assert old in LATIN1_LAYOUT
    path = layout_file(tmp_path, LATIN1_LAYOUT.replace(old, new, 1))
    if message is None:  # valid on its own
        load_csv_layout(path)
        return
    with pytest.raises(LayoutError, match=message):
        load_csv_layout(path)


def test_major_amounts_need_a_currency(tmp_path: pathlib.Path) -> None:
    text = LATIN1_LAYOUT.replace('currency = "IRR"\n', "").replace('amount_format = "minor"', 'amount_format = "major"')
    with pytest.raises(LayoutError, match=r"column 'amount': amount_format = \"major\" needs the layout's currency"):
        load_csv_layout(layout_file(tmp_path, text))
