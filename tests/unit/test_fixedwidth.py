"""Fixed-width layouts: NACHA PPD checked by an independent parser, the Korean CP949 example, refusals."""

from __future__ import annotations

import hashlib
import math
import pathlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import comanage_nacha
import pytest

from bank_formats.fixedwidth import (
    FixedWidthLayout,
    LayoutError,
    load_layout,
    read_fixed_width,
    write_fixed_width,
)
from bank_formats.model import CreditTransfer, Debtor, PaymentBatch

NEW_YORK = timezone(timedelta(hours=-5))
SEOUL = timezone(timedelta(hours=9))

NACHA_PARAMS = {
    "immediate_destination": "091000019",
    "immediate_destination_name": "Wells Fargo",
    "immediate_origin": "1234567890",
    "company_name": "State Pension",
    "company_id": "1234567890",
    "originating_dfi": "09100001",
}
KR_PARAMS = {"company_code": "NPS0001"}
KOREAN_NAMES = ["김민수", "이영희", "박지훈", "최수진", "정우성", "강미경", "똠방각하"]


def aba(prefix8: str) -> str:
    """A 9-digit ABA routing number: the 8 digits and their check digit (weights 3, 7, 1)."""
    check = (10 - sum(w * int(d) for w, d in zip((3, 7, 1, 3, 7, 1, 3, 7), prefix8, strict=True)) % 10) % 10
    return prefix8 + str(check)


def usd_transactions(n: int, *, high_routing: bool = False) -> list[CreditTransfer]:
    # 113 high prefixes (>= 90,000,000) add up past 10 digits: the entry hash must drop the overflow
    base, step = (90_000_000, 79_001) if high_routing else (1_100_000, 104_729)
    return [
        CreditTransfer(
            end_to_end_id=f"P{i:07d}-2511",
            amount_minor=187_500 + 1_013 * i,
            creditor_name=f"Pensioner Number {i} With A Long Family Name",
            creditor_iban=None,
            creditor_account_id=f"{4_000_000_000 + 7 * i}",
            creditor_bank_code=aba(f"{base + step * i:08d}"),
            remittance="November pension",
        )
        for i in range(n)
    ]


def usd_batch(txs: list[CreditTransfer], **changes: object) -> PaymentBatch:
    fields: dict[str, object] = dict(
        msg_id="SPF-2025-11",
        created_at=datetime(2025, 11, 20, 9, 30, tzinfo=NEW_YORK),
        initiating_party="State Pension Fund",
        payment_info_id="SPF-2025-11-1",
        requested_execution_date=date(2025, 12, 1),
        currency="USD",
        debtor=Debtor(name="State Pension Fund", iban=None, bank_code="091000019", account_id="7654321"),
        number_of_transactions=len(txs),
        control_sum_minor=sum(t.amount_minor for t in txs),
    )
    fields.update(changes)
    return PaymentBatch(**fields)  # type: ignore[arg-type]


def krw_transactions(n: int) -> list[CreditTransfer]:
    return [
        CreditTransfer(
            end_to_end_id=f"NPS-202511-{i:06d}",
            amount_minor=612_340 + 1_000 * i,  # won
            creditor_name=KOREAN_NAMES[i % len(KOREAN_NAMES)],
            creditor_iban=None,
            creditor_account_id=f"110-{i:03d}-{100000 + i}",
            creditor_bank_code=["004", "088", "020", "011"][i % 4],
            remittance="국민연금 11월",
        )
        for i in range(n)
    ]


