"""The release's file writers: a pool of forked processes gives the files one process gives, byte for
byte; a worker that fails or dies fails the release cleanly (no archive, no staging folder, the run
still approved and releasable, no file recorded)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from payroll import services
from payroll.errors import Refused
from payroll.services import Context, release
from payroll.store.models import ReleasedFile
from tests import month
from tests.conftest import make_context


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture
def sqlite_ctx(tmp_path: Path) -> Context:
    context = make_context(tmp_path / "home", f"sqlite:///{tmp_path / 'pension.db'}")
    services.init_database(context, sample=True)
    yield context
    context.dispose()


def _parallel(monkeypatch: pytest.MonkeyPatch, workers: int = 2) -> None:
    monkeypatch.setattr(release, "PARALLEL_MIN_TRANSFERS", 0)
    monkeypatch.setenv(release.WORKERS_ENV, str(workers))


def _staged_files(staging: Path, jobs: list) -> dict[str, str]:
    staging.mkdir()
    records = release._write_files(staging, jobs)
    assert [r["file"] for r in records] == [j.name for j in jobs]  # the plan's order, whoever finished first
    assert all(r["sha256"] == hashlib.sha256((staging / r["file"]).read_bytes()).hexdigest() for r in records)
    return _hashes(staging)


def test_parallel_and_serial_writers_give_identical_files(sqlite_ctx: Context, plan: dict, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    run = month.approved_run(sqlite_ctx, plan)
    captured: list[list] = []
    real = release._write_files

    def capture(staging: Path, jobs: list) -> list:
        captured.append(jobs)
        return real(staging, jobs)

    monkeypatch.setattr(release, "_write_files", capture)
    serial = month.release(sqlite_ctx, plan, run["run_id"], tmp_path / "serial")
    monkeypatch.setattr(release, "_write_files", real)
    (jobs,) = captured
    assert len(jobs) > 2 and {j.bank.file_format.split(":")[0] for j in jobs} >= {"pain.001.001.09", "csv"}

    want = {f: h for f, h in _hashes(tmp_path / "serial").items() if not f.startswith("manifest")}
    monkeypatch.setenv(release.WORKERS_ENV, "1")
    assert _staged_files(tmp_path / "one", jobs) == want
    _parallel(monkeypatch, 2)
    assert _staged_files(tmp_path / "two", jobs) == want
    _parallel(monkeypatch, 3)
    assert _staged_files(tmp_path / "three", jobs) == want
    assert {f["sha256"] for f in serial["files"]} == set(want.values())


def _assert_nothing_released(ctx: Context, run_id: int) -> None:
    assert services.show_run(ctx, run_id)["status"] == "approved"
    releases = ctx.home / "releases"
    assert not (releases / f"run-{run_id}").exists()
    assert [p.name for p in releases.iterdir()] == []  # no staging folder, no half-written file
    with ctx.uow() as session:
        assert session.execute(select(func.count()).select_from(ReleasedFile)).scalar_one() == 0


@pytest.mark.parametrize("how", ["raises", "refuses", "dies"])
def test_a_failing_worker_fails_the_release_cleanly(sqlite_ctx: Context, plan: dict, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    run = month.approved_run(sqlite_ctx, plan)
    _parallel(monkeypatch)
    parent = os.getpid()
    real = release._write_file

    def faulty(staging: Path, job: release._FileJob) -> dict:
        assert os.getpid() != parent, "the files are written by the workers"
        if job.bank.bank_code != "018":
            return real(staging, job)
        (staging / job.name).write_bytes(b"<half")  # what a worker had written when it failed
        if how == "dies":
            os._exit(3)
        if how == "refuses":
            raise Refused("BANK_FILE_INVALID", f"{job.name}: refused by the test; nothing was released")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(release, "_write_file", faulty)
    with pytest.raises(Refused) as refused:
        month.release(sqlite_ctx, plan, run["run_id"], tmp_path / "out")
    assert refused.value.code == {"raises": "BANK_FILE_FAILED", "refuses": "BANK_FILE_INVALID",
                                  "dies": "BANK_FILE_FAILED"}[how]
    assert "nothing was released" in refused.value.message
    if how == "raises":
        assert "No space left on device" in refused.value.message and "BANK018" in refused.value.message
    _assert_nothing_released(sqlite_ctx, run["run_id"])
    assert not (tmp_path / "out").exists()

    monkeypatch.setattr(release, "_write_file", real)  # the fault gone, the release goes through
    done = month.release(sqlite_ctx, plan, run["run_id"], tmp_path / "out")
    assert done["status"] == "released" and not done["already_released"]
    assert all(len(month.read_back(f).transfers) == f["transactions"] for f in done["files"])


def test_release_workers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(release.WORKERS_ENV, raising=False)
    assert release.release_workers() >= 1
    monkeypatch.setenv(release.WORKERS_ENV, "3")
    assert release.release_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(release.WORKERS_ENV, bad)
        with pytest.raises(Refused) as e:
            release.release_workers()
        assert e.value.code == "BAD_SETTING"
