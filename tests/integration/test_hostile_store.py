"""Hostile workbooks against a real store (SQLite and PostgreSQL), the CLI and the HTTP API.

A zip bomb or a workbook declaring a DOCTYPE is refused before a byte of it is stored: no submission
row, no raw object, no half-written file. A workbook whose <dimension> understates its rows is stored
whole. A 5 MB cell is refused at read time with one short finding. (The reader's side:
tests/unit/test_hostile_workbooks.py; the files: tests/data/intake/README.md.)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from payroll import cli, services
from payroll.errors import Refused
from payroll.services import Context
from payroll.services.users import session_generation
from payroll.store.files import read_table_verified
from payroll.store.models import AuditEntry, IntakeError, Submission, User
from payroll.web.app import create_app

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not installed here
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
    from fastapi.testclient import TestClient

FILES = Path(__file__).resolve().parent.parent / "data" / "intake"
HOSTILE = [  # (file, code, the part the refusal names)
    ("bomb.xlsx", "FILE_TOO_LARGE", "xl/worksheets/sheet1.xml"),
    ("bomb_lying_directory.xlsx", "FILE_TOO_LARGE", "xl/worksheets/sheet1.xml"),
    ("doctype_external_entity.xlsx", "UNSAFE_XML", "xl/worksheets/sheet1.xml"),
    ("doctype_billion_laughs.xlsx", "UNSAFE_XML", "xl/workbook.xml"),
    ("doctype_content_types.xlsx", "UNSAFE_XML", "[Content_Types].xml"),
    ("doctype_utf16_styles.xlsx", "UNSAFE_XML", "xl/styles.xml"),
]
HEADER = "pension_id,national_id,full_name,birth_date,benefit_type,gross_amount,deduction_amount,net_amount,account_code"


def _submit(ctx: Context, path: Path) -> dict:
    return services.submit(ctx, path, branch="B01", period="2026-11", user="clerk-b01")


def _stored(ctx: Context) -> tuple[set[Path], int, int]:
    """Every file under the home but the SQLite database, and the submission and audit rows."""
    files = {p for p in ctx.home.rglob("*") if p.is_file() and ".db" not in p.name}
    with ctx.uow() as s:
        return (files, s.execute(select(func.count()).select_from(Submission)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_hostile_workbooks_are_refused_and_nothing_is_stored(ctx: Context) -> None:
    before = _stored(ctx)
    for name, code, part in HOSTILE:
        with pytest.raises(Refused) as e:
            _submit(ctx, FILES / name)
        assert (e.value.code, f"part {part} " in e.value.message) == (code, True), (name, e.value.message)
        assert e.value.message.startswith(f"{name}: ")
        with pytest.raises(Refused):  # the bytes way in (the inbox's, the API's) refuses them alike
            services.submit_bytes(ctx, (FILES / name).read_bytes(), name, branch="B01", period="2026-11",
                                  user="clerk-b01")
    assert _stored(ctx) == before
    assert before[1] == 0


def test_a_workbook_understating_its_rows_is_stored_whole(ctx: Context) -> None:
    r = _submit(ctx, FILES / "dimension_understated.xlsx")
    assert (r["status"], r["rows"], r["accepted_rows"]) == ("accepted", 258, 258)
    with ctx.uow() as s:
        sub = s.get(Submission, r["submission_id"])
        assert sub is not None and sub.rows_path is not None and sub.rows_sha256 is not None
        assert read_table_verified(Path(sub.rows_path), sub.rows_sha256).num_rows == 258


def test_a_5_mb_cell_is_refused_with_one_short_finding(ctx: Context, tmp_path: Path) -> None:
    src = tmp_path / "B01.csv"
    good = (Path(__file__).resolve().parents[2] / "data" / "sample" / "branches" / "B01.csv").read_text(
        encoding="utf-8").splitlines()
    fields = good[1].split(",")
    fields[2] = "X" * (5 * 1024**2)  # full_name
    src.write_text("\n".join([good[0], good[2], ",".join(fields), *good[3:6]]) + "\n", encoding="utf-8")
    r = _submit(ctx, src)
    assert (r["status"], [(e["code"], e["row"], e["column"]) for e in r["errors"]]) == (
        "rejected", [("CELL_TOO_LONG", 3, "full_name")])
    with ctx.uow() as s:
        sub = s.get(Submission, r["submission_id"])
        assert sub is not None
        assert len(sub.file_errors.encode()) < 600  # the finding as stored, in bytes
        assert s.execute(select(func.count()).select_from(IntakeError)).scalar_one() == 0
    assert len(json.dumps(services.show_submission(ctx, r["submission_id"])).encode()) < 3000  # the receipt


def test_the_cli_refuses_a_doctype_with_exit_1(ctx: Context, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PENSION_HOME", str(ctx.home))
    monkeypatch.setenv("PENSION_DB_URL", ctx.settings.database_url)
    status = cli.main(["submit", str(FILES / "doctype_external_entity.xlsx"), "--branch", "B01", "--period",
                       "2026-11", "--as", "clerk-b01", "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert (status, error["code"]) == (1, "UNSAFE_XML")
    assert "part xl/worksheets/sheet1.xml declares a document type" in error["message"]


def test_the_api_answers_a_doctype_with_422_problem_details(ctx: Context) -> None:
    with ctx.uow() as s:  # a session's user must be able to sign in; the token is issued directly
        s.execute(update(User).where(User.user_id == "clerk-b01").values(password_hash="not used here"))
    app = create_app(ctx.settings)
    with TestClient(app) as client:
        token = app.state.sessions.issue("clerk-b01", session_generation(ctx, "clerk-b01"))
        data = (FILES / "doctype_billion_laughs.xlsx").read_bytes()
        r = client.post("/api/v1/submissions", headers={"Authorization": f"Bearer {token}"},
                        data={"branch": "B01", "period": "2026-11"},
                        files={"file": ("B01.xlsx", data, "application/octet-stream")})
        assert (r.status_code, r.headers["content-type"]) == (422, "application/problem+json"), r.text
        body = r.json()
        assert (body["code"], body["type"], body["status"]) == ("UNSAFE_XML", "/problems/unsafe-xml", 422)
        assert body["detail"].startswith("B01.xlsx: part xl/workbook.xml declares a document type")
        bomb = client.post("/api/v1/submissions", headers={"Authorization": f"Bearer {token}"},
                           data={"branch": "B01", "period": "2026-11"},
                           files={"file": ("B01.xlsx", (FILES / "bomb.xlsx").read_bytes(), "application/octet-stream")})
        assert (bomb.status_code, bomb.json()["code"]) == (413, "FILE_TOO_LARGE")
    with ctx.uow() as s:
        assert s.execute(select(func.count()).select_from(Submission)).scalar_one() == 0
