"""Every pain.001 file we write, read back by an independent implementation and compared field by field.

The reader is pyiso20022 1.6.2: xsdata dataclass bindings generated from the ISO 20022 schemas
(``pyiso20022.pain.pain_001_001_09`` and ``pyiso20022.pain.pain_001_001_03``), parsed with xsdata's
``XmlParser`` refusing unknown elements and attributes. It shares no code with
``bank_formats.pain001``: not our XPath reader, not our amount parsing. Amounts come back as
``Decimal`` and are turned into minor units here, refusing any fraction the currency does not have.
"""

from __future__ import annotations

import pathlib
from datetime import date
from decimal import Decimal
from importlib.metadata import version
from types import ModuleType

import pytest
from pyiso20022.pain import pain_001_001_03, pain_001_001_09
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig

from bank_formats import xsd
from bank_formats.pain001 import CreditTransfer, Debtor, PaymentBatch, clip_text, write_pain001
from tests.unit.test_pain001 import (
    MESSAGES,
    V03,
    V09,
    _tx,
    irr_batch,
    irr_transactions,
    krw_batch,
    krw_transactions,
    mixed_transactions,
    sheba,
)

BINDINGS: dict[str, ModuleType] = {V09: pain_001_001_09, V03: pain_001_001_03}
BIC_FIELD = {V09: "bicfi", V03: "bic"}  # FinancialInstitutionIdentification18.bicfi / 7.bic
EXPONENT = {"IRR": 0, "KRW": 0, "USD": 2}  # ISO 4217, written out here rather than imported


def parser() -> XmlParser:
    return XmlParser(config=ParserConfig(fail_on_unknown_properties=True, fail_on_unknown_attributes=True))


def parse(path: pathlib.Path, message: str):
    return parser().parse(str(path), BINDINGS[message].Document)


def minor(amount: Decimal, currency: str) -> int:
    """Exact minor units of a Decimal amount; refuses a fraction of the minor unit."""
    assert isinstance(amount, Decimal)
    scaled = amount.scaleb(EXPONENT[currency])
    assert scaled == scaled.to_integral_value(), f"{amount} has a fraction of a {currency} minor unit"
    return int(scaled)


def bic_of(fin, message: str) -> str | None:
    return getattr(fin, BIC_FIELD[message])


def assert_same(doc, message: str, batch: PaymentBatch, txs: list[CreditTransfer]) -> None:
    """Everything pyiso20022 read equals what was written (after the documented 140-character cut)."""
    b = BINDINGS[message]
    currency = batch.currency
    assert isinstance(doc, b.Document)
    init = doc.cstmr_cdt_trf_initn
    assert type(init).__name__ == ("CustomerCreditTransferInitiationV09" if message == V09
                                   else "CustomerCreditTransferInitiationV03")  # fmt: skip

    # group header
    grp = init.grp_hdr
    assert grp.msg_id == batch.msg_id
    assert str(grp.cre_dt_tm) == batch.created_at.isoformat(timespec="seconds")
    created = grp.cre_dt_tm.to_datetime()
    assert created == batch.created_at and created.utcoffset() == batch.created_at.utcoffset()
    assert grp.nb_of_txs == str(len(txs)) == str(batch.number_of_transactions)
    assert minor(grp.ctrl_sum, currency) == batch.control_sum_minor
    assert grp.initg_pty.nm == clip_text(batch.initiating_party)
    assert grp.authstn == [] and grp.fwdg_agt is None

    # payment information
    assert len(init.pmt_inf) == 1
    pmt = init.pmt_inf[0]
    assert pmt.pmt_inf_id == batch.payment_info_id
    assert pmt.pmt_mtd == b.PaymentMethod3Code.TRF
    assert pmt.btch_bookg is False
    assert pmt.nb_of_txs == grp.nb_of_txs
    assert minor(pmt.ctrl_sum, currency) == minor(grp.ctrl_sum, currency)
    assert pmt.pmt_tp_inf.ctgy_purp.cd == "PENS" == batch.category_purpose
    assert pmt.pmt_tp_inf.ctgy_purp.prtry is None
    if message == V09:
        assert pmt.reqd_exctn_dt.dt_tm is None
        assert pmt.reqd_exctn_dt.dt.to_date() == batch.requested_execution_date
    else:
        assert pmt.reqd_exctn_dt.to_date() == batch.requested_execution_date
    assert isinstance(batch.requested_execution_date, date)
    debtor = batch.debtor
    assert pmt.dbtr.nm == clip_text(debtor.name)
    if debtor.iban is not None:
        assert pmt.dbtr_acct.id.iban == debtor.iban and pmt.dbtr_acct.id.othr is None
    else:
        assert pmt.dbtr_acct.id.iban is None and pmt.dbtr_acct.id.othr.id == debtor.account_id
    fin = pmt.dbtr_agt.fin_instn_id
    assert bic_of(fin, message) == debtor.bic
    assert (fin.clr_sys_mmb_id.mmb_id if fin.clr_sys_mmb_id else None) == debtor.bank_code
    assert pmt.chrg_br == b.ChargeBearerType1Code.DEBT

    # transactions, in order
    assert len(pmt.cdt_trf_tx_inf) == len(txs)
    for got, tx in zip(pmt.cdt_trf_tx_inf, txs, strict=True):
        where = tx.end_to_end_id
        assert got.pmt_id.end_to_end_id == tx.end_to_end_id
        assert got.pmt_id.instr_id is None
        assert got.amt.instd_amt.ccy == currency, where
        assert minor(got.amt.instd_amt.value, currency) == tx.amount_minor, where
        assert got.cdtr.nm == clip_text(tx.creditor_name), where
        account = got.cdtr_acct.id
        if tx.creditor_iban is not None:
            assert account.iban == tx.creditor_iban and account.othr is None, where
        else:
            assert account.iban is None and account.othr.id == tx.creditor_account_id, where
            assert account.othr.schme_nm is None, where
        fin = got.cdtr_agt.fin_instn_id
        assert fin.clr_sys_mmb_id.mmb_id == tx.creditor_bank_code, where
        assert bic_of(fin, message) == tx.creditor_bic, where
        assert got.purp.cd == "PENS" == batch.purpose, where
        if tx.remittance.strip():
            assert got.rmt_inf.ustrd == [clip_text(tx.remittance)] and got.rmt_inf.strd == [], where
        else:
            assert got.rmt_inf is None, where
        assert got.pmt_tp_inf is None and got.chrg_br is None, where  # said once, in PmtInf

    # control totals, re-added from what pyiso20022 read
    amounts = [minor(t.amt.instd_amt.value, currency) for t in pmt.cdt_trf_tx_inf]
    assert int(grp.nb_of_txs) == int(pmt.nb_of_txs) == len(amounts)
    assert minor(grp.ctrl_sum, currency) == minor(pmt.ctrl_sum, currency) == sum(amounts)


