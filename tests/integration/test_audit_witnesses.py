"""The audit chain against someone who can write to the database: witnesses kept outside it.

A hash chain stored beside what it protects cannot show that its newest third was deleted (with the head
moved back) or that an entry was rewritten with every later hash recomputed. Signed checkpoints under
PENSION_HOME (written after each run approval and release commits, and on demand) and the audit head in
every release's signed manifest can: `verify_audit` checks the chain against each of them and names the
witness that disagrees.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from payroll import audit, services, signing
from payroll.audit import _entry_hash, _fields
from payroll.errors import PolicyViolation, Refused
from payroll.services import Context
from payroll.services.audit_export import export_audit
from payroll.services.audit_witness import audit_checkpoint, checkpoints_path
from payroll.store.models import AuditEntry, AuditHead
from tests import month
from tests.conftest import SAMPLE

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"


def _some_history(ctx: Context) -> None:
    r = services.submit(ctx, SAMPLE / "branches" / "B01.csv", branch="B01", period="2026-11", user="clerk-b01")
    services.approve_submission(ctx, r["submission_id"], user="head-b01")
    services.approve_submission(ctx, r["submission_id"], user="prov-thr")


def _entries(ctx: Context) -> list[AuditEntry]:
    with ctx.uow() as s:
        return list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def _checkpoints(ctx: Context) -> list[dict[str, Any]]:
    return [json.loads(line) for line in checkpoints_path(ctx).read_text(encoding="utf-8").splitlines()]


def _truncate(ctx: Context, keep: int) -> None:
    """What a database writer does to hide the newest entries: delete them and move the head back."""
    with ctx.uow() as s:
        s.execute(text("DELETE FROM audit_log WHERE seq > :k"), {"k": keep})
        last = s.get(AuditEntry, keep)
        head = s.get(AuditHead, 1)
        head.seq, head.entry_hash = keep, last.entry_hash


def _rewrite(ctx: Context, seq: int) -> None:
    """Rewrite entry `seq` and recompute every later hash, head included: the chain alone verifies."""
    with ctx.uow() as s:
        entries = list(s.execute(select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq)).scalars())
        entries[0].actor = "someone-else"
        prev = entries[0].prev_hash
        new_hashes = []
        for e in entries:
            e.prev_hash = prev
            prev = _entry_hash(_fields(e))
            new_hashes.append(prev)
        # entry_hash is unique: park the new hashes through a temporary value, then set them
        for e in entries:
            e.entry_hash = "x" * 48 + f"{e.seq:016d}"
        s.flush()
        for e, h in zip(entries, new_hashes, strict=True):
            e.entry_hash = h
        head = s.get(AuditHead, 1)
        head.entry_hash = prev


def _released_month(ctx: Context, plan: dict) -> tuple[int, list[AuditEntry]]:
    run = month.approved_run(ctx, plan)
    month.release(ctx, plan, run["run_id"])
    return run["run_id"], _entries(ctx)


def test_the_month_is_witnessed_outside_the_database_and_a_truncation_is_named(ctx: Context, plan: dict) -> None:
    run_id, entries = _released_month(ctx, plan)
    by_action = {(e.action, e.item_id): e for e in entries}
    approvals = [e for e in entries if e.action == "run.approve"]
    released = by_action[("run.release", str(run_id))]

    # a signed checkpoint after each run approval and after the release, each naming its own entry
    path = checkpoints_path(ctx)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = _checkpoints(ctx)
    assert [(c["n"], c["seq"], c["hash"], c["action"]) for c in lines] == \
        [(i + 1, e.seq, e.entry_hash, e.action) for i, e in enumerate([*approvals, released])]
    key = signing.load_public_key(ctx.settings.release_key_path)
    for c in lines:
        body = audit.canonical_json({k: v for k, v in c.items() if k != "sig"}).encode()
        assert c["key_id"] == signing.key_id(key) and signing.verify(key, body, c["sig"].encode())

    # the manifest names the head the release saw, and is still signed (the bank files are not changed)
    archive = ctx.home / "releases" / f"run-{run_id}"
    manifest = json.loads((archive / "manifest.json").read_bytes())
    before_release = entries[released.seq - 2]
    assert manifest["audit_head"] == {"seq": before_release.seq, "hash": before_release.entry_hash}

    honest = services.verify_audit(ctx)
    assert honest["ok"] is True, honest
    assert (honest["checkpoints"]["checked"], honest["manifests"]["checked"], honest["problems"]) == (3, 1, [])

    keep = len(entries) - len(entries) // 3
    _truncate(ctx, keep)
    report = services.verify_audit(ctx)
    assert report["ok"] is False
    first = lines[0]
    assert report["broken_at"] == first["seq"]
    assert report["reason"] == (f"entry {first['seq']} named by checkpoint 1 (seq {first['seq']}, {first['at']}) is "
                                f"missing: the chain ends at entry {keep}: it was truncated")
    assert len([p for p in report["problems"] if "truncated" in p]) == 4  # three checkpoints and the manifest
    assert any(p.startswith(f"entry {before_release.seq} named by the manifest of run {run_id}") for p in
               report["problems"])


def test_a_rewritten_entry_with_every_later_hash_recomputed_is_named_by_checkpoints_and_manifests(
        ctx: Context, plan: dict) -> None:
    run_id, entries = _released_month(ctx, plan)
    lines = _checkpoints(ctx)
    _rewrite(ctx, 10)
    after = {e.seq: e.entry_hash for e in _entries(ctx)}
    from payroll import audit as chain

    with ctx.uow() as s:
        assert chain.verify(s).ok  # the chain alone cannot tell
    report = services.verify_audit(ctx)
    assert report["ok"] is False
    c = lines[0]
    assert report["broken_at"] == c["seq"]
    assert report["reason"] == (f"checkpoint 1 (seq {c['seq']}, {c['at']}) names hash {c['hash'][:16]}.. for entry "
                                f"{c['seq']} but entry {c['seq']} is {after[c['seq']][:16]}..: the entry or one before "
                                "it was rewritten")
    assert len(report["problems"]) == 4

    # with the checkpoint file gone too, the banks' manifests still name the head they saw
    checkpoints_path(ctx).rename(checkpoints_path(ctx).with_suffix(".gone"))
    report = services.verify_audit(ctx)
    assert report["ok"] is False
    seq = entries[[e.action for e in entries].index("run.release") - 1].seq
    assert report["problems"] == [
        f"the manifest of run {run_id} (release archive run-{run_id}) names hash {entries[seq - 1].entry_hash[:16]}.. "
        f"for entry {seq} but entry {seq} is {after[seq][:16]}..: the entry or one before it was rewritten"]

    # a manifest altered to agree, without the institution's key, is named and not believed
    archive = ctx.home / "releases" / f"run-{run_id}"
    m = json.loads((archive / "manifest.json").read_bytes())
    m["audit_head"]["hash"] = after[seq]
    (archive / "manifest.json").write_bytes((json.dumps(m, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
                                            .encode())
    report = services.verify_audit(ctx)
    assert report["ok"] is False
    assert report["problems"] == [f"the manifest of run {run_id} (release archive run-{run_id}) is not signed by the "
                                  "institution's key: it was altered and is not a witness"]


def test_an_on_demand_checkpoint_is_signed_and_a_forged_line_is_named(ctx: Context) -> None:
    _some_history(ctx)
    first = audit_checkpoint(ctx, user="audit-1")
    entries = _entries(ctx)
    assert entries[-1].action == "audit.checkpoint" and entries[-1].actor == "audit-1"
    assert (first["n"], first["seq"], first["hash"]) == (1, entries[-1].seq, entries[-1].entry_hash)
    second = audit_checkpoint(ctx, user="lead-1")
    assert (second["n"], second["seq"]) == (2, first["seq"] + 1)
    assert services.verify_audit(ctx)["ok"] is True

    # one who can write the file but has no key: a line moved to another hash no longer carries its signature
    path = checkpoints_path(ctx)
    lines = path.read_text(encoding="utf-8").splitlines()
    forged = json.loads(lines[0])
    forged["hash"] = entries[4].entry_hash
    forged["seq"] = entries[4].seq
    path.write_text("\n".join([json.dumps(forged), lines[1]]) + "\n", encoding="utf-8")
    report = services.verify_audit(ctx)
    assert report["ok"] is False
    assert report["problems"] == [f"checkpoint 1 (seq {forged['seq']}, {forged['at']}) is not signed by the "
                                  "institution's key: the line was forged or altered"]


def test_verify_checks_the_checkpoints_with_the_public_key_when_the_private_key_is_kept_offline(
        ctx: Context) -> None:
    # the institution keeps its private key off the host; only release-ed25519.pub.pem is left beside it
    _some_history(ctx)
    audit_checkpoint(ctx, user="audit-1")
    private = ctx.settings.release_key_path
    assert signing.public_key_path(private).is_file()
    private.unlink()
    report = services.verify_audit(ctx)
    assert report["ok"] is True, report
    assert report["checkpoints"]["checked"] == 1 and report["problems"] == []
    # and a forged line is still named: the public key alone checks the signatures
    path = checkpoints_path(ctx)
    forged = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    forged["item"] = "forged"
    path.write_text(json.dumps(forged) + "\n", encoding="utf-8")
    report = services.verify_audit(ctx)
    assert report["ok"] is False
    assert any("not signed by the institution's key" in p for p in report["problems"]), report


def test_the_verification_key_is_the_private_key_or_else_its_public_half(tmp_path: Path) -> None:
    private = tmp_path / "keys" / "release-ed25519.pem"
    assert signing.verification_key_path(private) is None
    assert signing.load_verification_key(private) is None
    key = signing.ensure_key(private)
    assert signing.verification_key_path(private) == private
    private.unlink()
    assert signing.verification_key_path(private) == signing.public_key_path(private)
    loaded = signing.load_verification_key(private)
    assert loaded is not None and signing.key_id(loaded) == signing.key_id(key.public_key())


@pytest.mark.parametrize("user, code", [("admin-1", "WRONG_ROLE"), ("clerk-b01", "WRONG_ROLE"),
                                        ("fin-1", "WRONG_ROLE")])
def test_only_auditors_and_finance_leads_checkpoint_on_demand(ctx: Context, user: str, code: str) -> None:
    with pytest.raises(PolicyViolation) as e:
        audit_checkpoint(ctx, user=user)
    assert e.value.code == code
    assert not checkpoints_path(ctx).exists()


def test_no_checkpoint_witnesses_a_broken_chain(ctx: Context) -> None:
    _some_history(ctx)
    audit_checkpoint(ctx, user="audit-1")
    _truncate(ctx, 5)
    with pytest.raises(Refused) as e:
        audit_checkpoint(ctx, user="audit-1")
    assert e.value.code == "AUDIT_CHAIN_BROKEN"
    assert len(_checkpoints(ctx)) == 1


def test_a_crash_between_commit_and_checkpoint_does_not_fail_verify(
        ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    _some_history(ctx)
    audit_checkpoint(ctx, user="audit-1")
    # the newest entries have no checkpoint yet (the process died after its commit): that is fine
    services.submit(ctx, SAMPLE / "branches" / "B02.csv", branch="B02", period="2026-11", user="clerk-b02")
    # and a line cut short by the crash, mid-write, is not a checkpoint
    with checkpoints_path(ctx).open("ab") as f:
        f.write(b'{"n":2,"seq":')
    report = services.verify_audit(ctx)
    assert report["ok"] is True, report
    assert report["checkpoints"]["checked"] == 1
    assert any("cut short" in n for n in report["notes"])
    # the next checkpoint drops the torn tail and is line 2
    again = audit_checkpoint(ctx, user="audit-1")
    assert again["n"] == 2 and len(_checkpoints(ctx)) == 2
    assert services.verify_audit(ctx)["ok"] is True


def test_an_unwritable_checkpoint_file_does_not_undo_a_committed_approval(
        ctx: Context, plan: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import payroll.services.audit_witness as witness

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    _some_history(ctx)
    monkeypatch.setattr(witness.checkpoints, "append", full_disk)
    before = len(_entries(ctx))
    witness.checkpoint_committed(ctx, before, _entries(ctx)[-1].entry_hash, "run.approve", "run 1")
    assert not checkpoints_path(ctx).exists()
    assert services.verify_audit(ctx)["ok"] is True


# --- the standalone verifier with checkpoint files ---------------------------------------------------------


def _tool(export: Path, *args: str, crypto: bool = True) -> tuple[int, dict[str, Any], str]:
    """The verifier in its own interpreter; without `crypto`, `cryptography` cannot be imported there."""
    block = "" if crypto else "import sys; sys.modules['cryptography'] = None; "
    code = (f"{block}import runpy, sys; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    run = [sys.executable, "-c", code, str(TOOL), str(export)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    as_json = subprocess.run([*run, "--json", *args], capture_output=True, text=True, timeout=60, env=env)
    plain = subprocess.run([*run, *args], capture_output=True, text=True, timeout=60, env=env)
    assert as_json.returncode == plain.returncode and not as_json.stderr, as_json.stderr
    assert plain.returncode in (0, 1), plain.stderr
    return plain.returncode, json.loads(as_json.stdout), plain.stdout.strip()


def _exported_with_checkpoints(ctx: Context, tmp_path: Path) -> tuple[Path, Path, Path]:
    _some_history(ctx)
    audit_checkpoint(ctx, user="audit-1")
    audit_checkpoint(ctx, user="lead-1")
    out = tmp_path / "audit.jsonl"
    export_audit(ctx, out, "jsonl", user="audit-1")
    return out, checkpoints_path(ctx), signing.public_key_path(ctx.settings.release_key_path)


def test_the_tool_checks_an_export_against_checkpoints_and_their_signatures(ctx: Context, tmp_path: Path) -> None:
    export, cps, pub = _exported_with_checkpoints(ctx, tmp_path)
    rc, result, human = _tool(export, "--checkpoints", str(cps), "--public-key", str(pub))
    assert rc == 0, human
    assert (result["ok"], result["checkpoints"], result["signatures"]) == (True, 2, "signatures checked")
    assert human.startswith("OK:") and "2 checkpoint(s) agree" in human and "signatures checked" in human

    # without cryptography the hashes are still checked, and the output says the signatures were not
    rc, result, human = _tool(export, "--checkpoints", str(cps), "--public-key", str(pub), crypto=False)
    assert rc == 0 and result["signatures"] == "signatures NOT checked: cryptography not importable"
    assert "signatures NOT checked: cryptography not importable" in human

    # a forged line (moved to another entry's hash, its signature kept) is named when signatures are checked
    lines = cps.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(x) for x in export.read_text(encoding="utf-8").splitlines()]
    forged = json.loads(lines[0])
    forged["seq"], forged["hash"] = 3, entries[2]["entry_hash"]
    bad = tmp_path / "forged.jsonl"
    bad.write_text("\n".join([json.dumps(forged), lines[1]]) + "\n", encoding="utf-8")
    rc, result, human = _tool(export, "--checkpoints", str(bad), "--public-key", str(pub))
    assert rc == 1 and result["ok"] is False
    assert result["reason"] == (f"checkpoint 1 (seq 3, {forged['at']}) is not signed by the key given: the line was "
                                "forged or altered")
    # without cryptography the same line agrees with the chain (its hash is a real one) and the output warns
    rc, result, human = _tool(export, "--checkpoints", str(bad), "--public-key", str(pub), crypto=False)
    assert rc == 0 and "signatures NOT checked" in human


def test_the_tool_names_a_truncated_or_rewritten_export_by_its_checkpoint(ctx: Context, tmp_path: Path) -> None:
    export, cps, pub = _exported_with_checkpoints(ctx, tmp_path)
    cp = [json.loads(x) for x in cps.read_text(encoding="utf-8").splitlines()]
    entries = [json.loads(x) for x in export.read_text(encoding="utf-8").splitlines()]

    # the last third cut off (an export of a truncated store): the checkpoints name entries it lacks
    keep = len(entries) - len(entries) // 3
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries[:keep]), encoding="utf-8")
    for crypto in (True, False):
        rc, result, human = _tool(cut, "--checkpoints", str(cps), "--public-key", str(pub), crypto=crypto)
        assert rc == 1 and result["broken_at"] == cp[0]["seq"]
        assert result["reason"] == (f"entry {cp[0]['seq']} named by checkpoint 1 (seq {cp[0]['seq']}, {cp[0]['at']}) "
                                    f"is missing: the export ends at entry {keep}: it was truncated, or exported before "
                                    "this checkpoint was written")

    # entry 10 rewritten and every later hash recomputed: the chain holds, the checkpoints do not
    for e in entries[9:]:
        if e["seq"] == 10:
            e["actor"] = "someone-else"
        else:
            e["prev_hash"] = entries[e["seq"] - 2]["entry_hash"]
        e["entry_hash"] = hashlib_entry(e)
    rewritten = tmp_path / "rewritten.jsonl"
    rewritten.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    assert _tool(rewritten)[0] == 0  # alone, the chain verifies
    rc, result, human = _tool(rewritten, "--checkpoints", str(cps), "--public-key", str(pub))
    c = cp[0]
    assert rc == 1 and result["broken_at"] == c["seq"]
    assert result["reason"] == (f"checkpoint 1 (seq {c['seq']}, {c['at']}) names hash {c['hash'][:16]}.. for entry "
                                f"{c['seq']} but entry {c['seq']} is {entries[c['seq'] - 1]['entry_hash'][:16]}..: "
                                "the entry or one before it was rewritten")
    assert human.startswith(f"BROKEN at seq {c['seq']}: checkpoint 1")


def hashlib_entry(e: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(audit.canonical_json({k: e[k] for k in audit._HASHED}).encode()).hexdigest()


def test_the_command_line_writes_a_checkpoint_for_an_auditor_and_verify_names_the_truncation(
        ctx: Context, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the command line only calls the services tested above on both databases")
    _some_history(ctx)
    env = {**os.environ, "PENSION_HOME": str(ctx.home), "PENSION_DB_URL": db_url,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def pension(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "payroll.cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    refused = pension("audit", "checkpoint", "--as", "admin-1", "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["code"] == "WRONG_ROLE"
    done = pension("audit", "checkpoint", "--as", "audit-1", "--json")
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert (line["n"], line["path"]) == (1, str(checkpoints_path(ctx)))
    _truncate(ctx, 6)
    said = pension("audit", "verify")
    assert said.returncode == 1
    assert said.stdout.splitlines()[0] == (f"audit chain BROKEN at entry {line['seq']}: entry {line['seq']} named by "
                                           f"checkpoint 1 (seq {line['seq']}, {line['at']}) is missing: the chain "
                                           "ends at entry 6: it was truncated")
