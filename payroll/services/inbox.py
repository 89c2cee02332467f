"""Branch files collected from an inbox: a local folder or any fsspec URL, one folder per branch.

    <inbox>/<BRANCH>/X.csv              the branch list (.csv, .xlsx or .parquet)
    <inbox>/<BRANCH>/X.csv.meta.json    its sidecar: period, clerk, declared count and total, ...
    <inbox>/<BRANCH>/.claimed/<claim>/  files a collection is working on right now
    <inbox>/<BRANCH>/processed/         accepted files (duplicates too), each with its receipt
    <inbox>/<BRANCH>/rejected/          rejected files, refusals and bad sidecars, each with its receipt

A file is picked only when its sidecar is there, both are older than the settle time and, when the
sidecar gives a sha256, the bytes match it; otherwise it is left alone and reported as waiting. Before
submitting, a collection claims the file by moving it into a claim folder of its own (an atomic rename
on a local disk), so two collections running at once never submit the same file; a claim older than
the claim timeout is a crashed collection's and is taken over. The same bytes dropped twice give one
submission (submit_bytes says duplicate). A refusal moves the file to rejected/ with the error as its
receipt; an unexpected error (a bug, the database down) puts the file back where it was, so that the
next collection tries again, and is reported as failed.

On an object store whose move is a copy and a delete (S3, GCS), a claim is not exclusive: run one
collection at a time there (the deployment's concurrency limit of 1 does).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from payroll.config import Settings
from payroll.errors import Refused
from payroll.period import Period
from payroll.services.context import Context
from payroll.services.submissions import check_file_size, submit_bytes

BRANCH_FILE_SUFFIXES = (".csv", ".xlsx", ".parquet")
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", "~")
SIDECAR_SUFFIX = ".meta.json"
RECEIPT_SUFFIX = ".receipt.json"
CLAIMED, PROCESSED, REJECTED = ".claimed", "processed", "rejected"
OUTCOMES = ("accepted", "duplicate", "rejected", "waiting", "failed")
MAX_SIDECAR_BYTES = 64 * 1024
DEFAULT_SETTLE_SECONDS = 10.0
DEFAULT_CLAIM_TIMEOUT_SECONDS = 3600.0
_STAMP = "%Y%m%dT%H%M%SZ"


def default_inbox(settings: Settings) -> str:
    """PENSION_INBOX, or the folder `inbox` in PENSION_HOME."""
    return os.environ.get("PENSION_INBOX") or str(settings.resolved_home / "inbox")


class Sidecar(BaseModel):
    """`X.csv.meta.json`: who submits the file beside it, for which month, with which cover totals."""

    model_config = ConfigDict(extra="forbid")

    period: str
    clerk: str = Field(min_length=1)
    declared_count: StrictInt | None = Field(default=None, ge=0)
    declared_total: StrictInt | None = Field(default=None, ge=0)
    encoding: str | None = None
    sheet: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            return str(Period.parse(value))
        except Refused as e:
            raise ValueError(e.message) from None


def read_sidecar(data: bytes, sidecar_name: str) -> Sidecar:
    """Parse a sidecar; Refused BAD_SIDECAR names the sidecar file and every wrong field."""
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refused("BAD_SIDECAR", f"{sidecar_name}: not a JSON object in UTF-8 ({e})", sidecar=sidecar_name,
                      errors=[]) from None
    try:
        return Sidecar.model_validate(raw)
    except ValidationError as e:
        errors = [{"field": ".".join(str(p) for p in err["loc"]) or "(the whole file)", "message": err["msg"]}
                  for err in e.errors()]
        text = "; ".join(f"field {x['field']!r}: {x['message']}" for x in errors)
        raise Refused("BAD_SIDECAR", f"{sidecar_name}: {text}", sidecar=sidecar_name, errors=errors) from None


# --- the file system ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbox:
    fs: Any
    root: str
    url: str

    @property
    def local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def join(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def files(self, folder: str) -> dict[str, dict[str, Any]]:
        """File name -> fsspec info of the files directly in `folder` (none when it does not exist)."""
        try:
            listing = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return {}
        return {posixpath.basename(i["name"].rstrip("/")): i for i in listing if i["type"] == "file"}

    def folders(self, folder: str) -> list[str]:
        try:
            listing = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(i["name"].rstrip("/")) for i in listing if i["type"] == "directory")

    def move(self, src: str, dst: str) -> None:
        """Move one file; raises FileNotFoundError when `src` is gone (another collection took it) and
        FileExistsError rather than overwrite `dst`. A local move is one atomic rename."""
        if self.fs.exists(dst):
            raise FileExistsError(dst)
        self.fs.makedirs(posixpath.dirname(dst), exist_ok=True)
        if self.local:
            os.rename(src, dst)
        else:
            self.fs.mv(src, dst)

    def write(self, path: str, data: bytes) -> None:
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.fs.open(path, "wb") as f:
            f.write(data)

    def remove_folder(self, folder: str) -> None:
        try:
            self.fs.rmdir(folder)
        except (OSError, NotImplementedError):
            pass


def open_inbox(inbox: str) -> Inbox:
    fs, root = fsspec.core.url_to_fs(inbox)
    root = root.rstrip("/") or "/"
    if not fs.isdir(root):
        raise Refused("INBOX_NOT_FOUND", f"inbox {inbox} is not a folder", inbox=inbox)
    return Inbox(fs, root, inbox)


def _read_bytes(box: Inbox, path: str) -> bytes:
    """Every read of a branch file's bytes goes through here (after the size check)."""
    return bytes(box.fs.cat_file(path))


