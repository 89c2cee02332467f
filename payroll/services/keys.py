"""The institution's signing key (Ed25519): it signs every release manifest and every audit checkpoint.

It is made once, by the first signature the engine ever gives. After that a missing key is an error
(SIGNING_KEY_MISSING, naming the key id on record), never replaced: the banks and the checkpoints verify
earlier signatures with its public half. One function for every signer, so that no signer makes a key
another one already used.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from payroll import signing
from payroll.services.context import Context
from payroll.store.files import sha256_bytes
from payroll.store.models import Run

MANIFEST = "manifest.json"


def institution_key(ctx: Context, session: Session) -> signing.Ed25519PrivateKey:
    """The signing key; made only when nothing on record was signed yet (payroll.signing.ensure_key)."""
    path = ctx.settings.release_key_path
    return signing.ensure_key(path, None if path.exists() else key_on_record(ctx, session))


def key_on_record(ctx: Context, session: Session) -> str | None:
    """The key id the latest signed release manifest names (read only if its bytes hash to what the
    database recorded), else the one the last audit checkpoint names; None when nothing was signed yet."""
    for run_id, release_dir, manifest_sha in session.execute(
            select(Run.id, Run.release_dir, Run.manifest_sha256).where(Run.manifest_sha256.is_not(None))
            .order_by(Run.id.desc())):
        try:
            data = (Path(release_dir) / MANIFEST).read_bytes()
            if sha256_bytes(data) != manifest_sha:
                raise ValueError("altered")
            manifest = json.loads(data)
        except (OSError, TypeError, ValueError):
            return f"(unknown: the manifest of released run {run_id} cannot be read)"
        if "signature" in manifest:  # runs released before manifests were signed name no key
            return str(manifest["signature"]["key_id"])
    return _checkpoint_key_id(ctx.home / "audit" / "checkpoints.jsonl")


def _checkpoint_key_id(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for raw in reversed(lines):
        try:
            key_id = json.loads(raw).get("key_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(key_id, str):
            return key_id
    return None
