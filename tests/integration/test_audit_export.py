"""The audit trail exported for auditors and verified outside the engine by tools/verify_audit_export.py
(run as its own process, with no site packages: the standard library only)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from payroll import services
from payroll.audit import _entry_hash, _fields
from payroll.errors import PolicyViolation, Refused
from payroll.services import Context
from payroll.services.audit_export import COLUMNS, HASHED, NULLABLE, export_audit
from payroll.store.models import AuditEntry
from tests.conftest import SAMPLE

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
FORMATS = ("csv", "jsonl")


def _some_history(ctx: Context) -> None:
    r = services.submit(ctx, SAMPLE / "branches" / "B01.csv", branch="B01", period="2026-11", user="clerk-b01")
    services.approve_submission(ctx, r["submission_id"], user="head-b01")
    services.approve_submission(ctx, r["submission_id"], user="prov-thr")


def _tool(path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the verifier as an auditor would: its own interpreter, isolated, no site packages."""
    run = [sys.executable, "-I", "-S", str(TOOL), str(path)]
    as_json = subprocess.run([*run, "--json", *args], capture_output=True, text=True, cwd=path.parent, timeout=60)
    plain = subprocess.run([*run, *args], capture_output=True, text=True, cwd=path.parent, timeout=60)
    assert as_json.returncode == plain.returncode and not as_json.stderr and not plain.stderr, plain.stderr
    return plain.returncode, json.loads(as_json.stdout), plain.stdout.strip()


