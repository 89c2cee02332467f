"""A run's flow waits for each signature as a Prefect pause, and the approval resumes it: the policy is
checked first (a refused signature resumes nothing), the database records the signature, and the
flow, resumed with the decision as typed input, reads the run again and goes on to release.

One process (Prefect's temporary server is per process): the flow runs in a thread and waits; the main
thread plays the approvers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    from pathlib import Path
    home = Path(sys.argv[1])
    os.environ["PENSION_HOME"] = str(home)
    from payroll.config import load_settings
    from flows.serve import prefect_environment
    prefect_environment(load_settings())
    from sqlalchemy import func, select
    from flows.approval import resume_run_flows, waiting_runs
    from flows.demo import load_plan
    from flows.monthly import MonthlyPlan, monthly_run
    from payroll import services
    from payroll.errors import Refused
    from payroll.store.models import Run

    ctx = services.Context()
    services.init_database(ctx, sample=True)
    sample = ctx.settings.data_dir / "sample"
    plan = {**load_plan(sample, home / "out"), "run_approvers": [], "wait_for_approval": True}
    raw = json.loads((sample / "plan.json").read_text(encoding="utf-8"))
    result = {}
    thread = threading.Thread(target=lambda: result.update(state=monthly_run(MonthlyPlan.model_validate(plan),
                                                                             return_state=True)))
    thread.start()

    def paused():
        deadline = time.time() + 180
        while time.time() < deadline:
            with ctx.uow() as s:
                rid = s.execute(select(func.max(Run.id))).scalar_one()
            if rid and waiting_runs(rid):
                return rid, [k for _, k in waiting_runs(rid)]
            time.sleep(0.5)
        raise SystemExit("the flow never paused")

    events = []
    for user in [raw["run"]["created_by"]] + raw["run"]["approvers"]:
        rid, keys = paused()
        try:
            r = services.approve_run(ctx, rid, user=user)
        except Refused as e:  # the maker: refused, nothing is resumed, the flow still waits
            time.sleep(1)
            events.append({"user": user, "refused": e.code, "waiting": keys, "still": paused()[1]})
            continue
        resumed = resume_run_flows(rid, {"run_id": rid, "user": user, "level": r["level"], "status": r["status"]})
        events.append({"user": user, "waiting": keys, "status": r["status"], "resumed": len(resumed)})
    thread.join(300)
    out = result["state"].result()
    print(json.dumps({"events": events, "run": out["run"]["status"],
                      "files": len(out["release"]["files"]) if out["release"] else 0,
                      "left_waiting": waiting_runs(rid)}))
""")


def test_the_flow_waits_for_each_signature_and_the_approval_resumes_it(tmp_path: Path) -> None:
    script = tmp_path / "pause.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    p = subprocess.run([sys.executable, str(script), str(tmp_path / "home")], env=env, capture_output=True,
                       text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    maker, first, second = r["events"]
    assert maker["refused"] == "SOD_MAKER_CHECKER" and maker["waiting"] == maker["still"] == ["run-1-slot-1"]
    assert (first["waiting"], first["status"], first["resumed"]) == (["run-1-slot-1"], "awaiting_approval", 1)
    assert (second["waiting"], second["status"], second["resumed"]) == (["run-1-slot-2"], "approved", 1)
    assert (r["run"], r["left_waiting"]) == ("released", [])
    assert r["files"] == 6
