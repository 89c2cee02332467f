#!/usr/bin/env python3
"""Verify an export of the pension engine's audit trail, outside the engine (Python 3 standard library only).

    python3 verify_audit_export.py EXPORT [--format csv|jsonl] [--head HASH] [--json]

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
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
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


def verify(path: Path, fmt: str | None = None, head: str | None = None) -> Result:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        return Result(False, str(path), fmt or "?", 0, 0, GENESIS, None, f"cannot read the file: {e}")
    fmt = fmt or detect_format(path, text)
    count, prev_seq, prev_hash = 0, 0, GENESIS
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
    except Broken as b:
        return Result(False, str(path), fmt, count, prev_seq, prev_hash, prev_seq + 1 if b.seq is None else b.seq,
                      b.reason)
    if head is not None and head != prev_hash:
        return Result(False, str(path), fmt, count, prev_seq, prev_hash, prev_seq + 1,
                      f"the export ends at entry {prev_seq} with hash {prev_hash}, not at the head {head}: entries "
                      "after it were deleted, or this is not the export that was reported")
    return Result(True, str(path), fmt, count, prev_seq, prev_hash)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an exported audit trail: every hash and every link.")
    parser.add_argument("file", type=Path, help="the export (.csv or .jsonl)")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="default: from the suffix, else the content")
    parser.add_argument("--head", help="the head hash the engine reported for this export")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    result = verify(args.file, args.format, args.head)
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False))
    elif result.ok:
        print(f"OK: {result.entries} entries, head seq {result.head_seq}, head hash {result.head_hash}")
    else:
        where = f"seq {result.broken_at}" if result.broken_at is not None else "the file"
        print(f"BROKEN at {where}: {result.reason}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
