"""What intake says about a file: findings on rows and on the whole file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A finding quotes at most this much of a value (with the value's length): a 50 MB cell echoed in nine
# findings once made a 500 MB database and a 50 MB receipt.
EXCERPT_CHARS = 200


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """The value quoted for a message: whole when short, else its first `limit` characters and its length."""
    text = str(value)
    if len(text) <= limit:
        return f"'{text}'"
    return f"'{text[:limit]}...' ({len(text)} characters)"


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
