"""The audit chain checked against witnesses kept outside the database: signed checkpoints and manifests.

Whoever can write to the database can delete the newest entries and move the head back, or rewrite an
entry and recompute every later hash; the chain alone still verifies. So the engine signs a checkpoint
(payroll.checkpoints) under PENSION_HOME after each run approval and each release commits, and on demand,
and every release's signed manifest names the audit head it saw. `verify_audit` checks the chain, then
checks it against every checkpoint and every release manifest it knows, and names each that disagrees.

A checkpoint is written only after its transaction commits (one of an uncommitted head would be a false
witness). A crash before it is written leaves the newest entries without a checkpoint, which is fine; a
checkpoint naming an entry whose hash differs, or an entry that is gone, is not.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payroll import audit, checkpoints, signing
from payroll.approvals import require_role
from payroll.errors import Refused
from payroll.services.context import Context, actor
from payroll.services.keys import institution_key
from payroll.store.files import sha256_file
from payroll.store.models import AuditEntry, Run

log = logging.getLogger(__name__)

# who may ask for a checkpoint on demand: those who read the trail for a living. Not administrators: they
# hold the database (the writers these witnesses are kept against) and need no signature of the engine
CHECKPOINT_ROLES = ("auditor", "finance_lead")
MANIFEST = "manifest.json"


def checkpoints_path(ctx: Context) -> Path:
    return ctx.home / "audit" / "checkpoints.jsonl"


def checkpoint_committed(ctx: Context, seq: int, entry_hash: str, action: str, item: str) -> dict[str, Any] | None:
    """Sign and append a checkpoint of a committed entry. The state change it witnesses is done: if the
    checkpoint cannot be written, say so in the log and go on (the newest entries are then unwitnessed)."""
    try:
        with ctx.uow() as session:
            key = institution_key(ctx, session)
        return checkpoints.append(checkpoints_path(ctx), key, seq=seq, entry_hash=entry_hash, action=action,
                                  item=item)
    except (OSError, ValueError, Refused) as e:
        log.warning("audit checkpoint of entry %s (%s %s) not written: %s", seq, action, item, e)
        return None


def audit_checkpoint(ctx: Context, *, user: str) -> dict[str, Any]:
    """Write a checkpoint now, on an auditor's or finance lead's request, of the chain's head once it verifies
    against its witnesses (no signature for a chain that does not). The request is itself an entry
    (`audit.checkpoint`), and the checkpoint names it."""
    with ctx.uow() as session:
        require_role(actor(session, user), CHECKPOINT_ROLES, "writing an audit checkpoint")
    report = verify_audit(ctx)
    if not report["ok"]:
        raise Refused("AUDIT_CHAIN_BROKEN", f"the audit trail does not verify ({report['reason']}); no checkpoint "
                      "is written for it", problems=report["problems"])
    with ctx.uow() as session:
        who = actor(session, user)
        require_role(who, CHECKPOINT_ROLES, "writing an audit checkpoint")
        entry = audit.append(session, actor=user, role=who.role, action="audit.checkpoint", item_type="audit_log",
                             item_id=report["head_seq"], detail={"verified_seq": report["head_seq"],
                                                                 "verified_hash": report["head_hash"]})
        key = institution_key(ctx, session)
    path = checkpoints_path(ctx)
    line = checkpoints.append(path, key, seq=entry.seq,
                              entry_hash=entry.entry_hash, action="audit.checkpoint", item=f"requested by {user}")
    return {**line, "path": str(path)}


def _public_key(ctx: Context) -> Ed25519PublicKey | None:
    """The institution's public key: from the private key, or from its `.pub.pem` when the private key is
    kept offline; None when neither is there."""
    try:
        return signing.load_verification_key(ctx.settings.release_key_path)
    except (OSError, ValueError):
        return None


def _manifest_witness(folder: Path, shown: str, public: Ed25519PublicKey | None, run_id: int | None,
                      problems: list[str], notes: list[str]) -> audit.Witness | None:
    """The audit head a release folder's manifest names, if its signature holds."""
    where = f"the manifest of run {run_id if run_id is not None else '?'} (release archive {shown})"
    try:
        data = (folder / MANIFEST).read_bytes()
        manifest = json.loads(data)
    except FileNotFoundError:
        notes.append(f"{where} is not on disk (the next release of the run restores its archive)")
        return None
    except (OSError, ValueError) as e:
        problems.append(f"{where} cannot be read: {e}")
        return None
    head = manifest.get("audit_head") if isinstance(manifest, dict) else None
    if head is None:
        notes.append(f"{where} names no audit head (released before manifests named one)")
        return None
    sig = folder / (MANIFEST + signing.SIGNATURE_SUFFIX)
    if public is None:
        problems.append(f"{where} cannot be checked: the institution's key is missing")
        return None
    if not sig.is_file() or not signing.verify(public, data, sig.read_bytes()):
        problems.append(f"{where} is not signed by the institution's key: it was altered and is not a witness")
        return None
    if not (isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str)):
        problems.append(f"{where} names an audit head that is not a seq and a hash: {head!r}")
        return None
    return audit.Witness(where, head["seq"], head["hash"])


