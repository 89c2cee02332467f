"""The branch inbox through the service layer (no Prefect): real files, a real database, exact outcomes."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from sqlalchemy import select

from payroll.errors import Refused
from payroll.services import Context, collect_branch, collect_inbox
from payroll.services import inbox as inbox_service
from payroll.store.models import Submission
from tests.conftest import SAMPLE

PLAN = {s["branch"]: s for s in json.loads((SAMPLE / "plan.json").read_text(encoding="utf-8"))["submissions"]
        if s["expect"] == "accepted"}
PERIOD = "2026-11"


def sidecar_for(branch: str, **changes: Any) -> dict[str, Any]:
    s = PLAN[branch]
    return {"period": PERIOD, "clerk": s["user"], "declared_count": s["declared_count"],
            "declared_total": s["declared_total"], **changes}


def drop(inbox: Path, folder: str, data: bytes, name: str, sidecar: dict[str, Any] | str | None,
         age: float = 60) -> Path:
    """A branch system's delivery: the file, then its sidecar, both `age` seconds old."""
    target = inbox / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    paths = [target]
    if sidecar is not None:
        meta = target.with_name(name + ".meta.json")
        meta.write_text(sidecar if isinstance(sidecar, str) else json.dumps(sidecar), encoding="utf-8")
        paths.append(meta)
    for p in paths:
        t = time.time() - age
        os.utime(p, (t, t))
    return target


def sample(branch: str) -> bytes:
    return (SAMPLE / PLAN[branch]["file"]).read_bytes()


def drop_sample(inbox: Path, branch: str, folder: str | None = None, **changes: Any) -> Path:
    return drop(inbox, folder or branch, sample(branch), Path(PLAN[branch]["file"]).name, sidecar_for(branch, **changes))


