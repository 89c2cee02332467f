"""Data-quality gate as code: the Great Expectations suite of a normalized payee frame, its custom
expectations (national id and account check digits, net = gross - deduction, one payee per account,
age within the benefit type's limits), the mapping of failing rows to findings, and Data Docs.

    from validations import run_gate, render_data_docs
    result = run_gate(frame, profile("IR"), Period.parse("2026-11"), benefit_rules("IR"))
    result.findings            # row_no, column, code, message, value: one per failing (row, column)
    render_data_docs(result.result, Path("gate.html"), "Branch 12, 2026-11")

Modules: :mod:`validations.suite` (``build_suite``, ``EXCEPTION_CODES``), :mod:`validations.gate`
(``run_gate``, ``GateResult``), :mod:`validations.docs` (``render_data_docs``),
:mod:`validations.expectations` (custom expectations), :mod:`validations.findings` (wording),
:mod:`validations.context` (the process's one ephemeral GX context).

Importing this package does not import great_expectations (about 4 s): the names below are loaded on
first access, and only ``validations.gate`` and ``validations.expectations`` import GX at module level.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from validations.docs import render_data_docs
    from validations.gate import GateError, GateResult, run_gate, run_gate_many
    from validations.suite import EXCEPTION_CODES, build_suite

__all__ = ["EXCEPTION_CODES", "GateError", "GateResult", "build_suite", "render_data_docs", "run_gate",
           "run_gate_many"]

_WHERE = {
    "EXCEPTION_CODES": "validations.suite",
    "build_suite": "validations.suite",
    "GateError": "validations.gate",
    "GateResult": "validations.gate",
    "run_gate": "validations.gate",
    "run_gate_many": "validations.gate",
    "render_data_docs": "validations.docs",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'validations' has no attribute {name!r}")
