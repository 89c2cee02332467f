"""The audit trail: every state change appends an entry in the same transaction, hash-chained.

entry_hash = SHA-256 over the canonical JSON of the entry's fields and the previous entry's hash, so
editing, deleting or reordering an entry breaks the chain at that point; `verify` names the first
broken link. The single-row audit_head is locked by every append (SELECT ... FOR UPDATE), so two
concurrent transactions cannot both extend the same head.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from payroll import clock
from payroll.store.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def state_hash(state: dict[str, Any] | None) -> str | None:
    """Hash of an item's state, recorded as before/after in audit entries."""
    if state is None:
        return None
    return hashlib.sha256(canonical_json(state).encode()).hexdigest()


def now_iso() -> str:
    return clock.now().isoformat(timespec="microseconds")


def _entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


_HASHED = ("seq", "at", "actor", "role", "action", "item_type", "item_id", "before_sha256",
           "after_sha256", "detail", "prev_hash")


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _HASHED}


def append(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    item_type: str,
    item_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, entry_hash=GENESIS)
        session.add(head)
    entry = AuditEntry(
        seq=head.seq + 1,
        at=now_iso(),
        actor=actor,
        role=role,
        action=action,
        item_type=item_type,
        item_id=str(item_id),
        before_sha256=state_hash(before),
        after_sha256=state_hash(after),
        detail=canonical_json(detail or {}),
        prev_hash=head.entry_hash,
    )
    entry.entry_hash = _entry_hash(_fields(entry))
    session.add(entry)
    head.seq = entry.seq
    head.entry_hash = entry.entry_hash
    session.flush()
    return entry


@dataclass
class ChainReport:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def verify(session: Session) -> ChainReport:
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_hash = GENESIS
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
            return ChainReport(False, count, expected_seq - 1, prev_hash, expected_seq,
                               f"entry {expected_seq} is missing (next entry found is {entry.seq})")
        if entry.prev_hash != prev_hash:
            return ChainReport(False, count, entry.seq, prev_hash, entry.seq,
                               f"entry {entry.seq} does not follow entry {entry.seq - 1} (previous hash differs)")
        if _entry_hash(_fields(entry)) != entry.entry_hash:
            return ChainReport(False, count, entry.seq, prev_hash, entry.seq,
                               f"entry {entry.seq} was altered (its content no longer matches its hash)")
        prev_hash = last_hash = entry.entry_hash
        expected_seq += 1
    head = session.get(AuditHead, 1)
    head_seq = head.seq if head else 0
    if head_seq != expected_seq - 1 or (head and head.entry_hash != last_hash):
        return ChainReport(False, count, expected_seq - 1, last_hash, expected_seq,
                           f"the chain ends at entry {expected_seq - 1} but its head says {head_seq}: "
                           "entries after it were deleted")
    return ChainReport(True, count, head_seq, last_hash)


def head(session: Session) -> dict[str, Any]:
    """The chain's head as a witness names it: {"seq", "hash"} (seq 0 and 64 zeros before any entry)."""
    row = session.get(AuditHead, 1)
    return {"seq": row.seq, "hash": row.entry_hash} if row else {"seq": 0, "hash": GENESIS}


@dataclass(frozen=True)
class Witness:
    """A record kept outside the database of what entry `seq`'s hash was: a checkpoint, a manifest."""

    label: str
    seq: int
    hash: str


def disagreements(witnesses: list[Witness], hashes: dict[int, str], last_seq: int) -> list[tuple[int, str]]:
    """(seq, why) for every witness the chain contradicts, by seq; `hashes` maps the witnessed seqs found in
    the chain to their entry_hash, `last_seq` is the chain's last entry."""
    found: list[tuple[int, str]] = []
    for w in witnesses:
        actual = GENESIS if w.seq == 0 else hashes.get(w.seq)
        if actual is None:
            why = (f"the chain ends at entry {last_seq}: it was truncated" if w.seq > last_seq
                   else "it was deleted")
            found.append((w.seq, f"entry {w.seq} named by {w.label} is missing: {why}"))
        elif actual != w.hash:
            found.append((w.seq, f"{w.label} names hash {w.hash[:16]}.. for entry {w.seq} but entry {w.seq} is "
                                 f"{actual[:16]}..: the entry or one before it was rewritten"))
    return sorted(found, key=lambda f: f[0])
