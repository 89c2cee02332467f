"""ISO 20022 pain.002 (customer payment status report), versions pain.002.001.03 and pain.002.001.12.

Reader: :func:`parse` turns a validated document (see :func:`bank_formats.status.read_status_report`,
the entry point) into payment and group statuses:

* ``OrgnlGrpInfAndSts/GrpSts`` becomes a :class:`GroupStatus` for the whole original message, and each
  ``OrgnlPmtInfAndSts/PmtInfSts`` one for that payment-information block. A file rejected whole carries
  only the group status, with no transaction lines.
* each ``TxInfAndSts`` becomes a :class:`PaymentStatus` keyed by ``OrgnlEndToEndId`` (a line without one
  is refused: it cannot be tied to a payment). Its status is ``TxSts``; a line without ``TxSts``
  inherits the enclosing ``PmtInfSts``, else ``GrpSts`` (and is refused when there is none). The amount
  is ``OrgnlTxRef/Amt/InstdAmt``, else ``OrgnlTxRef/IntrBkSttlmAmt``, when the bank repeats it.
* a report about a message that is plainly not a pain.001 (``OrgnlMsgNmId`` such as ``pain.008.001.02``)
  is refused: its EndToEndIds are not our payments.

Writer: :func:`write_pain002` (tests and the demo bank simulator) writes an XSD-valid report,
deterministically (no clock, no random ids), all or nothing.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from bank_formats.model import WriteResult, atomic_output
from bank_formats.status import (
    ISO_STATUS_OUTCOME,
    GroupStatus,
    PaymentStatus,
    SourceDocument,
    XmlOut,
    amount_text,
    check_code,
    check_created_at,
    check_currency,
    check_text,
    split_info,
)

MESSAGES = ("pain.002.001.03", "pain.002.001.12")
NAMESPACES = {m: f"urn:iso:std:iso:20022:tech:xsd:{m}" for m in MESSAGES}

# pain.002.001.03 enumerates its codes (TransactionGroupStatus3Code, TransactionIndividualStatus3Code);
# .12 takes the external code lists, of which the writer accepts those the reader knows.
_V03_GROUP = frozenset({"ACTC", "RCVD", "PART", "RJCT", "PDNG", "ACCP", "ACSP", "ACSC", "ACWC"})
_V03_TRANSACTION = frozenset({"ACTC", "RJCT", "PDNG", "ACCP", "ACSP", "ACSC", "ACWC"})
_MESSAGE_NAME = re.compile(r"[a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2}", re.ASCII)

# (end_to_end_id, iso_status, reason_code | None, amount_minor | None, currency | None), optionally followed
# by the additional-information text (| None).
PaymentLine = (
    tuple[str, str, str | None, int | None, str | None]
    | tuple[str, str, str | None, int | None, str | None, str | None]
)


# ---------------------------------------------------------------------------------------------- reader


def parse(doc: SourceDocument) -> tuple[str, str, list[PaymentStatus], list[GroupStatus]]:
    """(MsgId, CreDtTm, payment statuses, group statuses) of a validated pain.002 document."""
    report = doc.first(doc.root, "d:CstmrPmtStsRpt")
    assert report is not None  # the XSD requires it
    msg_id = doc.required_text(report, "d:GrpHdr/d:MsgId")
    created_at = doc.required_text(report, "d:GrpHdr/d:CreDtTm")
    group = doc.first(report, "d:OrgnlGrpInfAndSts")
    assert group is not None
    original_msg_id = doc.required_text(group, "d:OrgnlMsgId")
    original_name = doc.required_text(group, "d:OrgnlMsgNmId").strip()
    if _MESSAGE_NAME.fullmatch(original_name.lower()) and not original_name.lower().startswith("pain.001."):
        raise doc.error(group, f"reports on a {original_name} message, not on a pain.001 credit transfer")

    groups: list[GroupStatus] = []
    payments: list[PaymentStatus] = []

    def group_status(node: etree._Element, tag: str, pmt_inf_id: str | None) -> str | None:
        code = doc.text(node, f"d:{tag}")
        if code is None:
            return None
        reason_code, reason_text = doc.reason(doc.all(node, "d:StsRsnInf"))
        groups.append(
            GroupStatus(
                original_msg_id=original_msg_id,
                original_payment_info_id=pmt_inf_id,
                outcome=doc.outcome(doc.first(node, f"d:{tag}"), code),
                iso_status=code,
                reason_code=reason_code,
                reason_text=reason_text,
            )
        )
        return code

    grp_sts = group_status(group, "GrpSts", None)
    for pmt in doc.all(report, "d:OrgnlPmtInfAndSts"):
        pmt_inf_id = doc.required_text(pmt, "d:OrgnlPmtInfId")
        pmt_sts = group_status(pmt, "PmtInfSts", pmt_inf_id)
        for tx in doc.all(pmt, "d:TxInfAndSts"):
            e2e = doc.text(tx, "d:OrgnlEndToEndId")
            if e2e is None:
                raise doc.error(tx, "TxInfAndSts without OrgnlEndToEndId: cannot tell which payment it is about")
            code = doc.text(tx, "d:TxSts") or pmt_sts or grp_sts
            if code is None:
                raise doc.error(tx, f"no TxSts for {e2e!r}, and no PmtInfSts or GrpSts to inherit")
            reason_code, reason_text = doc.reason(doc.all(tx, "d:StsRsnInf"))
            amount_el = doc.first(tx, "d:OrgnlTxRef/d:Amt/d:InstdAmt")
            if amount_el is None:
                amount_el = doc.first(tx, "d:OrgnlTxRef/d:IntrBkSttlmAmt")
            amount, currency = doc.amount(amount_el) if amount_el is not None else (None, None)
            payments.append(
                PaymentStatus(
                    end_to_end_id=e2e,
                    outcome=doc.outcome(tx, code),
                    iso_status=code,
                    reason_code=reason_code,
                    reason_text=reason_text,
                    amount_minor=amount,
                    currency=currency,
                    original_msg_id=original_msg_id,
                    original_payment_info_id=pmt_inf_id,
                )
            )
    return msg_id, created_at, payments, groups


# ---------------------------------------------------------------------------------------------- writer


def _check_status(code: object, field: str, message: str, allowed_v03: frozenset[str]) -> str:
    check_code(code, field)
    assert isinstance(code, str)
    allowed = allowed_v03 if message == "pain.002.001.03" else frozenset(ISO_STATUS_OUTCOME)
    if code not in allowed:
        raise ValueError(f"{field} {code!r} is not a status {message} can carry here: {sorted(allowed)}")
    return code


def _reason(out: XmlOut, code: str | None, text: str | None, field: str) -> None:
    if code is None and text is None:
        return
    with out.element("StsRsnInf"):
        if code is not None:
            out.path("Rsn/Cd", check_code(code, f"{field} reason code"))
        if text is not None:
            for piece in split_info(text, f"{field} reason text"):
                out.leaf("AddtlInf", piece)


def write_pain002(
    path: str | os.PathLike[str],
    *,
    message: str = "pain.002.001.03",
    msg_id: str,
    created_at: datetime,
    original_msg_id: str,
    original_message_name: str = "pain.001.001.09",
    group_status: str | None,
    payments: Sequence[PaymentLine],
    original_payment_info_id: str | None = None,
    group_reason_code: str | None = None,
    group_reason_text: str | None = None,
    payment_info_status: str | None = None,
    payment_info_reason_code: str | None = None,
    payment_info_reason_text: str | None = None,
) -> WriteResult:
    """Write a pain.002 status report (``message`` pain.002.001.03 or .12) at ``path``, all or nothing.

    ``group_status`` (GrpSts, with ``group_reason_code`` / ``group_reason_text``) covers the whole original
    message; ``payment_info_status`` (PmtInfSts, with its reason) and the transaction lines sit in one
    ``OrgnlPmtInfAndSts`` for ``original_payment_info_id``, which both need. Each line of ``payments`` is
    ``(end_to_end_id, iso_status, reason_code, amount_minor, currency)`` with an optional sixth element,
    the additional information (cut into 105-character AddtlInf at spaces). ``amount_minor`` and
    ``currency`` are given together or not at all; all amounts share one currency. The result's
    ``transactions`` is the number of lines and ``control_sum_minor`` the sum of the amounts written.
    """
    if message not in NAMESPACES:
        raise ValueError(f"message must be one of {', '.join(MESSAGES)}, got {message!r}")
    check_text(msg_id, "msg_id")
    created = check_created_at(created_at)
    check_text(original_msg_id, "original_msg_id")
    check_text(original_message_name, "original_message_name")
    if group_status is not None:
        _check_status(group_status, "group_status", message, _V03_GROUP)
    elif group_reason_code is not None or group_reason_text is not None:
        raise ValueError("a group reason needs a group_status (the reader keeps reasons with their status)")
    if payment_info_status is None and (payment_info_reason_code is not None or payment_info_reason_text is not None):
        raise ValueError("a payment-information reason needs a payment_info_status")
    if payment_info_status is not None:
        _check_status(payment_info_status, "payment_info_status", message, _V03_GROUP)
    if original_payment_info_id is not None:
        check_text(original_payment_info_id, "original_payment_info_id")
    elif payments or payment_info_status is not None:
        raise ValueError("transaction lines and a payment-information status need original_payment_info_id")

    lines: list[tuple[str, str, str | None, str | None, str | None, str | None]] = []
    seen: set[str] = set()
    currencies: set[str] = set()
    total = 0
    for line in payments:
        if not isinstance(line, tuple) or len(line) not in (5, 6):
            raise ValueError(f"a payment line is (e2e, status, reason, amount, currency[, text]), got {line!r}")
        e2e, code, reason_code, amount, currency = line[:5]
        info = line[5] if len(line) == 6 else None
        ref = f"payment {e2e!r}"
        check_text(e2e, "end_to_end_id")
        if e2e in seen:
            raise ValueError(f"duplicate EndToEndId {e2e!r} in the report")
        seen.add(e2e)
        _check_status(code, f"{ref}: status", message, _V03_TRANSACTION)
        if reason_code is not None:
            check_code(reason_code, f"{ref}: reason code")
        if (amount is None) != (currency is None):
            raise ValueError(f"{ref}: give amount_minor and currency together, or neither")
        amount_str = None
        if amount is not None and currency is not None:
            check_currency(currency, f"{ref}: currency")
            amount_str = amount_text(amount, currency, f"{ref}: amount_minor")
            currencies.add(currency)
            total += amount
        lines.append((e2e, code, reason_code, amount_str, currency, info))
    if len(currencies) > 1:
        raise ValueError(f"one currency per report, got {sorted(currencies)}")

    ns = NAMESPACES[message]
    with atomic_output(path) as sink:
        with etree.xmlfile(sink, encoding="utf-8") as xf:
            xf.write_declaration()
            out = XmlOut(xf, ns)
            with out.element("Document"), out.element("CstmrPmtStsRpt"):
                with out.element("GrpHdr"):
                    out.leaf("MsgId", msg_id)
                    out.leaf("CreDtTm", created)
                with out.element("OrgnlGrpInfAndSts"):
                    out.leaf("OrgnlMsgId", original_msg_id)
                    out.leaf("OrgnlMsgNmId", original_message_name)
                    if group_status is not None:
                        out.leaf("GrpSts", group_status)
                    _reason(out, group_reason_code, group_reason_text, "group")
                if original_payment_info_id is not None:
                    with out.element("OrgnlPmtInfAndSts"):
                        out.leaf("OrgnlPmtInfId", original_payment_info_id)
                        if payment_info_status is not None:
                            out.leaf("PmtInfSts", payment_info_status)
                        _reason(out, payment_info_reason_code, payment_info_reason_text, "payment information")
                        for e2e, code, reason_code, amount_str, currency, info in lines:
                            with out.element("TxInfAndSts"):
                                out.leaf("OrgnlEndToEndId", e2e)
                                out.leaf("TxSts", code)
                                _reason(out, reason_code, info, f"payment {e2e!r}")
                                if amount_str is not None and currency is not None:
                                    out.path("OrgnlTxRef/Amt/InstdAmt", amount_str, Ccy=currency)
        sink.write(b"\n")
    return WriteResult(
        path=pathlib.Path(path),
        transactions=len(lines),
        control_sum_minor=total,
        sha256=sink.sha256.hexdigest(),
        bytes=sink.size,
    )
