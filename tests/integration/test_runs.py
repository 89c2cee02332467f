"""Runs and releases through the service layer on SQLite and PostgreSQL: the sample month's figures,
separation of duties, one release per period, byte-identical re-release, crash safety, concurrency."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bank_formats import xsd
from bank_formats.pain001 import read_pain001
from payroll import services, signing
from payroll.errors import Refused
from payroll.services import Context
from payroll.services.release import remove_stale_staging
from payroll.store.models import PeriodRelease, ReleasedFile, Run, Submission
from tests import month
from tests.conftest import SAMPLE


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_the_sample_month_gives_the_planted_figures(ctx: Context, plan: dict, expected: dict) -> None:
    run = month.approved_run(ctx, plan)
    t = expected["totals"]
    assert (run["payable_count"], run["payable_total"]) == (t["payable_count"], t["payable_total"])
    assert (run["held_count"], run["blocked_count"]) == (t["held_count"], t["blocked_count"])
    assert run["exceptions"] == {k: v for k, v in t["findings"].items() if v}
    assert run["intake_rejections"] == {k: v for k, v in t["rows_rejected"].items() if v}
    assert run["per_bank"] == t["payable_by_bank"]
    assert run["missing_branches"] == []
    assert services.show_run(ctx, run["run_id"])["status"] == "approved"


def test_a_resumed_flow_reuses_the_run_made_from_the_same_lists_and_extracts(ctx: Context, plan: dict) -> None:
    first = month.approved_run(ctx, plan)
    again = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"], reuse=True)
    assert (again["run_id"], again["reused"], again["status"]) == (first["run_id"], True, "approved")
    month.release(ctx, plan, first["run_id"])
    released = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"], reuse=True)
    assert (released["run_id"], released["status"]) == (first["run_id"], "released")
    # without reuse, or after a new reference extract, the period is made again (here: refused, it is paid)
    with pytest.raises(Refused) as e:
        services.create_run(ctx, plan["period"], user=plan["run"]["created_by"])
    assert e.value.code == "PERIOD_RELEASED"
    services.load_reference(ctx, "deaths", SAMPLE / "deaths.csv", actor="admin-1")
    with pytest.raises(Refused) as e:
        services.create_run(ctx, plan["period"], user=plan["run"]["created_by"], reuse=True)
    assert e.value.code == "PERIOD_RELEASED"


def test_reuse_needs_the_same_approved_lists(ctx: Context, plan: dict) -> None:
    first = month.approved_run(ctx, plan)
    services.load_reference(ctx, "deaths", SAMPLE / "deaths.csv", actor="admin-1")  # a newer extract
    newer = services.create_run(ctx, plan["period"], user=plan["run"]["created_by"], reuse=True)
    assert newer["run_id"] != first["run_id"] and "reused" not in newer
    assert services.show_run(ctx, first["run_id"])["status"] == "superseded"


def test_release_writes_valid_files_that_add_up_and_rerelease_is_byte_identical(
        ctx: Context, plan: dict, expected: dict, tmp_path: Path) -> None:
    run = month.approved_run(ctx, plan)
    first = month.release(ctx, plan, run["run_id"], tmp_path / "out1")
    assert first["already_released"] is False
    by_bank: dict[str, dict[str, int]] = {}
    for f in first["files"]:
        b = by_bank.setdefault(f["bank_code"], {"count": 0, "total": 0})
        b["count"] += f["transactions"]
        b["total"] += f["control_sum"]
    assert by_bank == expected["totals"]["payable_by_bank"]
    # the bank list's rules: Refah (013) takes at most 500 transfers a file, Melli (017) takes .03
    refah = sorted((f for f in first["files"] if f["bank_code"] == "013"), key=lambda f: f["path"])
    assert [f["transactions"] for f in refah] == [500, by_bank["013"]["count"] - 500]
    assert [Path(f["path"]).name for f in refah] == ["PENSION_2026-11_RUN1_BANK013_P1.xml",
                                                     "PENSION_2026-11_RUN1_BANK013_P2.xml"]
    assert {f["format"] for f in first["files"] if f["bank_code"] == "017"} == {"pain.001.001.03"}
    assert {f["format"] for f in first["files"] if f["bank_code"] == "012"} == {"csv:ir_csv_batch_example"}
    for f in first["files"]:
        assert _sha(f["path"]) == f["sha256"]
        back = month.read_back(f)
        assert len(back.transfers) == f["transactions"] and sum(a for _, a in back.transfers) == f["control_sum"]
        if not f["format"].startswith("pain.001"):
            continue
        assert xsd.validate_file(f["path"], f["format"]) == []
        doc = read_pain001(f["path"])
        assert doc.message == f["format"]
        assert doc.nb_of_txs == len(doc.transactions) == f["transactions"]
        assert doc.ctrl_sum_minor == sum(t.amount_minor for t in doc.transactions) == f["control_sum"]
    manifest = json.loads(Path(first["manifest"]).read_text(encoding="utf-8"))
    assert {m["file"]: m["sha256"] for m in manifest["files"]} == {Path(f["path"]).name: f["sha256"]
                                                                   for f in first["files"]}
    assert manifest["transactions"] == manifest["payments"] == expected["totals"]["payable_count"]
    verified = services.verify_release(Path(first["manifest"]).parent,
                                       signing.public_key_path(ctx.settings.release_key_path))
    assert verified["ok"], verified["problems"]
    assert (verified["transactions"], verified["control_sum"]) == (expected["totals"]["payable_count"],
                                                                   expected["totals"]["payable_total"])

    again = month.release(ctx, plan, run["run_id"], tmp_path / "out2")
    assert again["already_released"] is True
    assert [f["sha256"] for f in again["files"]] == [f["sha256"] for f in first["files"]]
    for a, b in zip(first["files"], again["files"], strict=True):
        assert Path(a["path"]).read_bytes() == Path(b["path"]).read_bytes()
    assert _sha(again["manifest"]) == _sha(first["manifest"])
    with ctx.uow() as s:
        assert s.execute(select(func.count()).select_from(PeriodRelease)).scalar_one() == 1


def test_a_released_period_is_never_run_or_released_again(ctx: Context, plan: dict) -> None:
    run = month.approved_run(ctx, plan)
    month.release(ctx, plan, run["run_id"])
    with pytest.raises(Refused) as e:
        services.create_run(ctx, plan["period"], user="fin-1")
    assert e.value.code == "PERIOD_RELEASED"


def test_an_older_unreleased_run_is_superseded_and_cannot_be_released(ctx: Context, plan: dict) -> None:
    old = month.approved_run(ctx, plan)
    new = services.create_run(ctx, plan["period"], user="fin-2")
    assert services.show_run(ctx, old["run_id"])["status"] == "superseded"
    with pytest.raises(Refused) as e:
        month.release(ctx, plan, old["run_id"])
    assert e.value.code == "WRONG_STATE"
    assert new["payable_total"] == old["payable_total"] and new["content_sha256"] == old["content_sha256"]


def test_run_separation_of_duties(ctx: Context, plan: dict) -> None:
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    with pytest.raises(Refused) as e:
        services.create_run(ctx, plan["period"], user="head-b01")
    assert e.value.code == "WRONG_ROLE"
    run = services.create_run(ctx, plan["period"], user="fin-1")
    rid = run["run_id"]
    cases = [("fin-1", "SOD_MAKER_CHECKER"), ("audit-1", "SOD_AUDITOR_READ_ONLY"),
             ("admin-1", "SOD_ADMIN_NEVER_APPROVES"), ("prov-thr", "WRONG_ROLE")]
    for user, code in cases:
        with pytest.raises(Refused) as e:
            services.approve_run(ctx, rid, user=user)
        assert e.value.code == code, user
    with pytest.raises(Refused) as e:
        services.release_run(ctx, rid, user="fin-1")
    assert e.value.code == "WRONG_STATE"  # not approved yet
    services.approve_run(ctx, rid, user="fin-2")
    with pytest.raises(Refused) as e:
        services.approve_run(ctx, rid, user="fin-2")
    assert e.value.code == "SOD_TWO_LEVELS"
    assert services.approve_run(ctx, rid, user="lead-1")["status"] == "approved"
    with pytest.raises(Refused) as e:
        services.release_run(ctx, rid, user="audit-1")
    assert e.value.code == "WRONG_ROLE"


def test_a_run_goes_stale_when_a_branch_list_changes(ctx: Context, plan: dict, tmp_path: Path) -> None:
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    run = services.create_run(ctx, plan["period"], user="fin-1")
    lines = (SAMPLE / "branches" / "B01.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    changed = tmp_path / "B01.csv"
    changed.write_text("".join(lines[:-1]), encoding="utf-8")
    services.submit(ctx, changed, branch="B01", period=plan["period"], user="clerk-b01")
    with pytest.raises(Refused) as e:
        services.approve_run(ctx, run["run_id"], user="fin-2")
    assert e.value.code == "RUN_STALE"
    # and the next run reports the branch whose new version awaits approval
    rerun = services.create_run(ctx, plan["period"], user="fin-1")
    assert [m["branch_code"] for m in rerun["missing_branches"]] == ["B01"]


def test_a_changed_stored_branch_file_is_refused(ctx: Context, plan: dict) -> None:
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    with ctx.uow() as s:
        sub = s.execute(select(Submission).where(Submission.status == "approved").limit(1)).scalar_one()
        path = Path(sub.rows_path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(Refused) as e:
        services.create_run(ctx, plan["period"], user="fin-1")
    assert e.value.code == "STORED_FILE_CHANGED"


def test_a_crash_before_commit_leaves_the_run_unreleased_and_the_retry_gives_the_same_bytes(
        ctx: Context, plan: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    run = month.approved_run(ctx, plan)
    import payroll.services.release as release_module

    real_append = release_module.audit.append

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(release_module.audit, "append", crash)
    with pytest.raises(RuntimeError):
        month.release(ctx, plan, run["run_id"])
    archive = ctx.home / "releases" / f"run-{run['run_id']}"
    crashed = {p.name: _sha(p) for p in archive.iterdir()}
    with ctx.uow() as s:
        assert s.get(Run, run["run_id"]).status == "approved"
        assert s.execute(select(func.count()).select_from(PeriodRelease)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(ReleasedFile)).scalar_one() == 0

    monkeypatch.setattr(release_module.audit, "append", real_append)
    done = month.release(ctx, plan, run["run_id"])
    assert {Path(f["path"]).name: f["sha256"] for f in done["files"]} == \
        {k: v for k, v in crashed.items() if not k.startswith("manifest.json")}
    assert _sha(done["manifest"]) == crashed["manifest.json"]


def test_a_lost_archive_is_regenerated_to_the_recorded_hashes(ctx: Context, plan: dict) -> None:
    run = month.approved_run(ctx, plan)
    first = month.release(ctx, plan, run["run_id"])
    victim = Path(first["files"][0]["path"])
    victim.write_bytes(b"tampered")
    again = month.release(ctx, plan, run["run_id"])
    assert _sha(victim) == first["files"][0]["sha256"] == again["files"][0]["sha256"]


def test_a_deleted_release_key_is_refused_and_never_replaced(ctx: Context, plan: dict) -> None:
    """Once a release is signed, the key id is on record: a missing key refuses the next release
    (SIGNING_KEY_MISSING, naming the key's path and that key id) and no new key pair is written."""
    september, october = plan["history"]
    month.load_deaths(ctx, plan, september)
    first = month.release(ctx, september, month.approved_run(ctx, september)["run_id"])
    key_path = ctx.settings.release_key_path
    public = signing.public_key_path(key_path)
    key_id = json.loads(Path(first["manifest"]).read_bytes())["signature"]["key_id"]
    pem, public_pem = key_path.read_bytes(), public.read_bytes()

    key_path.unlink()
    month.load_deaths(ctx, plan, october)
    run = month.approved_run(ctx, october)
    with pytest.raises(Refused) as e:
        month.release(ctx, october, run["run_id"])
    assert e.value.code == "SIGNING_KEY_MISSING"
    assert str(key_path) in e.value.message and key_id in e.value.message
    assert (e.value.detail["key_path"], e.value.detail["key_id"]) == (str(key_path), key_id)
    assert not key_path.exists() and public.read_bytes() == public_pem  # nothing replaced
    assert services.show_run(ctx, run["run_id"])["status"] == "approved"
    assert services.verify_release(Path(first["archive"]), public)["ok"]

    key_path.write_bytes(pem)  # the key restored from its backup: the release goes through, same key
    second = month.release(ctx, october, run["run_id"])
    assert json.loads(Path(second["manifest"]).read_bytes())["signature"]["key_id"] == key_id
    assert services.verify_release(Path(second["archive"]), public)["ok"]


def test_a_first_release_creates_the_key(ctx: Context, plan: dict) -> None:
    key_path = ctx.settings.release_key_path
    assert not key_path.exists()
    released = month.release(ctx, plan, month.approved_run(ctx, plan)["run_id"])
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert services.verify_release(Path(released["archive"]), signing.public_key_path(key_path))["ok"]


def test_a_garbage_signature_is_rebuilt_byte_for_byte_or_refused(ctx: Context, plan: dict, tmp_path: Path) -> None:
    """Re-releasing checks the archive it returns (reusing verify_release): a replaced signature is
    rebuilt from the recorded data when that gives the recorded bytes, and refused when it cannot be."""
    first = month.release(ctx, plan, month.approved_run(ctx, plan)["run_id"])
    archive = Path(first["archive"])
    sig = archive / "manifest.json.sig"
    genuine = sig.read_bytes()
    sig.write_bytes(b"garbage\n")
    again = month.release(ctx, plan, first["run_id"], tmp_path / "out")
    assert again["already_released"] is True
    assert sig.read_bytes() == genuine == (tmp_path / "out" / "manifest.json.sig").read_bytes()
    assert any("manifest.json" in p for p in again["archive_restored"])
    assert services.verify_release(archive, signing.public_key_path(ctx.settings.release_key_path))["ok"]
    assert "archive_restored" not in month.release(ctx, plan, first["run_id"])  # intact: nothing to say

    # without the key the signature cannot be made again: refused, nothing returned as the release
    sig.write_bytes(b"garbage\n")
    pem = ctx.settings.release_key_path.read_bytes()
    ctx.settings.release_key_path.unlink()
    with pytest.raises(Refused) as e:
        month.release(ctx, plan, first["run_id"], tmp_path / "out2")
    assert e.value.code == "ARCHIVE_CHANGED" and "manifest.json" in e.value.message
    assert e.value.detail["cause"] == "SIGNING_KEY_MISSING"
    assert not (tmp_path / "out2").exists() and not ctx.settings.release_key_path.exists()
    ctx.settings.release_key_path.write_bytes(pem)
    assert month.release(ctx, plan, first["run_id"])["already_released"] and sig.read_bytes() == genuine


def test_two_releases_at_once_release_once(ctx: Context, plan: dict) -> None:
    run = month.approved_run(ctx, plan)
    results: list[dict] = []
    errors: list[BaseException] = []

    def release() -> None:
        try:
            results.append(month.release(ctx, plan, run["run_id"]))
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=release) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r["already_released"] for r in results) == [False, True]
    assert results[0]["files"] == results[1]["files"]
    with ctx.uow() as s:
        assert s.execute(select(func.count()).select_from(PeriodRelease)).scalar_one() == 1


