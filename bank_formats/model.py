"""What every bank file writer takes and returns: the batch, its transactions, the written file.

A writer is handed one :class:`PaymentBatch` (the debtor, the declared count and control sum, the
dates and ids that come from the run, never the clock) and an iterable of :class:`CreditTransfer`;
it streams them to a file all or nothing and returns a :class:`WriteResult`. Money is integer minor
units throughout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Debtor:
    """The institution's disbursement account, from configuration."""

    name: str
    iban: str | None  # DbtrAcct/Id/IBAN (Iran: SHEBA)
    bank_code: str | None = None  # DbtrAgt/FinInstnId/ClrSysMmbId/MmbId
    bic: str | None = None  # DbtrAgt/FinInstnId/BICFI
    account_id: str | None = None  # DbtrAcct/Id/Othr/Id when there is no IBAN (Korea has none)


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    end_to_end_id: str  # stable payment reference, <= 35 chars
    amount_minor: int
    creditor_name: str
    creditor_iban: str | None  # Iran: SHEBA
    creditor_account_id: str | None  # Korea: account number, CdtrAcct/Id/Othr/Id (when no IBAN)
    creditor_bank_code: str  # CdtrAgt/FinInstnId/ClrSysMmbId/MmbId
    remittance: str  # RmtInf/Ustrd, cut to 140 characters
    creditor_bic: str | None = None  # CdtrAgt/FinInstnId/BICFI


@dataclass(frozen=True, slots=True)
class PaymentBatch:
    msg_id: str  # <= 35
    created_at: datetime  # timezone-aware, from the run (never the clock)
    initiating_party: str
    payment_info_id: str  # <= 35
    requested_execution_date: date
    currency: str
    debtor: Debtor
    number_of_transactions: int  # declared up front: GrpHdr precedes the transactions
    control_sum_minor: int
    category_purpose: str = "PENS"
    purpose: str = "PENS"


@dataclass(frozen=True, slots=True)
class WriteResult:
    path: pathlib.Path
    transactions: int
    control_sum_minor: int
    sha256: str
    bytes: int


class HashingWriter:
    """File-like sink for lxml: counts and hashes every byte on its way to the real file."""

    __slots__ = ("_raw", "sha256", "size")

    def __init__(self, raw) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._raw.write(data)


def fsync_dir(directory: pathlib.Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)




@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[HashingWriter]:
    """Write a file all or nothing: yields a hashing sink over a temporary file beside ``path``.

    On a clean exit the temporary file is flushed, fsynced and moved onto ``path`` (``os.replace``);
    on any exception it is removed and ``path`` is left as it was. The sink's ``sha256`` and ``size``
    describe exactly the bytes that were written.
    """
    path = pathlib.Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = pathlib.Path(tmp_name)
    try:
        with open(fd, "wb") as raw:
            sink = HashingWriter(raw)
            yield sink
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def checked_transfers(transactions: Iterable[CreditTransfer], what: str = "field") -> Iterator[CreditTransfer]:
    """`transactions`, each checked on the way: a CreditTransfer, a non-empty end-to-end id not seen
    before in the file, a positive int amount. A refusal is a ValueError naming the transaction and the
    `what` (field, column) at fault. Keeps one set of the ids seen (about 100 bytes a transaction)."""
    seen: set[str] = set()
    for n, tx in enumerate(transactions, start=1):
        if not isinstance(tx, CreditTransfer):
            raise ValueError(f"transaction #{n}: expected a CreditTransfer, got {type(tx).__name__}")
        e2e = tx.end_to_end_id
        if not isinstance(e2e, str) or not e2e.strip():
            raise ValueError(f"transaction #{n}: {what} end_to_end_id must be a non-empty str, got {e2e!r}")
        if e2e in seen:
            raise ValueError(f"transaction {e2e!r}: {what} end_to_end_id repeats an earlier transaction's")
        seen.add(e2e)
        amount = tx.amount_minor
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(
                f"transaction {e2e!r}: {what} amount_minor must be a positive int of minor units, got {amount!r}")
        yield tx


def check_declared(batch: PaymentBatch, count: int, total: int, major: Callable[[int], str]) -> None:
    """Refuse a file whose streamed count or sum differs from what its batch declared up front."""
    if count != batch.number_of_transactions or total != batch.control_sum_minor:
        currency = batch.currency
        raise ValueError(
            f"declared {batch.number_of_transactions} transactions summing to "
            f"{major(batch.control_sum_minor)} {currency}, but streamed {count} summing to "
            f"{major(total)} {currency}; file not written"
        )
