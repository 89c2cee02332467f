"""A month interrupted by a killed process resumes from what was committed: the monthly flow is killed
(SIGKILL, the whole process group) once during intake and once after it made the run, and started
again each time with the same plan. In the end every branch file is one submission, every signature
was given once, there is one run, released once, and the audit chain holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from payroll.store.models import Approval, AuditEntry, Run, Submission

SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    home = Path(sys.argv[1])
    os.environ["PENSION_HOME"] = str(home)
    from payroll.config import load_settings
    from flows.serve import prefect_environment
    prefect_environment(load_settings())
    from flows.demo import load_plan
    from flows.monthly import MonthlyPlan, monthly_run
    from payroll import services

    ctx = services.Context()
    if not (home / "initialized").exists():  # a restart must not load the reference data again
        services.init_database(ctx, sample=True)
        (home / "initialized").write_text("yes")
    sample = ctx.settings.data_dir / "sample"
    out = monthly_run(MonthlyPlan.model_validate(load_plan(sample, home / "out")))
    print(json.dumps({"run": out["run"], "files": [Path(f["path"]).name for f in out["release"]["files"]],
                      "archive": out["release"]["archive"]}))
""")


def _start(script: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, str(script), str(home)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=Path(__file__).resolve().parents[2], start_new_session=True)


def _kill(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def _count(db: str, stmt: object) -> int:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())  # type: ignore[call-overload]
    except Exception:  # noqa: BLE001 - the schema may not be there yet
        return 0
    finally:
        engine.dispose()


def _kill_when(p: subprocess.Popen[bytes], db: str, stmt: object, at_least: int, log: Path) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if p.poll() is not None:
            pytest.fail(f"the flow ended before it could be killed: {log.read_text()[-3000:]}")
        if (n := _count(db, stmt)) >= at_least:
            _kill(p)
            return n
        time.sleep(0.05)
    _kill(p)
    pytest.fail(f"the flow never got there: {log.read_text()[-3000:]}")


@pytest.mark.slow
def test_a_killed_month_resumes_without_redoing_or_duplicating(tmp_path: Path) -> None:
    script, home, log = tmp_path / "month.py", tmp_path / "home", tmp_path / "log"
    script.write_text(SCRIPT, encoding="utf-8")
    db = f"sqlite:///{home / 'pension.db'}"
    plan = json.loads((Path(__file__).resolve().parents[2] / "data" / "sample" / "plan.json").read_text("utf-8"))
    files = len(plan["submissions"])

    # 1. killed in the middle of intake
    n = _kill_when(_start(script, home, log), db, select(func.count()).select_from(Submission), 3, log)
    assert 3 <= n < files
    # 2. started again: killed once the run exists (before its signatures and release)
    _kill_when(_start(script, home, log), db, select(func.count()).select_from(Run), 1, log)
    run_id = _count(db, select(func.max(Run.id)))
    # 3. started again: it finishes
    p = _start(script, home, log)
    try:
        assert p.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        _kill(p)
    done = json.loads(log.read_text().strip().splitlines()[-1])

    assert done["run"]["run_id"] == run_id and done["run"]["status"] == "released"  # the run made before the kill
    assert _count(db, select(func.count()).select_from(Run)) == 1
    assert _count(db, select(func.count()).select_from(Submission)) == files  # each file once (B07 twice: two files)
    assert _count(db, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "submission.submit")) == files
    signatures = sum(len(v) for v in plan["submission_approvals"].values()) + len(plan["run"]["approvers"])
    assert _count(db, select(func.count()).select_from(Approval)) == signatures
    assert _count(db, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "run.release")) == 1
    assert len(done["files"]) == 6
    engine = create_engine(db)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from runs where status = 'superseded'")).scalar_one() == 0
    engine.dispose()
    from payroll import services, signing
    from payroll.config import Settings

    ctx = services.Context(Settings(home=home))
    assert services.verify_audit(ctx)["ok"]
    assert services.verify_release(Path(done["archive"]), signing.public_key_path(ctx.settings.release_key_path))["ok"]
    ctx.dispose()
