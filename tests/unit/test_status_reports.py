"""Bank status reports: pain.002 (.03, .12) and camt.054 (.02, .08) writers and the one reader.

Every written file is checked against its official XSD, read back into the exact model expected, and
(for every version) parsed again by an independent reader (pyiso20022's xsdata bindings).
"""

from __future__ import annotations

import hashlib
import pathlib
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from xsdata.formats.dataclass.parsers import XmlParser

from bank_formats import camt054, pain002, xsd
from bank_formats.camt054 import write_camt054
from bank_formats.pain002 import PaymentLine, write_pain002
from bank_formats.status import (
    ISO_STATUS_OUTCOME,
    GroupStatus,
    Outcome,
    PaymentStatus,
    StatusReport,
    outcome_of,
    read_status_report,
)
from payroll.money import exponent

TEHRAN = timezone(timedelta(hours=3, minutes=30))
SEOUL = timezone(timedelta(hours=9))
CREATED = datetime(2026, 11, 23, 8, 15, 0, tzinfo=TEHRAN)
PAIN002 = ["pain.002.001.03", "pain.002.001.12"]
CAMT054 = ["camt.054.001.02", "camt.054.001.08"]
ORIGINAL_MSG = "SSO-1405-08-REFAH-001"
ORIGINAL_PMTINF = "SSO-1405-08-REFAH-001-P1"
DEBTOR_SHEBA = "IR820130000000000000000042"  # mod 97-10 valid
LONG_INFO = (
    "Beneficiary account 0123456789 at Bank Melli branch 1021 was closed on 1405-07-30 at the customer's "
    "request; please obtain a new SHEBA from the pensioner before paying again"
)


def e2e(i: int) -> str:
    return f"1405-08-B{i % 7:03d}-P{i:08d}"


