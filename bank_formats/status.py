"""What the banks say about our payments: pain.002 status reports and camt.054 notifications, as one model.

:func:`read_status_report` reads either message (pain.002.001.03 / .12, camt.054.001.02 / .08; the message
is told by the root element's namespace), validates it against the official XSD first and returns a
:class:`StatusReport`: one :class:`PaymentStatus` per transaction the bank reports on (by EndToEndId) and
one :class:`GroupStatus` per status given for a whole message or payment-information block.

Every ISO status code maps to one of four outcomes through :data:`ISO_STATUS_OUTCOME`:

* ``settled``: final, paid;
* ``rejected``: final, not paid (a rejection, a cancellation, a return or a reversal);
* ``accepted`` / ``pending``: not final. ``accepted`` when the bank has positively accepted the payment
  for execution, ``pending`` when it has only received it, is still checking, or the status covers a
  mix of outcomes.

A code outside the table is refused rather than guessed: a status report decides whether pensioners
were paid, so an unknown code needs a person. The table follows the ISO 20022 external code list
ExternalPaymentTransactionStatus1Code / ExternalPaymentGroupStatus1Code; the decisions made per code are
in the comments beside it.

The reader is defensive: no DTD (a DOCTYPE is refused outright, entities are never expanded), no
network, the XSD before anything else, and every amount is parsed exactly with
:func:`payroll.money.parse_major` in the currency of its ``Ccy`` attribute; an amount with more decimals
than the currency has (``100.50`` IRR) is refused, naming the line. The whole file is read once: the
bytes that are hashed are the bytes that are parsed and validated.

The two modules :mod:`bank_formats.pain002` and :mod:`bank_formats.camt054` hold the per-message readers
and the writers (for tests and the demo bank simulator); this module holds the model and what they share.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lxml import etree

from bank_formats import xsd
from payroll.money import AmountError, exponent, format_major, parse_major

Outcome = Literal["settled", "accepted", "pending", "rejected"]
OUTCOMES: tuple[Outcome, ...] = ("settled", "accepted", "pending", "rejected")
FINAL_OUTCOMES: frozenset[Outcome] = frozenset({"settled", "rejected"})

# ISO 20022 ExternalPaymentTransactionStatus1Code (and the group-status list, a subset) -> outcome.
# pain.002.001.03 enumerates only ACTC RCVD PART RJCT PDNG ACCP ACSP ACSC ACWC; .12 takes the external list.
ISO_STATUS_OUTCOME: dict[str, Outcome] = {
    # Settlement completed on the debtor's account: the first agent reports the transfer as done.
    "ACSC": "settled",  # AcceptedSettlementCompleted(DebitorAccount)
    # Settlement completed on the creditor's account: even further along than ACSC.
    "ACCC": "settled",  # AcceptedSettlementCompletedCreditorAccount
    "ACTC": "accepted",  # AcceptedTechnicalValidation: authentication, syntax and semantics passed
    "ACCP": "accepted",  # AcceptedCustomerProfile: technical and customer-profile checks passed
    "ACFC": "accepted",  # AcceptedFundsChecked: as ACCP, and the automatic funds check was positive
    "ACSP": "accepted",  # AcceptedSettlementInProcess: accepted for execution, not yet settled
    "ACWC": "accepted",  # AcceptedWithChange: accepted, but the bank changes something (e.g. the date)
    # AcceptedWithoutPosting: accepted by the creditor's agent without being posted to the creditor's
    # account yet; may still end as BLCK, so not final.
    "ACWP": "accepted",
    "ACPD": "accepted",  # AcceptedClearingProcessed: accepted and processed by the clearing
    # PartiallyAccepted: some transactions accepted, others not (yet). Only meaningful for a group; it
    # cannot be applied to each transaction of the group as "accepted", so: pending, not final. The
    # transaction lines of the same report tell which ones were refused.
    "PART": "pending",
    # PartiallyAcceptedTechnicalCorrect: waits for further authorisations (e.g. a second signature).
    "PATC": "pending",
    "RCVD": "pending",  # Received: nothing checked yet
    "PDNG": "pending",  # Pending: further checks and a status update will follow
    # Blocked: a transaction earlier reported ACWP is blocked; funds neither posted to the creditor nor
    # returned to the debtor. Not paid, but not final either (the money is still somewhere): pending.
    "BLCK": "pending",
    "RJCT": "rejected",  # Rejected
    "CANC": "rejected",  # Cancelled before execution: final, not paid
}


def outcome_of(iso_status: str) -> Outcome:
    """The outcome of an ISO transaction/group status code; ValueError for a code not in the table."""
    try:
        return ISO_STATUS_OUTCOME[iso_status]
    except KeyError:
        raise ValueError(
            f"unknown ISO 20022 payment status code {iso_status!r}; known: {', '.join(sorted(ISO_STATUS_OUTCOME))}"
        ) from None


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    """What the bank reports about one payment (one pain.001 transaction, by EndToEndId)."""

    end_to_end_id: str
    outcome: Outcome  # settled = final paid; rejected = final not paid (incl. returns); accepted/pending = not final
    # pain.002: TxSts (ACSC, ACCP, ACSP, ACTC, ACWC, PDNG, RJCT ...), or the enclosing PmtInfSts/GrpSts when
    # the line has none. camt.054: the entry status (BOOK, PDNG, FUTR), "RTRN" for a booked return, "RVSL"
    # for a booked reversal of our debit.
    iso_status: str
    reason_code: str | None  # StsRsnInf/Rsn/Cd or RtrInf/Rsn/Cd (Prtry when there is no Cd), e.g. AC04, MD07
    reason_text: str | None  # the AddtlInf texts joined by one space, or None
    amount_minor: int | None  # the amount the bank reports for this payment, when it reports one
    currency: str | None
    original_msg_id: str | None  # the pain.001 MsgId this status refers to, when given
    original_payment_info_id: str | None
    # camt.054 only: the notified account the entry was booked on (IBAN, else Othr/Id), so a caller can
    # check that a debit was on the disbursement account. None for pain.002.
    account: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A status given for a whole message (``original_payment_info_id`` None) or one PmtInf block."""

    original_msg_id: str
    original_payment_info_id: str | None
    outcome: Outcome
    iso_status: str
    reason_code: str | None
    reason_text: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    message: str  # e.g. "pain.002.001.03"
    msg_id: str
    created_at: str  # GrpHdr/CreDtTm as written
    sha256: str  # of the file's bytes
    payments: list[PaymentStatus]  # in document order; an EndToEndId may appear more than once
    groups: list[GroupStatus]  # group-level and PmtInf-level statuses (a file rejected whole has no lines)


NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
SUPPORTED_MESSAGES = ("pain.002.001.03", "pain.002.001.12", "camt.054.001.02", "camt.054.001.08")


# ---------------------------------------------------------------------------------------------- reading


def _parser() -> etree.XMLParser:
    # Bank files are data: no DTD, no entity expansion, no network, libxml2's default size limits.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@functools.cache
def _xpath(expr: str, namespace: str) -> etree.XPath:
    return etree.XPath(expr, namespaces={"d": namespace}, smart_strings=False)


class SourceDocument:
    """A parsed, validated report and the helpers the per-message readers share (errors name the line)."""

    def __init__(self, path: str, message: str, root: etree._Element) -> None:
        self.path = path
        self.message = message
        self.namespace = NAMESPACE_PREFIX + message
        self.root = root

    def error(self, node: etree._Element | None, what: str) -> ValueError:
        line = f"line {node.sourceline}: " if node is not None and node.sourceline else ""
        return ValueError(f"{self.path}: {line}{what}")

    def all(self, node: etree._Element, expr: str) -> list:
        """XPath ``expr`` under ``node``; ``d:`` is the message's namespace."""
        return _xpath(expr, self.namespace)(node)

    def first(self, node: etree._Element, expr: str) -> etree._Element | None:
        found = self.all(node, expr)
        return found[0] if found else None

    def text(self, node: etree._Element, expr: str, *, required: bool = False) -> str | None:
        """Text of the single element ``expr`` under ``node`` (the XSD has checked it occurs at most once)."""
        el = self.first(node, expr)
        if el is None:
            if required:
                raise self.error(node, f"{expr.replace('d:', '')} is missing")
            return None
        return el.text or ""

    def required_text(self, node: etree._Element, expr: str) -> str:
        text = self.text(node, expr, required=True)
        assert text is not None
        return text

    def amount(self, el: etree._Element) -> tuple[int, str]:
        """An ``...Amt`` element with a ``Ccy`` attribute as exact minor units and its currency."""
        text = el.text or ""
        currency = el.get("Ccy") or ""
        try:
            return parse_major(text, currency), currency
        except AmountError as exc:
            tag = etree.QName(el).localname
            raise self.error(el, f"{tag} {text.strip()!r} {currency} cannot be read exactly: {exc}") from None

    def reason(self, nodes: list[etree._Element]) -> tuple[str | None, str | None]:
        """(code, additional info) of StsRsnInf / RtrInf elements: the first Rsn/Cd (else Rsn/Prtry),
        and every AddtlInf joined by one space."""
        code = None
        texts: list[str] = []
        for node in nodes:
            if code is None:
                code = self.text(node, "d:Rsn/d:Cd") or self.text(node, "d:Rsn/d:Prtry")
            texts.extend(t for t in (el.text for el in self.all(node, "d:AddtlInf")) if t)
        return code, (" ".join(texts) if texts else None)

    def outcome(self, node: etree._Element, iso_status: str) -> Outcome:
        try:
            return outcome_of(iso_status)
        except ValueError as exc:
            raise self.error(node, str(exc)) from None


