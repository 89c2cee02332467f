"""pain.001.001.09 and .03 writer and reader: XSD validity, control totals, exact round trips, all or nothing.

Every file a test writes successfully goes through :func:`write_valid`: it is validated against the XSD
of its own message, and its control totals are re-added here from the transactions with lxml XPath
and ``Decimal`` (independently of the writer and of ``read_pain001``) and compared with both headers.
"""

from __future__ import annotations

import ast
import dataclasses
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

V09, V03 = "pain.001.001.09", "pain.001.001.03"
MESSAGES = (V09, V03)
NS = {"p": pain001.NAMESPACE}
TEHRAN = timezone(timedelta(hours=3, minutes=30))
SEOUL = timezone(timedelta(hours=9))

PERSIAN_FIRST = ["محمد", "فاطمه", "علی", "زهرا", "حسین", "مریم", "رضا", "سکینه", "مهدی", "کبری"]
PERSIAN_LAST = ["رضایی", "احمدی", "محمدی", "حسینی\u200cنژاد", "کریمی"]
KOREAN_NAMES = ["김민수", "이영희", "박지훈", "최수진", "정우성", "강미경"]


def ns(message: str) -> dict[str, str]:
    return {"p": f"urn:iso:std:iso:20022:tech:xsd:{message}"}


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


def krw_batch(txs: list[CreditTransfer], **overrides) -> PaymentBatch:
    fields = dict(
        msg_id="NPS-2026-11-KB-001",
        created_at=datetime(2026, 11, 20, 9, 0, 0, tzinfo=SEOUL),
        initiating_party="국민연금공단",
        payment_info_id="NPS-2026-11-KB-001-P1",
        requested_execution_date=date(2026, 11, 25),
        currency="KRW",
        debtor=Debtor("국민연금공단 연금지급계좌", None, bank_code="004", account_id="00412345678901"),
        number_of_transactions=len(txs),
        control_sum_minor=sum(t.amount_minor for t in txs),
    )
    fields.update(overrides)
    return PaymentBatch(**fields)


