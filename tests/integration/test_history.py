"""The sample's November after September and October were released (SQLite and PostgreSQL): the checks
that need history, the overpayment recovery list, and the evidence in the exception report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from payroll import cli, services
from payroll.errors import Refused
from payroll.services import Context
from tests import month


def _november_after_history(ctx: Context, plan: dict) -> tuple[list[dict], dict]:
    history = month.release_history(ctx, plan)
    return history, month.approved_run(ctx, plan)


def test_november_after_history_gives_the_planted_figures_and_the_recovery_list(
        ctx: Context, plan: dict, expected: dict, tmp_path: Path) -> None:
    history, run = _november_after_history(ctx, plan)
    want = expected["with_history"]
    assert [(h["period"], h["payable_count"], h["payable_total"]) for h in history] == [
        (h["period"], h["payable_count"], h["payable_total"]) for h in want["history"]]
    t = want["totals"]
    assert run["exceptions"] == {k: v for k, v in t["findings"].items() if v}
    assert (run["payable_count"], run["payable_total"], run["held_count"], run["blocked_count"]) == (
        t["payable_count"], t["payable_total"], t["held_count"], t["blocked_count"])

    # the recovery list: one person per late-reported death, every payment after the month of death
    recovery = services.recovery_list(ctx, plan["period"])
    overpaid = [p for p in want["planted"] if p["code"] == "OVERPAID_AFTER_DEATH"]
    assert recovery["run_id"] == run["run_id"] and recovery["count"] == len(overpaid) == 2
    assert sorted(p["national_id"] for p in recovery["people"]) == sorted(p["national_id"] for p in overpaid)
    for person in recovery["people"]:
        paid = [p for p in recovery["payments"] if p["national_id"] == person["national_id"]]
        assert len(paid) == person["payments"] and sum(p["amount"] for p in paid) == person["total"]
        assert all(p["period"] > person["date_of_death"][:7] for p in paid)
    assert recovery["total"] == sum(p["total"] for p in recovery["people"]) > 0
    died_in_august = next(p for p in recovery["people"] if p["date_of_death"] == "2026-08-14")
    assert died_in_august["periods"] == ["2026-09", "2026-10"]

    written = services.export_recovery(ctx, plan["period"], tmp_path / "recovery.csv")
    with open(written["path"], encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(recovery["payments"])
    assert sum(int(r["amount"]) for r in lines) == recovery["total"]

    # the exception report: every run finding states its evidence in words; REPORT findings carry
    # the lineage of the earlier payment they are about
    report = services.export_exceptions(ctx, run["run_id"], tmp_path / "exceptions.jsonl", "jsonl")
    rows = [json.loads(x) for x in Path(report["path"]).read_text(encoding="utf-8").splitlines()]
    run_rows = [r for r in rows if r["stage"] == "run"]
    assert run_rows and all(r["evidence"] for r in run_rows)
    vanished = [r for r in rows if r["code"] == "PAYEE_VANISHED"]
    planted = [p for p in want["planted"] if p["code"] == "PAYEE_VANISHED"]
    assert [(r["branch_code"], r["pension_id"], r["row"]) for r in vanished] == [
        (p["branch"], p["pension_id"], p["row"]) for p in planted]
    assert vanished[0]["severity"] == "REPORT" and "no death recorded" in vanished[0]["evidence"]
    variant = next(r for r in rows if r["code"] == "NAME_VARIANT")
    assert variant["severity"] == "WARN" and "similarity" in variant["evidence"]
    assert variant["detail"]["name_score"] > variant["detail"]["threshold"]


def test_pension_recovery_command(ctx: Context, plan: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _november_after_history(ctx, plan)
    monkeypatch.setenv("PENSION_HOME", str(ctx.home))
    monkeypatch.setenv("PENSION_DB_URL", ctx.settings.database_url)
    capsys.readouterr()
    assert cli.main(["recovery", "--period", plan["period"], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == 2 and listed["currency"] == "IRR"
    assert cli.main(["recovery", "--period", plan["period"], "--out", str(tmp_path / "r.csv")]) == 0
    said = capsys.readouterr().out
    assert "2 deceased payee(s) were paid" in said and "died 2026-08-14: 2 payment(s) 2026-09, 2026-10" in said
    assert (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()[0] == (
        "national_id,date_of_death,period,run_id,branch_code,pension_id,end_to_end_id,amount")
    assert cli.main(["recovery", "--period", "2026-12", "--json"]) == 1


def test_recovery_list_of_a_period_without_a_run_is_refused(ctx: Context) -> None:
    with pytest.raises(Refused) as e:
        services.recovery_list(ctx, "2026-11")
    assert e.value.code == "NOT_FOUND"
