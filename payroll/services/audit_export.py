"""The audit trail exported for auditors, to be verified outside the engine (tools/verify_audit_export.py).

Every entry is written with each field exactly as it was hashed (payroll.audit: `seq`, `at`, `actor`,
`role`, `action`, `item_type`, `item_id`, `before_sha256`, `after_sha256`, `detail`, `prev_hash`) and its
`entry_hash`, in seq order: `detail` is the canonical JSON text the chain hashed, not a parsed object, and
no cell is altered for spreadsheets (no apostrophe before `=`), so that anyone can recompute every hash
with the same canonical JSON. JSONL: one object per line, `seq` a number, the two state hashes null when
absent. CSV: a header row, UTF-8 with a BOM; `before_sha256` / `after_sha256` (the only fields that may
be null, and never empty text) are empty cells when null.

The export is itself recorded: in the same transaction, after reading, an `audit.export` entry is
appended with the exported file's SHA-256, entry count, last seq and head hash. The file holds the chain
as it stood before that entry (its own entry cannot be in it: the entry names the file's hash); the next
export holds it. The chain's head is locked while reading, so the export entry's `prev_hash` is the head
hash of the file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from payroll import audit
from payroll.approvals import require_role
from payroll.errors import Refused
from payroll.services.context import Context, actor
from payroll.store.files import sha256_bytes, write_atomic
from payroll.store.models import AuditEntry, AuditHead

EXPORT_ROLES = ("auditor", "finance_lead", "admin")
FORMATS = ("csv", "jsonl")
HASHED: tuple[str, ...] = audit._HASHED
COLUMNS: tuple[str, ...] = (*HASHED, "entry_hash")
# the hashed fields that may be null; in CSV they are empty cells then (they are never empty text)
NULLABLE = ("before_sha256", "after_sha256")


def _encode(entries: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for e in entries:
            w.writerow(["" if e[c] is None else e[c] for c in COLUMNS])
        return buf.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheets read Persian text right
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode()


def export_audit(ctx: Context, out: Path, fmt: str = "csv", *, user: str) -> dict[str, Any]:
    """Write every audit entry to `out` (csv or jsonl), atomically, and record the export in the chain.

    Returns the file's path, format, SHA-256 and size, the entries exported (count, first and last seq,
    head hash: the last exported entry_hash, 64 zeros for none), the chain's verification in the
    database at that moment, and the seq of the export's own `audit.export` entry (not in the file)."""
    if fmt not in FORMATS:
        raise Refused("UNKNOWN_FORMAT", f"unknown audit export format {fmt!r}; csv or jsonl")
    out = Path(out)
    written = False
    try:
        with ctx.uow() as session:
            who = actor(session, user)
            require_role(who, EXPORT_ROLES, "exporting the audit trail")
            # no one extends the chain between this read and the export's own entry (SQLite: BEGIN IMMEDIATE)
            session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
            columns = [getattr(AuditEntry, c) for c in COLUMNS]
            entries = [dict(zip(COLUMNS, row, strict=True))
                       for row in session.execute(select(*columns).order_by(AuditEntry.seq))]
            chain = audit.verify(session).as_dict()
            data = _encode(entries, fmt)
            head_hash = entries[-1]["entry_hash"] if entries else audit.GENESIS
            result: dict[str, Any] = {
                "path": str(out.resolve()), "format": fmt, "sha256": sha256_bytes(data), "bytes": len(data),
                "entries": len(entries), "first_seq": entries[0]["seq"] if entries else None,
                "last_seq": entries[-1]["seq"] if entries else 0, "head_hash": head_hash,
            }
            own = audit.append(session, actor=user, role=who.role, action="audit.export", item_type="audit_log",
                               item_id=result["last_seq"],
                               detail={"file": out.name, **{k: result[k] for k in (
                                   "format", "sha256", "bytes", "entries", "first_seq", "last_seq", "head_hash")}})
            write_atomic(out, data)
            written = True
            result.update(export_seq=own.seq, chain={k: chain[k] for k in ("ok", "broken_at", "reason")})
    except BaseException:
        if written:  # the export's entry did not commit: no file without its record
            out.unlink(missing_ok=True)
        raise
    return result