def file_sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def line_of(path: pathlib.Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def pain_status(
    i: int, iso: str, reason: str | None = None, text: str | None = None, amount: int | None = None,
    currency: str | None = None, pmt_inf: str | None = ORIGINAL_PMTINF,
) -> PaymentStatus:
    return PaymentStatus(
        end_to_end_id=e2e(i),
        outcome=ISO_STATUS_OUTCOME[iso],
        iso_status=iso,
        reason_code=reason,
        reason_text=text,
        amount_minor=amount,
        currency=currency,
        original_msg_id=ORIGINAL_MSG,
        original_payment_info_id=pmt_inf,
    )


# ---------------------------------------------------------------------------------------------- pain.002


@pytest.mark.parametrize("message", PAIN002)
def test_pain002_round_trip_is_xsd_valid_and_reads_back_equal(tmp_path: pathlib.Path, message: str) -> None:
    path = tmp_path / "status.xml"
    lines: list[PaymentLine] = [
        (e2e(0), "ACSC", None, 85_000_000, "IRR"),
        (e2e(1), "RJCT", "AC04", 86_234_500, "IRR", LONG_INFO),  # closed account, info over 105 chars
        (e2e(2), "RJCT", "AC01", None, None),  # wrong account number
        (e2e(3), "RJCT", "BE01", None, None, "name on the account differs: محمد رضایی"),
        (e2e(4), "RJCT", "MD07", 91_000_000, "IRR", "end customer deceased"),
        (e2e(5), "ACSP", None, None, None),
        (e2e(6), "PDNG", None, None, None),
        (e2e(7), "ACCP", None, None, None),
        (e2e(8), "ACTC", None, None, None),
        (e2e(9), "ACWC", None, 1, "IRR", "execution date moved to 1405-09-01"),
    ]
    result = write_pain002(
        path,
        message=message,
        msg_id="BMI-PSR-20261123-0001",
        created_at=CREATED,
        original_msg_id=ORIGINAL_MSG,
        group_status="PART",
        group_reason_code="NARR",
        group_reason_text="see the transaction lines",
        payments=lines,
        original_payment_info_id=ORIGINAL_PMTINF,
        payment_info_status="PART",
    )
    assert xsd.validate_file(path, message) == []
    assert result.transactions == len(lines)
    assert result.control_sum_minor == 85_000_000 + 86_234_500 + 91_000_000 + 1
    assert result.sha256 == file_sha(path) and result.bytes == path.stat().st_size
    # the long text was cut into Max105Text pieces, which the reader joins back
    addtl = etree.parse(str(path)).findall(".//{*}TxInfAndSts[2]/{*}StsRsnInf/{*}AddtlInf")
    assert len(addtl) == 2 and all(1 <= len(a.text) <= 105 for a in addtl)

    report = read_status_report(path)
    assert report == StatusReport(
        message=message,
        msg_id="BMI-PSR-20261123-0001",
        created_at="2026-11-23T08:15:00+03:30",
        sha256=result.sha256,
        payments=[
            pain_status(0, "ACSC", amount=85_000_000, currency="IRR"),
            pain_status(1, "RJCT", "AC04", LONG_INFO, 86_234_500, "IRR"),
            pain_status(2, "RJCT", "AC01"),
            pain_status(3, "RJCT", "BE01", "name on the account differs: محمد رضایی"),
            pain_status(4, "RJCT", "MD07", "end customer deceased", 91_000_000, "IRR"),
            pain_status(5, "ACSP"),
            pain_status(6, "PDNG"),
            pain_status(7, "ACCP"),
            pain_status(8, "ACTC"),
            pain_status(9, "ACWC", None, "execution date moved to 1405-09-01", 1, "IRR"),
        ],
        groups=[
            GroupStatus(ORIGINAL_MSG, None, "pending", "PART", "NARR", "see the transaction lines"),
            GroupStatus(ORIGINAL_MSG, ORIGINAL_PMTINF, "pending", "PART", None, None),
        ],
    )
    assert [p.outcome for p in report.payments[:5]] == ["settled"] + ["rejected"] * 4
    assert [p.final for p in report.payments] == [True] * 5 + [False] * 5


@pytest.mark.parametrize("message", PAIN002)
def test_partial_report_lists_only_the_payments_it_reports_on(tmp_path: pathlib.Path, message: str) -> None:
    # the pain.001 had 200 payments; the bank reports on two rejections only
    path = tmp_path / "partial.xml"
    write_pain002(
        path, message=message, msg_id="R-2", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        group_status=None, payments=[(e2e(17), "RJCT", "AC04", None, None), (e2e(150), "RJCT", "MD07", None, None)],
        original_payment_info_id=ORIGINAL_PMTINF,
    )
    assert xsd.validate_file(path, message) == []
    report = read_status_report(path)
    assert [(p.end_to_end_id, p.outcome, p.reason_code) for p in report.payments] == [
        (e2e(17), "rejected", "AC04"),
        (e2e(150), "rejected", "MD07"),
    ]
    assert report.groups == []


@pytest.mark.parametrize("message", PAIN002)
def test_file_rejected_whole_has_a_group_status_and_no_lines(tmp_path: pathlib.Path, message: str) -> None:
    path = tmp_path / "rejected.xml"
    write_pain002(
        path, message=message, msg_id="R-3", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        original_message_name="pain.001.001.03", group_status="RJCT", group_reason_code="FF01",
        group_reason_text="file format incorrect", payments=[],
    )
    assert xsd.validate_file(path, message) == []
    assert etree.parse(str(path)).findall(".//{*}TxInfAndSts") == []
    assert etree.parse(str(path)).findall(".//{*}OrgnlPmtInfAndSts") == []
    report = read_status_report(path)
    assert report.payments == []
    assert report.groups == [GroupStatus(ORIGINAL_MSG, None, "rejected", "RJCT", "FF01", "file format incorrect")]


@pytest.mark.parametrize("message", PAIN002)
def test_payment_information_level_status(tmp_path: pathlib.Path, message: str) -> None:
    path = tmp_path / "pmtinf.xml"
    write_pain002(
        path, message=message, msg_id="R-4", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        group_status=None, payments=[], original_payment_info_id=ORIGINAL_PMTINF,
        payment_info_status="RJCT", payment_info_reason_code="AM04",
        payment_info_reason_text="insufficient funds on the disbursement account",
    )
    assert xsd.validate_file(path, message) == []
    report = read_status_report(path)
    assert report.payments == []
    assert report.groups == [
        GroupStatus(ORIGINAL_MSG, ORIGINAL_PMTINF, "rejected", "RJCT", "AM04",
                    "insufficient funds on the disbursement account")
    ]


@pytest.mark.parametrize("message", PAIN002)
def test_a_line_without_txsts_inherits_the_payment_information_status(
    tmp_path: pathlib.Path, message: str
) -> None:
    path = tmp_path / "inherit.xml"
    write_pain002(
        path, message=message, msg_id="R-5", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        group_status="ACCP", payments=[(e2e(1), "ACSC", None, None, None), (e2e(2), "ACSC", None, None, None)],
        original_payment_info_id=ORIGINAL_PMTINF, payment_info_status="ACSC",
    )
    tree = etree.parse(str(path))
    first_txsts = tree.find(".//{*}TxInfAndSts/{*}TxSts")
    first_txsts.getparent().remove(first_txsts)
    tree.write(str(path), xml_declaration=True, encoding="utf-8")
    assert xsd.validate_file(path, message) == []
    report = read_status_report(path)
    assert [(p.iso_status, p.outcome) for p in report.payments] == [("ACSC", "settled"), ("ACSC", "settled")]
    assert [g.iso_status for g in report.groups] == ["ACCP", "ACSC"]


def test_iso_status_table() -> None:
    """The decisions, per code (ExternalPaymentTransactionStatus1Code; see bank_formats.status)."""
    assert {c for c, o in ISO_STATUS_OUTCOME.items() if o == "settled"} == {"ACSC", "ACCC"}
    assert {c for c, o in ISO_STATUS_OUTCOME.items() if o == "rejected"} == {"RJCT", "CANC"}
    assert {c for c, o in ISO_STATUS_OUTCOME.items() if o == "accepted"} == {
        "ACTC", "ACCP", "ACFC", "ACSP", "ACWC", "ACWP", "ACPD"
    }
    assert {c for c, o in ISO_STATUS_OUTCOME.items() if o == "pending"} == {"PART", "PATC", "RCVD", "PDNG", "BLCK"}
    with pytest.raises(ValueError, match="unknown ISO 20022 payment status code 'ZZZZ'"):
        outcome_of("ZZZZ")


@pytest.mark.parametrize("code", sorted(ISO_STATUS_OUTCOME))
def test_every_known_status_code_reads_as_its_outcome(tmp_path: pathlib.Path, code: str) -> None:
    path = tmp_path / "code.xml"
    write_pain002(
        path, message="pain.002.001.12", msg_id="R-6", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        group_status=code, payments=[(e2e(1), code, None, None, None)], original_payment_info_id=ORIGINAL_PMTINF,
    )
    assert xsd.validate_file(path, "pain.002.001.12") == []
    report = read_status_report(path)
    assert (report.payments[0].iso_status, report.payments[0].outcome) == (code, ISO_STATUS_OUTCOME[code])
    assert (report.groups[0].iso_status, report.groups[0].outcome) == (code, ISO_STATUS_OUTCOME[code])


def test_an_unknown_status_code_is_refused_naming_the_line(tmp_path: pathlib.Path) -> None:
    # ExternalPaymentTransactionStatus1Code is 1-4 characters in .12, so the XSD lets ZZZZ through
    path = tmp_path / "unknown-code.xml"
    write_pain002(
        path, message="pain.002.001.12", msg_id="R-7", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        group_status=None, payments=[(e2e(1), "ACSC", None, None, None), (e2e(2), "RJCT", None, None, None)],
        original_payment_info_id=ORIGINAL_PMTINF,
    )
    path.write_text(path.read_text(encoding="utf-8").replace("RJCT", "ZZZZ"), encoding="utf-8")
    assert xsd.validate_file(path, "pain.002.001.12") == []
    line = line_of(path, e2e(2)) - 1  # the TxInfAndSts opening tag
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: line {line}: unknown ISO 20022 payment status code 'ZZZZ'"):
        read_status_report(path)


def test_a_report_on_a_direct_debit_message_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pain008.xml"
    write_pain002(
        path, msg_id="R-8", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        original_message_name="pain.008.001.02", group_status="ACCP", payments=[],
    )
    with pytest.raises(ValueError, match="reports on a pain.008.001.02 message, not on a pain.001"):
        read_status_report(path)


def test_a_line_without_end_to_end_id_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "no-e2e.xml"
    write_pain002(
        path, msg_id="R-9", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status=None,
        payments=[(e2e(1), "RJCT", "AC04", None, None)], original_payment_info_id=ORIGINAL_PMTINF,
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"\s*<OrgnlEndToEndId>[^<]*</OrgnlEndToEndId>", "", text), encoding="utf-8")
    with pytest.raises(ValueError, match="TxInfAndSts without OrgnlEndToEndId"):
        read_status_report(path)