def listing(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def control_totals(path: pathlib.Path, message: str) -> tuple[int, Decimal]:
    """Re-add the file's transactions with XPath and Decimal; check both headers; return (count, sum)."""
    root = etree.parse(str(path)).getroot()
    n = ns(message)
    (pmt,) = root.xpath("/p:Document/p:CstmrCdtTrfInitn/p:PmtInf", namespaces=n)
    amounts = pmt.xpath("p:CdtTrfTxInf/p:Amt/p:InstdAmt/text()", namespaces=n)
    count = int(root.xpath("count(//p:CdtTrfTxInf)", namespaces=n))
    total = sum((Decimal(a) for a in amounts), Decimal(0))
    assert count == len(amounts) == len(pmt.xpath("p:CdtTrfTxInf", namespaces=n)) > 0
    grp = "/p:Document/p:CstmrCdtTrfInitn/p:GrpHdr"
    assert root.xpath(f"string({grp}/p:NbOfTxs)", namespaces=n) == str(count)
    assert pmt.xpath("string(p:NbOfTxs)", namespaces=n) == str(count)
    assert Decimal(root.xpath(f"string({grp}/p:CtrlSum)", namespaces=n)) == total
    assert Decimal(pmt.xpath("string(p:CtrlSum)", namespaces=n)) == total
    assert root.xpath(f"number({grp}/p:CtrlSum) = sum(//p:InstdAmt)", namespaces=n)  # XPath's own sum
    return count, total


def write_valid(path: pathlib.Path, batch: PaymentBatch, transactions, message: str = V09):
    """write_pain001, then: valid against the message's XSD, control totals re-added and equal."""
    result = write_pain001(path, batch, transactions, message=message)
    assert xsd.validate_file(path, message) == []
    count, total = control_totals(path, message)
    assert count == result.transactions == batch.number_of_transactions
    assert total.scaleb(2 if batch.currency in ("USD", "EUR") else 0) == batch.control_sum_minor
    return result


@pytest.fixture(params=MESSAGES)
def message(request) -> str:
    return request.param


@pytest.fixture
def irr_file(tmp_path, message):
    txs = irr_transactions(50)
    batch = irr_batch(txs)
    result = write_valid(tmp_path / "refah.xml", batch, iter(txs), message)
    return result, batch, txs


# ------------------------------------------------------------------------------------------ validity


def test_known_sheba_is_valid_and_generator_agrees():
    known = "IR820540102680020817909002"
    assert mod_97_10.is_valid(known[4:] + known[:4])
    assert sheba("054", 102680020817909002) == "IR820540102680020817909002"


def test_file_validates_against_its_own_xsd_only(irr_file, message):
    result, _, _ = irr_file
    assert xsd.validate_file(result.path, message) == []
    xsd.assert_valid(result.path, message)
    other = V03 if message == V09 else V09
    assert xsd.validate_file(result.path, other)  # the other version's schema refuses it


def test_default_message_is_09(tmp_path):
    txs = irr_transactions(3)
    result = write_pain001(tmp_path / "default.xml", irr_batch(txs), txs)
    assert etree.parse(str(result.path)).getroot().tag == f"{{{pain001.namespace(V09)}}}Document"
    assert pain001.DEFAULT_MESSAGE == pain001.MESSAGE == V09
    assert pain001.NAMESPACE == pain001.namespace() == "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
    assert read_pain001(result.path).message == V09


def test_file_is_utf8_with_declaration_one_namespace_and_unescaped_persian(irr_file, message):
    result, batch, txs = irr_file
    data = result.path.read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<Document xmlns=")
    root = etree.fromstring(data)
    assert root.tag == f"{{urn:iso:std:iso:20022:tech:xsd:{message}}}Document"
    assert data.count(b"xmlns") == 1  # declared once, on Document
    assert txs[0].creditor_name.encode("utf-8") in data  # stays Unicode, not transliterated or &#...;
    assert batch.initiating_party.encode("utf-8") in data
    assert b"&#" not in data


def test_element_order_and_fixed_values(irr_file, message):
    result, _, _ = irr_file
    n = ns(message)
    root = etree.parse(str(result.path)).getroot()
    grp = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", n)
    assert [etree.QName(c).localname for c in grp] == ["MsgId", "CreDtTm", "NbOfTxs", "CtrlSum", "InitgPty"]
    assert grp.findtext("p:InitgPty/p:Nm", namespaces=n) == "سازمان تامین اجتماعی"
    pmt = root.find("p:CstmrCdtTrfInitn/p:PmtInf", n)
    head = [etree.QName(c).localname for c in pmt][:11]
    assert head == [
        "PmtInfId", "PmtMtd", "BtchBookg", "NbOfTxs", "CtrlSum", "PmtTpInf",
        "ReqdExctnDt", "Dbtr", "DbtrAcct", "DbtrAgt", "ChrgBr",
    ]  # fmt: skip
    assert pmt.findtext("p:PmtMtd", namespaces=n) == "TRF"
    assert pmt.findtext("p:BtchBookg", namespaces=n) == "false"
    assert pmt.findtext("p:ChrgBr", namespaces=n) == "DEBT"
    assert pmt.findtext("p:PmtTpInf/p:CtgyPurp/p:Cd", namespaces=n) == "PENS"
    when = pmt.find("p:ReqdExctnDt", n)
    if message == V09:  # DateAndDateTime2Choice
        assert [etree.QName(c).localname for c in when] == ["Dt"]
        assert when.findtext("p:Dt", namespaces=n) == "2026-11-22"
    else:  # ISODate directly
        assert len(when) == 0 and when.text == "2026-11-22"
    assert pmt.findtext("p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=n) == "013"
    tx = pmt.find("p:CdtTrfTxInf", n)
    assert [etree.QName(c).localname for c in tx] == [
        "PmtId", "Amt", "CdtrAgt", "Cdtr", "CdtrAcct", "Purp", "RmtInf",
    ]  # fmt: skip
    assert tx.find("p:Amt/p:InstdAmt", n).get("Ccy") == "IRR"
    assert tx.findtext("p:Purp/p:Cd", namespaces=n) == "PENS"
    assert grp.findtext("p:CreDtTm", namespaces=n) == "2026-11-21T10:00:00+03:30"


def test_round_trip_equals_input(irr_file, message):
    result, batch, txs = irr_file
    parsed = read_pain001(result.path)
    assert parsed.message == message
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
    assert total == sum(t.amount_minor for t in txs)


def test_control_totals_are_re_added_from_the_file(irr_file, message):
    result, batch, txs = irr_file
    count, total = control_totals(result.path, message)
    assert count == len(txs) == 50
    assert total == Decimal(sum(85_000_000 + 12_345 * i for i in range(50)))


def test_control_totals_check_catches_a_tampered_file(irr_file, message, tmp_path):
    """The independent re-addition is not vacuous: one changed amount makes it fail."""
    result, _, _ = irr_file
    doc = etree.parse(str(result.path))
    amt = doc.getroot().find(".//p:InstdAmt", ns(message))
    amt.text = str(int(amt.text) + 1)
    tampered = tmp_path / "tampered.xml"
    doc.write(str(tampered), xml_declaration=True, encoding="utf-8")
    assert xsd.validate_file(tampered, message) == []  # the XSD cannot see it
    with pytest.raises(AssertionError):
        control_totals(tampered, message)


def test_write_result_hash_and_size_match_the_file(irr_file):
    result, _, _ = irr_file
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.bytes == len(data)
    assert listing(result.path.parent) == ["refah.xml"]  # no temp file left


def test_deterministic_bytes(tmp_path, message):
    txs = irr_transactions(50)
    a = write_valid(tmp_path / "a.xml", irr_batch(txs), txs, message)
    b = write_valid(tmp_path / "b.xml", irr_batch(txs), (t for t in txs), message)
    assert a.sha256 == b.sha256
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


def test_the_two_messages_differ_only_where_the_xsds_do(tmp_path):
    txs = irr_transactions(5)
    a = write_valid(tmp_path / "a.xml", irr_batch(txs), txs, V09).path.read_text(encoding="utf-8")
    b = write_valid(tmp_path / "b.xml", irr_batch(txs), txs, V03).path.read_text(encoding="utf-8")
    assert a != b
    a = a.replace("pain.001.001.09", "pain.001.001.03")
    a = a.replace("<ReqdExctnDt><Dt>2026-11-22</Dt></ReqdExctnDt>", "<ReqdExctnDt>2026-11-22</ReqdExctnDt>")
    assert a == b  # no BIC in these: namespace and ReqdExctnDt are the only differences


def test_krw_account_number_and_bank_code_without_iban(tmp_path, message):
    txs = krw_transactions()
    batch = krw_batch(txs)
    result = write_valid(tmp_path / "kb.xml", batch, txs, message)
    n = ns(message)
    root = etree.parse(str(result.path)).getroot()
    assert root.xpath("//p:IBAN", namespaces=n) == []
    nodes = root.findall(".//p:CdtTrfTxInf", n)
    assert len(nodes) == len(txs)
    for node, tx in zip(nodes, txs, strict=True):
        assert node.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=n) == tx.creditor_account_id
        mmb_id = node.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=n)
        assert mmb_id == tx.creditor_bank_code
        assert node.findtext("p:Cdtr/p:Nm", namespaces=n) == tx.creditor_name
        assert node.findtext("p:Purp/p:Cd", namespaces=n) == "PENS"
    assert nodes[0].findtext("p:Amt/p:InstdAmt", namespaces=n) == "680000"
    pmt = root.find(".//p:PmtInf", n)
    assert pmt.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=n) == "00412345678901"
    assert pmt.findtext("p:PmtTpInf/p:CtgyPurp/p:Cd", namespaces=n) == "PENS"
    assert "김민수".encode() in result.path.read_bytes()
    parsed = read_pain001(result.path)
    assert parsed.message == message
    assert parsed.transactions == txs
    assert parsed.debtor == batch.debtor
    assert parsed.created_at == "2026-11-20T09:00:00+09:00"
    assert parsed.currency == "KRW"


