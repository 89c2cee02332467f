"""`pension demo`: the sample month through the Prefect flow on Prefect's temporary server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bank_formats import xsd

PENSION = str(Path(sys.executable).with_name("pension"))


def test_demo_runs_the_sample_month_through_the_flow(tmp_path: Path, expected: dict) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PENSION_", "PREFECT_"))}
    env["PENSION_HOME"] = str(tmp_path / "home")
    p = subprocess.run([PENSION, "demo", "--json", "--out", str(tmp_path / "out")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    demo = json.loads(p.stdout)
    t, run = expected["totals"], demo["run"]
    assert demo["flow_run"] and run["status"] == "released"
    assert (run["payable_count"], run["payable_total"], run["held_count"], run["blocked_count"]) == (
        t["payable_count"], t["payable_total"], t["held_count"], t["blocked_count"])
    assert run["exceptions"] == {k: v for k, v in t["findings"].items() if v}
    assert demo["submissions"]["accepted"] == 8 and demo["submissions"]["rejected"] == 1
    assert demo["rows_rejected"] == t["rows_rejected_total"]
    assert sum(f["control_sum"] for f in demo["files"]) == t["payable_total"]
    for f in demo["files"]:
        assert Path(f["path"]).parent == tmp_path / "out" and xsd.validate_file(f["path"]) == []
    assert Path(demo["exception_report"]).is_file() and Path(demo["manifest"]).is_file()
    assert demo["audit"]["ok"] is True
    assert demo["database"].startswith("sqlite:///")