# ---------------------------------------------------------------------------------------------- amounts


@pytest.mark.parametrize("currency", ["IRR", "KRW"])
@pytest.mark.parametrize("message", PAIN002)
def test_zero_decimal_currencies_are_read_exactly(tmp_path: pathlib.Path, message: str, currency: str) -> None:
    path = tmp_path / "amounts.xml"
    big = 999_999_999_999_999_999  # 18 digits, the most an ISO amount can carry
    write_pain002(
        path, message=message, msg_id="R-10", created_at=CREATED, original_msg_id=ORIGINAL_MSG,
        group_status=None, payments=[(e2e(1), "ACSC", None, big, currency), (e2e(2), "ACSC", None, 0, currency)],
        original_payment_info_id=ORIGINAL_PMTINF,
    )
    assert xsd.validate_file(path, message) == []
    assert f'<InstdAmt Ccy="{currency}">{big}</InstdAmt>' in path.read_text(encoding="utf-8")
    report = read_status_report(path)
    assert [(p.amount_minor, p.currency) for p in report.payments] == [(big, currency), (0, currency)]
    assert all(type(p.amount_minor) is int for p in report.payments)


def test_a_fraction_of_a_rial_is_refused_naming_the_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "fraction.xml"
    write_pain002(
        path, msg_id="R-11", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status=None,
        payments=[(e2e(1), "ACSC", None, 100, "IRR"), (e2e(2), "ACSC", None, 777, "IRR")],
        original_payment_info_id=ORIGINAL_PMTINF,
    )
    path.write_text(path.read_text(encoding="utf-8").replace(">777<", ">100.50<"), encoding="utf-8")
    assert xsd.validate_file(path, "pain.002.001.03") == []  # the XSD allows 5 decimals in any currency
    line = line_of(path, "100.50")
    with pytest.raises(ValueError, match=rf"line {line}: InstdAmt '100.50' IRR cannot be read exactly: .*more than 0 decimals"):
        read_status_report(path)


