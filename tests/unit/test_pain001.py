"""pain.001.001.09 writer and reader: XSD validity, exact round trips, all-or-nothing writes."""

from __future__ import annotations

import ast
import hashlib
import pathlib
import resource
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree
from stdnum.iso7064 import mod_97_10

from bank_formats import pain001, xsd
from bank_formats.pain001 import (
    CreditTransfer,
    Debtor,
    PaymentBatch,
    clip_text,
    read_pain001,
    write_pain001,
)

NS = {"p": pain001.NAMESPACE}
TEHRAN = timezone(timedelta(hours=3, minutes=30))
SEOUL = timezone(timedelta(hours=9))

PERSIAN_FIRST = ["محمد", "فاطمه", "علی", "زهرا", "حسین", "مریم", "رضا", "سکینه", "مهدی", "کبری"]
PERSIAN_LAST = ["رضایی", "احمدی", "محمدی", "حسینی\u200cنژاد", "کریمی"]
KOREAN_NAMES = ["김민수", "이영희", "박지훈", "최수진", "정우성", "강미경"]


def sheba(bank_code: str, serial: int) -> str:
    """A valid SHEBA: IR + ISO 7064 mod 97-10 check digits + 3-digit bank code + 19 digits."""
    bban = f"{bank_code}{serial:019d}"
    check = 98 - int(bban + "1827" + "00") % 97
    iban = f"IR{check:02d}{bban}"
    assert mod_97_10.is_valid(iban[4:] + iban[:4])
    return iban


def irr_transactions(n: int = 50) -> list[CreditTransfer]:
    banks = ["013", "017", "012", "054"]
    txs = []
    for i in range(n):
        bank = banks[i % len(banks)]
        name = f"{PERSIAN_FIRST[i % 10]} {PERSIAN_LAST[i % 5]}"
        txs.append(
            CreditTransfer(
                end_to_end_id=f"1405-08-B{i % 7:03d}-P{i:08d}",
                amount_minor=85_000_000 + 12_345 * i,
                creditor_name=name,
                creditor_iban=sheba(bank, 1_000_000 + i),
                creditor_account_id=None,
                creditor_bank_code=bank,
                remittance=f"مستمری بازنشستگی آبان ۱۴۰۵ - {name}",
            )
        )
    return txs


def irr_batch(txs: list[CreditTransfer], **overrides) -> PaymentBatch:
    fields = dict(
        msg_id="SSO-1405-08-REFAH-001",
        created_at=datetime(2026, 11, 21, 10, 0, 0, tzinfo=TEHRAN),
        initiating_party="سازمان تامین اجتماعی",
        payment_info_id="SSO-1405-08-REFAH-001-P1",
        requested_execution_date=date(2026, 11, 22),
        currency="IRR",
        debtor=Debtor(name="سازمان تامین اجتماعی - حساب مستمری", iban=sheba("013", 42), bank_code="013"),
        number_of_transactions=len(txs),
        control_sum_minor=sum(t.amount_minor for t in txs),
    )
    fields.update(overrides)
    return PaymentBatch(**fields)


def krw_transactions(n: int = 12) -> list[CreditTransfer]:
    banks = ["004", "011", "020", "088", "071", "092"]
    return [
        CreditTransfer(
            end_to_end_id=f"NPS-2026-11-{i:09d}",
            amount_minor=680_000 + 1_000 * i,
            creditor_name=KOREAN_NAMES[i % len(KOREAN_NAMES)],
            creditor_iban=None,
            creditor_account_id=f"{i:06d}{(i * 7919) % 10**8:08d}",
            creditor_bank_code=banks[i % len(banks)],
            remittance="국민연금 노령연금 2026년 11월",
        )
        for i in range(n)
    ]


def krw_batch(txs: list[CreditTransfer]) -> PaymentBatch:
    return PaymentBatch(
        msg_id="NPS-2026-11-KB-001",
        created_at=datetime(2026, 11, 20, 9, 0, 0, tzinfo=SEOUL),
        initiating_party="국민연금공단",
        payment_info_id="NPS-2026-11-KB-001-P1",
        requested_execution_date=date(2026, 11, 25),
        currency="KRW",
        debtor=Debtor(name="국민연금공단 연금지급계좌", iban=None, bank_code="004", account_id="00412345678901"),
        number_of_transactions=len(txs),
        control_sum_minor=sum(t.amount_minor for t in txs),
    )