def collect(ctx: Context, inbox: Path | str, branch: str = "B01", **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("settle_seconds", 0)
    return collect_branch(ctx, str(inbox), branch, **kw)["files"]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def submissions(ctx: Context) -> list[Submission]:
    with ctx.uow() as s:
        return list(s.execute(select(Submission).order_by(Submission.id)).scalars())


def receipt_at(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    box = tmp_path / "inbox"
    box.mkdir()
    return box


def test_an_accepted_file_goes_to_processed_with_its_receipt(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01")
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "accepted" and entry["file"] == "B01.csv" and entry["branch"] == "B01"
    [sub] = submissions(ctx)
    assert (entry["submission_id"], sub.status, sub.branch_code, sub.period, sub.submitted_by) == (
        sub.id, "accepted", "B01", PERIOD, "clerk-b01")
    assert sub.content_sha256 == hashlib.sha256(sample("B01")).hexdigest()
    processed = inbox / "B01" / "processed"
    stored = Path(entry["receipt"])
    assert stored.parent == processed and stored.name.endswith(f"-s{sub.id}-B01.csv.receipt.json")
    base = stored.name.removesuffix(".receipt.json")
    assert names(processed) == sorted([base, base + ".meta.json", base + ".receipt.json"])
    assert (processed / base).read_bytes() == sample("B01")
    receipt = receipt_at(entry["receipt"])
    assert (receipt["submission_id"], receipt["status"], receipt["declared_total"]) == (
        sub.id, "accepted", PLAN["B01"]["declared_total"])
    assert "\\u" not in stored.read_text(encoding="utf-8")  # ensure_ascii=False
    assert names(inbox / "B01") == [".claimed", "processed"] and names(inbox / "B01" / ".claimed") == []


def test_an_invalid_file_goes_to_rejected_with_its_receipt(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01", declared_total=PLAN["B01"]["declared_total"] + 1)
    [entry] = collect(ctx, inbox)
    [sub] = submissions(ctx)
    assert (entry["outcome"], entry["submission_id"], sub.status) == ("rejected", sub.id, "rejected")
    assert Path(entry["receipt"]).parent == inbox / "B01" / "rejected"
    receipt = receipt_at(entry["receipt"])
    assert receipt["status"] == "rejected"
    assert [e["code"] for e in receipt["errors"] if e["row"] is None] == ["DECLARED_TOTAL_MISMATCH"]
    assert len(names(inbox / "B01" / "rejected")) == 3 and not (inbox / "B01" / "processed").exists()


def test_a_bad_sidecar_is_rejected_naming_the_file_and_the_fields(ctx: Context, inbox: Path) -> None:
    drop(inbox, "B01", sample("B01"), "B01.csv", sidecar_for("B01", declared_total="32 billion", colour="red"))
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "rejected" and entry["submission_id"] is None
    error = receipt_at(entry["receipt"])["error"]
    assert error["code"] == "BAD_SIDECAR" and error["message"].startswith("B01.csv.meta.json: ")
    assert {e["field"] for e in error["detail"]["errors"]} == {"declared_total", "colour"}
    assert "'declared_total'" in error["message"] and "'colour'" in error["message"]
    assert len(names(inbox / "B01" / "rejected")) == 3 and submissions(ctx) == []


@pytest.mark.parametrize("text, field", [('{"period": "2026-13", "clerk": "clerk-b01"}', "period"),
                                         ('{"period": "2026-11"}', "clerk"),
                                         ('{"period": "2026-11", "clerk": "clerk-b01", "declared_count": 2.5}',
                                          "declared_count"),
                                         ("period=2026-11", None)])
def test_sidecar_errors_name_the_field(text: str, field: str | None) -> None:
    with pytest.raises(Refused) as e:
        inbox_service.read_sidecar(text.encode(), "X.csv.meta.json")
    assert e.value.code == "BAD_SIDECAR" and e.value.message.startswith("X.csv.meta.json: ")
    assert field is None or f"'{field}'" in e.value.message


def test_a_clerk_of_another_branch_is_rejected(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01", clerk="clerk-b02")
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "rejected" and entry["error"]["code"] == "OUT_OF_SCOPE"
    assert receipt_at(entry["receipt"])["error"]["code"] == "OUT_OF_SCOPE"
    assert submissions(ctx) == [] and len(names(inbox / "B01" / "rejected")) == 3


def test_an_unknown_branch_folder_is_rejected(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01", folder="B99")
    [entry] = collect(ctx, inbox, "B99")
    assert (entry["outcome"], entry["branch"], entry["error"]["code"]) == ("rejected", "B99", "NOT_FOUND")
    assert "branch B99" in entry["error"]["message"]
    assert Path(entry["receipt"]).parent == inbox / "B99" / "rejected" and submissions(ctx) == []


def test_a_file_without_sidecar_waits_untouched(ctx: Context, inbox: Path) -> None:
    path = drop(inbox, "B01", sample("B01"), "B01.csv", None)
    before = path.stat().st_mtime
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "waiting" and "no sidecar" in entry["reason"]
    assert names(inbox / "B01") == ["B01.csv"] and path.stat().st_mtime == before and submissions(ctx) == []


def test_a_file_newer_than_the_settle_time_waits(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01")
    (inbox / "B01" / "B01.csv").touch()  # still being written
    [entry] = collect(ctx, inbox, settle_seconds=30)
    assert entry["outcome"] == "waiting" and "B01.csv changed less than 30 s ago" in entry["reason"]
    assert names(inbox / "B01") == ["B01.csv", "B01.csv.meta.json"] and submissions(ctx) == []
    assert collect(ctx, inbox, settle_seconds=0)[0]["outcome"] == "accepted"


def test_a_half_written_file_waits_until_its_bytes_match_the_sidecar_sha256(ctx: Context, inbox: Path) -> None:
    data = sample("B01")
    side = sidecar_for("B01", sha256=hashlib.sha256(data).hexdigest())
    path = drop(inbox, "B01", data[: len(data) // 2], "B01.csv", side)
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "waiting" and "sha256" in entry["reason"]
    assert names(inbox / "B01") == ["B01.csv", "B01.csv.meta.json"] and submissions(ctx) == []
    path.write_bytes(data)  # the writer finishes
    os.utime(path, (time.time() - 60, time.time() - 60))
    assert collect(ctx, inbox)[0]["outcome"] == "accepted" and len(submissions(ctx)) == 1


def test_the_same_bytes_dropped_twice_are_submitted_once(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01")
    [first] = collect(ctx, inbox)
    drop_sample(inbox, "B01")  # the branch sends the same file again
    [second] = collect(ctx, inbox)
    assert (first["outcome"], second["outcome"]) == ("accepted", "duplicate")
    assert second["submission_id"] == first["submission_id"] and len(submissions(ctx)) == 1
    assert receipt_at(second["receipt"])["duplicate"] is True
    assert second["receipt"] != first["receipt"] and Path(first["receipt"]).is_file()
    assert len(names(inbox / "B01" / "processed")) == 6  # nothing overwritten


def test_two_collections_racing_submit_a_file_once(ctx: Context, inbox: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    drop_sample(inbox, "B01")
    real_claim = inbox_service.claim
    other: list[list[dict[str, Any]]] = []

    def claim_after_the_other(*args: Any, **kwargs: Any) -> Any:
        if not other:  # both collections listed the file; the other one claims it first
            other.append([])
            other[0] = collect(ctx, inbox)
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(inbox_service, "claim", claim_after_the_other)
    mine = collect(ctx, inbox)
    assert mine == [] and [e["outcome"] for e in other[0]] == ["accepted"]
    assert len(submissions(ctx)) == 1 and len(names(inbox / "B01" / "processed")) == 3


def test_a_claim_is_exclusive_and_a_crashed_collections_claim_is_taken_over(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01")
    box = inbox_service.open_inbox(str(inbox))
    branch_dir = box.join("B01")
    first = inbox_service.claim(box, branch_dir, branch_dir, "B01.csv")
    assert first is not None and inbox_service.claim(box, branch_dir, branch_dir, "B01.csv") is None
    assert names(Path(first.folder)) == ["B01.csv", "B01.csv.meta.json"]
    # the collection that claimed it crashed; a live claim is left alone until the claim timeout
    assert collect(ctx, inbox) == [] and submissions(ctx) == []
    [entry] = collect(ctx, inbox, claim_timeout_seconds=0)
    assert entry["outcome"] == "accepted" and len(submissions(ctx)) == 1
    assert names(inbox / "B01" / ".claimed") == []


def test_an_oversize_file_is_rejected_without_being_read(ctx: Context, inbox: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data = sample("B01")
    drop(inbox, "B01", data, "B01.csv", sidecar_for("B01", sha256=hashlib.sha256(data).hexdigest()))
    monkeypatch.setattr(ctx.settings, "max_file_bytes", 1000)

    def no_reading(*args: Any) -> Any:
        raise AssertionError("an oversize file was read")

    monkeypatch.setattr(inbox_service, "_read_bytes", no_reading)
    monkeypatch.setattr(inbox_service, "_sha256_of", no_reading)
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "rejected" and entry["error"]["code"] == "FILE_TOO_LARGE"
    assert receipt_at(entry["receipt"])["error"]["code"] == "FILE_TOO_LARGE"
    assert submissions(ctx) == [] and len(names(inbox / "B01" / "rejected")) == 3


def test_an_unexpected_error_puts_the_file_back_for_the_next_collection(ctx: Context, inbox: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    drop_sample(inbox, "B01")

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("database down")

    monkeypatch.setattr(inbox_service, "submit_bytes", database_down)
    [entry] = collect(ctx, inbox)
    assert entry["outcome"] == "failed" and entry["error"] == "ConnectionError: database down"
    assert names(inbox / "B01") == [".claimed", "B01.csv", "B01.csv.meta.json"]
    assert names(inbox / "B01" / ".claimed") == []
    monkeypatch.undo()
    assert collect(ctx, inbox)[0]["outcome"] == "accepted"


def test_hidden_and_partial_files_are_ignored(ctx: Context, inbox: Path) -> None:
    for name in (".B01.csv", "B01.csv.part", "B01.csv.tmp", "B01.csv.partial", "B01.csv~", "notes.txt"):
        drop(inbox, "B01", sample("B01"), name, sidecar_for("B01"))
    assert collect(ctx, inbox) == [] and submissions(ctx) == []
    assert len(names(inbox / "B01")) == 12


def test_the_whole_inbox_with_counts(ctx: Context, inbox: Path) -> None:
    drop_sample(inbox, "B01")
    drop_sample(inbox, "B05")  # Parquet
    drop(inbox, "B02", sample("B02"), "B02.csv", None)
    (inbox / ".trash").mkdir()
    summary = collect_inbox(ctx, str(inbox), settle_seconds=0)
    assert summary["branches"] == ["B01", "B02", "B05"]
    assert summary["counts"] == {"accepted": 2, "duplicate": 0, "rejected": 0, "waiting": 1, "failed": 0}
    assert {(e["branch"], e["outcome"]) for e in summary["files"]} == {
        ("B01", "accepted"), ("B02", "waiting"), ("B05", "accepted")}


def test_a_missing_inbox_or_a_folder_outside_it_is_refused(ctx: Context, inbox: Path, tmp_path: Path) -> None:
    with pytest.raises(Refused) as e:
        collect_inbox(ctx, str(tmp_path / "nowhere"))
    assert e.value.code == "INBOX_NOT_FOUND"
    for folder in ("../B01", ".claimed", ""):
        with pytest.raises(Refused) as e:
            collect_branch(ctx, str(inbox), folder)
        assert e.value.code == "INVALID_BRANCH_FOLDER"


@pytest.fixture
def memory_inbox() -> Iterator[str]:
    url = f"memory://inbox-{uuid.uuid4().hex[:8]}"
    fs, root = fsspec.core.url_to_fs(url)
    fs.makedirs(root, exist_ok=True)
    yield url
    fs.rm(root, recursive=True)


def test_a_memory_fsspec_inbox_works(ctx: Context, memory_inbox: str) -> None:
    fs, root = fsspec.core.url_to_fs(memory_inbox)
    fs.pipe_file(f"{root}/B01/B01.csv", sample("B01"))
    fs.pipe_file(f"{root}/B01/B01.csv.meta.json", json.dumps(sidecar_for("B01")).encode())
    fs.pipe_file(f"{root}/B02/B02.csv", sample("B02"))
    fs.pipe_file(f"{root}/B02/B02.csv.meta.json", json.dumps(sidecar_for("B02", clerk="clerk-b01")).encode())
    summary = collect_inbox(ctx, memory_inbox, settle_seconds=0)
    assert summary["counts"] == {"accepted": 1, "duplicate": 0, "rejected": 1, "waiting": 0, "failed": 0}
    accepted, rejected = summary["files"]
    [sub] = submissions(ctx)
    assert accepted["submission_id"] == sub.id and accepted["receipt"].startswith(f"{root}/B01/processed/")
    assert json.loads(fs.cat_file(accepted["receipt"]))["status"] == "accepted"
    assert json.loads(fs.cat_file(rejected["receipt"]))["error"]["code"] == "OUT_OF_SCOPE"
    assert sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{root}/B01")) == sorted(
        Path(accepted["receipt"]).name.removesuffix(".receipt.json") + s for s in ("", ".meta.json", ".receipt.json"))
    drop_again = collect_inbox(ctx, memory_inbox, settle_seconds=0)
    assert drop_again["files"] == []
