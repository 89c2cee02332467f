"""Intake of branch files: reading, column mapping, parsing and the quality gate's verdict."""

from payroll.intake.columns import PAYEE_COLUMNS
from payroll.intake.findings import FileRefused, Finding
from payroll.intake.parsing import AMOUNT_COLUMNS
from payroll.intake.payee_file import (
    ROWS_SCHEMA,
    CellsFile,
    IntakeResult,
    Limits,
    ParsedFile,
    default_gate_many,
    finish_payee_file,
    parse_cells,
    read_payee_cells,
    read_payee_file,
    read_payee_table,
    safe_file_name,
)
from payroll.intake.reading import read_raw, read_table

__all__ = [
    "AMOUNT_COLUMNS", "PAYEE_COLUMNS", "ROWS_SCHEMA", "CellsFile", "FileRefused", "Finding", "IntakeResult",
    "Limits", "ParsedFile", "default_gate_many", "finish_payee_file", "parse_cells", "read_payee_cells",
    "read_payee_file", "read_payee_table", "read_raw", "read_table", "safe_file_name",
]
