"""The `pension` command line through a whole sample month, as a scheduler would drive it: separate
processes, --json, exit codes. Asserts every planted exception one by one and re-adds every bank file."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bank_formats import xsd
from bank_formats.pain001 import read_pain001
from bank_formats.pain002 import write_pain002
from payroll import services
from payroll.config import Settings
from tests.conftest import SAMPLE
from tests.month import read_back

PENSION = str(Path(sys.executable).with_name("pension"))


class Cli:
    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "PENSION_HOME": str(home)}
        self.env.pop("PENSION_DB_URL", None)

    def raw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PENSION, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def json(self, *args: str, status: int = 0) -> dict[str, Any]:
        p = self.raw(*args, "--json")
        assert p.returncode == status, (args, p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout)  # exactly one JSON object, or this raises


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("cli-month")
    cli = Cli(base / "home")
    plan = json.loads((SAMPLE / "plan.json").read_text(encoding="utf-8"))
    out: dict[str, Any] = {"cli": cli, "base": base, "plan": plan,
                           "init": cli.json("init", "--sample"), "receipts": []}
    # the first accepted and the first rejected list through the command line, the others in this process
    # as the command does it (each command is a 3 s process start, and the default suite has a time budget)
    ctx = services.Context(Settings(home=base / "home", db_url=None))
    through_cli: set[str] = set()
    for s in plan["submissions"]:
        if s["expect"] not in through_cli:
            through_cli.add(s["expect"])
            out["receipts"].append(cli.json(
                "submit", str(SAMPLE / s["file"]), "--branch", s["branch"], "--period", plan["period"], "--as",
                s["user"], "--declared-count", str(s["declared_count"]), "--declared-total", str(s["declared_total"]),
                status=0 if s["expect"] == "accepted" else 1))
            continue
        r = services.submit(ctx, SAMPLE / s["file"], branch=s["branch"], period=plan["period"], user=s["user"],
                            declared_count=s["declared_count"], declared_total=s["declared_total"])
        services.data_docs_page(ctx, r["submission_id"])
        out["receipts"].append(json.loads(json.dumps(r, default=str)))
    latest = {r["branch_code"]: r["submission_id"] for r in out["receipts"] if r["status"] == "accepted"}
    # the first branch's two levels through the command line; the other lists in this process
    for i, (branch, sid) in enumerate(latest.items()):
        for user in plan["submission_approvals"][branch]:
            if i == 0:
                cli.json("approve", "submission", str(sid), "--as", user)
            else:
                services.approve_submission(ctx, sid, user=user)
    ctx.dispose()
    run = cli.json("run", "create", "--period", plan["period"], "--as", plan["run"]["created_by"])
    out["run"] = run
    rid = str(run["run_id"])
    out["self_approval"] = cli.json("approve", "run", rid, "--as", plan["run"]["created_by"], status=1)
    out["early_release"] = cli.json("release", rid, "--as", plan["run"]["released_by"], "--out",
                                    str(base / "early"), status=1)
    out["approvals"] = [cli.json("approve", "run", rid, "--as", u) for u in plan["run"]["approvers"]]
    out["release"] = cli.json("release", rid, "--as", plan["run"]["released_by"], "--out", str(base / "bank"))
    out["rerelease"] = cli.json("release", rid, "--as", plan["run"]["released_by"], "--out", str(base / "again"))
    out["report"] = cli.json("exceptions", rid, "--out", str(base / "exceptions.csv"))
    out["audit"] = cli.json("audit", "verify")
    return out


def test_receipts_match_the_plan(month: dict[str, Any], expected: dict[str, Any]) -> None:
    for s, r in zip(month["plan"]["submissions"], month["receipts"], strict=True):
        assert r["status"] == s["expect"], s
        assert Path(r["data_docs"]).is_file()  # the command renders the page the receipt names
        assert r["rows"] == s["declared_count"] == expected["branches"][s["branch"]]["rows_in_file"]
        assert (r["counted_total"] == s["declared_total"]) is (s["expect"] == "accepted")
        if r["status"] == "accepted":
            b = expected["branches"][s["branch"]]
            assert (r["rows_rejected"], r["accepted_rows"], r["accepted_total"]) == (
                b["rows_rejected_total"], b["accepted_rows"], b["accepted_total"])
        else:
            assert [e["code"] for e in r["errors"] if e["row"] is None] == ["DECLARED_TOTAL_MISMATCH"]


def test_run_figures(month: dict[str, Any], expected: dict[str, Any]) -> None:
    t, run = expected["totals"], month["run"]
    assert (run["payable_count"], run["payable_total"], run["held_count"], run["blocked_count"]) == (
        t["payable_count"], t["payable_total"], t["held_count"], t["blocked_count"])
    assert run["exceptions"] == {k: v for k, v in t["findings"].items() if v}


def test_every_planted_exception_is_reported_and_nothing_else(month: dict[str, Any], expected: dict) -> None:
    with open(month["base"] / "exceptions.csv", encoding="utf-8-sig", newline="") as f:
        report = list(csv.DictReader(f))
    assert month["report"]["rows"] == len(report)
    got = sorted((r["code"], r["severity"], r["branch_code"], int(r["row"]), r["pension_id"]) for r in report)
    planted = sorted((p["code"], p["severity"], p["branch"], p["row"], p["pension_id"])
                     for p in expected["planted"] if p["stage"] in ("intake", "run"))
    for item in planted:  # one by one, so a failure names the case
        assert item in got, f"planted case not reported: {item}"
    assert got == planted
    for r in report:
        assert r["national_id"] and r["source_sha256"] and json.loads(r["detail"])


def test_bank_files_are_valid_and_add_up(month: dict[str, Any], expected: dict[str, Any]) -> None:
    files = month["release"]["files"]
    assert {f["bank_code"] for f in files} == set(expected["totals"]["payable_by_bank"])
    paid = 0
    by_bank: dict[str, dict[str, int]] = {}
    for f in files:
        if f["format"].startswith("pain.001"):
            assert xsd.validate_file(f["path"], f["format"]) == [], f["path"]
            doc = read_pain001(f["path"])
            assert doc.nb_of_txs == doc.pmt_inf_nb_of_txs == len(doc.transactions) == f["transactions"]
            assert doc.ctrl_sum_minor == doc.pmt_inf_ctrl_sum_minor == sum(t.amount_minor for t in doc.transactions)
        back = read_back(f)  # every format, by its own parser
        assert len(back.transfers) == f["transactions"] and sum(a for _, a in back.transfers) == f["control_sum"]
        assert len({e for e, _ in back.transfers}) == len(back.transfers)
        got = by_bank.setdefault(f["bank_code"], {"count": 0, "total": 0})
        got["count"] += f["transactions"]
        got["total"] += f["control_sum"]
        paid += f["control_sum"]
    assert by_bank == expected["totals"]["payable_by_bank"]
    assert paid == expected["totals"]["payable_total"]


def test_rerelease_returns_the_same_bytes(month: dict[str, Any]) -> None:
    assert month["rerelease"]["already_released"] is True
    for a, b in zip(month["release"]["files"], month["rerelease"]["files"], strict=True):
        assert Path(a["path"]).read_bytes() == Path(b["path"]).read_bytes()


def test_refusals_exit_1_with_a_reason(month: dict[str, Any]) -> None:
    assert month["self_approval"]["error"]["code"] == "SOD_MAKER_CHECKER"
    assert month["early_release"]["error"]["code"] == "WRONG_STATE"
    cli: Cli = month["cli"]
    assert cli.json("run", "show", "999", status=1)["error"]["code"] == "NOT_FOUND"
    assert cli.json("approve", "run", str(month["run"]["run_id"]), "--as", "fin-3", status=1)["error"]["code"] \
        == "WRONG_STATE"


def test_usage_errors_exit_2(month: dict[str, Any]) -> None:
    cli: Cli = month["cli"]
    assert cli.json("submit", "x.csv", status=2)["error"]["code"] == "USAGE"  # missing options
    assert cli.json("load", "planets", "x.csv", status=2)["error"]["code"] == "USAGE"
    assert cli.raw("approve", "run", "not-a-number").returncode == 2


def test_audit_chain_verifies(month: dict[str, Any]) -> None:
    assert month["audit"]["ok"] is True and month["audit"]["entries"] > 30


def test_human_output_is_short(month: dict[str, Any]) -> None:
    p = month["cli"].raw("run", "show", str(month["run"]["run_id"]))
    assert p.returncode == 0 and p.stdout.startswith(f"run {month['run']['run_id']} for 2026-11: released")


def test_commands_refuse_before_init(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "empty")
    assert cli.json("run", "show", "1", status=1)["error"]["code"] == "NOT_INITIALIZED"


def test_release_verify_and_reconcile_from_the_command_line(month: dict[str, Any]) -> None:
    """`pension release verify DIR` exits 0 on the release folder and 1 once a byte changed;
    `pension reconcile RUN FILE` reads a bank's pain.002 once."""
    cli, base = month["cli"], month["base"]
    folder = Path(month["release"]["archive"])
    ok = cli.json("release", "verify", str(folder))
    assert ok["ok"] is True and ok["transactions"] == sum(f["transactions"] for f in month["release"]["files"])
    tampered = base / "tampered"
    shutil.copytree(folder, tampered)
    victim = tampered / Path(month["release"]["files"][0]["path"]).name
    victim.write_bytes(victim.read_bytes().replace(b"0", b"1", 1))
    bad = cli.json("release", "verify", str(tampered), status=1)
    assert bad["ok"] is False and any(victim.name in p for p in bad["problems"])
    human = cli.raw("release", "verify", str(tampered))
    assert human.returncode == 1 and "NOT OK" in human.stdout

    f = month["release"]["files"][0]
    back = read_back(f)
    report = base / "pain002.xml"
    write_pain002(report, msg_id="BANK-STS-CLI-1", created_at=datetime(2026, 11, 26, tzinfo=UTC),
                  original_msg_id=f["msg_id"], group_status=None,
                  payments=[(e2e, "ACSC", None, amount, "IRR") for e2e, amount in back.transfers],
                  original_payment_info_id=f["msg_id"] + "P1")
    rid = str(month["run"]["run_id"])
    first = cli.json("reconcile", rid, str(report), "--as", month["plan"]["run"]["released_by"])
    assert first["outcomes"] == {"applied": len(back.transfers)} and first["reconciliation"] == "partial"
    again = cli.json("reconcile", rid, str(report), "--as", month["plan"]["run"]["released_by"])
    assert again["already_read"] is True and again["statuses"] == first["statuses"]