_HOLDER = """
import fcntl, os, sys, time
path = sys.argv[1]
os.mkdir(path)
fd = os.open(path, os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
open(os.path.join(path, "PAIN001-BANK.xml"), "w").write("<Document>")  # half written
print("ready", flush=True)
time.sleep(120)
"""


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_a_release_removes_the_staging_folders_a_killed_release_left_and_no_other(
        ctx: Context, plan: dict) -> None:
    run = month.approved_run(ctx, plan)
    releases = ctx.home / "releases"
    releases.mkdir(parents=True)
    stale = releases / f".staging-{_dead_pid()}-0badc0de"  # a release killed with -9 half-way
    stale.mkdir()
    (stale / "PAIN001-BANK.xml").write_text("<Document><CstmrCdtTrfInitn><GrpHdr>", encoding="utf-8")
    (stale / "manifest.json.tmp").write_text("{", encoding="utf-8")
    # a release in progress in another process (on another host sharing the home: a pid unknown here) holds
    # its folder's lock; a folder nobody holds is stale even when the pid in its name is alive again (reused
    # by another process): a release locks its folder before any sweep can see it
    locked = releases / f".staging-{_dead_pid()}-11111111"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(locked)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        unlocked = releases / f".staging-{holder.pid}-22222222"
        unlocked.mkdir()
        done = month.release(ctx, plan, run["run_id"])
        assert not stale.exists() and not unlocked.exists()
        assert (locked / "PAIN001-BANK.xml").read_text(encoding="utf-8") == "<Document>"
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in releases.iterdir()) == sorted([f"run-{run['run_id']}", locked.name])
    pub = signing.public_key_path(ctx.settings.release_key_path)
    assert services.verify_release(Path(done["archive"]), pub)["ok"]
    with ctx.uow() as s:
        assert s.get(Run, run["run_id"]).status == "released"
    # its process gone, the next release that writes files (a lost archive regenerated here) removes the
    # once-locked folder too
    shutil.rmtree(done["archive"])
    again = month.release(ctx, plan, run["run_id"])
    assert again["already_released"] and not locked.exists()
    assert again["files"] == done["files"]


