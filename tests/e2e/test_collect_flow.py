"""`pension collect`: the branch inbox collected once through the collect-branch-files flow on Prefect's
temporary server, as a separate process (like `pension demo`); and the deployments `pension flows serve`
serves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from payroll.config import Settings
from payroll.services import Context, show_submission
from tests.conftest import SAMPLE

PENSION = str(Path(sys.executable).with_name("pension"))
PLAN = json.loads((SAMPLE / "plan.json").read_text(encoding="utf-8"))
ACCEPTED = {s["branch"]: s for s in PLAN["submissions"] if s["expect"] == "accepted"}


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    env["PENSION_HOME"] = str(tmp_path / "home")
    return env


def _deliver(inbox: Path, branch: str, sidecar: bool = True) -> None:
    s = ACCEPTED[branch]
    src = SAMPLE / s["file"]
    (inbox / branch).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, inbox / branch / src.name)
    if sidecar:
        (inbox / branch / f"{src.name}.meta.json").write_text(json.dumps(
            {"period": PLAN["period"], "clerk": s["user"], "declared_count": s["declared_count"],
             "declared_total": s["declared_total"]}), encoding="utf-8")


@pytest.mark.slow  # about 40 s; the inbox's rules are tested in tests/integration/test_inbox.py
def test_collect_runs_the_inbox_through_the_flow(tmp_path: Path, expected: dict) -> None:
    env = _env(tmp_path)
    init = subprocess.run([PENSION, "init", "--sample", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert init.returncode == 0, init.stderr[-3000:]
    inbox = tmp_path / "inbox"
    _deliver(inbox, "B01")
    _deliver(inbox, "B05")  # Parquet
    _deliver(inbox, "B02", sidecar=False)  # still being delivered
    env["PENSION_INBOX"] = str(inbox)  # the default inbox
    p = subprocess.run([PENSION, "collect", "--json", "--settle-seconds", "0"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout)
    assert r["flow_run"] and r["state"] == "COMPLETED" and r["inbox"] == str(inbox)
    assert r["branches"] == ["B01", "B02", "B05"]
    assert r["counts"] == {"accepted": 2, "duplicate": 0, "rejected": 0, "waiting": 1, "failed": 0}
    by_branch = {e["branch"]: e for e in r["files"]}
    assert by_branch["B02"]["outcome"] == "waiting" and (inbox / "B02" / "B02.csv").is_file()
    ctx = Context(Settings(home=tmp_path / "home"))
    try:
        for branch in ("B01", "B05"):
            e = by_branch[branch]
            assert e["outcome"] == "accepted" and Path(e["receipt"]).parent == inbox / branch / "processed"
            receipt = json.loads(Path(e["receipt"]).read_text(encoding="utf-8"))
            stored = show_submission(ctx, e["submission_id"])
            want = expected["branches"][branch]
            assert (receipt["status"], stored["status"], stored["branch_code"], stored["period"]) == (
                "accepted", "accepted", branch, PLAN["period"])
            assert (stored["accepted_rows"], stored["accepted_total"]) == (want["accepted_rows"],
                                                                           want["accepted_total"])
            assert receipt["content_sha256"] == stored["content_sha256"]
            assert sorted(x.name for x in (inbox / branch).iterdir()) in ([".claimed", "processed"], ["processed"])
    finally:
        ctx.dispose()


def test_the_served_deployments(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import json
        from payroll.config import load_settings, Settings
        from flows.serve import build_deployments, prefect_environment
        prefect_environment(load_settings())
        out = []
        for settings in (load_settings(), Settings(country="KR")):
            for d in build_deployments(settings):
                schedules = [s.schedule for s in d.schedules or []]
                out.append({"name": f"{d.flow_name}/{d.name}", "entrypoint": d.entrypoint,
                            "schedules": [[s.cron, s.timezone] for s in schedules],
                            "concurrency_limit": d.concurrency_limit, "paused": d.paused,
                            "collision": d.concurrency_options and d.concurrency_options.collision_strategy.value,
                            "parameters": d.parameters})
        print(json.dumps(out))
    """)
    env = _env(tmp_path)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    ir_collect, ir_monthly, kr_collect, _ = json.loads(p.stdout)
    assert ir_collect == {
        "name": "collect-branch-files/submission-window", "entrypoint": "flows.collect.collect_branch_files",
        "schedules": [["*/15 * 1-20 * *", "Asia/Tehran"]], "concurrency_limit": 1, "collision": "CANCEL_NEW",
        "paused": False,
        "parameters": {"inbox": str((tmp_path / "home" / "inbox").resolve()), "settle_seconds": 10.0}}
    assert ir_monthly == {"name": "monthly-run/on-demand", "entrypoint": "flows.monthly.monthly_run",
                          "schedules": [], "concurrency_limit": None, "collision": None, "parameters": {},
                          "paused": False}
    assert kr_collect["schedules"] == [["*/15 * 1-20 * *", "Asia/Seoul"]]
