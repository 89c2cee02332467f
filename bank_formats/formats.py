"""Which writer makes a bank's file, by the format name the bank reference data gives it.

Format names (``data/reference/banks_*.csv``, column ``file_format``):

* ``pain.001.001.09``, ``pain.001.001.03``: ISO 20022 credit transfer initiation (``bank_formats.pain001``),
  validated against the official XSD after writing;
* ``fixed:<layout>``: a fixed-width file laid out by ``bank_formats/layouts/<layout>.toml``
  (``bank_formats.fixedwidth``);
* ``csv:<layout>``: a CSV batch file laid out by ``bank_formats/layouts/<layout>.toml``
  (``bank_formats.csvbatch``).

Every format writes all or nothing and can be read back, so that a release can be verified by re-adding
what its files hold (:func:`FileFormat.read_back`), independently of what the writer reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bank_formats import xsd
from bank_formats.model import CreditTransfer, PaymentBatch, WriteResult

PAIN001_MESSAGES = ("pain.001.001.09", "pain.001.001.03")


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What a written file holds, read back from its bytes: the totals it declares (None where the
    format declares none) and every transfer's (end-to-end id, amount in minor units)."""

    declared_count: int | None
    declared_sum: int | None
    transfers: list[tuple[str, int]]


Writer = Callable[[os.PathLike[str], PaymentBatch, Iterable[CreditTransfer], Mapping[str, str]], WriteResult]


@dataclass(frozen=True, slots=True)
class FileFormat:
    name: str
    extension: str
    _write: Writer
    _read: Callable[[os.PathLike[str]], ReadBack]
    # the parameters (bank reference data, column params) the format needs from each bank
    required_params: tuple[str, ...] = ()

    def write(self, path: os.PathLike[str], batch: PaymentBatch, transactions: Iterable[CreditTransfer],
              params: Mapping[str, str] | None = None) -> WriteResult:
        missing = [p for p in self.required_params if not (params or {}).get(p)]
        if missing:
            raise ValueError(f"{self.name} needs the bank parameter(s) {', '.join(missing)}")
        return self._write(path, batch, transactions, params or {})

    def read_back(self, path: os.PathLike[str]) -> ReadBack:
        return self._read(path)


def _pain001(message: str) -> FileFormat:
    from bank_formats import pain001

    def write(path: os.PathLike[str], batch: PaymentBatch, txs: Iterable[CreditTransfer],
              params: Mapping[str, str]) -> WriteResult:
        result = pain001.write_pain001(path, batch, txs, message=message)
        try:
            xsd.assert_valid(path, message)
        except ValueError:
            os.unlink(path)  # all or nothing: an invalid file is not left behind
            raise
        return result

    def read(path: os.PathLike[str]) -> ReadBack:
        xsd.assert_valid(path, message)
        parsed = pain001.read_pain001(path)
        if parsed.message != message:
            raise ValueError(f"{os.fspath(path)} is a {parsed.message}, expected {message}")
        if parsed.pmt_inf_nb_of_txs != parsed.nb_of_txs or parsed.pmt_inf_ctrl_sum_minor != parsed.ctrl_sum_minor:
            raise ValueError(f"{os.fspath(path)}: the payment information totals differ from the group header's")
        return ReadBack(parsed.nb_of_txs, parsed.ctrl_sum_minor,
                        [(t.end_to_end_id, t.amount_minor) for t in parsed.transactions])

    return FileFormat(message, ".xml", write, read)


def layout_format(name: str, extension: str, layout: Any, items: Iterable[Any], write: Callable[..., WriteResult],
                  read: Callable[[os.PathLike[str], str, str], ReadBack]) -> FileFormat:
    """The FileFormat of a layout file (fixed width, CSV). `items` are its detail fields or columns; the
    writer passes on only the parameters the layout declares (a bank's reference data may carry more);
    `read(path, id_item, amount_item)` reads a file back, which needs the layout to write
    ``tx.end_to_end_id`` and ``tx.amount_minor`` unsliced."""
    items = list(items)

    def unsliced(attr: str) -> str | None:
        return next((i.name for i in items if i.source.kind == "tx" and i.source.name == attr and i.slice is None),
                    None)

    id_item, amount_item = unsliced("end_to_end_id"), unsliced("amount_minor")

    def write_file(path: os.PathLike[str], batch: PaymentBatch, txs: Iterable[CreditTransfer],
                   params: Mapping[str, str]) -> WriteResult:
        return write(path, layout, batch, txs, {k: v for k, v in params.items() if k in layout.params})

    def read_file(path: os.PathLike[str]) -> ReadBack:
        if id_item is None or amount_item is None:
            raise ValueError(f"layout {layout.name!r} does not write tx.end_to_end_id and tx.amount_minor whole")
        return read(path, id_item, amount_item)

    required = tuple(sorted(p for p, default in layout.params.items() if default is None))
    return FileFormat(name, extension, write_file, read_file, required)


def _layout_format(kind: str, layout_name: str) -> FileFormat:
    if kind == "fixed":
        from bank_formats import fixedwidth as module
    else:
        from bank_formats import csvbatch as module  # type: ignore[no-redef]
    return module.file_format(layout_name)


def file_format(name: str) -> FileFormat:
    """The format called ``name``; ValueError naming the known ones when there is none."""
    if name in PAIN001_MESSAGES:
        return _pain001(name)
    kind, _, layout = name.partition(":")
    if kind in ("fixed", "csv") and layout:
        try:
            return _layout_format(kind, layout)
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"file format {name!r}: {e}") from None
    raise ValueError(f"unknown file format {name!r}; known: {', '.join(PAIN001_MESSAGES)}, fixed:<layout>, "
                     "csv:<layout> (a layout file in bank_formats/layouts)")


def describe(fmt: FileFormat) -> dict[str, Any]:
    return {"name": fmt.name, "extension": fmt.extension, "required_params": list(fmt.required_params)}