def krw_batch(txs: list[CreditTransfer], **changes: object) -> PaymentBatch:
    fields: dict[str, object] = dict(
        msg_id="NPS-2025-11",
        created_at=datetime(2025, 11, 20, 9, 0, tzinfo=SEOUL),
        initiating_party="국민연금공단",
        payment_info_id="NPS-2025-11-1",
        requested_execution_date=date(2025, 11, 25),
        currency="KRW",
        debtor=Debtor(name="국민연금공단", iban=None, bank_code="004", account_id="123-456-789012"),
        number_of_transactions=len(txs),
        control_sum_minor=sum(t.amount_minor for t in txs),
    )
    fields.update(changes)
    return PaymentBatch(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def nacha() -> FixedWidthLayout:
    return load_layout("nacha_ppd")


def write_nacha(path: pathlib.Path, txs: list[CreditTransfer], layout: FixedWidthLayout, **changes: object):
    return write_fixed_width(path, layout, usd_batch(txs, **changes), txs, NACHA_PARAMS)


def leftovers(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------------- NACHA, independent parser


@pytest.mark.parametrize(("n", "high_routing"), [(37, False), (113, True)])
def test_nacha_round_trips_byte_for_byte_through_comanage_nacha(
    tmp_path: pathlib.Path, nacha: FixedWidthLayout, n: int, high_routing: bool
) -> None:
    txs = usd_transactions(n, high_routing=high_routing)
    path = tmp_path / "ach.txt"
    result = write_nacha(path, txs, nacha)
    data = path.read_bytes()
    text = data.decode("ascii")

    parsed = comanage_nacha.parse(text)
    assert parsed.render_to_string().encode("ascii") == data  # byte for byte

    # Figures computed here from the inputs, not taken from the writer.
    routing_sum = sum(int(t.creditor_bank_code[:8]) for t in txs)
    if high_routing:
        assert routing_sum >= 10**10  # the hash really is cut to its rightmost 10 digits
    entry_hash = routing_sum % 10**10
    total = sum(t.amount_minor for t in txs)
    records = 1 + 1 + n + 1 + 1
    blocks = math.ceil(records / 10)
    assert records % 10  # comanage-nacha adds a spurious block when the records fill the last one exactly

    (batch,) = parsed.batches
    assert len(parsed.batches) == parsed.file_control.batch_count == 1
    assert parsed.file_control.block_count == blocks == parsed.calculate_block_count()
    assert parsed.file_control.entry_addenda_record_count == n == batch.batch_control.entry_addenda_count
    assert parsed.file_control.entry_hash_total == entry_hash == batch.batch_control.entry_hash
    assert int(batch.entry_hash) == entry_hash  # comanage's own sum over the parsed entries
    assert parsed.file_control.total_file_credit_entry_amount == total
    assert batch.batch_control.total_batch_credit_entry_dollar_amount == total
    assert batch.calculate_total_batch_credit_entry() == total
    assert parsed.file_control.total_file_debit_entry_amount == 0
    assert batch.batch_header.service_class_code == 220
    assert batch.batch_header.standard_entry_class == "PPD"
    assert batch.batch_header.effective_entry_date == date(2025, 12, 1)
    assert batch.batch_header.company_id == "1234567890"
    assert parsed.file_header.file_creation_date == date(2025, 11, 20)

    assert len(batch.entries) == n
    for i, (entry, tx) in enumerate(zip(batch.entries, txs, strict=True), 1):
        detail = entry.entry_detail
        assert entry.is_credit and detail.transaction_code == 22
        assert detail.receiving_dfi_routing_number + str(detail.routing_number_check_digit) == tx.creditor_bank_code
        assert detail.validate_routing_number_check_digit()
        assert detail.receiving_dfi_account_number == tx.creditor_account_id
        assert detail.amount == tx.amount_minor
        assert detail.individual_id == tx.end_to_end_id
        assert detail.individual_name == tx.creditor_name.upper()[:22].rstrip()
        assert detail.wells_fargo_routing_number == "09100001" and detail.trace_number == i

    lines = text.split("\n")
    assert len(lines) == blocks * 10 and all(len(line) == 94 for line in lines)
    assert lines[records:] == ["9" * 94] * (blocks * 10 - records)
    assert result.transactions == n and result.control_sum_minor == total
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)


def test_nacha_records_filling_the_last_block_get_no_filler(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(36)  # 40 records: exactly 4 blocks
    path = tmp_path / "ach.txt"
    write_nacha(path, txs, nacha)
    lines = path.read_text("ascii").split("\n")
    assert len(lines) == 40 and lines[-1].startswith("9000001000004")  # file control last, 4 blocks
    parsed = comanage_nacha.parse("\n".join(lines))
    assert parsed.file_control.block_count == 4 and parsed.file_control.entry_addenda_record_count == 36
    # comanage-nacha's re-render appends ten '9' records here (range(40 % 10, 10)); our records are the same
    assert parsed.render_to_string().split("\n")[:40] == lines
    ours = read_fixed_width(path, nacha)
    assert ours.filler_records == 0 and ours.of_type("file_control")[0]["block_count"] == 4


def test_nacha_parses_back_with_our_reader(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(37)
    path = tmp_path / "ach.txt"
    write_nacha(path, txs, nacha)
    parsed = read_fixed_width(path, "nacha_ppd")
    assert [name for name, _ in parsed.records] == (
        ["file_header", "batch_header"] + ["entry_detail"] * 37 + ["batch_control", "file_control"]
    )
    assert parsed.filler_records == 9
    details = parsed.of_type("entry_detail")
    for i, (d, tx) in enumerate(zip(details, txs, strict=True), 1):
        assert d["record_type"] == 6 and d["transaction_code"] == 22
        assert f"{d['receiving_dfi']:08d}{d['check_digit']}" == tx.creditor_bank_code
        assert d["dfi_account_number"] == tx.creditor_account_id
        assert d["amount"] == tx.amount_minor
        assert d["individual_id"] == tx.end_to_end_id
        assert d["individual_name"] == tx.creditor_name.upper()[:22].rstrip()
        assert d["trace_odfi"] == 9_100_001 and d["trace_sequence"] == i
    (header,) = parsed.of_type("file_header")
    assert header["immediate_destination"] == "091000019" and header["file_creation_time"] == 930
    assert header["immediate_destination_name"] == "WELLS FARGO" and header["file_id_modifier"] == "A"
    (control,) = parsed.of_type("file_control")
    assert control["total_credit"] == sum(t.amount_minor for t in txs)
    assert control["entry_hash"] == sum(int(t.creditor_bank_code[:8]) for t in txs) % 10**10


def _tamper(path: pathlib.Path, line: int, position: int, new: str) -> None:
    lines = path.read_text("ascii").split("\n")
    row = lines[line - 1]
    lines[line - 1] = row[: position - 1] + new + row[position - 1 + len(new) :]
    path.write_text("\n".join(lines), "ascii")


@pytest.mark.parametrize(
    ("line", "position", "new", "message"),
    [
        (3, 39, "1", r"line 8: record 'batch_control', field 'total_credit'.* 5 entry_detail records give"),
        (4, 11, "3", r"line 8: record 'batch_control', field 'entry_hash'"),
        (4, 1, "7", r"line 4: record 'entry_detail', field 'record_type'.*expected '6'"),
        (5, 94, "9", r"line 5: record 'entry_detail', field 'trace_sequence': sequence number is 9, expected 3"),
        (2, 51, "CCD", r"line 2: record 'batch_header', field 'standard_entry_class'.*expected 'PPD'"),
        (9, 13, "5", r"line 9: record 'file_control', field 'block_count'"),
        (3, 30, "12345678x0", r"line 3: record 'entry_detail', field 'amount'.*not all digits"),
    ],
)
def test_reader_names_line_and_field_of_a_tampered_file(
    tmp_path: pathlib.Path, nacha: FixedWidthLayout, line: int, position: int, new: str, message: str
) -> None:
    txs = usd_transactions(5)
    path = tmp_path / "ach.txt"
    write_nacha(path, txs, nacha)
    _tamper(path, line, position, new)
    with pytest.raises(ValueError, match=message):
        read_fixed_width(path, nacha)


def test_reader_checks_record_length_and_fillers(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    path = tmp_path / "ach.txt"
    write_nacha(path, usd_transactions(5), nacha)
    good = path.read_text("ascii")
    path.write_text(good.replace("\n", "X\n", 1), "ascii")
    with pytest.raises(ValueError, match=r"line 1: record is 95 bytes, the layout's records are 94"):
        read_fixed_width(path, nacha)
    path.write_text(good.rsplit("\n", 1)[0], "ascii")  # the one filler record dropped
    with pytest.raises(ValueError, match=r"0 filler record\(s\) after 9 records; blocks of 10 need 1"):
        read_fixed_width(path, nacha)


# ------------------------------------------------------------------------------------------- refusals


def test_non_ascii_name_is_refused_in_nacha(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(4)
    txs[2] = CreditTransfer(**{**_fields(txs[2]), "creditor_name": "José Núñez"})
    path = tmp_path / "ach.txt"
    with pytest.raises(ValueError, match=r"transaction 'P0000002-2511': field 'individual_name'.*'É' \(U\+00C9.*ascii"):
        write_nacha(path, txs, nacha)
    assert leftovers(tmp_path) == []


def _fields(tx: CreditTransfer) -> dict[str, object]:
    return {name: getattr(tx, name) for name in tx.__slots__}  # type: ignore[attr-defined]


def test_amount_too_long_for_the_field_is_refused_not_cut(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(3)
    txs[1] = CreditTransfer(**{**_fields(txs[1]), "amount_minor": 10**10})  # $100,000,000.00: 11 digits
    with pytest.raises(ValueError, match=r"transaction 'P0000001-2511': field 'amount'.*11 digits but the field holds 10"):
        write_nacha(tmp_path / "ach.txt", txs, nacha)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"number_of_transactions": 8}, r"declared 8 transactions summing to .* but streamed 7 .* file not written"),
        ({"control_sum_minor": 1}, r"declared 7 transactions summing to 0.01 USD, but streamed 7"),
    ],
)
def test_declared_count_or_sum_mismatch_leaves_nothing_behind(
    tmp_path: pathlib.Path, nacha: FixedWidthLayout, changes: dict[str, int], message: str
) -> None:
    txs = usd_transactions(7)
    path = tmp_path / "ach.txt"
    with pytest.raises(ValueError, match=message):
        write_nacha(path, txs, nacha, **changes)
    assert leftovers(tmp_path) == []  # neither the file nor a temporary file
    path.write_bytes(b"previous file")
    with pytest.raises(ValueError, match=message):
        write_nacha(path, txs, nacha, **changes)
    assert leftovers(tmp_path) == ["ach.txt"] and path.read_bytes() == b"previous file"


def test_duplicate_end_to_end_id_is_refused(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(5)
    txs[4] = CreditTransfer(**{**_fields(txs[4]), "end_to_end_id": txs[1].end_to_end_id})
    with pytest.raises(ValueError, match=r"transaction 'P0000001-2511': field end_to_end_id repeats"):
        write_nacha(tmp_path / "ach.txt", txs, nacha)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"creditor_bank_code": "091000018"}, r"field 'receiving_dfi'.*fails the ABA routing number check digit"),
        ({"creditor_bank_code": "09100001"}, r"field 'receiving_dfi'.*does not match the pattern"),
        ({"end_to_end_id": "P0000001-2511-EXTRA"}, r"field 'individual_id'.*19 bytes in ascii but the field holds 15"),
        ({"creditor_account_id": None}, r"field 'dfi_account_number'.*is missing"),
        ({"creditor_name": "Tab\tName"}, r"field 'individual_name'.*control character U\+0009"),
        ({"amount_minor": 0}, r"field amount_minor must be a positive int"),
    ],
)
def test_transaction_refusals_name_the_transaction_and_field(
    tmp_path: pathlib.Path, nacha: FixedWidthLayout, change: dict[str, object], message: str
) -> None:
    txs = usd_transactions(3)
    txs[1] = CreditTransfer(**{**_fields(txs[1]), **change})
    with pytest.raises(ValueError, match=rf"transaction '{txs[1].end_to_end_id}': {message}"):
        write_nacha(tmp_path / "ach.txt", txs, nacha)
    assert leftovers(tmp_path) == []