def test_a_re_release_with_no_key_at_all_is_signing_key_missing_not_archive_changed(ctx: Context,
                                                                                      plan: dict) -> None:
    run = month.approved_run(ctx, plan)
    first = month.release(ctx, plan, run["run_id"])
    key = ctx.settings.release_key_path
    key.unlink()
    signing.public_key_path(key).unlink()
    with pytest.raises(Refused) as e:
        month.release(ctx, plan, run["run_id"])
    assert e.value.code == "SIGNING_KEY_MISSING", e.value.as_dict()
    assert e.value.detail["key_path"] == str(key)
    assert Path(first["manifest"]).is_file()  # the archive is left as it was


def test_a_staging_folder_named_with_a_live_but_reused_pid_is_removed_when_nobody_holds_its_lock(
        tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    releases.mkdir()
    reused = releases / f".staging-{os.getpid()}-0badc0de"  # a dead release's pid, now this process's
    reused.mkdir()
    (reused / "PAIN001-BANK.xml").write_text("<Document>", encoding="utf-8")
    held = releases / ".staging-1-11111111"  # a release in progress holds its lock
    held.mkdir()
    fd = os.open(held, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert remove_stale_staging(releases) == [reused.name]
    finally:
        os.close(fd)
    assert not reused.exists() and held.is_dir()