# A DOCTYPE/ENTITY declaration as bytes in ASCII supersets (UTF-8, Latin-1 ...), UTF-16 and UTF-32 in either
# byte order; any other encoding is caught by the docinfo check after parsing (entities are never resolved).
_DTD_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _dtd_refusal(name: str, data: bytes) -> ValueError | None:
    if not any(marker in data for marker in _DTD_MARKERS):
        return None
    at = data.find(b"<!DOCTYPE")
    newlines = data.count(b"\n", 0, at)
    line = f"line {newlines + 1}: " if at >= 0 else ""
    return ValueError(f"{name}: {line}has a DOCTYPE/ENTITY declaration; bank files must not carry a DTD")


def load_report(path: str | os.PathLike[str]) -> tuple[SourceDocument, str]:
    """Read, hash, parse and XSD-validate a status report; (document, sha256 of the bytes)."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    sha256 = hashlib.sha256(data).hexdigest()
    refusal = _dtd_refusal(name, data)  # before parsing: libxml2 never sees the DTD
    if refusal is not None:
        raise refusal
    try:
        doc = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"{name}: line {exc.lineno}: not well-formed XML: {exc.msg}") from None
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise ValueError(f"{name}: has a DOCTYPE declaration; bank files must not carry a DTD")
    root = doc.getroot()
    qname = etree.QName(root)
    namespace = qname.namespace or ""
    message = namespace[len(NAMESPACE_PREFIX):] if namespace.startswith(NAMESPACE_PREFIX) else ""
    if message not in SUPPORTED_MESSAGES or qname.localname != "Document":
        raise ValueError(
            f"{name}: line {root.sourceline}: not a supported status report: root element "
            f"{qname.localname!r} in namespace {namespace or '(none)'!r}; supported: {', '.join(SUPPORTED_MESSAGES)}"
        )
    schema = xsd.schema(message)
    # The schema keeps its error log on itself: validate under xsd's lock (as xsd.validate_file does).
    with xsd._LOCK:
        valid = schema.validate(doc)
        errors = [] if valid else [f"line {e.line}: {e.message}" for e in schema.error_log]
    if errors:
        shown = "\n  ".join(errors[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ValueError(f"{name} is not a valid {message} ({len(errors)} errors):\n  {shown}{more}")
    return SourceDocument(name, message, root), sha256


def read_status_report(path: str | os.PathLike[str]) -> StatusReport:
    """Read a pain.002 or camt.054 file into a :class:`StatusReport`.

    Raises ValueError naming the file (and the line where there is one) for: a message other than
    pain.002.001.03/.12 or camt.054.001.02/.08, XML that is not well-formed, any DOCTYPE/entity
    declaration, a schema error, an amount that is not exact in its currency, an unknown status code,
    or a status line that cannot be tied to a payment (no OrgnlEndToEndId).
    """
    source, sha256 = load_report(path)
    # Imported here: those modules import this one for the model.
    if source.message.startswith("pain.002."):
        from bank_formats import pain002

        msg_id, created_at, payments, groups = pain002.parse(source)
    else:
        from bank_formats import camt054

        msg_id, created_at, payments, groups = camt054.parse(source)
    return StatusReport(
        message=source.message,
        msg_id=msg_id,
        created_at=created_at,
        sha256=sha256,
        payments=payments,
        groups=groups,
    )


# ---------------------------------------------------------------------------------------------- writing

MAX_ID = 35  # Max35Text
MAX_INFO = 105  # Max105Text (AddtlInf)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CODE = re.compile(r"[A-Z0-9]{1,4}", re.ASCII)
_CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)


def check_text(value: object, field: str, limit: int = MAX_ID) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a str, got {type(value).__name__}")
    if not value.strip() or len(value) > limit:
        raise ValueError(f"{field} must be 1 to {limit} characters, not only spaces: {value!r}")
    if _NOT_XML.search(value):
        raise ValueError(f"{field} contains a character XML cannot carry: {value!r}")
    return value


def check_code(value: object, field: str) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValueError(f"{field} must be an ISO code of 1-4 upper-case letters/digits, got {value!r}")
    return value


def check_currency(value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValueError(f"{field} must be an ISO 4217 code, got {value!r}")
    exponent(value)  # unknown currency -> AmountError (a ValueError)
    return value


def check_created_at(value: object) -> str:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"created_at must be a timezone-aware datetime, got {value!r}")
    return value.isoformat(timespec="seconds")


def amount_text(minor: object, currency: str, field: str, *, positive: bool = False) -> str:
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise ValueError(f"{field} must be an int of minor units, got {type(minor).__name__}: {minor!r}")
    if minor < 0 or (positive and minor == 0):
        raise ValueError(f"{field} must be {'positive' if positive else 'zero or more'}, got {minor}")
    text = format_major(minor, currency)
    if len(text) - text.count(".") > 18:  # totalDigits of every ISO amount
        raise ValueError(f"{field} {text} {currency} has more than 18 digits")
    return text


def split_info(text: object, field: str) -> list[str]:
    """Cut an additional-information text into Max105Text pieces at single spaces, so that joining the
    pieces with one space (as the reader does) gives the text back exactly."""
    check_text(text, field, limit=10_000)
    assert isinstance(text, str)
    pieces: list[str] = []
    current: str | None = None
    for word in text.split(" "):
        if current is None:
            current = word
        elif len(current) + 1 + len(word) <= MAX_INFO:
            current += " " + word
        else:
            pieces.append(current)
            current = word
        if len(current) > MAX_INFO:
            raise ValueError(f"{field} has a run of more than {MAX_INFO} characters without a space")
    pieces.append(current or "")
    if any(not p.strip() for p in pieces):
        raise ValueError(f"{field} would need an AddtlInf made only of spaces: {text!r}")
    return pieces


class XmlOut:
    """An indented writer over lxml's incremental ``xmlfile`` (one element at a time, constant memory),
    so the files a simulator writes are readable and the reader's errors point at a useful line."""

    def __init__(self, xf: Any, namespace: str) -> None:  # xf: lxml's _IncrementalFileWriter
        self._xf = xf
        self._ns = namespace
        self._depth = 0
        self._has_children = [False]

    @contextlib.contextmanager
    def element(self, tag: str, **attrs: str) -> Iterator[None]:
        self._has_children[-1] = True
        if self._depth:
            self._xf.write("\n" + "  " * self._depth)
        nsmap = {None: self._ns} if self._depth == 0 else None
        with self._xf.element(f"{{{self._ns}}}{tag}", attrs, nsmap=nsmap):
            self._depth += 1
            self._has_children.append(False)
            yield
            had_children = self._has_children.pop()
            self._depth -= 1
            if had_children:
                self._xf.write("\n" + "  " * self._depth)

    def leaf(self, tag: str, text: str, **attrs: str) -> None:
        self._has_children[-1] = True
        self._xf.write("\n" + "  " * self._depth)
        with self._xf.element(f"{{{self._ns}}}{tag}", attrs):
            self._xf.write(text)

    def path(self, tags: str, text: str, **attrs: str) -> None:
        """``path("Rsn/Cd", "AC04")``: nested single-child elements down to a leaf (attrs on the leaf)."""
        *outer, last = tags.split("/")
        with contextlib.ExitStack() as stack:
            for tag in outer:
                stack.enter_context(self.element(tag))
            self.leaf(last, text, **attrs)