def _rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, fmt: str, rows: list[dict[str, Any]]) -> None:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _db_entries(ctx: Context) -> list[AuditEntry]:
    with ctx.uow() as s:
        return list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_holds_every_entry_as_hashed_and_verifies_with_the_engines_head(
        ctx: Context, tmp_path: Path, fmt: str) -> None:
    _some_history(ctx)
    chain = services.verify_audit(ctx)
    before = _db_entries(ctx)
    out = tmp_path / f"audit.{fmt}"
    result = export_audit(ctx, out, fmt, user="audit-1")
    assert (result["entries"], result["first_seq"], result["last_seq"], result["head_hash"]) == \
        (chain["entries"], 1, chain["head_seq"], chain["head_hash"])
    assert result["chain"] == {"ok": True, "broken_at": None, "reason": None}

    # every hashed field exactly as the chain hashed it, in seq order
    rows = _rows(out, fmt)
    want = [{**_fields(e), "entry_hash": e.entry_hash} for e in before]
    if fmt == "csv":
        assert out.read_bytes().startswith(b"\xef\xbb\xbfseq,at,actor,")
        want = [{k: "" if v is None else str(v) for k, v in w.items()} for w in want]
    assert rows == want
    assert all(isinstance(r["detail"], str) for r in rows)  # the JSON text that was hashed, not an object

    code, report, said = _tool(out)
    assert code == 0 and said.startswith(f"OK: {len(before)} entries")
    assert (report["ok"], report["entries"], report["head_seq"], report["head_hash"]) == \
        (True, len(before), chain["head_seq"], chain["head_hash"])
    assert _tool(out, "--head", chain["head_hash"])[0] == 0

    # the export is recorded after what it exported; the next export holds that entry and still verifies
    after = _db_entries(ctx)
    own = after[-1]
    assert len(after) == len(before) + 1 and own.seq == result["export_seq"]
    assert (own.action, own.actor, own.role, own.prev_hash) == ("audit.export", "audit-1", "auditor",
                                                                 result["head_hash"])
    assert json.loads(own.detail)["sha256"] == result["sha256"] == _sha(out)
    again = export_audit(ctx, tmp_path / f"again.{fmt}", fmt, user="lead-1")
    assert again["last_seq"] == own.seq and again["head_hash"] == own.entry_hash
    assert _tool(tmp_path / f"again.{fmt}")[1]["head_hash"] == own.entry_hash
    assert services.verify_audit(ctx)["ok"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rehash(row: dict[str, Any], fmt: str) -> str:
    """The entry hash of an exported row's fields, as a forger would recompute it."""
    fields = {k: row[k] for k in HASHED}
    if fmt == "csv":
        fields = {k: int(v) if k == "seq" else (None if v == "" and k in NULLABLE else v) for k, v in fields.items()}
    return _entry_hash(fields)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_altered_export_is_named_at_the_first_broken_entry(ctx: Context, tmp_path: Path, fmt: str) -> None:
    _some_history(ctx)
    out = tmp_path / f"audit.{fmt}"
    result = export_audit(ctx, out, fmt, user="audit-1")
    rows = _rows(out, fmt)
    last = len(rows)
    assert last >= 6

    def broken(changed: list[dict[str, Any]], *args: str) -> tuple[int, str, str]:
        path = tmp_path / f"changed.{fmt}"
        _write(path, fmt, changed)
        code, report, said = _tool(path, *args)
        assert code == 1 and report["ok"] is False and said.startswith(f"BROKEN at seq {report['broken_at']}:")
        return report["broken_at"], report["reason"], said

    edited = [dict(r) for r in rows]
    edited[4]["actor"] = "someone-else"
    assert broken(edited)[:2] == (5, f"entry 5 (line {6 if fmt == 'csv' else 5}) was altered: its fields do not "
                                     "hash to its entry_hash")
    edited[4]["entry_hash"] = _rehash(edited[4], fmt)  # the edit hidden by a new hash breaks the next link
    seq, why, _ = broken(edited)
    assert seq == 6 and "does not follow entry 5" in why
    seq, why, _ = broken(rows[:2] + rows[3:])  # one line deleted
    assert seq == 3 and "holds entry 4 where entry 3 belongs" in why
    seq, why, _ = broken(rows[:1] + [rows[2], rows[1]] + rows[3:])  # two lines swapped
    assert seq == 2 and "holds entry 3 where entry 2 belongs" in why
    seq, why, _ = broken(rows[1:])  # the first line deleted
    assert seq == 1

    # the newest entries deleted: the file alone cannot tell, the head the engine reported can
    path = tmp_path / f"short.{fmt}"
    _write(path, fmt, rows[:-1])
    assert _tool(path)[0] == 0
    seq, why, _ = broken(rows[:-1], "--head", result["head_hash"])
    assert seq == last and "entries after it were deleted" in why


def test_an_export_of_a_tampered_store_shows_where_it_breaks(ctx: Context, tmp_path: Path) -> None:
    _some_history(ctx)
    with ctx.uow() as s:
        s.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5"))
    result = export_audit(ctx, tmp_path / "audit.csv", user="audit-1")
    assert (result["chain"]["ok"], result["chain"]["broken_at"]) == (False, 5)
    code, report, _ = _tool(tmp_path / "audit.csv")
    assert (code, report["broken_at"]) == (1, 5)


def test_only_auditors_finance_leads_and_administrators_export(ctx: Context, tmp_path: Path) -> None:
    _some_history(ctx)
    before = len(_db_entries(ctx))
    for user in ("clerk-b01", "head-b01", "prov-thr", "fin-1"):
        with pytest.raises(PolicyViolation) as e:
            export_audit(ctx, tmp_path / f"{user}.csv", user=user)
        assert e.value.code == "WRONG_ROLE"
    with pytest.raises(Refused) as r:
        export_audit(ctx, tmp_path / "x.xml", "xml", user="audit-1")
    assert r.value.code == "UNKNOWN_FORMAT"
    with pytest.raises(Refused) as r:
        export_audit(ctx, tmp_path / "x.csv", user="nobody")
    assert r.value.code == "NOT_FOUND"
    assert list(tmp_path.glob("*.csv")) == [] and len(_db_entries(ctx)) == before  # nothing written

    for n, user in enumerate(("audit-1", "lead-1", "admin-1"), start=1):
        result = export_audit(ctx, tmp_path / f"{user}.jsonl", "jsonl", user=user)
        assert result["entries"] == before + n - 1 and _tool(tmp_path / f"{user}.jsonl")[0] == 0


def test_a_failed_write_records_nothing(ctx: Context, tmp_path: Path) -> None:
    _some_history(ctx)
    before = len(_db_entries(ctx))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OSError):
        export_audit(ctx, blocker / "audit.csv", user="audit-1")
    assert len(_db_entries(ctx)) == before
