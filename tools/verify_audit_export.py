#!/usr/bin/env python3
"""Verify an export of the pension engine's audit trail, outside the engine (Python 3 standard library only).

    python3 verify_audit_export.py EXPORT [--format csv|jsonl] [--head HASH]
                                   [--checkpoints FILE ...] [--public-key PEM] [--json]

EXPORT is a file written by `export_audit` (CSV with a header, UTF-8, BOM optional; or JSONL, one object
per line). For every entry, in file order, the verifier checks that

* its seq is the next one (the first is 1): a deleted, duplicated or reordered line breaks here;
* its prev_hash is the entry_hash of the entry before it (64 zeros for the first);
* its entry_hash is SHA-256 over the canonical JSON (keys sorted, no spaces, non-ASCII kept, UTF-8) of
  its fields seq, at, actor, role, action, item_type, item_id, before_sha256, after_sha256, detail and
  prev_hash, exactly as exported: seq a number, detail the JSON text as a string, the two state hashes
  null when absent (in CSV: empty cells).

It prints `OK` with the number of entries and the head hash (the last entry_hash), or `BROKEN` naming the
first broken entry by seq and why, and exits 0 or 1. The end of a file cannot prove that nothing after it
was deleted: pass --head with the head hash the engine reported for the export (the export's result, or
the detail of its `audit.export` entry) to check that too.

Witnesses kept outside the database: pass the engine's checkpoint file ($PENSION_HOME/audit/checkpoints.jsonl,
one JSON object a line: n, seq, hash, at, action, item, key_id, sig) with --checkpoints, and each checkpoint's
entry must be in the export with that hash. A checkpoint naming an entry after the export's end means the
export was truncated, or made before that checkpoint was written. With --public-key (the institution's
release key, PEM) and the `cryptography` package importable, each line's Ed25519 signature (base64, over
the canonical JSON of its other fields) is checked too; the output says "signatures checked" or why not.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
HASHED = ("seq", "at", "actor", "role", "action", "item_type", "item_id", "before_sha256", "after_sha256",
          "detail", "prev_hash")
COLUMNS = (*HASHED, "entry_hash")
NULLABLE = ("before_sha256", "after_sha256")


class Broken(Exception):
    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


@dataclass
class Result:
    ok: bool
    file: str
    format: str
    entries: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None
    checkpoints: int = 0  # checkpoints compared with the export's hashes
    signatures: str | None = None  # "signatures checked", or "signatures NOT checked: why"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


CHECKPOINT_FIELDS = ("n", "seq", "hash", "at", "action", "item", "key_id", "sig")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: entry[k] for k in HASHED}).encode()).hexdigest()


def _jsonl(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise Broken(None, f"line {n} is not JSON: {e}") from None
        if not isinstance(entry, dict):
            raise Broken(None, f"line {n} is not a JSON object")
        yield n, entry


def _csv(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise Broken(None, "the file is empty: no CSV header")
    if sorted(header) != sorted(COLUMNS):
        raise Broken(None, f"the CSV header is {','.join(header)}; expected {','.join(COLUMNS)}")
    for row in reader:
        if not row:
            continue
        n = reader.line_num
        if len(row) != len(header):
            raise Broken(None, f"line {n} has {len(row)} cells, the header {len(header)}")
        entry: dict[str, Any] = dict(zip(header, row, strict=True))
        seq = entry["seq"]
        if not (seq.isascii() and seq.isdigit()):
            raise Broken(None, f"line {n}: seq {seq!r} is not a whole number")
        entry["seq"] = int(seq)
        for name in NULLABLE:
            if entry[name] == "":
                entry[name] = None
        yield n, entry


def detect_format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _signature_checker(public_key: Path | None) -> tuple[Any, str]:
    """(a function line -> bool, or None; what the output says about signatures)."""
    if public_key is None:
        return None, "signatures NOT checked: no --public-key given"
    try:
        import base64

        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    except ImportError:
        return None, "signatures NOT checked: cryptography not importable"
    try:
        data = public_key.read_bytes()
        key: Any = (serialization.load_pem_private_key(data, password=None) if b"PRIVATE KEY" in data
                    else serialization.load_pem_public_key(data))
    except (OSError, ValueError, TypeError) as e:
        raise Broken(None, f"cannot read the public key {public_key}: {e}") from None
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise Broken(None, f"{public_key} is not an Ed25519 key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw).hexdigest()[:16]

    def check(line: dict[str, Any]) -> bool:
        body = canonical_json({k: v for k, v in line.items() if k != "sig"}).encode()
        try:
            key.verify(base64.b64decode(line["sig"], validate=True), body)
        except (InvalidSignature, ValueError):
            return False
        return bool(line["key_id"] == key_id)

    return check, "signatures checked"


def _label(line: dict[str, Any]) -> str:
    return f"checkpoint {line.get('n')} (seq {line.get('seq')}, {line.get('at')})"


def _read_checkpoints(path: Path, result: Result, signed: Any) -> list[dict[str, Any]]:
    """The checkpoints of `path` to compare with the chain; what is wrong with the others into `result`."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Broken(None, f"cannot read the checkpoint file {path}: {e}") from None
    if data and not data.endswith(b"\n"):
        result.notes.append(f"{path.name}: the last line was cut short (a crash while writing it): not a checkpoint")
        data = data[: data.rfind(b"\n") + 1]
    lines = []
    for number, raw in enumerate(data.decode("utf-8", errors="replace").split("\n")[:-1], start=1):
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        ints = isinstance(line, dict) and set(line) == set(CHECKPOINT_FIELDS) and all(
            isinstance(line[k], int) and not isinstance(line[k], bool) for k in ("n", "seq"))
        if not (ints and all(isinstance(line[k], str) for k in CHECKPOINT_FIELDS if k not in ("n", "seq"))):
            result.problems.append(f"{path.name} line {number} is not a checkpoint: the file was edited")
            continue
        if signed is not None and not signed(line):
            result.problems.append(f"{_label(line)} is not signed by the key given: the line was forged or altered")
            continue
        if line["n"] != number:
            result.problems.append(f"{path.name} line {number} holds {_label(line)}: checkpoints were removed or "
                                   "reordered")
        lines.append(line)
    return lines