def test_long_name_is_cut_only_where_the_layout_allows(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(1)
    path = tmp_path / "ach.txt"
    write_nacha(path, txs, nacha)
    assert read_fixed_width(path, nacha).of_type("entry_detail")[0]["individual_name"] == "PENSIONER NUMBER 0 WIT"


def test_parameters_are_checked(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(2)
    batch = usd_batch(txs)
    missing = {k: v for k, v in NACHA_PARAMS.items() if k != "company_id"}
    with pytest.raises(ValueError, match=r"needs parameter\(s\) company_id"):
        write_fixed_width(tmp_path / "a.txt", nacha, batch, txs, missing)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) company_idd"):
        write_fixed_width(tmp_path / "a.txt", nacha, batch, txs, {**NACHA_PARAMS, "company_idd": "x"})
    with pytest.raises(ValueError, match=r"record 'file_header', field 'immediate_destination'.*fails the ABA"):
        write_fixed_width(tmp_path / "a.txt", nacha, batch, txs, {**NACHA_PARAMS, "immediate_destination": "091000010"})
    with pytest.raises(ValueError, match=r"record 'batch_header', field 'company_name'.*17 bytes.*holds 16"):
        write_fixed_width(tmp_path / "a.txt", nacha, batch, txs, {**NACHA_PARAMS, "company_name": "State Pension Ltd"})
    with pytest.raises(ValueError, match=r"batch currency is 'KRW' but the layout writes USD"):
        write_fixed_width(tmp_path / "a.txt", nacha, usd_batch(txs, currency="KRW"), txs, NACHA_PARAMS)
    assert leftovers(tmp_path) == []


def test_declared_figures_too_wide_for_the_trailer_are_refused_before_streaming(
    tmp_path: pathlib.Path, nacha: FixedWidthLayout
) -> None:
    consumed = []

    def transactions() -> Iterator[CreditTransfer]:
        consumed.append(True)
        yield from usd_transactions(1)

    batch = usd_batch([], number_of_transactions=1_000_000, control_sum_minor=10**9)
    with pytest.raises(ValueError, match=r"record 'batch_control', field 'entry_addenda_count'.*declared agg.count.*7 digits"):
        write_fixed_width(tmp_path / "a.txt", nacha, batch, transactions(), NACHA_PARAMS)
    assert consumed == [] and leftovers(tmp_path) == []


def test_same_input_gives_the_same_bytes(tmp_path: pathlib.Path, nacha: FixedWidthLayout) -> None:
    txs = usd_transactions(23)
    first = write_nacha(tmp_path / "a.txt", txs, nacha)
    second = write_fixed_width(tmp_path / "b.txt", nacha, usd_batch(txs), iter(txs), NACHA_PARAMS)
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    assert first.sha256 == second.sha256 and first.bytes == second.bytes
    krw = krw_transactions(9)
    k1 = write_fixed_width(tmp_path / "k1.txt", "kr_bulk_credit_example", krw_batch(krw), krw, KR_PARAMS)
    k2 = write_fixed_width(tmp_path / "k2.txt", "kr_bulk_credit_example", krw_batch(krw), krw, KR_PARAMS)
    assert (tmp_path / "k1.txt").read_bytes() == (tmp_path / "k2.txt").read_bytes() and k1.sha256 == k2.sha256


# ------------------------------------------------------------------------------------------ Korean CP949


def test_korean_layout_writes_hangul_in_cp949_and_parses_back(tmp_path: pathlib.Path) -> None:
    txs = krw_transactions(14)
    path = tmp_path / "kr.txt"
    result = write_fixed_width(path, "kr_bulk_credit_example", krw_batch(txs), txs, KR_PARAMS)
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really CP949, not UTF-8
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) == 120 for line in lines[:-1])  # bytes, not characters
    assert len(lines) - 1 == 14 + 2
    for line, tx in zip(lines[1:-2], txs, strict=True):
        assert line[40:60] == tx.creditor_name.encode("cp949").ljust(20, b" ")
    assert "똠방각하".encode("cp949") in data  # outside EUC-KR's 2,350 syllables, inside CP949

    parsed = read_fixed_width(path, "kr_bulk_credit_example")
    rows = parsed.of_type("data")
    assert [r["name"] for r in rows] == [t.creditor_name for t in txs]
    assert [r["amount"] for r in rows] == [t.amount_minor for t in txs]
    assert [r["account"] for r in rows] == [t.creditor_account_id for t in txs]
    assert [f"{r['bank_code']:03d}" for r in rows] == [t.creditor_bank_code for t in txs]
    assert [r["reference"] for r in rows] == [t.end_to_end_id for t in txs]
    assert [r["memo"] for r in rows] == ["국민연금 11월"] * 14
    (header,) = parsed.of_type("header")
    assert header["debtor_name"] == "국민연금공단" and header["transfer_date"] == 20251125
    (trailer,) = parsed.of_type("trailer")
    assert trailer["count"] == 14 and trailer["records"] == 16
    assert trailer["total"] == sum(t.amount_minor for t in txs) == result.control_sum_minor