def test_whole_rials_written_with_zero_decimals_are_exact(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "zeros.xml"
    write_pain002(
        path, msg_id="R-12", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status=None,
        payments=[(e2e(1), "ACSC", None, 777, "IRR")], original_payment_info_id=ORIGINAL_PMTINF,
    )
    path.write_text(path.read_text(encoding="utf-8").replace(">777<", ">100.00<"), encoding="utf-8")
    assert read_status_report(path).payments[0].amount_minor == 100


def test_a_fraction_of_a_won_in_camt054_is_refused_naming_the_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "won.xml"
    write_camt054(
        path, message="camt.054.001.08", msg_id="KB-2", created_at=CREATED, account_other_id="00412345678901",
        currency="KRW", entries=[(e2e(1), 1_234_567, "DBIT", "BOOK", None)], booking_date=date(2026, 11, 23),
    )
    text = path.read_text(encoding="utf-8")
    # the detail's amount only: the entry's total stays whole
    path.write_text(text.replace('<Amt Ccy="KRW">1234567</Amt>\n            <CdtDbtInd>',
                                 '<Amt Ccy="KRW">1234567.5</Amt>\n            <CdtDbtInd>'), encoding="utf-8")
    assert "1234567.5" in path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=rf"line {line_of(path, '1234567.5')}: Amt '1234567.5' KRW"):
        read_status_report(path)


# ---------------------------------------------------------------------------------------------- refusals


