"""Bad branch files against a real store: a refused file changes nothing already stored.

Runs each whole-file refusal of tests/data/intake through services.submit after a good version of
the branch's list was accepted, then checks that the good version is still the live one with its
stored objects intact, and that what is refused before reading leaves no trace at all.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from payroll import services
from payroll.errors import Refused
from payroll.services import Context
from payroll.store.files import read_table_verified, sha256_bytes
from payroll.store.models import Submission
from tests.conftest import SAMPLE, make_context

FILES = Path(__file__).resolve().parent.parent / "data" / "intake"
GOOD = SAMPLE / "branches" / "B01.csv"

REFUSED = [  # (file, forced encoding, code, row, column)
    ("empty.csv", None, "EMPTY_FILE", None, None),
    ("header_only.csv", None, "NO_ROWS", None, None),
    ("wrong_headers.csv", None, "MISSING_COLUMNS", 1, "pension_id"),
    ("windows_1256.csv", "utf-8", "ENCODING", 2, "full_name"),
    ("replacement_char.csv", None, "ENCODING", 3, "full_name"),
    ("extra_field.csv", None, "FILE_MALFORMED", 4, None),
    ("nul_byte.csv", None, "FILE_MALFORMED", 3, None),
    ("decimals.csv", None, "TOO_MANY_BAD_ROWS", None, None),
]


def _submit(ctx: Context, path: Path, **kw: object) -> dict:
    return services.submit(ctx, path, branch="B01", period="2026-11", user="clerk-b01", **kw)


def _objects(home: Path) -> set[Path]:
    return {p for p in home.rglob("*") if p.is_file() and p.suffix not in (".db", ".db-wal", ".db-shm")}


def test_refused_files_leave_the_live_version_untouched(ctx: Context) -> None:
    good = _submit(ctx, GOOD)
    assert good["status"] == "accepted"
    with ctx.uow() as s:
        before = s.get(Submission, good["submission_id"])
        rows_path, rows_sha, raw_path = before.rows_path, before.rows_sha256, before.raw_path
    for name, encoding, code, row, column in REFUSED:
        r = _submit(ctx, FILES / name, encoding=encoding)
        assert (r["status"], r["errors"][0]["code"], r["errors"][0]["row"], r["errors"][0]["column"]) == (
            "rejected", code, row, column), name
        assert r["accepted_rows"] == 0 and not r.get("supersedes"), name
    with ctx.uow() as s:
        live = s.execute(select(Submission).where(Submission.branch_code == "B01",
                                                  Submission.status.in_(("accepted", "approved")))).scalars().all()
        assert [x.id for x in live] == [good["submission_id"]]
        rejected = s.execute(select(Submission.status).where(Submission.id != good["submission_id"])).scalars().all()
        assert rejected == ["rejected"] * len(REFUSED)
    assert sha256_bytes(Path(raw_path).read_bytes()) == good["content_sha256"]
    assert read_table_verified(Path(rows_path), rows_sha).num_rows == good["accepted_rows"]


def test_a_100_mb_file_is_refused_before_it_is_read(tmp_path: Path, db_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_context(tmp_path / "home", db_url, max_file_bytes=64 * 1024**2)
    services.init_database(ctx, sample=True)
    big = tmp_path / "big.csv"
    line = GOOD.read_bytes().split(b"\n")[1] + b"\n"
    with open(big, "wb") as f:
        f.write(GOOD.read_bytes().split(b"\n")[0] + b"\n")
        f.write(line * (100 * 1024**2 // len(line) + 1))
    assert big.stat().st_size > 100 * 1024**2
    before = _objects(ctx.home)

    def no_reading(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    with pytest.raises(Refused) as e:
        _submit(ctx, big)
    monkeypatch.undo()
    assert e.value.code == "FILE_TOO_LARGE"
    assert e.value.message.startswith(f"big.csv: {big.stat().st_size} bytes is over the limit of 67108864 bytes")
    assert _objects(ctx.home) == before
    with ctx.uow() as s:
        assert s.execute(select(Submission)).first() is None
    ctx.dispose()


def test_a_file_name_with_parent_references_is_refused_and_nothing_is_stored(ctx: Context) -> None:
    before = _objects(ctx.home)
    with pytest.raises(Refused) as e:
        services.submit_bytes(ctx, GOOD.read_bytes(), "../../B01.csv", branch="B01", period="2026-11",
                              user="clerk-b01")
    assert e.value.code == "UNSAFE_FILE_NAME"
    assert _objects(ctx.home) == before
    with ctx.uow() as s:
        assert s.execute(select(Submission)).first() is None


def test_formula_like_names_never_come_out_as_live_formulas(ctx: Context, tmp_path: Path) -> None:
    """The receipt keeps the text; the exception report (a spreadsheet people open) defuses it."""
    src = tmp_path / "B01.csv"
    shutil.copy(FILES / "formula_injection.csv", src)
    r = _submit(ctx, src)
    assert (r["status"], r["accepted_rows"]) == ("accepted", 4)
    docs = services.data_docs_page(ctx, r["submission_id"]).read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert "<script>alert" not in docs
    for user in ("head-b01", "prov-thr"):
        services.approve_submission(ctx, r["submission_id"], user=user)
    run = services.create_run(ctx, "2026-11", user="fin-1")
    report = services.export_exceptions(ctx, run["run_id"], tmp_path / "exceptions.csv")
    # the four payees are in neither the civil registry nor the account registry
    assert report["by_code"] == {"ACCOUNT_UNKNOWN": 4, "NOT_IN_REGISTRY": 4}
    with open(report["path"], newline="", encoding="utf-8-sig") as f:
        cells = [c for line in csv.reader(f) for c in line]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@")] == []