def listing(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def irr_file(tmp_path):
    txs = irr_transactions(50)
    batch = irr_batch(txs)
    result = write_pain001(tmp_path / "refah.xml", batch, iter(txs))
    return result, batch, txs


# ------------------------------------------------------------------------------------------ validity


def test_known_sheba_is_valid_and_generator_agrees():
    known = "IR820540102680020817909002"
    assert mod_97_10.is_valid(known[4:] + known[:4])
    assert sheba("054", 102680020817909002) == "IR820540102680020817909002"


def test_irr_file_validates_against_official_xsd(irr_file):
    result, _, _ = irr_file
    assert xsd.validate_file(result.path) == []
    xsd.assert_valid(result.path)


def test_file_is_utf8_with_declaration_namespace_and_unescaped_persian(irr_file):
    result, batch, txs = irr_file
    data = result.path.read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = etree.fromstring(data)
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}Document"
    assert txs[0].creditor_name.encode("utf-8") in data  # stays Unicode, not transliterated or &#...;
    assert batch.initiating_party.encode("utf-8") in data
    assert b"&#" not in data


def test_element_order_and_fixed_values(irr_file):
    result, _, _ = irr_file
    root = etree.parse(str(result.path)).getroot()
    grp = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert [etree.QName(c).localname for c in grp] == ["MsgId", "CreDtTm", "NbOfTxs", "CtrlSum", "InitgPty"]
    pmt = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    head = [etree.QName(c).localname for c in pmt][:11]
    assert head == [
        "PmtInfId", "PmtMtd", "BtchBookg", "NbOfTxs", "CtrlSum", "PmtTpInf",
        "ReqdExctnDt", "Dbtr", "DbtrAcct", "DbtrAgt", "ChrgBr",
    ]  # fmt: skip
    assert pmt.findtext("p:PmtMtd", namespaces=NS) == "TRF"
    assert pmt.findtext("p:BtchBookg", namespaces=NS) == "false"
    assert pmt.findtext("p:ChrgBr", namespaces=NS) == "DEBT"
    assert pmt.findtext("p:PmtTpInf/p:CtgyPurp/p:Cd", namespaces=NS) == "PENS"
    assert pmt.findtext("p:ReqdExctnDt/p:Dt", namespaces=NS) == "2026-11-22"
    assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "013"
    tx = pmt.find("p:CdtTrfTxInf", NS)
    assert [etree.QName(c).localname for c in tx] == [
        "PmtId", "Amt", "CdtrAgt", "Cdtr", "CdtrAcct", "Purp", "RmtInf",
    ]  # fmt: skip
    assert tx.find("p:Amt/p:InstdAmt", NS).get("Ccy") == "IRR"
    assert grp.findtext("p:CreDtTm", namespaces=NS) == "2026-11-21T10:00:00+03:30"


def test_round_trip_equals_input(irr_file):
    result, batch, txs = irr_file
    parsed = read_pain001(result.path)
    assert parsed.transactions == txs
    assert parsed.msg_id == batch.msg_id
    assert parsed.created_at == "2026-11-21T10:00:00+03:30"
    assert parsed.currency == "IRR"
    assert parsed.initiating_party == batch.initiating_party
    assert parsed.payment_info_id == batch.payment_info_id
    assert parsed.requested_execution_date == batch.requested_execution_date
    assert parsed.debtor == batch.debtor
    assert parsed.charge_bearer == "DEBT"
    assert parsed.category_purpose == "PENS"
    assert parsed.purposes == ["PENS"] * len(txs)
    assert all(type(t.amount_minor) is int for t in parsed.transactions)


