"""The monthly flow waits for each decision as a Prefect pause, and the decision resumes it: first the
period's branch lists (a rejection, a resubmitted version, two levels each), then each signature of the
run. The policy is checked first (a refused decision resumes nothing), the database records the
decision, and the flow, resumed with it as typed input, reads the database again and goes on to release.
The run's last signature is given through `pension approve run` with PREFECT_API_URL naming the server.

One process (Prefect's temporary server is per process): the flow runs in a thread and waits; the main
thread plays the approvers."""

from __future__ import annotations

import json
import os
import signal
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
    from flows.approval import resume_list_flows, resume_run_flows, waiting_lists, waiting_runs
    from flows.demo import load_plan
    from flows.monthly import MonthlyPlan, monthly_run
    from payroll import services
    from payroll.errors import Refused
    from payroll.store.models import Run

    ctx = services.Context()
    services.init_database(ctx, sample=True)
    sample = ctx.settings.data_dir / "sample"
    raw = json.loads((sample / "plan.json").read_text(encoding="utf-8"))
    plan = load_plan(sample, home / "out")
    signers = raw["submission_approvals"]
    # B01 and B03 are left to people: the flow waits for their lists; the rest are scripted
    plan = {**plan, "run_approvers": [], "wait_for_approval": True, "approval_poll_seconds": 1,
            "submission_approvals": {b: u for b, u in signers.items() if b not in ("B01", "B03")}}
    period = plan["period"]
    result = {}
    waiting_lists(period)  # the temporary server starts here, once: not from two threads at the same time
    thread = threading.Thread(target=lambda: result.update(state=monthly_run(MonthlyPlan.model_validate(plan),
                                                                             return_state=True)))
    thread.start()

    def until(what, probe, seconds=180):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if (got := probe()):
                return got
            time.sleep(0.5)
        raise SystemExit(f"the flow never paused for {what}")

    def keys(pairs):
        return [k for _, k in pairs]

    events = []

    def decide(kind, sid, user, **kw):
        try:
            r = (services.approve_submission(ctx, sid, user=user) if kind == "approve"
                 else services.reject_submission(ctx, sid, user=user, reason=kw["reason"]))
        except Refused as e:
            events.append({"user": user, "submission": sid, "refused": e.code})
            return
        resumed = resume_list_flows(period, {"submission_id": sid, "branch_code": r["branch_code"], "user": user,
                                             "level": r["level"], "decision": kind, "status": r["status"]})
        events.append({"user": user, "submission": sid, "status": r["status"], "resumed": len(resumed)})

    first_keys = keys(until("the lists", lambda: waiting_lists(period)))
    waiting_for = [(p["branch_code"], p["levels_approved"]) for p in services.awaiting_approval(ctx, period)]
    b01, b03 = (next(p["submission_id"] for p in services.awaiting_approval(ctx, period) if p["branch_code"] == b)
                for b in ("B01", "B03"))
    decide("approve", b01, "clerk-b01")                          # the maker: refused, nothing resumed
    decide("reject", b01, signers["B01"][0], reason="row 153: national id typed wrong")
    # the rejection resumed the flow; it reads the database and pauses again under a new key: the next
    # signature is given only once it waits again, so that signature has a paused flow to resume
    until("the lists again", lambda: [k for k in keys(waiting_lists(period)) if k not in first_keys])
    b01_file = next(s for s in plan["submissions"] if s["branch"] == "B01")
    again = services.submit(ctx, Path(b01_file["file"]), branch="B01", period=period, user="clerk-b01",
                            declared_count=b01_file["declared_count"], declared_total=b01_file["declared_total"])
    for sid, branch in ((b03, "B03"), (again["submission_id"], "B01")):
        for user in signers[branch]:
            decide("approve", sid, user)

    for user in [raw["run"]["created_by"]] + raw["run"]["approvers"]:
        def paused_run():
            with ctx.uow() as s:
                rid = s.execute(select(func.max(Run.id))).scalar_one()
            return rid if rid and waiting_runs(rid) else None
        rid = until("the run", paused_run)
        waiting = keys(waiting_runs(rid))
        if user == raw["run"]["approvers"][-1]:  # the last signature through the command line, as people give it
            from prefect.server.api.server import SubprocessASGIServer
            import subprocess
            api = next(iter(SubprocessASGIServer._instances.values())).api_url
            cli = subprocess.run([str(Path(sys.executable).parent / "pension"), "approve", "run", str(rid), "--as",
                                  user, "--json"], env={**os.environ, "PREFECT_API_URL": api},
                                 capture_output=True, text=True, timeout=300)
            r = json.loads(cli.stdout or "{}")
            events.append({"user": user, "waiting": waiting, "status": r.get("status"), "cli": cli.returncode,
                           "resumed": len(r.get("resumed_flow_runs", [])), "stderr": cli.stderr[-2000:]})
            continue
        try:
            r = services.approve_run(ctx, rid, user=user)
        except Refused as e:  # the maker: refused, nothing is resumed, the flow still waits
            time.sleep(1)
            events.append({"user": user, "refused": e.code, "waiting": waiting, "still": keys(waiting_runs(rid))})
            continue
        resumed = resume_run_flows(rid, period, {"run_id": rid, "user": user, "level": r["level"],
                                                 "status": r["status"]})
        events.append({"user": user, "waiting": waiting, "status": r["status"], "resumed": len(resumed)})
    thread.join(300)
    out = result["state"].result()
    missing = services.show_run(ctx, rid)["missing_branches"]
    print(json.dumps({"first_keys": first_keys, "waiting_for": waiting_for, "b01_again": again["submission_id"],
                      "events": events, "run": out["run"]["status"], "missing": missing,
                      "files": len(out["release"]["files"]) if out["release"] else 0,
                      "left_waiting": waiting_runs(rid) + waiting_lists(period)}))
