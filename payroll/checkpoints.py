"""Signed checkpoints of the audit chain, kept outside the database as witnesses against its writers.

A checkpoint file is JSON lines, appended only, mode 0600: each line is one object, `n` (its line number,
from 1), `seq` and `hash` (an audit entry and its entry_hash, committed before the line was written),
`at` (when it was written), `action` and `item` (what made it), `key_id` and `sig`: base64 of the Ed25519
signature, with the institution's release key, of the canonical JSON of every other field of the line.
A line cut short (a crash while writing it: no newline at the end of the file) is not a checkpoint; the
next writer drops it. tools/verify_audit_export.py reads the same format with the standard library.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from payroll import audit, signing
from payroll.store.files import make_private_dir

FIELDS = ("n", "seq", "hash", "at", "action", "item", "key_id", "sig")


def body(line: dict[str, Any]) -> bytes:
    """The signed bytes of a checkpoint line: the canonical JSON of every field but `sig`."""
    return audit.canonical_json({k: v for k, v in line.items() if k != "sig"}).encode()


def label(line: dict[str, Any]) -> str:
    return f"checkpoint {line.get('n')} (seq {line.get('seq')}, {line.get('at')})"


def append(path: Path, key: Ed25519PrivateKey, *, seq: int, entry_hash: str, action: str, item: str) -> dict[str, Any]:
    """Sign and append a checkpoint of entry `seq` to `path` (created 0600); returns the line written.

    Writers hold an exclusive lock on the file, so `n` is the line's number even when processes race."""
    make_private_dir(path.parent)  # every folder it makes 0700, not only the last
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        if data and not data.endswith(b"\n"):  # the tail of a write cut short: never a checkpoint
            data = data[: data.rfind(b"\n") + 1]
            os.ftruncate(fd, len(data))
        line: dict[str, Any] = {"n": data.count(b"\n") + 1, "seq": seq, "hash": entry_hash, "at": audit.now_iso(),
                                "action": action, "item": item, "key_id": signing.key_id(key.public_key())}
        line["sig"] = signing.sign(key, body(line)).decode().strip()
        os.write(fd, (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    return line


@dataclass
class Read:
    """The checkpoints of a file that parse, and what is wrong with the others."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _well_formed(line: object) -> bool:
    if not isinstance(line, dict) or set(line) != set(FIELDS):
        return False
    ints = all(isinstance(line[k], int) and not isinstance(line[k], bool) for k in ("n", "seq"))
    return ints and all(isinstance(line[k], str) for k in FIELDS if k not in ("n", "seq"))


def read(path: Path, public: Ed25519PublicKey | None) -> Read:
    """Every checkpoint of `path` whose signature holds with `public`; a missing file has none."""
    out = Read()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        out.notes.append(f"{path.name}: the last line was cut short (a crash while writing it): not a checkpoint")
        data = data[:cut]
    want_id = signing.key_id(public) if public is not None else None
    for number, raw in enumerate(data.decode("utf-8", errors="replace").split("\n")[:-1], start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            out.problems.append(f"{path.name} line {number} is not a checkpoint (not JSON): the file was edited")
            continue
        if not _well_formed(line):
            out.problems.append(f"{path.name} line {number} is not a checkpoint (its fields are not {', '.join(FIELDS)}):"
                                " the file was edited")
            continue
        if public is None:
            out.problems.append(f"{label(line)} cannot be checked: the institution's key is missing")
            continue
        if line["key_id"] != want_id or not signing.verify(public, body(line), line["sig"].encode()):
            out.problems.append(f"{label(line)} is not signed by the institution's key: the line was forged or "
                                "altered")
            continue
        if line["n"] != number:
            out.problems.append(f"{path.name} line {number} holds {label(line)}: checkpoints were removed or "
                                "reordered")
        out.lines.append(line)
    return out