def _sha256_of(box: Inbox, path: str) -> str:
    h = hashlib.sha256()
    with box.fs.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _mtime(box: Inbox, path: str, info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
    try:
        return float(box.fs.modified(path).timestamp())
    except (NotImplementedError, OSError, AttributeError, TypeError, ValueError):
        return None  # the store cannot tell: the sidecar (and its sha256) decide alone


def is_branch_file(name: str) -> bool:
    lower = name.lower()
    return (not name.startswith(".") and not lower.endswith(IGNORED_SUFFIXES)
            and lower.endswith(BRANCH_FILE_SUFFIXES))


def list_branch_folders(inbox: str) -> list[str]:
    """The branch folders of the inbox (every visible folder: one that is not a branch is refused per file)."""
    box = open_inbox(inbox)
    return [name for name in box.folders(box.root) if not name.startswith(".")]


# --- one branch -----------------------------------------------------------------------------------


@dataclass
class _Claim:
    token: str
    folder: str  # <BRANCH>/.claimed/<token>
    name: str

    @property
    def file(self) -> str:
        return posixpath.join(self.folder, self.name)

    @property
    def sidecar(self) -> str:
        return self.file + SIDECAR_SUFFIX


def _new_token(now: float) -> str:
    return f"{datetime.fromtimestamp(now, UTC).strftime(_STAMP)}-{uuid.uuid4().hex[:8]}"


def _token_time(token: str) -> float | None:
    try:
        return datetime.strptime(token.split("-", 1)[0], _STAMP).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def claim(box: Inbox, branch_dir: str, src_dir: str, name: str, now: float | None = None) -> _Claim | None:
    """Take `src_dir/name` (and its sidecar) for this collection; None when another one took it first."""
    c = _Claim(_new_token(time.time() if now is None else now), "", name)
    c.folder = posixpath.join(branch_dir, CLAIMED, c.token)
    try:
        box.move(posixpath.join(src_dir, name), c.file)  # the one exclusive step
    except FileNotFoundError:
        box.remove_folder(c.folder)
        return None
    for sidecar_dir in dict.fromkeys((src_dir, branch_dir)):  # a crash may have left it behind
        try:
            box.move(posixpath.join(sidecar_dir, name + SIDECAR_SUFFIX), c.sidecar)
            break
        except FileNotFoundError:
            continue
    return c


def _unclaim(box: Inbox, branch_dir: str, c: _Claim) -> bool:
    """Put a claimed file back for the next collection; False (it stays claimed, to be taken over after
    the claim timeout) when a new file of the same name has arrived meanwhile."""
    try:
        box.move(c.file, posixpath.join(branch_dir, c.name))
    except FileExistsError:
        return False
    try:
        box.move(c.sidecar, posixpath.join(branch_dir, c.name + SIDECAR_SUFFIX))
    except (FileNotFoundError, FileExistsError):
        pass
    box.remove_folder(c.folder)
    return True


def _finish(box: Inbox, branch_dir: str, c: _Claim, destination: str, prefix: str,
            receipt: dict[str, Any]) -> str:
    """Receipt first, then the sidecar, then the file: a crash midway leaves the file claimed, and the
    collection that takes the claim over finds the same bytes already submitted."""
    dest_dir = posixpath.join(branch_dir, destination)
    base = f"{prefix}-{c.name}"
    receipt_path = posixpath.join(dest_dir, base + RECEIPT_SUFFIX)
    box.write(receipt_path, json.dumps(receipt, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    if box.fs.exists(c.sidecar):
        box.move(c.sidecar, posixpath.join(dest_dir, base + SIDECAR_SUFFIX))
    box.move(c.file, posixpath.join(dest_dir, base))
    box.remove_folder(c.folder)
    return receipt_path


def _entry(branch: str, name: str, outcome: str, **extra: Any) -> dict[str, Any]:
    """One line of the summary: `error` is the refusal ({code, message, ...}) of a rejected file or the
    exception of a failed one; `reason` says why a file waits or where a failed one was left."""
    return {"branch": branch, "file": name, "outcome": outcome, "submission_id": None, "receipt": None,
            "error": None, "reason": None, **extra}


def _load_sidecar(box: Inbox, path: str, sidecar_name: str) -> Sidecar:
    if int(box.fs.info(path).get("size") or 0) > MAX_SIDECAR_BYTES:
        raise Refused("BAD_SIDECAR", f"{sidecar_name}: over {MAX_SIDECAR_BYTES} bytes; a sidecar is a few lines "
                      "of JSON", sidecar=sidecar_name, errors=[])
    return read_sidecar(bytes(box.fs.cat_file(path)), sidecar_name)


def _collect_one(ctx: Context, box: Inbox, branch: str, branch_dir: str, src_dir: str,
                 name: str) -> dict[str, Any] | None:
    """Collect one settled file (or a stale claim's); None when another collection took it first."""
    max_bytes = ctx.settings.max_file_bytes
    sidecar_name = name + SIDECAR_SUFFIX
    src = posixpath.join(src_dir, name)
    try:  # a file still being written: leave it alone, untouched
        early: Sidecar | None = _load_sidecar(box, posixpath.join(src_dir, sidecar_name), sidecar_name)
    except (Refused, FileNotFoundError):
        early = None  # decided after the claim
    if early is not None and early.sha256 and int(box.fs.info(src)["size"]) <= max_bytes:
        if _sha256_of(box, src) != early.sha256.lower():
            return _entry(branch, name, "waiting", reason="the bytes do not match the sidecar's sha256 yet")

    c = claim(box, branch_dir, src_dir, name)
    if c is None:
        return None
    try:
        if not box.fs.exists(c.sidecar):  # a crashed collection's claim without its sidecar
            _unclaim(box, branch_dir, c)
            return _entry(branch, name, "waiting", reason=f"no sidecar {sidecar_name}")
        sidecar = _load_sidecar(box, c.sidecar, sidecar_name)
        check_file_size(int(box.fs.info(c.file)["size"]), name, max_bytes)
        data = _read_bytes(box, c.file)
        if sidecar.sha256 and hashlib.sha256(data).hexdigest() != sidecar.sha256.lower():
            _unclaim(box, branch_dir, c)
            return _entry(branch, name, "waiting", reason="the bytes do not match the sidecar's sha256 yet")
        receipt = submit_bytes(ctx, data, name, branch=branch, period=sidecar.period, user=sidecar.clerk,
                               declared_count=sidecar.declared_count, declared_total=sidecar.declared_total,
                               encoding=sidecar.encoding, sheet=sidecar.sheet)
    except Refused as e:
        return _settle(box, branch_dir, c, branch, "rejected", REJECTED, c.token,
                       {"error": e.as_dict(), "branch": branch, "file": name}, error=e.as_dict())
    except Exception as e:  # a bug or the database: put the file back for the next collection
        return _failed(box, branch_dir, c, branch, e)
    sid = receipt["submission_id"]
    if receipt["status"] == "rejected":
        return _settle(box, branch_dir, c, branch, "rejected", REJECTED, f"{c.token}-s{sid}", receipt,
                       submission_id=sid)
    return _settle(box, branch_dir, c, branch, "duplicate" if receipt.get("duplicate") else "accepted", PROCESSED,
                   f"{c.token}-s{sid}", receipt, submission_id=sid)


def _settle(box: Inbox, branch_dir: str, c: _Claim, branch: str, outcome: str, destination: str, prefix: str,
            receipt: dict[str, Any], **extra: Any) -> dict[str, Any]:
    try:
        path = _finish(box, branch_dir, c, destination, prefix, receipt)
    except Exception as e:
        if extra.get("submission_id") is not None:  # submitted: a later collection finds the same bytes
            return _entry(branch, c.name, "failed", **extra, error=f"{type(e).__name__}: {e}",
                          reason=f"submitted, but not moved to {destination}/; left claimed in {c.folder}")
        return _failed(box, branch_dir, c, branch, e)
    return _entry(branch, c.name, outcome, receipt=path, **extra)


def _failed(box: Inbox, branch_dir: str, c: _Claim, branch: str, error: Exception) -> dict[str, Any]:
    try:
        back = _unclaim(box, branch_dir, c)
    except Exception:
        back = False
    return _entry(branch, c.name, "failed", error=f"{type(error).__name__}: {error}",
                  reason="put back for the next collection" if back
                  else f"left claimed in {c.folder}; taken over after the claim timeout")


def collect_branch(ctx: Context, inbox: str, branch: str, *, settle_seconds: float = DEFAULT_SETTLE_SECONDS,
                   claim_timeout_seconds: float = DEFAULT_CLAIM_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Collect the settled files of one branch folder; returns {branch, files, counts}."""
    if not branch or branch.startswith(".") or "/" in branch or "\\" in branch:
        raise Refused("INVALID_BRANCH_FOLDER", f"{branch!r} is not a branch folder name of the inbox")
    box = open_inbox(inbox)
    branch_dir = box.join(branch)
    now = time.time()
    results: list[dict[str, Any] | None] = []

    claims_dir = posixpath.join(branch_dir, CLAIMED)
    for token in box.folders(claims_dir):
        claimed_at = _token_time(token)
        if claimed_at is None or now - claimed_at < claim_timeout_seconds:
            continue  # another collection is working on it
        folder = posixpath.join(claims_dir, token)
        files = box.files(folder)
        for name in sorted(n for n in files if is_branch_file(n)):
            results.append(_guarded(ctx, box, branch, branch_dir, folder, name))
        if not box.files(folder):
            box.remove_folder(folder)

    files = box.files(branch_dir)
    for name in sorted(files):
        if not is_branch_file(name):
            continue
        sidecar_info = files.get(name + SIDECAR_SUFFIX)
        if sidecar_info is None:
            results.append(_entry(branch, name, "waiting", reason=f"no sidecar {name + SIDECAR_SUFFIX}"))
            continue
        young = [n for n in (name, name + SIDECAR_SUFFIX)
                 if (t := _mtime(box, box.join(branch, n), files[n])) is not None and now - t < settle_seconds]
        if young:
            results.append(_entry(branch, name, "waiting",
                                  reason=f"{', '.join(young)} changed less than {settle_seconds:g} s ago"))
            continue
        results.append(_guarded(ctx, box, branch, branch_dir, branch_dir, name))

    entries = [r for r in results if r is not None]
    return {"branch": branch, "files": entries, "counts": count_outcomes(entries)}


def _guarded(ctx: Context, box: Inbox, branch: str, branch_dir: str, src_dir: str, name: str
             ) -> dict[str, Any] | None:
    """One file's trouble (the store failing before the claim) never stops the others."""
    try:
        return _collect_one(ctx, box, branch, branch_dir, src_dir, name)
    except Exception as e:
        return _entry(branch, name, "failed", error=f"{type(e).__name__}: {e}", reason="not claimed; left in place")


def count_outcomes(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for e in entries:
        counts[e["outcome"]] += 1
    return counts


def merge_summaries(inbox: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary for the whole inbox from the branch summaries."""
    entries = [e for p in parts for e in p["files"]]
    return {"inbox": inbox, "branches": [p["branch"] for p in parts], "files": entries,
            "counts": count_outcomes(entries)}


def collect_inbox(ctx: Context, inbox: str, *, settle_seconds: float = DEFAULT_SETTLE_SECONDS,
                  claim_timeout_seconds: float = DEFAULT_CLAIM_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Every branch folder, one after the other (the flow maps the same per branch)."""
    return merge_summaries(inbox, [collect_branch(ctx, inbox, b, settle_seconds=settle_seconds,
                                                  claim_timeout_seconds=claim_timeout_seconds)
                                   for b in list_branch_folders(inbox)])