def test_headers_equal_the_parsed_transactions(irr_file):
    result, batch, txs = irr_file
    parsed = read_pain001(result.path)
    count = len(parsed.transactions)
    total = sum(t.amount_minor for t in parsed.transactions)
    assert parsed.nb_of_txs == parsed.pmt_inf_nb_of_txs == count == batch.number_of_transactions
    assert parsed.ctrl_sum_minor == parsed.pmt_inf_ctrl_sum_minor == total == batch.control_sum_minor
    assert (result.transactions, result.control_sum_minor) == (count, total)


def test_write_result_hash_and_size_match_the_file(irr_file):
    result, _, _ = irr_file
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.bytes == len(data)
    assert listing(result.path.parent) == ["refah.xml"]  # no temp file left


def test_deterministic_bytes(tmp_path):
    txs = irr_transactions(50)
    a = write_pain001(tmp_path / "a.xml", irr_batch(txs), txs)
    b = write_pain001(tmp_path / "b.xml", irr_batch(txs), (t for t in txs))
    assert a.sha256 == b.sha256
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


def test_krw_account_number_and_bank_code_without_iban(tmp_path):
    txs = krw_transactions()
    batch = krw_batch(txs)
    result = write_pain001(tmp_path / "kb.xml", batch, txs)
    assert xsd.validate_file(result.path) == []
    root = etree.parse(str(result.path)).getroot()
    assert root.xpath("//p:IBAN", namespaces=NS) == []
    first = root.find(".//p:CdtTrfTxInf", NS)
    assert first.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS) == txs[0].creditor_account_id
    assert first.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=NS) == "004"
    assert first.findtext("p:Amt/p:InstdAmt", namespaces=NS) == "680000"
    parsed = read_pain001(result.path)
    assert parsed.transactions == txs
    assert parsed.debtor == batch.debtor
    assert parsed.created_at == "2026-11-20T09:00:00+09:00"


def test_bic_agents_validate_and_round_trip(tmp_path):
    txs = [
        CreditTransfer(
            "E2E-1", 5_000_000, "علی رضایی", sheba("012", 1), None, "012", "مستمری", creditor_bic="BKMTIRTHXXX"
        )
    ]
    debtor = Debtor("سازمان تامین اجتماعی", sheba("013", 42), bank_code=None, bic="REFAIRTH")
    result = write_pain001(tmp_path / "bic.xml", irr_batch(txs, debtor=debtor), txs)
    assert xsd.validate_file(result.path) == []
    parsed = read_pain001(result.path)
    assert parsed.transactions == txs
    assert parsed.debtor == debtor


def test_mixed_shapes_in_one_file_round_trip(tmp_path):
    """IBAN / account number, with and without BIC and remittance, interleaved in one file."""
    txs = [
        _tx(end_to_end_id="E1"),
        _tx(end_to_end_id="E2", creditor_iban=None, creditor_account_id="1234567890", remittance=""),
        _tx(end_to_end_id="E3", creditor_bic="BKMTIRTHXXX", creditor_bank_code="012",
            creditor_iban=sheba("012", 3)),
        _tx(end_to_end_id="E4", remittance="", creditor_name="A & B <C>"),
        _tx(end_to_end_id="E5", creditor_iban=None, creditor_account_id="99-88", creditor_bic="BKMTIRTH"),
        _tx(end_to_end_id="E6", amount_minor=7),
    ]
    batch = irr_batch(txs)
    result = write_pain001(tmp_path / "mixed.xml", batch, txs)
    assert xsd.validate_file(result.path) == []
    assert read_pain001(result.path).transactions == txs


# ------------------------------------------------------------------------------------- all or nothing


