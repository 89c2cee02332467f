"""ISO 20022 camt.054 (bank-to-customer debit/credit notification), versions camt.054.001.02 and .08.

Reader: :func:`parse` turns a validated document (see :func:`bank_formats.status.read_status_report`,
the entry point) into payment statuses, one per entry detail (``Ntry/NtryDtls/TxDtls``) that carries an
``EndToEndId`` (``NOTPROVIDED`` counts as none) and concerns one of our payments:

=================================================  ============  ==========================================
entry detail                                       entry status  PaymentStatus
=================================================  ============  ==========================================
DBIT (our transfer), no RtrInf, not a reversal     BOOK          settled, iso_status "BOOK"
CRDT with RtrInf (our transfer came back)          BOOK          rejected, "RTRN", the return reason
CRDT with RvslInd true (our debit was reversed)    BOOK          rejected, "RVSL"
any of the three above                             PDNG / FUTR   pending, iso_status the entry status
=================================================  ============  ==========================================

Entries with status INFO (information only, nothing booked) are skipped, and so are details that are not
about our transfers (other credits, reversals of credits) or carry no EndToEndId (fees, interest, a batch
debit without details). A status other than BOOK/PDNG/INFO/FUTR is refused. In .08 the status is
``Sts/Cd`` (``Sts/Prtry`` is refused: its meaning is bilateral) and a detail may carry its own
``CdtDbtInd``, which wins over the entry's.

Amounts: the detail's own amount (.08 ``TxDtls/Amt``), else ``AmtDtls/TxAmt``, else ``AmtDtls/InstdAmt``,
else the entry's ``Amt`` when the entry has exactly one detail; with several details and no amount of its
own a detail's amount is None (a batch booking reported only as a total). Every amount is exact in the
currency of its ``Ccy`` attribute. The notified account (IBAN, else ``Othr/Id``) goes into
``PaymentStatus.account``; the original MsgId / PmtInfId come from ``Refs``, else from ``NtryDtls/Btch``.
camt.054 carries no group statuses.

Writer: :func:`write_camt054` (tests and the demo bank simulator) writes an XSD-valid notification,
deterministically, all or nothing.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Sequence
from datetime import date, datetime

from lxml import etree

from bank_formats.model import WriteResult, atomic_output
from bank_formats.status import (
    GroupStatus,
    Outcome,
    PaymentStatus,
    SourceDocument,
    XmlOut,
    amount_text,
    check_code,
    check_created_at,
    check_currency,
    check_text,
)

MESSAGES = ("camt.054.001.02", "camt.054.001.08")
NAMESPACES = {m: f"urn:iso:std:iso:20022:tech:xsd:{m}" for m in MESSAGES}
NOT_PROVIDED = "NOTPROVIDED"  # the conventional EndToEndId of a payment that had none
_ENTRY_STATUSES = frozenset({"BOOK", "PDNG", "INFO", "FUTR"})
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}", re.ASCII)

# (end_to_end_id, amount_minor, "DBIT" | "CRDT", "BOOK" | "PDNG", return_reason | None)
EntryLine = tuple[str, int, str, str, str | None]


# ---------------------------------------------------------------------------------------------- reader


def _true(text: str | None) -> bool:
    return (text or "").strip() in ("true", "1")


def parse(doc: SourceDocument) -> tuple[str, str, list[PaymentStatus], list[GroupStatus]]:
    """(MsgId, CreDtTm, payment statuses, no group statuses) of a validated camt.054 document."""
    body = doc.first(doc.root, "d:BkToCstmrDbtCdtNtfctn")
    assert body is not None  # the XSD requires it
    msg_id = doc.required_text(body, "d:GrpHdr/d:MsgId")
    created_at = doc.required_text(body, "d:GrpHdr/d:CreDtTm")
    v02 = doc.message == "camt.054.001.02"
    payments: list[PaymentStatus] = []
    for ntfctn in doc.all(body, "d:Ntfctn"):
        account = doc.text(ntfctn, "d:Acct/d:Id/d:IBAN") or doc.text(ntfctn, "d:Acct/d:Id/d:Othr/d:Id")
        for entry in doc.all(ntfctn, "d:Ntry"):
            entry_amount_el = doc.first(entry, "d:Amt")
            assert entry_amount_el is not None
            entry_amount = doc.amount(entry_amount_el)
            entry_direction = doc.required_text(entry, "d:CdtDbtInd")
            reversal = _true(doc.text(entry, "d:RvslInd"))
            status = doc.text(entry, "d:Sts") if v02 else doc.text(entry, "d:Sts/d:Cd")
            if status is None:  # .08 with Sts/Prtry
                raise doc.error(entry, f"proprietary entry status {doc.text(entry, 'd:Sts/d:Prtry')!r}")
            if status not in _ENTRY_STATUSES:
                raise doc.error(entry, f"unknown entry status {status!r}; known: {', '.join(sorted(_ENTRY_STATUSES))}")
            if status == "INFO":
                continue
            details = doc.all(entry, "d:NtryDtls/d:TxDtls")
            for tx in details:
                e2e = doc.text(tx, "d:Refs/d:EndToEndId")
                if e2e is None or e2e.strip() in ("", NOT_PROVIDED):
                    continue
                direction = (None if v02 else doc.text(tx, "d:CdtDbtInd")) or entry_direction
                returned = doc.first(tx, "d:RtrInf")
                if direction == "DBIT" and returned is None and not reversal:
                    outcome: Outcome = "settled"
                    iso_status = "BOOK"
                elif direction == "CRDT" and (returned is not None or reversal):
                    outcome = "rejected"
                    iso_status = "RTRN" if returned is not None else "RVSL"
                else:
                    continue  # not about one of our transfers
                if status != "BOOK":
                    outcome, iso_status = "pending", status
                reason_code, reason_text = doc.reason([returned] if returned is not None else [])
                amount_el = None
                for expr in ("d:Amt", "d:AmtDtls/d:TxAmt/d:Amt", "d:AmtDtls/d:InstdAmt/d:Amt"):
                    amount_el = doc.first(tx, expr)
                    if amount_el is not None:
                        break
                amount: int | None
                currency: str | None
                if amount_el is not None:
                    amount, currency = doc.amount(amount_el)
                elif len(details) == 1:
                    amount, currency = entry_amount
                else:
                    amount, currency = None, None
                batch = tx.getparent()
                payments.append(
                    PaymentStatus(
                        end_to_end_id=e2e,
                        outcome=outcome,
                        iso_status=iso_status,
                        reason_code=reason_code,
                        reason_text=reason_text,
                        amount_minor=amount,
                        currency=currency,
                        original_msg_id=doc.text(tx, "d:Refs/d:MsgId") or doc.text(batch, "d:Btch/d:MsgId"),
                        original_payment_info_id=(
                            doc.text(tx, "d:Refs/d:PmtInfId") or doc.text(batch, "d:Btch/d:PmtInfId")
                        ),
                        account=account,
                    )
                )
    return msg_id, created_at, payments, []


# ---------------------------------------------------------------------------------------------- writer


def write_camt054(
    path: str | os.PathLike[str],
    *,
    message: str = "camt.054.001.02",
    msg_id: str,
    created_at: datetime,
    account_iban: str | None = None,
    account_other_id: str | None = None,
    currency: str,
    entries: Sequence[EntryLine],
    booking_date: date,
    batch_booking: bool = False,
    original_msg_id: str | None = None,
    original_payment_info_id: str | None = None,
) -> WriteResult:
    """Write a camt.054 notification (``message`` camt.054.001.02 or .08) for one account, all or nothing.

    Each of ``entries`` is ``(end_to_end_id, amount_minor, "DBIT" | "CRDT", "BOOK" | "PDNG",
    return_reason)``; a return reason (ExternalReturnReason1Code, e.g. AC04) makes the line a returned
    payment, which must be a CRDT. Without ``batch_booking`` each line is its own ``Ntry``; with it, lines
    of the same direction and status share one ``Ntry`` (amount: their sum; ``Btch`` with the count)
    with one ``TxDtls`` each, in the order the groups first appear. ``original_msg_id`` /
    ``original_payment_info_id`` go into each detail's ``Refs`` (and the ``Btch``). Booked entries get
    ``BookgDt`` ``booking_date``; every entry gets it as ``ValDt``. The result's ``transactions`` is the
    number of lines and ``control_sum_minor`` the sum of their amounts.
    """
    if message not in NAMESPACES:
        raise ValueError(f"message must be one of {', '.join(MESSAGES)}, got {message!r}")
    check_text(msg_id, "msg_id")
    created = check_created_at(created_at)
    if (account_iban is None) == (account_other_id is None):
        raise ValueError("give exactly one of account_iban and account_other_id")
    if account_iban is not None and (not isinstance(account_iban, str) or not _IBAN.fullmatch(account_iban)):
        raise ValueError(f"account_iban is not an IBAN: {account_iban!r}")
    if account_other_id is not None:
        check_text(account_other_id, "account_other_id", limit=34)
    check_currency(currency)
    if isinstance(booking_date, datetime) or not isinstance(booking_date, date):
        raise ValueError(f"booking_date must be a date, got {booking_date!r}")
    for value, field in ((original_msg_id, "original_msg_id"), (original_payment_info_id, "original_payment_info_id")):
        if value is not None:
            check_text(value, field)

    groups: dict[tuple[str, str] | int, list[tuple[str, int, str, str, str | None, str]]] = {}
    total = 0
    for i, line in enumerate(entries):
        if not isinstance(line, tuple) or len(line) != 5:
            raise ValueError(f"an entry is (e2e, amount_minor, DBIT|CRDT, BOOK|PDNG, return_reason), got {line!r}")
        e2e, amount, direction, status, return_reason = line
        ref = f"entry {e2e!r}"
        check_text(e2e, "end_to_end_id")
        text = amount_text(amount, currency, f"{ref}: amount_minor", positive=True)
        if direction not in ("DBIT", "CRDT"):
            raise ValueError(f"{ref}: direction must be DBIT or CRDT, got {direction!r}")
        if status not in ("BOOK", "PDNG"):
            raise ValueError(f"{ref}: status must be BOOK or PDNG, got {status!r}")
        if return_reason is not None:
            check_code(return_reason, f"{ref}: return_reason")
            if direction != "CRDT":
                raise ValueError(f"{ref}: a returned payment comes back as a CRDT, not {direction}")
        key: tuple[str, str] | int = (direction, status) if batch_booking else i
        groups.setdefault(key, []).append((e2e, amount, direction, status, return_reason, text))
        total += amount

    v02 = message == "camt.054.001.02"
    with atomic_output(path) as sink:
        with etree.xmlfile(sink, encoding="utf-8") as xf:
            xf.write_declaration()
            out = XmlOut(xf, NAMESPACES[message])
            with out.element("Document"), out.element("BkToCstmrDbtCdtNtfctn"):
                with out.element("GrpHdr"):
                    out.leaf("MsgId", msg_id)
                    out.leaf("CreDtTm", created)
                with out.element("Ntfctn"):
                    out.leaf("Id", msg_id)
                    out.leaf("CreDtTm", created)
                    with out.element("Acct"):
                        with out.element("Id"):
                            if account_iban is not None:
                                out.leaf("IBAN", account_iban)
                            else:
                                out.path("Othr/Id", account_other_id or "")
                        out.leaf("Ccy", currency)
                    for n, lines in enumerate(groups.values(), 1):
                        _write_entry(out, n, lines, currency, booking_date, v02, batch_booking,
                                     original_msg_id, original_payment_info_id)
        sink.write(b"\n")
    return WriteResult(
        path=pathlib.Path(path),
        transactions=sum(len(lines) for lines in groups.values()),
        control_sum_minor=total,
        sha256=sink.sha256.hexdigest(),
        bytes=sink.size,
    )


def _write_entry(
    out: XmlOut,
    number: int,
    lines: list[tuple[str, int, str, str, str | None, str]],
    currency: str,
    booking_date: date,
    v02: bool,
    batch_booking: bool,
    original_msg_id: str | None,
    original_payment_info_id: str | None,
) -> None:
    direction, status = lines[0][2], lines[0][3]
    entry_total = amount_text(sum(line[1] for line in lines), currency, f"entry {number}: total", positive=True)
    returns = all(line[4] is not None for line in lines)
    with out.element("Ntry"):
        out.leaf("NtryRef", str(number))
        out.leaf("Amt", entry_total, Ccy=currency)
        out.leaf("CdtDbtInd", direction)
        if v02:
            out.leaf("Sts", status)
        else:
            out.path("Sts/Cd", status)
        if status == "BOOK":
            out.path("BookgDt/Dt", booking_date.isoformat())
        out.path("ValDt/Dt", booking_date.isoformat())
        with out.element("BkTxCd"), out.element("Domn"):
            # Payments / issued credit transfers / domestic credit transfer, or reversal due to a return
            out.leaf("Cd", "PMNT")
            with out.element("Fmly"):
                out.leaf("Cd", "ICDT")
                out.leaf("SubFmlyCd", "RRTN" if returns else "DMCT")
        with out.element("NtryDtls"):
            if batch_booking:
                with out.element("Btch"):
                    if original_msg_id is not None:
                        out.leaf("MsgId", original_msg_id)
                    if original_payment_info_id is not None:
                        out.leaf("PmtInfId", original_payment_info_id)
                    out.leaf("NbOfTxs", str(len(lines)))
                    out.leaf("TtlAmt", entry_total, Ccy=currency)
                    out.leaf("CdtDbtInd", direction)
            for e2e, _amount, _direction, _status, return_reason, text in lines:
                with out.element("TxDtls"):
                    with out.element("Refs"):
                        if original_msg_id is not None:
                            out.leaf("MsgId", original_msg_id)
                        if original_payment_info_id is not None:
                            out.leaf("PmtInfId", original_payment_info_id)
                        out.leaf("EndToEndId", e2e)
                    if v02:
                        out.path("AmtDtls/TxAmt/Amt", text, Ccy=currency)
                    else:
                        out.leaf("Amt", text, Ccy=currency)
                        out.leaf("CdtDbtInd", direction)
                    if return_reason is not None:
                        out.path("RtrInf/Rsn/Cd", return_reason)