""")


def test_the_flow_waits_for_each_signature_and_the_approval_resumes_it(tmp_path: Path) -> None:
    script = tmp_path / "pause.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # files, not pipes, and a session of its own: whatever the script leaves behind is stopped here
    with out.open("w") as o, err.open("w") as e:
        p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "home")], env=env, stdout=o, stderr=e,
                             cwd=Path(__file__).resolve().parents[2], start_new_session=True)
        try:
            code = p.wait(timeout=600)
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert code == 0, err.read_text()[-3000:]
    r = json.loads(out.read_text().strip().splitlines()[-1])
    # the lists: the flow waits for B01 and B03 at level 1
    assert r["first_keys"] == ["lists-2026-11-wait-1"] and r["waiting_for"] == [["B01", 0], ["B03", 0]]
    maker, rejected, *approvals = r["events"][:6]
    assert maker == {"user": "clerk-b01", "submission": maker["submission"], "refused": "WRONG_ROLE"}  # a clerk
    assert (rejected["status"], rejected["resumed"]) == ("returned", 1)
    # each decision resumes the waiting flow, or, made while the flow was between two pauses, is read
    # by it from the database (then there is nothing left to resume: 0)
    assert [a["status"] for a in approvals] == ["accepted", "approved"] * 2
    assert all(a["resumed"] in (0, 1) for a in approvals) and approvals[0]["resumed"] == 1
    assert approvals[-1]["submission"] == r["b01_again"]
    # the run: the maker's refused signature resumes nothing; two finance signatures resume it twice
    run_maker, first, second = r["events"][6:]
    assert run_maker["refused"] == "SOD_MAKER_CHECKER" and run_maker["waiting"] == run_maker["still"] == ["run-1-slot-1"]
    assert (first["waiting"], first["status"], first["resumed"]) == (["run-1-slot-1"], "awaiting_approval", 1)
    assert second["cli"] == 0, second["stderr"]  # `pension approve run` with PREFECT_API_URL resumed the flow
    assert (second["waiting"], second["status"], second["resumed"]) == (["run-1-slot-2"], "approved", 1)
    assert (r["run"], r["left_waiting"], r["missing"]) == ("released", [], [])  # B01's second version is in
    assert r["files"] == 6
