"""The monthly flow's intake: branch files go through services.submit_many in chunks (one quality-gate
run per chunk); a refused file (a stranger's list, a file that is not there) gets a refused receipt and
fails neither its chunk nor the flow, and every other branch is taken in as if sent alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    home = Path(sys.argv[1])
    os.environ["PENSION_HOME"] = str(home)
    from payroll.config import load_settings
    from flows.serve import prefect_environment
    prefect_environment(load_settings())
    import flows.monthly
    from flows.demo import load_plan
    from flows.monthly import MonthlyPlan, monthly_run
    from payroll import services

    flows.monthly.INTAKE_CHUNK = 4  # several chunks of the sample's ten files
    ctx = services.Context()
    services.init_database(ctx, sample=True)
    sample = ctx.settings.data_dir / "sample"
    plan = load_plan(sample, home / "out")
    subs = plan["submissions"]
    stranger = {**subs[0], "branch": "B02"}  # B01's clerk sending a list for B02
    missing = {**subs[1], "file": str(home / "nowhere.csv")}
    plan = {**plan, "submissions": [stranger, *subs[:5], missing, *subs[5:]], "run_approvers": [],
            "released_by": None}
    state = monthly_run(MonthlyPlan.model_validate(plan), return_state=True)
    out = state.result()
    print(json.dumps({"state": state.type.value, "receipts": [
        {k: r.get(k) for k in ("branch_code", "status", "rows", "rows_rejected", "error")} for r in out["receipts"]],
        "run": {k: out["run"][k] for k in ("payable_count", "held_count", "blocked_count")}}))
""")


@pytest.mark.slow  # a Prefect temporary server and the sample month's intake and run
def test_a_refused_file_fails_neither_its_chunk_nor_the_flow(tmp_path: Path, expected: dict) -> None:
    script = tmp_path / "month.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    p = subprocess.run([sys.executable, str(script), str(tmp_path / "home")], env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    done = json.loads(p.stdout.strip().splitlines()[-1])
    assert done["state"] == "COMPLETED"
    receipts = done["receipts"]
    assert [r["status"] for r in receipts] == ["refused", *[s["expect"] for s in expected["submissions"][:5]],
                                               "refused", *[s["expect"] for s in expected["submissions"][5:]]]
    assert receipts[0]["error"]["code"] == "OUT_OF_SCOPE" and receipts[6]["error"]["code"] == "FILE_NOT_FOUND"
    taken = [r for r in receipts if r["status"] != "refused"]
    assert [r["branch_code"] for r in taken] == [s["branch"] for s in expected["submissions"]]
    t = expected["totals"]
    assert (done["run"]["payable_count"], done["run"]["held_count"], done["run"]["blocked_count"]) == (
        t["payable_count"], t["held_count"], t["blocked_count"])