def test_bic_agents_validate_and_round_trip(tmp_path, message):
    txs = [
        CreditTransfer(
            "E2E-1", 5_000_000, "علی رضایی", sheba("012", 1), None, "012", "مستمری",
            creditor_bic="BKMTIRTHXXX",
        )  # fmt: skip
    ]
    debtor = Debtor("سازمان تامین اجتماعی", sheba("013", 42), bank_code=None, bic="REFAIRTH")
    result = write_valid(tmp_path / "bic.xml", irr_batch(txs, debtor=debtor), txs, message)
    n = ns(message)
    root = etree.parse(str(result.path)).getroot()
    tag, other = ("BICFI", "BIC") if message == V09 else ("BIC", "BICFI")
    assert root.findtext(f".//p:DbtrAgt/p:FinInstnId/p:{tag}", namespaces=n) == "REFAIRTH"
    fin = root.find(".//p:CdtrAgt/p:FinInstnId", n)
    assert [etree.QName(c).localname for c in fin] == [tag, "ClrSysMmbId"]
    assert fin.findtext(f"p:{tag}", namespaces=n) == "BKMTIRTHXXX"
    assert root.xpath(f"//p:{other}", namespaces=n) == []
    parsed = read_pain001(result.path)
    assert parsed.transactions == txs
    assert parsed.debtor == debtor