def test_korean_memo_is_cut_between_characters(tmp_path: pathlib.Path) -> None:
    txs = krw_transactions(2)
    txs[0] = CreditTransfer(**{**_fields(txs[0]), "remittance": "가나다라마바사아자차"})  # 20 bytes
    txs[1] = CreditTransfer(**{**_fields(txs[1]), "remittance": "a가나다라마바사아"})  # 17 bytes
    path = tmp_path / "kr.txt"
    write_fixed_width(path, "kr_bulk_credit_example", krw_batch(txs), txs, KR_PARAMS)
    memos = [r["memo"] for r in read_fixed_width(path, "kr_bulk_credit_example").of_type("data")]
    assert memos == ["가나다라마바사아", "a가나다라마바사"]  # 16 bytes; 15 bytes rather than half a syllable


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("محمد رضایی", r"field 'name'.*'م' \(U\+0645, ARABIC LETTER MEEM\).*cannot be written in cp949"),
        ("남궁민수남궁민수남궁민", r"field 'name'.*22 bytes in cp949 but the field holds 20"),
    ],
)
def test_korean_layout_refuses_what_it_cannot_carry(tmp_path: pathlib.Path, name: str, message: str) -> None:
    txs = krw_transactions(3)
    txs[2] = CreditTransfer(**{**_fields(txs[2]), "creditor_name": name})
    with pytest.raises(ValueError, match=rf"transaction 'NPS-202511-000002': {message}"):
        write_fixed_width(tmp_path / "kr.txt", "kr_bulk_credit_example", krw_batch(txs), txs, KR_PARAMS)
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------ layout files