def test_an_unknown_namespace_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v10.xml"
    write_pain002(path, msg_id="R-13", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status="ACCP",
                  payments=[])
    path.write_text(path.read_text(encoding="utf-8").replace("pain.002.001.03", "pain.002.001.10"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: not a supported status report: .*pain\.002\.001\.10"):
        read_status_report(path)
    path.write_text("<Document><CstmrPmtStsRpt/></Document>", encoding="utf-8")
    with pytest.raises(ValueError, match=r"not a supported status report: .*\(none\)"):
        read_status_report(path)


def test_schema_errors_are_refused_with_line_numbers(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "invalid.xml"
    write_pain002(path, msg_id="R-14", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status=None,
                  payments=[(e2e(1), "ACSC", None, None, None)], original_payment_info_id=ORIGINAL_PMTINF)
    # ACCC is a valid .12 code but not in pain.002.001.03's closed enumeration
    path.write_text(path.read_text(encoding="utf-8").replace(">ACSC<", ">ACCC<"), encoding="utf-8")
    line = line_of(path, "ACCC")
    with pytest.raises(ValueError, match=rf"is not a valid pain\.002\.001\.03 \(1 errors\):\n  line {line}: .*TxSts"):
        read_status_report(path)


def test_xml_that_is_not_well_formed_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text('<?xml version="1.0"?>\n<Document>\n  <GrpHdr>\n</Document>\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.xml: line 4: not well-formed XML"):
        read_status_report(path)


BILLION_LAUGHS = """<?xml version="1.0" encoding="{encoding}"?>
<!DOCTYPE Document [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
  <!ENTITY secret SYSTEM "{secret}">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>&lol9;</MsgId><CreDtTm>2026-11-23T08:15:00</CreDtTm></GrpHdr>
    <OrgnlGrpInfAndSts>
      <OrgnlMsgId>&secret;</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId><GrpSts>RJCT</GrpSts>
    </OrgnlGrpInfAndSts>
  </CstmrPmtStsRpt>
</Document>
"""


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_dtd_or_entity_expansion_is_refused_without_expansion(tmp_path: pathlib.Path, encoding: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PENSION-KEY", encoding="ascii")
    path = tmp_path / "bomb.xml"
    path.write_bytes(BILLION_LAUGHS.format(encoding=encoding, secret=secret.as_uri()).encode(encoding))
    with pytest.raises(ValueError, match="DOCTYPE") as refused:
        read_status_report(path)
    message = str(refused.value)
    assert "lollol" not in message and "TOP-SECRET" not in message
    assert len(message) < 500
    if encoding == "utf-8":  # found in the bytes, before any parsing
        assert "line 2: has a DOCTYPE" in message


# ---------------------------------------------------------------------------------------------- camt.054


def camt_status(
    i: int, outcome: Outcome, iso: str, amount: int | None, reason: str | None = None, *, currency: str = "IRR",
    account: str = DEBTOR_SHEBA, msg: str | None = ORIGINAL_MSG, pmt_inf: str | None = ORIGINAL_PMTINF,
) -> PaymentStatus:
    return PaymentStatus(
        end_to_end_id=e2e(i), outcome=outcome, iso_status=iso, reason_code=reason, reason_text=None,
        amount_minor=amount, currency=None if amount is None else currency, original_msg_id=msg,
        original_payment_info_id=pmt_inf, account=account,
    )


@pytest.mark.parametrize("message", CAMT054)
def test_camt054_round_trip_is_xsd_valid_and_reads_back_equal(tmp_path: pathlib.Path, message: str) -> None:
    path = tmp_path / "ntfctn.xml"
    entries = [
        (e2e(0), 85_000_000, "DBIT", "BOOK", None),
        (e2e(1), 86_234_500, "CRDT", "BOOK", "AC04"),  # returned: account closed
        (e2e(2), 87_469_000, "DBIT", "PDNG", None),
        (e2e(3), 88_703_500, "CRDT", "BOOK", "MD07"),  # returned: end customer deceased
    ]
    result = write_camt054(
        path, message=message, msg_id="BMI-NTF-20261123-01", created_at=CREATED, account_iban=DEBTOR_SHEBA,
        currency="IRR", entries=entries, booking_date=date(2026, 11, 23),
        original_msg_id=ORIGINAL_MSG, original_payment_info_id=ORIGINAL_PMTINF,
    )
    assert xsd.validate_file(path, message) == []
    assert (result.transactions, result.control_sum_minor) == (4, sum(e[1] for e in entries))
    assert len(etree.parse(str(path)).findall(".//{*}Ntry")) == 4  # one entry per line without batch booking
    report = read_status_report(path)
    assert report == StatusReport(
        message=message,
        msg_id="BMI-NTF-20261123-01",
        created_at="2026-11-23T08:15:00+03:30",
        sha256=file_sha(path),
        payments=[
            camt_status(0, "settled", "BOOK", 85_000_000),
            camt_status(1, "rejected", "RTRN", 86_234_500, "AC04"),
            camt_status(2, "pending", "PDNG", 87_469_000),
            camt_status(3, "rejected", "RTRN", 88_703_500, "MD07"),
        ],
        groups=[],
    )


@pytest.mark.parametrize("message", CAMT054)
def test_camt054_batch_booking_one_entry_several_details_and_a_return(
    tmp_path: pathlib.Path, message: str
) -> None:
    path = tmp_path / "batch.xml"
    entries = [
        (e2e(0), 1_500_000, "DBIT", "BOOK", None),
        (e2e(1), 1_250_000, "DBIT", "BOOK", None),
        (e2e(2), 990_000, "CRDT", "BOOK", "AC01"),  # wrong account number: came back
        (e2e(3), 2_000_000, "DBIT", "BOOK", None),
    ]
    write_camt054(
        path, message=message, msg_id="KB-NTF-1", created_at=datetime(2026, 11, 25, 9, 0, tzinfo=SEOUL),
        account_other_id="00412345678901", currency="KRW", entries=entries, booking_date=date(2026, 11, 25),
        batch_booking=True, original_msg_id="NPS-2026-11-001", original_payment_info_id="NPS-2026-11-001-P1",
    )
    assert xsd.validate_file(path, message) == []
    tree = etree.parse(str(path))
    ntries = tree.findall(".//{*}Ntry")
    assert len(ntries) == 2
    debit = ntries[0]
    assert debit.findtext("{*}CdtDbtInd") == "DBIT" and debit.findtext("{*}Amt") == "4750000"
    assert len(debit.findall("{*}NtryDtls/{*}TxDtls")) == 3
    assert debit.findtext("{*}NtryDtls/{*}Btch/{*}NbOfTxs") == "3"
    report = read_status_report(path)
    common: dict[str, Any] = dict(currency="KRW", account="00412345678901", msg="NPS-2026-11-001", pmt_inf="NPS-2026-11-001-P1")
    assert report.payments == [
        camt_status(0, "settled", "BOOK", 1_500_000, **common),
        camt_status(1, "settled", "BOOK", 1_250_000, **common),
        camt_status(3, "settled", "BOOK", 2_000_000, **common),
        camt_status(2, "rejected", "RTRN", 990_000, "AC01", **common),
    ]

    # a bank that reports the batch only as a total: the details carry no amount of their own
    for tx in tree.findall(".//{*}TxDtls"):
        for tag in ("{*}AmtDtls", "{*}Amt"):
            for el in tx.findall(tag):
                tx.remove(el)
    tree.write(str(path), xml_declaration=True, encoding="utf-8")
    assert xsd.validate_file(path, message) == []
    amounts = [(p.end_to_end_id, p.amount_minor, p.currency) for p in read_status_report(path).payments]
    # three details share one entry: no amount each; the lone return takes its entry's amount
    assert amounts == [(e2e(0), None, None), (e2e(1), None, None), (e2e(3), None, None), (e2e(2), 990_000, "KRW")]


CAMT_MIXED = """<?xml version="1.0" encoding="utf-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>MIX-1</MsgId><CreDtTm>2026-11-23T10:00:00+03:30</CreDtTm></GrpHdr>
  <Ntfctn>
   <Id>MIX-1</Id><CreDtTm>2026-11-23T10:00:00+03:30</CreDtTm>
   <Acct><Id><IBAN>IR820130000000000000000042</IBAN></Id></Acct>
   {entries}
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>
"""


def camt_entry(e2e_id: str, amount: str, direction: str, status: str, extra: str = "", reversal: bool = False) -> str:
    rvsl = "<RvslInd>true</RvslInd>" if reversal else ""
    return (
        f'<Ntry><Amt Ccy="IRR">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>{rvsl}<Sts>{status}</Sts>'
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{e2e_id}</EndToEndId></Refs>{extra}</TxDtls></NtryDtls></Ntry>"
    )


def test_camt054_what_is_not_about_our_transfers_is_skipped(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mixed.xml"
    entries = [
        camt_entry(e2e(1), "100", "DBIT", "INFO"),  # information only: nothing booked
        camt_entry("PAYER-REF-77", "5000", "CRDT", "BOOK"),  # someone paid us
        camt_entry("NOTPROVIDED", "300", "DBIT", "BOOK"),  # a debit we cannot tie to a payment
        camt_entry(e2e(2), "200", "CRDT", "BOOK", reversal=True),  # our debit of e2e(2) reversed
        camt_entry(e2e(3), "400", "DBIT", "BOOK", reversal=True),  # reversal of a credit: not ours
        camt_entry(e2e(4), "600", "CRDT", "PDNG",  # a return announced, not yet booked
                   "<RtrInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>closed</AddtlInf><AddtlInf>in 1404</AddtlInf></RtrInf>"),
        camt_entry(e2e(5), "700", "DBIT", "BOOK", "<AmtDtls><InstdAmt><Amt Ccy=\"IRR\">700</Amt></InstdAmt></AmtDtls>"),
    ]
    path.write_text(CAMT_MIXED.format(entries="\n   ".join(entries)), encoding="utf-8")
    assert xsd.validate_file(path, "camt.054.001.02") == []
    report = read_status_report(path)
    assert [(p.end_to_end_id, p.outcome, p.iso_status, p.reason_code, p.reason_text, p.amount_minor)
            for p in report.payments] == [
        (e2e(2), "rejected", "RVSL", None, None, 200),
        (e2e(4), "pending", "PDNG", "AC04", "closed in 1404", 600),
        (e2e(5), "settled", "BOOK", None, None, 700),
    ]
    assert all(p.original_msg_id is None and p.account == DEBTOR_SHEBA for p in report.payments)


def test_camt054_unknown_entry_status_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "futr.xml"
    write_camt054(
        path, message="camt.054.001.08", msg_id="KB-3", created_at=CREATED, account_other_id="00412345678901",
        currency="KRW", entries=[(e2e(1), 1_000, "DBIT", "PDNG", None)], booking_date=date(2026, 11, 23),
    )
    path.write_text(path.read_text(encoding="utf-8").replace("<Cd>PDNG</Cd>", "<Cd>HOLD</Cd>"), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"line {line_of(path, '<Ntry>')}: unknown entry status 'HOLD'"):
        read_status_report(path)
    path.write_text(path.read_text(encoding="utf-8").replace("<Cd>HOLD</Cd>", "<Cd>FUTR</Cd>"), encoding="utf-8")
    assert [(p.outcome, p.iso_status) for p in read_status_report(path).payments] == [("pending", "FUTR")]


# ---------------------------------------------------------------------------------------------- independent reader


def _minor(value: Decimal, currency: str) -> int:
    scaled = value.scaleb(exponent(currency))
    assert scaled == scaled.to_integral_value()
    return int(scaled)


def _document_class(message: str) -> type:
    import importlib

    family = message.split(".")[0]
    module = importlib.import_module(f"pyiso20022.{family}.{message.replace('.', '_')}")
    return module.Document


@pytest.mark.parametrize("message", PAIN002)
def test_pyiso20022_reads_the_same_pain002(tmp_path: pathlib.Path, message: str) -> None:
    path = tmp_path / "independent.xml"
    write_pain002(
        path, message=message, msg_id="R-20", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status="PART",
        payments=[(e2e(i), ["ACSC", "RJCT", "PDNG", "ACSP"][i % 4], "AC04" if i % 4 == 1 else None,
                   85_000_000 + i, "IRR") for i in range(12)],
        original_payment_info_id=ORIGINAL_PMTINF,
    )
    ours = read_status_report(path)
    doc: Any = XmlParser().from_path(path, _document_class(message))
    rpt = doc.cstmr_pmt_sts_rpt
    grp_sts = rpt.orgnl_grp_inf_and_sts.grp_sts
    assert getattr(grp_sts, "value", grp_sts) == ours.groups[0].iso_status == "PART"
    theirs = []
    for pmt in rpt.orgnl_pmt_inf_and_sts:
        for tx in pmt.tx_inf_and_sts:
            amt = tx.orgnl_tx_ref.amt.instd_amt
            code = tx.sts_rsn_inf[0].rsn.cd if tx.sts_rsn_inf else None
            theirs.append((tx.orgnl_end_to_end_id, getattr(tx.tx_sts, "value", tx.tx_sts), code,
                           _minor(amt.value, amt.ccy), amt.ccy))
    assert theirs == [(p.end_to_end_id, p.iso_status, p.reason_code, p.amount_minor, p.currency) for p in ours.payments]
    assert len(theirs) == 12


@pytest.mark.parametrize("message", CAMT054)
def test_pyiso20022_reads_the_same_camt054(tmp_path: pathlib.Path, message: str) -> None:
    path = tmp_path / "independent.xml"
    entries = [(e2e(i), 1_000_000 + 7 * i, "CRDT" if i % 5 == 4 else "DBIT", "PDNG" if i % 5 == 3 else "BOOK",
                "AC04" if i % 5 == 4 else None) for i in range(10)]
    write_camt054(
        path, message=message, msg_id="KB-20", created_at=CREATED, account_other_id="00412345678901",
        currency="KRW", entries=entries, booking_date=date(2026, 11, 25), batch_booking=True,
    )
    ours = read_status_report(path)
    doc: Any = XmlParser().from_path(path, _document_class(message))
    theirs = []
    for ntfctn in doc.bk_to_cstmr_dbt_cdt_ntfctn.ntfctn:
        for entry in ntfctn.ntry:
            status = entry.sts.value if message.endswith("02") else entry.sts.cd
            for details in entry.ntry_dtls:
                for tx in details.tx_dtls:
                    amt = tx.amt_dtls.tx_amt.amt if message.endswith("02") else tx.amt
                    returned = tx.rtr_inf.rsn.cd if tx.rtr_inf else None
                    theirs.append((tx.refs.end_to_end_id, entry.cdt_dbt_ind.value, status, returned,
                                   _minor(amt.value, amt.ccy)))
    # every detail is one of ours here, so both readers see the same lines in the same order
    assert [t[0] for t in theirs] == [p.end_to_end_id for p in ours.payments]
    expected = {
        ("DBIT", "BOOK", None): ("settled", "BOOK"),
        ("CRDT", "BOOK", "AC04"): ("rejected", "RTRN"),
        ("DBIT", "PDNG", None): ("pending", "PDNG"),
    }
    for (e2e_id, direction, status, returned, amount), p in zip(theirs, ours.payments, strict=True):
        assert (p.end_to_end_id, p.amount_minor, p.reason_code) == (e2e_id, amount, returned)
        assert (p.outcome, p.iso_status) == expected[(direction, status, returned)]
    assert sorted(t[4] for t in theirs) == sorted(e[1] for e in entries)


# ---------------------------------------------------------------------------------------------- writers


def test_writers_are_deterministic(tmp_path: pathlib.Path) -> None:
    kwargs: dict[str, Any] = dict(msg_id="R-30", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status="ACCP",
                  payments=[(e2e(1), "ACSC", None, 5, "IRR")], original_payment_info_id=ORIGINAL_PMTINF)
    a = write_pain002(tmp_path / "a.xml", **kwargs)
    b = write_pain002(tmp_path / "b.xml", **kwargs)
    assert a.sha256 == b.sha256 and (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()
    ckw: dict[str, Any] = dict(msg_id="K", created_at=CREATED, account_iban=DEBTOR_SHEBA, currency="IRR",
               entries=[(e2e(1), 5, "DBIT", "BOOK", None)], booking_date=date(2026, 11, 23))
    c = write_camt054(tmp_path / "c.xml", **ckw)
    d = write_camt054(tmp_path / "d.xml", **ckw)
    assert c.sha256 == d.sha256 == file_sha(tmp_path / "d.xml")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"created_at": datetime(2026, 11, 23, 8, 15)}, "timezone-aware"),
        ({"message": "pain.002.001.10"}, "message must be one of"),
        ({"payments": [(e2e(1), "ACCC", None, None, None)]}, "not a status pain.002.001.03 can carry"),
        ({"payments": [(e2e(1), "ACSC", None, 5, None)]}, "amount_minor and currency together"),
        ({"payments": [(e2e(1), "ACSC", None, None, None)] * 2}, "duplicate EndToEndId"),
        ({"payments": [(e2e(1), "ACSC", None, -5, "IRR")]}, "zero or more"),
        ({"payments": [(e2e(1), "ACSC", None, 5, "IRR"), (e2e(2), "ACSC", None, 5, "KRW")]}, "one currency"),
        ({"payments": [(e2e(1), "RJCT", "ac04", None, None)]}, "reason code must be an ISO code"),
        ({"original_payment_info_id": None}, "need original_payment_info_id"),
        ({"msg_id": "M" * 36}, "msg_id must be 1 to 35"),
        ({"group_reason_code": "FF01"}, "group reason needs a group_status"),
        ({"payment_info_reason_text": "no funds"}, "payment-information reason needs a payment_info_status"),
    ],
)
def test_pain002_writer_refuses_bad_input_and_writes_nothing(
    tmp_path: pathlib.Path, overrides: dict, error: str
) -> None:
    kwargs: dict = dict(msg_id="R-31", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status=None,
                        payments=[(e2e(1), "ACSC", None, None, None)], original_payment_info_id=ORIGINAL_PMTINF)
    kwargs.update(overrides)
    with pytest.raises(ValueError, match=error):
        write_pain002(tmp_path / "out.xml", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "status.xml"
    path.write_bytes(b"previous report")
    # a 106-character word cannot be cut into AddtlInf pieces: found while the file is being written
    with pytest.raises(ValueError, match="run of more than 105 characters"):
        write_pain002(path, msg_id="R-32", created_at=CREATED, original_msg_id=ORIGINAL_MSG, group_status=None,
                      payments=[(e2e(1), "ACSC", None, None, None), (e2e(2), "RJCT", None, None, None, "x" * 106)],
                      original_payment_info_id=ORIGINAL_PMTINF)
    assert path.read_bytes() == b"previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["status.xml"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"account_other_id": "123"}, "exactly one of account_iban and account_other_id"),
        ({"account_iban": "not an iban"}, "not an IBAN"),
        ({"currency": "XXX"}, "unknown currency"),
        ({"entries": [(e2e(1), 0, "DBIT", "BOOK", None)]}, "must be positive"),
        ({"entries": [(e2e(1), 5, "DBIT", "BOOK", "AC04")]}, "comes back as a CRDT"),
        ({"entries": [(e2e(1), 5, "DBIT", "INFO", None)]}, "BOOK or PDNG"),
        ({"entries": [(e2e(1), 5, "DEBIT", "BOOK", None)]}, "DBIT or CRDT"),
        ({"booking_date": datetime(2026, 11, 23, 0, 0)}, "must be a date"),
        ({"message": "camt.053.001.02"}, "message must be one of"),
    ],
)
def test_camt054_writer_refuses_bad_input_and_writes_nothing(
    tmp_path: pathlib.Path, overrides: dict, error: str
) -> None:
    kwargs: dict = dict(msg_id="K-1", created_at=CREATED, account_iban=DEBTOR_SHEBA, currency="IRR",
                        entries=[(e2e(1), 5, "DBIT", "BOOK", None)], booking_date=date(2026, 11, 23))
    kwargs.update(overrides)
    with pytest.raises(ValueError, match=error):
        write_camt054(tmp_path / "out.xml", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_message_lists_match_the_vendored_schemas() -> None:
    assert set(pain002.MESSAGES) | set(camt054.MESSAGES) == set(PAIN002) | set(CAMT054)
    for message in PAIN002 + CAMT054:
        assert xsd.schema(message) is not None
