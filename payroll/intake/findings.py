"""What intake says about a file: findings on rows and on the whole file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One reason to refuse a row (row set) or a whole file (row None), or a warning."""

    code: str
    message: str
    row: int | None = None
    column: str | None = None
    pension_id: str | None = None
    national_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


class FileRefused(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def refuse(code: str, message: str, row: int | None = None, column: str | None = None) -> FileRefused:
    return FileRefused(Finding(code, message, row=row, column=column))