GOOD_LAYOUT = """
kind = "fixed_width"
name = "tiny"
record_length = 20
encoding = "ascii"
line_ending = "\\n"

[[records]]
name = "head"
role = "header"
fields = [
  { name = "code", start = 1, length = 1, type = "A", value = "H" },
  { name = "count", start = 2, length = 5, type = "N", source = "agg.count" },
  { name = "filler", start = 7, length = 14, type = "A", value = "" },
]

[[records]]
name = "item"
role = "detail"
fields = [
  { name = "code", start = 1, length = 1, type = "A", value = "D" },
  { name = "bank", start = 2, length = 3, type = "N", source = "tx.creditor_bank_code" },
  { name = "amount", start = 5, length = 16, type = "N", source = "tx.amount_minor" },
]

[[records]]
name = "tail"
role = "trailer"
fields = [
  { name = "code", start = 1, length = 1, type = "A", value = "T" },
  { name = "hash", start = 2, length = 3, type = "N", source = "agg.hash", of = "bank" },
  { name = "sum", start = 5, length = 16, type = "N", source = "agg.sum" },
]
"""


def test_a_bank_layout_is_a_file(tmp_path: pathlib.Path) -> None:
    layout_path = tmp_path / "tiny.toml"
    layout_path.write_text(GOOD_LAYOUT, "utf-8")
    txs = krw_transactions(4)  # bank codes 004, 088, 020, 011
    txs.append(CreditTransfer(**{**_fields(txs[0]), "end_to_end_id": "X", "creditor_bank_code": "999"}))
    path = tmp_path / "tiny.txt"
    write_fixed_width(path, layout_path, krw_batch(txs), txs)
    parsed = read_fixed_width(path, load_layout(layout_path))
    (tail,) = parsed.of_type("tail")
    assert tail["hash"] == (4 + 88 + 20 + 11 + 999) % 1000  # kept to the field's rightmost 3 digits
    assert tail["sum"] == sum(t.amount_minor for t in txs)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '{ name = "bank", start = 2, length = 3',
            '{ name = "bank", start = 2, length = 4',
            r"record 'item': field 'amount' starts at 5 and overlaps field 'bank' \(positions 2-5\)",
        ),
        (
            '{ name = "amount", start = 5, length = 16',
            '{ name = "amount", start = 6, length = 15',
            r"record 'item': gap at positions 5-5: field 'bank' ends at 4 but field 'amount' starts at 6",
        ),
        (
            'source = "tx.creditor_bank_code"',
            'source = "tx.creditor_bank"',
            r"record 'item', field 'bank': unknown source 'tx.creditor_bank'",
        ),
        (
            '{ name = "sum", start = 5, length = 16',
            '{ name = "sum", start = 5, length = 15',
            r"record 'tail': the fields cover positions 1-19 \(19 bytes\) but record_length is 20",
        ),
        ('record_length = 20', 'record_length = 21', r"record 'head': the fields cover positions 1-20"),
        ('source = "agg.count"', 'source = "agg.hash", of = "bank"', r"record 'head', field 'count': source 'agg.hash' cannot be used here"),
        ('source = "agg.count"', 'source = "tx.amount_minor"', r"field 'count': source 'tx.amount_minor' cannot be used here"),
        ('of = "bank"', 'of = "code"', r"field 'hash': of = 'code' must name a numeric field of the detail record"),
        ('type = "N", source = "agg.sum"', 'type = "N", truncate = true, source = "agg.sum"', r"numeric field cannot be truncated"),
        ('value = "H"', 'value = "HH"', r"field 'code': 'HH' is 2 bytes in ascii but the field holds 1"),
        ('value = "H"', 'value = "H", colour = "red"', r"field 'code': unknown key\(s\) colour"),
        ('encoding = "ascii"', 'encoding = "utf-16"', r"encoding 'utf-16' does not write ASCII characters as ASCII"),
        (GOOD_LAYOUT[GOOD_LAYOUT.index('[[records]]\nname = "item"') : GOOD_LAYOUT.index('[[records]]\nname = "tail"')],
         "", r"needs exactly one detail record, found 0"),
        ('name = "head"\nrole = "header"', 'name = "head"\nrole = "trailer"', r"records must be declared in file order"),
        ('line_ending = "\\n"', 'line_ending = "\\n\\n"', r"line_ending must be one of"),
        ('kind = "fixed_width"', 'kind = "csv"', r"kind must be \"fixed_width\", got 'csv' \(a CSV layout"),
    ],
)
def test_bad_layout_files_are_refused_with_clear_errors(
    tmp_path: pathlib.Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD_LAYOUT
    path = tmp_path / "bad.toml"
    path.write_text(GOOD_LAYOUT.replace(old, new, 1), "utf-8")
    with pytest.raises(LayoutError, match=message):
        load_layout(path)


def test_layout_names_resolve_to_package_data() -> None:
    assert load_layout("nacha_ppd").record_length == 94
    assert load_layout("kr_bulk_credit_example").encoding == "cp949"
    with pytest.raises(LayoutError, match=r"no layout named 'nacha_ccd'.*known: .*nacha_ppd"):
        load_layout("nacha_ccd")
    with pytest.raises(LayoutError, match=r"kind must be \"fixed_width\", got 'csv'"):
        load_layout("ir_csv_batch_example")


def test_format_registry_entries_write_and_read_back(tmp_path: pathlib.Path) -> None:
    from bank_formats import csvbatch, fixedwidth

    fmt = fixedwidth.file_format("nacha_ppd")
    assert fmt.required_params == ("company_id", "company_name", "immediate_destination",
                                   "immediate_destination_name", "immediate_origin", "originating_dfi")
    txs = usd_transactions(12)
    path = tmp_path / "ach.txt"
    fmt.write(path, usd_batch(txs), txs, {**NACHA_PARAMS, "sheba_prefix": "unused by this layout"})
    back = fmt.read_back(path)
    assert back.declared_count == 12 and back.declared_sum == sum(t.amount_minor for t in txs)
    assert back.transfers == [(t.end_to_end_id, t.amount_minor) for t in txs]

    kr = fixedwidth.file_format("kr_bulk_credit_example")
    krw = krw_transactions(5)
    kr.write(tmp_path / "kr.txt", krw_batch(krw), krw, KR_PARAMS)
    assert kr.read_back(tmp_path / "kr.txt").transfers == [(t.end_to_end_id, t.amount_minor) for t in krw]

    ir = csvbatch.file_format("ir_csv_batch_example")
    assert ir.required_params == () and ir.extension == ".csv"
    irr = [
        CreditTransfer(f"IR-{i}", 5_000_000 + i, "=cmd", "IR060170000000000000000000", None, "017", "")
        for i in range(3)
    ]
    ir.write(tmp_path / "ir.csv", krw_batch(irr, currency="IRR"), irr)
    back = ir.read_back(tmp_path / "ir.csv")
    assert back.declared_count is None and back.transfers == [(t.end_to_end_id, t.amount_minor) for t in irr]


def test_fast_paths_give_the_same_bytes_or_refusal_as_the_full_checks() -> None:
    from bank_formats import csvbatch
    from bank_formats.fixedwidth import _Refusal

    def outcome(fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except _Refusal as exc:
            return ("refused", str(exc))

    samples: list[object] = [
        None, "", "   ", 0, 7, -1, 10**12, True, 3.5, "091000019", "091000018", "12345", "x" * 30, "José",
        "김민수", "가나다라마바사아자차가", "محمد", "tab\there", "=SUM(A1)", "'a", "a'b", "ab,\"c\"\nd",
    ]
    checked = 0
    for name in ("nacha_ppd", "kr_bulk_credit_example"):
        layout = load_layout(name)
        for record in layout.records:
            for f in record.fields:
                fast = f.renderer(layout.encoding)
                for value in samples:
                    assert outcome(fast, value) == outcome(f.render, value, layout.encoding), (name, f.name, value)
                    checked += 1
    csv_layout = csvbatch.load_csv_layout("ir_csv_batch_example")
    quote = csvbatch._quoter(csv_layout)
    for c in csv_layout.columns:
        fast_cell = c.renderer(csv_layout.encoding, "IRR", quote)
        for value in samples:
            slow = outcome(c.render, value, csv_layout.encoding, "IRR")
            expected = slow if isinstance(slow, tuple) else quote(slow)
            assert outcome(fast_cell, value) == expected, (c.name, value)
            checked += 1
    assert checked > 1000