@pytest.mark.parametrize("bic", ["1234IRTH", "BKMTIR1H", "BKMTIRTO"])
def test_bic_pattern_is_the_messages_own(tmp_path, bic):
    """.09's BICFI takes a digit in the first four and in the location code; .03's BIC does not."""
    tx = _tx(creditor_bic=bic)
    result = write_valid(tmp_path / "v09.xml", irr_batch([tx]), [tx], V09)
    assert read_pain001(result.path).transactions == [tx]
    with pytest.raises(ValueError, match="creditor_bic is not a BIC as pain.001.001.03 defines it"):
        write_pain001(tmp_path / "v03.xml", irr_batch([tx]), [tx], message=V03)
    debtor = Debtor("SSO", sheba("013", 42), bic=bic)
    with pytest.raises(ValueError, match="debtor.bic is not a BIC"):
        write_pain001(tmp_path / "v03.xml", irr_batch([_tx()], debtor=debtor), [_tx()], message=V03)
    assert listing(tmp_path) == ["v09.xml"]


def test_mixed_shapes_in_one_file_round_trip(tmp_path, message):
    """IBAN / account number, with and without BIC and remittance, interleaved in one file."""
    txs = mixed_transactions()
    batch = irr_batch(txs)
    result = write_valid(tmp_path / "mixed.xml", batch, txs, message)
    assert read_pain001(result.path).transactions == [as_written(t) for t in txs]
    assert read_pain001(result.path).transactions[:7] == txs[:7]  # nothing to clip or drop in these


def as_written(tx: CreditTransfer) -> CreditTransfer:
    """What a reader gets back: names and remittance cut to 140 characters, a blank remittance omitted."""
    remittance = clip_text(tx.remittance) if tx.remittance.strip() else ""
    return dataclasses.replace(tx, creditor_name=clip_text(tx.creditor_name), remittance=remittance)


