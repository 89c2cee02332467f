"""`pension demo`: the sample's history months (2026-09, 2026-10) and then November through the Prefect
flow on Prefect's temporary server; November's run shows every run check.

Marked slow (about 100 s): `make demo` is the README's first command and is run from a fresh clone
before every stop; the flow's pauses, resumption and kill-and-resume have e2e tests of their own."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bank_formats import xsd
from payroll.catalog import catalog
from tests.conftest import SAMPLE
from tests.month import read_back

PENSION = str(Path(sys.executable).with_name("pension"))


@pytest.mark.slow
def test_demo_runs_the_history_months_then_the_sample_month_through_the_flow(tmp_path: Path, expected: dict) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    env["PENSION_HOME"] = str(tmp_path / "home")
    p = subprocess.run([PENSION, "demo", "--json", "--out", str(tmp_path / "out")], env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    demo = json.loads(p.stdout)
    wh = expected["with_history"]
    t, run = wh["totals"], demo["run"]

    # the history months, released before November
    assert [(h["period"], h["payable_count"], h["payable_total"]) for h in demo["history"]] == [
        (h["period"], h["payable_count"], h["payable_total"]) for h in wh["history"]]
    assert len({h["run_id"] for h in demo["history"]} | {run["run_id"]}) == len(wh["history"]) + 1

    # November, after them: every figure and every code's count
    assert demo["period"] == expected["period"] and demo["flow_run"] and run["status"] == "released"
    assert (run["payable_count"], run["payable_total"], run["held_count"], run["blocked_count"]) == (
        t["payable_count"], t["payable_total"], t["held_count"], t["blocked_count"])
    assert run["exceptions"] == {k: v for k, v in t["findings"].items() if v}
    assert run["per_bank"] == t["payable_by_bank"]
    assert run["intake_rejections"] == {k: v for k, v in expected["totals"]["rows_rejected"].items() if v}
    fired = {code for code, n in run["exceptions"].items() if n}
    run_codes = {c.code for c in catalog().values() if c.stage == "run"}
    cap_codes = {"CAP_SPLIT", "CAP_EXCESS_HELD"}  # Iran's accounts have no cap: tests/integration/test_dedicated_cap*
    assert run_codes - fired - cap_codes == {"DIED_IN_PERIOD_HELD"} == set(wh["not_planted"])

    # the exception report: every planted finding, where it was planted, and nothing else
    with open(demo["exception_report"], encoding="utf-8-sig", newline="") as f:
        report = list(csv.DictReader(f))
    got = sorted((r["code"], r["severity"], r["branch_code"], int(r["row"]), r["pension_id"]) for r in report)
    planted = [p for p in expected["planted"] if p["stage"] in ("intake", "run")] + wh["planted"]
    want = sorted((p["code"], p["severity"], p["branch"], p["row"], p["pension_id"]) for p in planted)
    for item in want:  # one by one, so a failure names the case
        assert item in got, f"planted case not reported: {item}"
    assert got == want

    assert demo["submissions"]["accepted"] == 8 and demo["submissions"]["rejected"] == 1
    assert demo["rows_rejected"] == expected["totals"]["rows_rejected_total"]
    assert sum(f["control_sum"] for f in demo["files"]) == t["payable_total"]
    for f in demo["files"]:
        assert Path(f["path"]).parent == tmp_path / "out"
        assert sum(a for _, a in read_back(f).transfers) == f["control_sum"]  # XSD-valid, for pain.001
    for h in wh["history"]:  # each history month's bank files in a folder of its own
        assert any((tmp_path / "out" / "history" / h["period"]).glob("PENSION_*.xml"))
    assert Path(demo["exception_report"]).is_file() and Path(demo["manifest"]).is_file()
    # the release folder verifies (signature, hashes, totals re-read); the banks' answers reconcile it
    v, rc = demo["verify"], demo["reconciliation"]
    assert v["ok"] and v["problems"] == [] and (v["transactions"], v["control_sum"]) == (t["payable_count"],
                                                                                        t["payable_total"])
    assert v["files"] == len(demo["files"]) == rc["reports"]
    assert rc["reconciliation"] == "reconciled" and rc["read_again_changed_nothing"] is True
    assert rc["statuses"] == {"settled": t["payable_count"] - 1, "rejected": 1, "accepted": 0, "pending": 0}
    assert demo["audit"]["ok"] is True
    assert demo["database"].startswith("sqlite:///")

    # the overpayment recovery list, and one cleared HOLD paid in a supplementary run
    overpaid = [p for p in wh["planted"] if p["code"] == "OVERPAID_AFTER_DEATH"]
    assert demo["recovery"]["count"] == len(overpaid) == 2 and demo["recovery"]["total"] > 0
    lines = Path(demo["recovery"]["path"]).read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 + 3  # header; the August death paid in September and October, the September one in October
    sup, spec = demo["supplementary"], json.loads((SAMPLE / "plan.json").read_text(encoding="utf-8"))["supplementary"]
    assert (sup["payable_count"], sup["payable_total"]) == (spec["payable_count"], spec["payable_total"])
    assert [c["codes"] for c in sup["cleared"]] == [["IDENTITY_MISMATCH"]]
    assert sum(f["transactions"] for f in sup["files"]) == 1
    assert all(xsd.validate_file(f["path"], f["format"]) == [] for f in sup["files"])