def bic_transactions() -> list[CreditTransfer]:
    return [
        _tx(end_to_end_id=f"B{i}", creditor_bic=bic, creditor_bank_code=code, creditor_iban=sheba(code, i))
        for i, (bic, code) in enumerate([("BKMTIRTHXXX", "012"), ("MELIIRTH", "017"), ("BSIRIRTH001", "019")])
    ]


def bic_batch(txs: list[CreditTransfer]) -> PaymentBatch:
    debtor = Debtor("سازمان تامین اجتماعی", sheba("013", 42), bank_code="013", bic="REFAIRTH")
    return irr_batch(txs, debtor=debtor)


def streamed_irr(n: int):
    ibans = [sheba("017", 10**6 + k) for k in range(50)]
    for i in range(n):
        yield CreditTransfer(f"S-{i:08d}", 1_000_000 + i, f"فاطمه رضایی {i % 13}", ibans[i % 50], None, "017",
                             f"مستمری {i}")


CASES = {
    "irr": lambda: (irr_transactions(40), irr_batch),
    "krw": lambda: (krw_transactions(24), krw_batch),
    "bic": lambda: (bic_transactions(), bic_batch),
    "mixed": lambda: (mixed_transactions(), irr_batch),
    "usd": lambda: ([_tx(end_to_end_id=f"U{i}", amount_minor=a) for i, a in enumerate([1, 1250, 10**12 + 5])],
                    lambda t: irr_batch(t, currency="USD")),
    "streamed": lambda: (list(streamed_irr(3000)), irr_batch),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("message", MESSAGES)
def test_pyiso20022_reads_back_every_field(tmp_path, message, case):
    txs, make_batch = CASES[case]()
    batch = make_batch(txs)
    path = tmp_path / f"{case}.xml"
    result = write_pain001(path, batch, iter(txs), message=message)
    assert xsd.validate_file(path, message) == []
    assert result.transactions == len(txs)
    assert_same(parse(path, message), message, batch, txs)


@pytest.mark.parametrize("message", MESSAGES)
def test_each_binding_refuses_the_other_version(tmp_path, message):
    txs = krw_transactions(2)
    path = tmp_path / "kb.xml"
    write_pain001(path, krw_batch(txs), txs, message=message)
    other = V03 if message == V09 else V09
    with pytest.raises(ParserError):
        parse(path, other)


@pytest.mark.parametrize("message", MESSAGES)
def test_the_comparison_catches_a_changed_field(tmp_path, message):
    """The field-by-field check is not vacuous: a file differing in one amount or one name fails it."""
    txs = irr_transactions(5)
    batch = irr_batch(txs)
    path = tmp_path / "refah.xml"
    write_pain001(path, batch, txs, message=message)
    text = path.read_text(encoding="utf-8")
    cases = [
        text.replace(f">{txs[2].amount_minor}<", f">{txs[2].amount_minor + 1}<", 1),
        text.replace(f">{txs[4].creditor_name}<", ">علی<", 1),
    ]
    for changed in cases:
        assert changed != text
        path.write_text(changed, encoding="utf-8")
        with pytest.raises(AssertionError):
            assert_same(parse(path, message), message, batch, txs)


def test_the_independent_reader_is_the_pinned_one():
    assert version("pyiso20022") == "1.6.2"
    assert pain_001_001_09.Document.Meta.namespace == "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
    assert pain_001_001_03.Document.Meta.namespace == "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