def check_checkpoints(result: Result, hashes: dict[int, str], files: list[Path], public_key: Path | None) -> Result:
    """The verified chain of `result` (`hashes`: seq -> entry_hash) against every checkpoint in `files`."""
    try:
        signed, result.signatures = _signature_checker(public_key)
        lines = [line for f in files for line in _read_checkpoints(f, result, signed)]
    except Broken as b:
        result.problems.append(b.reason)
        lines = []
    found: list[tuple[int, str]] = []
    for line in lines:
        seq, actual = line["seq"], hashes.get(line["seq"], GENESIS if line["seq"] == 0 else None)
        if actual is None:
            found.append((seq, f"entry {seq} named by {_label(line)} is missing: the export ends at entry "
                               f"{result.head_seq}: it was truncated, or exported before this checkpoint was written"))
        elif actual != line["hash"]:
            found.append((seq, f"{_label(line)} names hash {line['hash'][:16]}.. for entry {seq} but entry {seq} is "
                               f"{actual[:16]}..: the entry or one before it was rewritten"))
    result.checkpoints = len(lines)
    found.sort(key=lambda f: f[0])
    result.problems[:0] = [why for _, why in found]
    if result.problems:
        result.ok = False
        result.broken_at = found[0][0] if found else None
        result.reason = result.problems[0]
    return result


def verify(path: Path, fmt: str | None = None, head: str | None = None, checkpoints: list[Path] | None = None,
           public_key: Path | None = None) -> Result:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        return Result(False, str(path), fmt or "?", 0, 0, GENESIS, None, f"cannot read the file: {e}")
    fmt = fmt or detect_format(path, text)
    count, prev_seq, prev_hash = 0, 0, GENESIS
    hashes: dict[int, str] = {}
    try:
        for n, entry in (_csv(text) if fmt == "csv" else _jsonl(text)):
            expected = prev_seq + 1
            missing = [c for c in COLUMNS if c not in entry]
            if missing:
                raise Broken(expected, f"line {n} lacks field(s) {', '.join(missing)}")
            extra = sorted(set(entry) - set(COLUMNS))
            if extra:
                raise Broken(expected, f"line {n} has unknown field(s) {', '.join(extra)}")
            seq = entry["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise Broken(expected, f"line {n}: seq {seq!r} is not a whole number")
            if seq != expected:
                why = "deleted" if seq > expected else "out of order or repeated"
                raise Broken(expected, f"line {n} holds entry {seq} where entry {expected} belongs: "
                                       f"entries {why}")
            if entry["prev_hash"] != prev_hash:
                raise Broken(seq, f"entry {seq} (line {n}) does not follow entry {seq - 1}: its prev_hash is not "
                                  "that entry's hash")
            if entry_hash(entry) != entry["entry_hash"]:
                raise Broken(seq, f"entry {seq} (line {n}) was altered: its fields do not hash to its entry_hash")
            count, prev_seq, prev_hash = count + 1, seq, entry["entry_hash"]
            hashes[seq] = prev_hash
    except Broken as b:
        return Result(False, str(path), fmt, count, prev_seq, prev_hash, prev_seq + 1 if b.seq is None else b.seq,
                      b.reason)
    if head is not None and head != prev_hash:
        return Result(False, str(path), fmt, count, prev_seq, prev_hash, prev_seq + 1,
                      f"the export ends at entry {prev_seq} with hash {prev_hash}, not at the head {head}: entries "
                      "after it were deleted, or this is not the export that was reported")
    result = Result(True, str(path), fmt, count, prev_seq, prev_hash)
    return check_checkpoints(result, hashes, checkpoints, public_key) if checkpoints else result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an exported audit trail: every hash and every link.")
    parser.add_argument("file", type=Path, help="the export (.csv or .jsonl)")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="default: from the suffix, else the content")
    parser.add_argument("--head", help="the head hash the engine reported for this export")
    parser.add_argument("--checkpoints", type=Path, action="append", metavar="FILE",
                        help="the engine's checkpoint file (repeatable): the export must agree with each checkpoint")
    parser.add_argument("--public-key", type=Path, metavar="PEM",
                        help="the institution's release public key, to check the checkpoints' signatures")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    result = verify(args.file, args.format, args.head, args.checkpoints, args.public_key)
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False))
    elif result.ok:
        witnessed = (f"; {result.checkpoints} checkpoint(s) agree ({result.signatures})"
                     if result.signatures is not None else "")
        print(f"OK: {result.entries} entries, head seq {result.head_seq}, head hash {result.head_hash}{witnessed}")
    else:
        where = f" at seq {result.broken_at}" if result.broken_at is not None else ""
        print(f"BROKEN{where}: {result.reason}")
        for problem in result.problems[1:]:
            print(f"  {problem}")
        if result.signatures is not None:
            print(f"  {result.signatures}")
    if not args.json:
        for note in result.notes:
            print(f"  note: {note}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