def mixed_transactions() -> list[CreditTransfer]:
    return [
        _tx(end_to_end_id="E1"),
        _tx(end_to_end_id="E2", creditor_iban=None, creditor_account_id="1234567890", remittance=""),
        _tx(end_to_end_id="E3", creditor_bic="BKMTIRTHXXX", creditor_bank_code="012",
            creditor_iban=sheba("012", 3)),
        _tx(end_to_end_id="E4", remittance="", creditor_name="A & B <C>"),
        _tx(end_to_end_id="E5", creditor_iban=None, creditor_account_id="99-88", creditor_bic="BKMTIRTH"),
        _tx(end_to_end_id="E6", amount_minor=7),
        _tx(end_to_end_id="E7 & <8>", creditor_bank_code="0&1", creditor_iban=None,
            creditor_account_id="12<34>&", remittance="r\r\nn\t%s %(x)s {0} {{}}"),
        _tx(end_to_end_id="E8", remittance=" \t "),
        _tx(end_to_end_id="E9", creditor_name="😀 𝔘 \u200cعلی", remittance="]]> \"q\" 'a'"),
        _tx(end_to_end_id="E10", creditor_name="م" * 150, remittance="x" * 141),
    ]  # fmt: skip


def structure(el: etree._Element) -> tuple:
    """Qualified tag, attributes, text, tail and children, recursively: the element's whole content."""
    return el.tag, dict(el.attrib), el.text, el.tail, [structure(c) for c in el]


def test_every_transaction_equals_the_node_by_node_element(tmp_path, message):
    """The text templates give, transaction by transaction, the element lxml builds and escapes itself."""
    txs = mixed_transactions() + irr_transactions(10) + krw_transactions(5)
    batch = irr_batch(txs)
    result = write_valid(tmp_path / "t.xml", batch, txs, message)
    version = pain001._version(message)
    nodes = etree.parse(str(result.path)).getroot().findall(".//p:CdtTrfTxInf", ns(message))
    assert len(nodes) == len(txs)
    for node, tx in zip(nodes, txs, strict=True):
        shape, values = pain001._transaction_values(tx, "IRR", version)
        expected, slots = pain001._build_transaction(version, "IRR", "PENS", shape)
        for name, slot in slots.items():
            slot.text = values[name]
        assert structure(node) == structure(expected)


def test_fast_path_agrees_with_the_detailed_checks(message):
    render = pain001._TransactionText(pain001._version(message), "IRR", "PENS")
    txs = mixed_transactions() + irr_transactions(5) + krw_transactions(5) + [_tx(creditor_bic="BKMTIRTH")]
    fast = 0
    for tx in txs:
        got = render._fast(tx)
        if got is not None:
            fast += 1
            assert got == render._detailed(tx), tx
    assert fast >= len(txs) - 4  # E4, E7, E9 (escaping) and E10 (clipping) take the detailed path
    usd = pain001._TransactionText(pain001._version(message), "USD", "PENS")
    assert usd._fast(_tx(amount_minor=1250)) == usd._detailed(_tx(amount_minor=1250))


def test_usd_amounts_with_cents(tmp_path, message):
    txs = [_tx(end_to_end_id=f"U{i}", amount_minor=a) for i, a in enumerate([1, 1250, 99_999_999_99])]
    batch = irr_batch(txs, currency="USD")
    result = write_valid(tmp_path / "usd.xml", batch, txs, message)
    root = etree.parse(str(result.path)).getroot()
    n = ns(message)
    assert root.xpath("//p:InstdAmt/text()", namespaces=n) == ["0.01", "12.50", "99999999.99"]
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=n) == "100000012.50"
    assert read_pain001(result.path).transactions == txs


def test_transactions_are_streamed_to_disk_as_they_come(tmp_path, message):
    """Bytes reach the temporary file while the generator is still yielding (nothing held until the end)."""
    chunk = pain001._CHUNK
    assert 0 < chunk <= 4096  # transactions per write: the buffer stays small
    n = 5 * chunk
    txs = irr_transactions(3)
    amount = txs[0].amount_minor
    sizes = []

    def stream():
        for i in range(n):
            if i and i % chunk == 0:
                sizes.append(sum(p.stat().st_size for p in tmp_path.glob(".out.xml.*.tmp")))
            yield CreditTransfer(f"E{i:08d}", amount, "زهرا کریمی", txs[i % 3].creditor_iban, None, "013", "")

    batch = irr_batch([], number_of_transactions=n, control_sum_minor=n * amount)
    write_valid(tmp_path / "out.xml", batch, stream(), message)
    assert len(sizes) == 4
    assert sizes == sorted(sizes) and sizes[0] > 0 and sizes[-1] > sizes[0]