@pytest.mark.parametrize(
    "override, figures",
    [
        (dict(number_of_transactions=49), ("49", "50")),
        (dict(number_of_transactions=51), ("51", "50")),
        ("sum+1", None),
    ],
)
def test_declared_figures_must_match_or_nothing_is_written(tmp_path, override, figures):
    txs = irr_transactions(50)
    real_sum = sum(t.amount_minor for t in txs)
    if override == "sum+1":
        override, figures = dict(control_sum_minor=real_sum + 1), (str(real_sum + 1), str(real_sum))
    with pytest.raises(ValueError) as err:
        write_pain001(tmp_path / "out.xml", irr_batch(txs, **override), txs)
    for figure in figures:
        assert figure in str(err.value)
    assert listing(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out.xml"
    txs = irr_transactions(5)
    first = write_pain001(target, irr_batch(txs), txs)
    with pytest.raises(ValueError):
        write_pain001(target, irr_batch(txs, control_sum_minor=1), txs)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == first.sha256
    assert listing(tmp_path) == ["out.xml"]


def test_duplicate_end_to_end_id_raises(tmp_path):
    txs = irr_transactions(10)
    txs.append(txs[3])
    with pytest.raises(ValueError, match="duplicate EndToEndId"):
        write_pain001(tmp_path / "out.xml", irr_batch(txs), txs)
    assert listing(tmp_path) == []


def test_error_raised_by_the_stream_leaves_nothing(tmp_path):
    def broken():
        yield from irr_transactions(3)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        write_pain001(tmp_path / "out.xml", irr_batch(irr_transactions(4)), broken())
    assert listing(tmp_path) == []


def _tx(**changes) -> CreditTransfer:
    base = dict(
        end_to_end_id="E2E-1",
        amount_minor=1_000,
        creditor_name="زهرا کریمی",
        creditor_iban=sheba("017", 7),
        creditor_account_id=None,
        creditor_bank_code="017",
        remittance="مستمری",
    )
    base.update(changes)
    return CreditTransfer(**base)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(amount_minor=0), "positive"),
        (dict(amount_minor=-5), "positive"),
        (dict(amount_minor=True), "int of minor units"),
        (dict(amount_minor=1000.0), "int of minor units"),
        (dict(amount_minor=Decimal("1000")), "int of minor units"),
        (dict(creditor_iban=None, creditor_account_id=None), "neither"),
        (dict(creditor_iban="IR000170000000000000000007"), "IBAN"),
        (dict(end_to_end_id="X" * 36), "longer than 35"),
        (dict(creditor_name="  "), "empty"),
        (dict(creditor_name="bad\x00name"), "XML cannot carry"),
        (dict(amount_minor=10**18), "more than 18 digits"),
    ],
)
def test_bad_transactions_are_refused(tmp_path, changes, message):
    tx = _tx(**changes)
    amount = tx.amount_minor if type(tx.amount_minor) is int and tx.amount_minor > 0 else 1_000
    batch = irr_batch([tx], control_sum_minor=amount)
    with pytest.raises(ValueError, match=message):
        write_pain001(tmp_path / "out.xml", batch, [tx])
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(created_at=datetime(2026, 11, 21, 10, 0, 0)), "timezone-aware"),
        (dict(requested_execution_date=datetime(2026, 11, 22, 0, 0, tzinfo=TEHRAN)), "must be a date"),
        (dict(currency="XYZ"), "unknown currency"),
        (dict(number_of_transactions=0), ">= 1"),
        (dict(control_sum_minor=1000.0), "int of minor units"),
        (dict(msg_id="M" * 36), "longer than 35"),
        (dict(debtor=Debtor("SSO", sheba("013", 42))), "bic or a bank_code"),
    ],
)
def test_bad_batches_are_refused_before_any_file(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        write_pain001(tmp_path / "out.xml", irr_batch([_tx()], **changes), [_tx()])
    assert listing(tmp_path) == []


# ------------------------------------------------------------------------------------ exact rendering


def test_huge_irr_amount_renders_exactly(tmp_path):
    tx = _tx(amount_minor=10**15)
    result = write_pain001(tmp_path / "big.xml", irr_batch([tx]), [tx])
    root = etree.parse(str(result.path)).getroot()
    assert root.findtext(".//p:InstdAmt", namespaces=NS) == "1000000000000000"
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=NS) == "1000000000000000"
    assert read_pain001(result.path).transactions[0].amount_minor == 10**15
    assert xsd.validate_file(result.path) == []