def _run_of(folder: Path) -> int | None:
    number = folder.name.removeprefix("run-")
    return int(number) if number.isascii() and number.isdigit() else None


def _hashes(session: Session, seqs: set[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    ordered = sorted(seqs)
    for i in range(0, len(ordered), 500):
        out.update(session.execute(select(AuditEntry.seq, AuditEntry.entry_hash)
                                   .where(AuditEntry.seq.in_(ordered[i:i + 500]))).tuples().all())
    return out


def verify_audit(ctx: Context) -> dict[str, Any]:
    """The chain's verification (payroll.audit.verify), then the chain against every checkpoint and every
    release manifest. `ok` only if all agree; `problems` names every disagreement, `broken_at` and
    `reason` the first (the chain's own break first); `notes` what was not a witness and why."""
    problems: list[str] = []
    notes: list[str] = []
    public = _public_key(ctx)
    # the witnesses are read before the chain: each names an entry committed before it was written, so
    # an entry it names and the chain read after it lacks was removed, not merely not yet committed
    cp_path = checkpoints_path(ctx)
    read = checkpoints.read(cp_path, public)
    problems += read.problems
    notes += read.notes
    witnesses = [audit.Witness(checkpoints.label(c), c["seq"], c["hash"]) for c in read.lines]
    seen: set[Path] = set()
    seen_bytes: set[str] = set()  # one manifest found twice (its folder and a recorded release_dir) counts once
    manifests = checked = 0

    def consider(folder: Path, run_id: int | None) -> None:
        nonlocal manifests, checked
        if folder.resolve() in seen:
            return
        seen.add(folder.resolve())
        try:
            digest = sha256_file(folder / MANIFEST)
        except OSError:
            digest = None
        if digest is not None and digest in seen_bytes:
            return
        seen_bytes.add(digest or "")
        manifests += 1
        shown = folder.name if folder.parent == ctx.home / "releases" else str(folder)
        w = _manifest_witness(folder, shown, public, run_id, problems, notes)
        if w is not None:
            witnesses.append(w)
            checked += 1

    for folder in sorted((ctx.home / "releases").glob("run-*"), key=lambda p: (_run_of(p) or 0, p.name)):
        if folder.is_dir():
            consider(folder, _run_of(folder))
    with ctx.uow() as session:
        chain = audit.verify(session)
        for run_id, release_dir in session.execute(select(Run.id, Run.release_dir).where(
                Run.release_dir.is_not(None)).order_by(Run.id)).tuples():
            consider(Path(release_dir or ""), run_id)
        last_seq = session.execute(select(func.max(AuditEntry.seq))).scalar_one_or_none() or 0
        hashes = _hashes(session, {w.seq for w in witnesses})
    found = audit.disagreements(witnesses, hashes, last_seq)
    problems = [why for _, why in found] + problems
    result = chain.as_dict()
    if chain.ok and problems:
        result.update(ok=False, broken_at=found[0][0] if found else None, reason=problems[0])
    elif not chain.ok:
        problems.insert(0, chain.reason or "the chain is broken")
    result.update(checkpoints={"file": str(cp_path), "checked": len(read.lines),
                               "latest_seq": max((c["seq"] for c in read.lines), default=None)},
                  manifests={"found": manifests, "checked": checked}, problems=problems, notes=notes)
    return result