# ------------------------------------------------------------------------------------- all or nothing


@pytest.mark.parametrize(
    "override, figures",
    [
        (dict(number_of_transactions=49), ("49", "50")),
        (dict(number_of_transactions=51), ("51", "50")),
        ("sum+1", None),
    ],
)
def test_declared_figures_must_match_or_nothing_is_written(tmp_path, message, override, figures):
    txs = irr_transactions(50)
    real_sum = sum(t.amount_minor for t in txs)
    if override == "sum+1":
        override, figures = dict(control_sum_minor=real_sum + 1), (str(real_sum + 1), str(real_sum))
    with pytest.raises(ValueError) as err:
        write_pain001(tmp_path / "out.xml", irr_batch(txs, **override), txs, message=message)
    for figure in figures:
        assert figure in str(err.value)
    assert listing(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path, message):
    target = tmp_path / "out.xml"
    txs = irr_transactions(5)
    first = write_valid(target, irr_batch(txs), txs, message)
    with pytest.raises(ValueError):
        write_pain001(target, irr_batch(txs, control_sum_minor=1), txs, message=message)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == first.sha256
    assert listing(tmp_path) == ["out.xml"]


def test_duplicate_end_to_end_id_raises(tmp_path, message):
    txs = irr_transactions(10)
    txs.append(txs[3])
    with pytest.raises(ValueError, match="duplicate EndToEndId"):
        write_pain001(tmp_path / "out.xml", irr_batch(txs), txs, message=message)
    assert listing(tmp_path) == []


def test_duplicate_found_across_write_chunks(tmp_path):
    txs = irr_transactions(3)
    n = min(pain001._CHUNK, 4096) + 10

    def stream():
        for i in range(n):
            e2e = "E-0" if i == n - 1 else f"E-{i}"  # repeats the first one, after a chunk was written
            yield CreditTransfer(e2e, 1_000, "علی", txs[0].creditor_iban, None, "013", "")

    batch = irr_batch([], number_of_transactions=n, control_sum_minor=n * 1_000)
    with pytest.raises(ValueError, match="duplicate EndToEndId 'E-0'"):
        write_pain001(tmp_path / "out.xml", batch, stream())
    assert listing(tmp_path) == []


def test_error_raised_by_the_stream_leaves_nothing(tmp_path, message):
    def broken():
        yield from irr_transactions(3)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        write_pain001(tmp_path / "out.xml", irr_batch(irr_transactions(4)), broken(), message=message)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("bad", ["pain.001.001.10", "pain.001.001.9", "", None, "PAIN.001.001.09"])
def test_unsupported_message_is_refused_before_any_file(tmp_path, bad):
    txs = irr_transactions(2)
    with pytest.raises(ValueError, match="unsupported message"):
        write_pain001(tmp_path / "out.xml", irr_batch(txs), txs, message=bad)
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
    "changes, message_text",
    [
        (dict(amount_minor=0), "positive"),
        (dict(amount_minor=-5), "positive"),
        (dict(amount_minor=True), "int of minor units"),
        (dict(amount_minor=1000.0), "int of minor units"),
        (dict(amount_minor=Decimal("1000")), "int of minor units"),
        (dict(creditor_iban=None, creditor_account_id=None), "neither"),
        (dict(creditor_iban="IR000170000000000000000007"), "IBAN"),
        (dict(creditor_iban="ir460130000000000001000000"), "IBAN"),
        (dict(creditor_iban=None, creditor_account_id="1" * 35), "longer than 34"),
        (dict(creditor_iban=None, creditor_account_id=" "), "empty"),
        (dict(end_to_end_id="X" * 36), "longer than 35"),
        (dict(end_to_end_id=""), "empty"),
        (dict(creditor_bank_code="1" * 36), "longer than 35"),
        (dict(creditor_name="  "), "empty"),
        (dict(creditor_name="bad\x00name"), "XML cannot carry"),
        (dict(remittance="bad\x0bremittance"), "XML cannot carry"),
        (dict(creditor_name=None), "must be a str"),
        (dict(creditor_bic="bkmtirth"), "not a BIC"),
        (dict(amount_minor=10**18), "more than 18 digits"),
    ],
)
def test_bad_transactions_are_refused(tmp_path, message, changes, message_text):
    tx = _tx(**changes)
    amount = tx.amount_minor if type(tx.amount_minor) is int and tx.amount_minor > 0 else 1_000
    batch = irr_batch([tx], control_sum_minor=amount)
    with pytest.raises(ValueError, match=message_text):
        write_pain001(tmp_path / "out.xml", batch, [tx], message=message)
    assert listing(tmp_path) == []