def test_xml_special_characters_round_trip(tmp_path):
    tx = _tx(creditor_name="A & B <C>", remittance='pension "11" & <more>')
    result = write_pain001(tmp_path / "special.xml", irr_batch([tx]), [tx])
    assert b"A &amp; B &lt;C&gt;" in result.path.read_bytes()
    assert read_pain001(result.path).transactions == [tx]
    assert xsd.validate_file(result.path) == []


def test_long_names_and_remittance_are_cut_to_140_characters(tmp_path):
    long_name = "محمد " * 40  # 200 characters
    long_text = "م" * 140 + "\u064e" + "ب" * 30  # a fatha mark sits just after the cut
    tx = _tx(creditor_name=long_name, remittance=long_text)
    result = write_pain001(tmp_path / "long.xml", irr_batch([tx]), [tx])
    assert xsd.validate_file(result.path) == []
    parsed = read_pain001(result.path).transactions[0]
    assert parsed.creditor_name == long_name[:140].rstrip()
    assert len(parsed.creditor_name) <= 140
    assert parsed.remittance == "م" * 139  # the letter and its mark go together


def test_clip_text_keeps_short_text_and_strips_trailing_joiner():
    assert clip_text("علی") == "علی"
    assert clip_text("a" * 139 + "\u200c" + "b", 140) == "a" * 139


def test_empty_remittance_is_omitted(tmp_path):
    tx = _tx(remittance="")
    result = write_pain001(tmp_path / "norem.xml", irr_batch([tx]), [tx])
    assert b"RmtInf" not in result.path.read_bytes()
    assert xsd.validate_file(result.path) == []
    assert read_pain001(result.path).transactions == [tx]


def test_writer_module_has_no_float():
    tree = ast.parse(pathlib.Path(pain001.__file__).read_text(encoding="utf-8"))
    floats = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    float_names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "float"]
    assert floats == [] and float_names == []


# ------------------------------------------------------------------------------------------ the XSD


def test_xsd_reports_errors_for_an_invalid_file(irr_file, tmp_path):
    result, _, _ = irr_file
    doc = etree.parse(str(result.path))
    pmt = doc.getroot().find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    pmt.find("p:ChrgBr", NS).text = "NONE"
    bad = tmp_path / "bad.xml"
    doc.write(str(bad), xml_declaration=True, encoding="utf-8")
    errors = xsd.validate_file(bad)
    assert errors and any("ChrgBr" in e for e in errors)
    with pytest.raises(ValueError, match="not a valid pain.001.001.09"):
        xsd.assert_valid(bad)


def test_xsd_not_well_formed_and_other_versions(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<Document>", encoding="utf-8")
    assert xsd.validate_file(broken)[0].startswith("not well-formed XML")
    assert xsd.schema("pain.001.001.03") is xsd.schema("pain.001.001.03")
    with pytest.raises(ValueError):
        xsd.schema("../../etc/passwd")


# --------------------------------------------------------------------------------------- benchmark


@pytest.mark.slow
def test_benchmark_200k_transactions(tmp_path):
    n = 200_000
    amount = 123_456_789
    batch = irr_batch([], number_of_transactions=n, control_sum_minor=n * amount)
    banks = ["013", "017", "012", "054"]
    ibans = [sheba(b, 10**9 + i) for i, b in enumerate(banks * 250)]  # 1000 distinct SHEBAs

    def stream():
        for i in range(n):
            yield CreditTransfer(
                end_to_end_id=f"1405-08-P{i:010d}",
                amount_minor=amount,
                creditor_name=f"{PERSIAN_FIRST[i % 10]} {PERSIAN_LAST[i % 5]}",
                creditor_iban=ibans[i % 1000],
                creditor_account_id=None,
                creditor_bank_code=banks[i % 4],
                remittance="مستمری بازنشستگی آبان ۱۴۰۵",
            )

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = write_pain001(tmp_path / "national.xml", batch, stream())
    elapsed = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.transactions == n
    print(
        f"\npain.001 writer: {n} transactions in {elapsed:.2f}s = {n / elapsed:,.0f} tx/s, "
        f"{result.bytes / 1e6:.1f} MB, peak RSS grew {(rss_after - rss_before) / 1024:.1f} MB"
    )