def test_non_transaction_items_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected a CreditTransfer, got dict"):
        write_pain001(tmp_path / "out.xml", irr_batch([_tx()]), [{"end_to_end_id": "E"}])
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "changes, message_text",
    [
        (dict(created_at=datetime(2026, 11, 21, 10, 0, 0)), "timezone-aware"),
        (dict(created_at=datetime(2026, 11, 21, tzinfo=timezone(timedelta(seconds=30)))), "whole minutes"),
        (dict(requested_execution_date=datetime(2026, 11, 22, 0, 0, tzinfo=TEHRAN)), "must be a date"),
        (dict(currency="XYZ"), "unknown currency"),
        (dict(number_of_transactions=0), ">= 1"),
        (dict(number_of_transactions=10**15), "Max15NumericText"),
        (dict(control_sum_minor=1000.0), "int of minor units"),
        (dict(msg_id="M" * 36), "longer than 35"),
        (dict(category_purpose="PENSION"), "ISO external code"),
        (dict(debtor=Debtor("SSO", sheba("013", 42))), "bic or a bank_code"),
        (dict(debtor=Debtor("SSO", None, bank_code="013")), "iban or an account_id"),
    ],
)
def test_bad_batches_are_refused_before_any_file(tmp_path, message, changes, message_text):
    with pytest.raises(ValueError, match=message_text):
        write_pain001(tmp_path / "out.xml", irr_batch([_tx()], **changes), [_tx()], message=message)
    assert listing(tmp_path) == []


# ------------------------------------------------------------------------------------ exact rendering


def test_huge_irr_amount_renders_exactly(tmp_path, message):
    tx = _tx(amount_minor=10**15)
    result = write_valid(tmp_path / "big.xml", irr_batch([tx]), [tx], message)
    n = ns(message)
    root = etree.parse(str(result.path)).getroot()
    assert root.findtext(".//p:InstdAmt", namespaces=n) == "1000000000000000"
    assert root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum", namespaces=n) == "1000000000000000"
    assert read_pain001(result.path).transactions[0].amount_minor == 10**15


def test_xml_special_characters_round_trip(tmp_path, message):
    tx = _tx(creditor_name="A & B <C>", remittance='pension "11" & <more>\r\n')
    result = write_valid(tmp_path / "special.xml", irr_batch([tx], initiating_party="X & <Y>"), [tx], message)
    data = result.path.read_bytes()
    assert b"A &amp; B &lt;C&gt;" in data
    assert b"X &amp; &lt;Y&gt;" in data
    assert b"&lt;more&gt;&#13;\n" in data  # a carriage return survives parsing only as a reference
    assert read_pain001(result.path).transactions == [tx]


def test_long_names_and_remittance_are_cut_to_140_characters(tmp_path, message):
    long_name = "محمد " * 40  # 200 characters
    long_text = "م" * 140 + "\u064e" + "ب" * 30  # a fatha mark sits just after the cut
    tx = _tx(creditor_name=long_name, remittance=long_text)
    result = write_valid(tmp_path / "long.xml", irr_batch([tx]), [tx], message)
    parsed = read_pain001(result.path).transactions[0]
    assert parsed.creditor_name == long_name[:140].rstrip()
    assert len(parsed.creditor_name) <= 140
    assert parsed.remittance == "م" * 139  # the letter and its mark go together


def test_clip_text_keeps_short_text_and_strips_trailing_joiner():
    assert clip_text("علی") == "علی"
    assert clip_text("a" * 139 + "\u200c" + "b", 140) == "a" * 139


def test_empty_remittance_is_omitted(tmp_path, message):
    tx = _tx(remittance="")
    result = write_valid(tmp_path / "norem.xml", irr_batch([tx]), [tx], message)
    assert b"RmtInf" not in result.path.read_bytes()
    assert read_pain001(result.path).transactions == [tx]


def test_writer_module_has_no_float():
    tree = ast.parse(pathlib.Path(pain001.__file__).read_text(encoding="utf-8"))
    floats = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
    float_names = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "float"]
    assert floats == [] and float_names == []


# ------------------------------------------------------------------------------------------ the reader


def test_reader_refuses_other_documents(tmp_path):
    other = tmp_path / "other.xml"
    other.write_text('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.10"/>', encoding="utf-8")
    with pytest.raises(ValueError, match="not a pain.001.001.09 or pain.001.001.03 document"):
        read_pain001(other)
    other.write_text('<Other xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>', encoding="utf-8")
    with pytest.raises(ValueError, match="root element is"):
        read_pain001(other)


def test_reader_refuses_a_03_date_shape_in_a_09_file(irr_file, message, tmp_path):
    """ReqdExctnDt must have the message's own shape: the reader does not guess across versions."""
    result, _, _ = irr_file
    text = result.path.read_text(encoding="utf-8")
    shapes = ["<ReqdExctnDt><Dt>2026-11-22</Dt></ReqdExctnDt>", "<ReqdExctnDt>2026-11-22</ReqdExctnDt>"]
    own, other = shapes if message == V09 else shapes[::-1]
    assert own in text
    text = text.replace(own, other)
    swapped = tmp_path / "swapped.xml"
    swapped.write_text(text, encoding="utf-8")
    assert xsd.validate_file(swapped, message)  # invalid for its own schema
    with pytest.raises((ValueError, TypeError)):
        read_pain001(swapped)


# ------------------------------------------------------------------------------------------ the XSD


def test_xsd_reports_errors_for_an_invalid_file(irr_file, message, tmp_path):
    result, _, _ = irr_file
    doc = etree.parse(str(result.path))
    pmt = doc.getroot().find("p:CstmrCdtTrfInitn/p:PmtInf", ns(message))
    pmt.find("p:ChrgBr", ns(message)).text = "NONE"
    bad = tmp_path / "bad.xml"
    doc.write(str(bad), xml_declaration=True, encoding="utf-8")
    errors = xsd.validate_file(bad, message)
    assert errors and any("ChrgBr" in e for e in errors)
    with pytest.raises(ValueError, match=f"not a valid {message}"):
        xsd.assert_valid(bad, message)


def test_xsd_not_well_formed_and_other_versions(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<Document>", encoding="utf-8")
    assert xsd.validate_file(broken)[0].startswith("not well-formed XML")
    assert xsd.schema("pain.001.001.03") is xsd.schema("pain.001.001.03")
    with pytest.raises(ValueError):
        xsd.schema("../../etc/passwd")


# --------------------------------------------------------------------------------------- benchmark


@pytest.mark.slow
def test_benchmark_200k_transactions(tmp_path, message):
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
    result = write_pain001(tmp_path / "national.xml", batch, stream(), message=message)
    elapsed = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.transactions == n
    assert control_totals(result.path, message) == (n, Decimal(n * amount))
    print(
        f"\n{message} writer: {n} transactions in {elapsed:.2f}s = {n / elapsed:,.0f} tx/s, "
        f"{result.bytes / 1e6:.1f} MB, peak RSS grew {(rss_after - rss_before) / 1024:.1f} MB"
    )
