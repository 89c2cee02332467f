"""Held payments on SQLite and PostgreSQL: who may clear a HOLD and how, and the supplementary run that
pays a cleared payment once, after checking it again against today's reference data."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select, update

from payroll import cli, services
from payroll.catalog import catalog
from payroll.errors import Refused
from payroll.services import Context
from payroll.services import holds as holds_module
from payroll.store.models import AuditEntry, HoldClearance, PeriodRelease, ReleasedFile, Run
from tests import month
from tests.conftest import SAMPLE

WHY = "Registry extract lags; the payee appeared at the branch with an identity card."



def _refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> Refused:
    with pytest.raises(Refused) as e:
        fn(*args, **kwargs)
    assert e.value.code == code, e.value.message
    return e.value


def _payments(ctx: Context, run_id: int) -> pd.DataFrame:
    with ctx.uow() as s:
        path = s.get(Run, run_id).payments_path
    return pd.read_parquet(path)


def _held(ctx: Context, run_id: int, *codes: str) -> list[dict[str, Any]]:
    """The run's held payments whose HOLD codes are exactly `codes` (planted rows of the sample month)."""
    found = [h for h in services.list_holds(ctx, run_id)["holds"] if h["codes"] == sorted(codes)]
    assert found, codes
    return found


def _released_month(ctx: Context, plan: dict, maker: str = "fin-1") -> int:
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    run = services.create_run(ctx, plan["period"], user=maker)
    for user in ("fin-2", "fin-3"):
        services.approve_run(ctx, run["run_id"], user=user)
    month.release(ctx, plan, run["run_id"])
    return int(run["run_id"])


def _approve_and_release(ctx: Context, run_id: int, approvers: tuple[str, str], out: Path | None = None
                         ) -> dict[str, Any]:
    for user in approvers:
        services.approve_run(ctx, run_id, user=user)
    return services.release_run(ctx, run_id, user="fin-1", out_dir=out)


def _load_csv(ctx: Context, tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    services.load_reference(ctx, kind, path)


def _clearances(ctx: Context) -> dict[str, HoldClearance]:
    with ctx.uow() as s:
        return {c.end_to_end_id: c for c in s.execute(select(HoldClearance)).scalars()}


def _audit_actions(ctx: Context, action: str) -> int:
    with ctx.uow() as s:
        return s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
                         ).scalar_one()


def test_clearing_a_hold_needs_a_released_run_a_held_row_the_role_another_person_and_a_reason(
        ctx: Context, plan: dict, expected: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _load_csv(ctx, tmp_path, "users", "user_id,name,role,branch_code,province_code\n"
                                      "lead-2,Second Lead,finance_lead,,\n")
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    run = services.create_run(ctx, plan["period"], user="lead-1")  # a finance lead makes this run
    rid = int(run["run_id"])
    for user in ("fin-2", "fin-3"):
        services.approve_run(ctx, rid, user=user)
    held = _held(ctx, rid, "NOT_IN_REGISTRY")[0]
    target, amount = held["end_to_end_id"], held["net_amount"]
    _refused("RUN_NOT_RELEASED", services.clear_hold, ctx, rid, target, user="lead-2", justification=WHY)
    month.release(ctx, plan, rid)

    holds = services.list_holds(ctx, rid)
    t = expected["totals"]
    assert (holds["held_count"], holds["held_total"]) == (t["held_count"], t["held_total"])
    assert sum(h["net_amount"] for h in holds["holds"]) == t["held_total"]
    assert (holds["cleared_count"], holds["awaiting_payment_count"], holds["clearable"]) == (0, 0, True)
    assert all(h["clearable_by"] == ["finance_lead"] and h["clearance"] is None for h in holds["holds"])
    assert {e["code"] for h in holds["holds"] for e in h["findings"] if e["severity"] == "HOLD"} == \
        {c for c, n in t["findings"].items() if n and catalog()[c].severity == "HOLD"}
    payments = _payments(ctx, rid).set_index("end_to_end_id")
    assert payments.at[target, "net_amount"] == amount and payments.at[target, "status"] == "HOLD"
    blocked = payments.index[payments["status"] == "BLOCK"].tolist()
    payable = payments.index[payments["status"] == "PAYABLE"][0]
    assert len(blocked) == t["blocked_count"]

    def clear(e2e: str = target, user: str = "lead-2", why: str = WHY) -> dict[str, Any]:
        return services.clear_hold(ctx, rid, e2e, user=user, justification=why)

    _refused("WRONG_ROLE", clear, user="fin-2")  # finance may approve runs, not clear holds
    _refused("SOD_AUDITOR_READ_ONLY", clear, user="audit-1")
    _refused("SOD_MAKER_CHECKER", clear, user="lead-1")  # the right role, but lead-1 made the run
    _refused("JUSTIFICATION_TOO_SHORT", clear, why="   checked, ok        ")
    _refused("JUSTIFICATION_TOO_SHORT", clear, why="  " + "x" * 19 + "  \n")  # 19 once stripped
    for e2e in blocked:
        assert "never cleared" in _refused("NOT_HELD", clear, e2e).message
    _refused("NOT_HELD", clear, payable)
    _refused("NOT_FOUND", clear, "PEN202611NOSUCHPAYMENT0000000")
    _refused("NOT_FOUND", services.clear_hold, ctx, 999, target, user="lead-2", justification=WHY)

    # a row with two HOLD codes needs a role that may clear both: with a catalogue in which only finance
    # clears ACCOUNT_SHARED_ACROSS_PAYEES, neither a finance lead nor a finance user may clear the row
    two = _held(ctx, rid, "ACCOUNT_NOT_OWNED", "ACCOUNT_SHARED_ACROSS_PAYEES")[0]["end_to_end_id"]
    codes = dict(catalog())
    codes["ACCOUNT_SHARED_ACROSS_PAYEES"] = dataclasses.replace(codes["ACCOUNT_SHARED_ACROSS_PAYEES"],
                                                                clear_roles="finance")
    with monkeypatch.context() as m:
        m.setattr(holds_module, "catalog", lambda: codes)
        assert "ACCOUNT_SHARED_ACROSS_PAYEES by finance" in _refused("WRONG_ROLE", clear, two).message
        assert "ACCOUNT_NOT_OWNED by finance_lead" in _refused("WRONG_ROLE", clear, two, user="fin-2").message
    assert _clearances(ctx) == {} and _audit_actions(ctx, "hold.clear") == 0

    done = clear(why="x" * 20)
    assert (done["run_id"], done["end_to_end_id"], done["codes"], done["net_amount"]) == \
        (rid, target, ["NOT_IN_REGISTRY"], amount)
    assert (done["cleared_by"], done["role"], done["paid_in_run_id"], done["period"]) == \
        ("lead-2", "finance_lead", None, "2026-11")
    _refused("ALREADY_CLEARED", clear)
    _refused("ALREADY_CLEARED", clear, user="lead-1")
    assert list(_clearances(ctx)) == [target] and _audit_actions(ctx, "hold.clear") == 1
    holds = services.list_holds(ctx, rid)
    assert (holds["cleared_count"], holds["awaiting_payment_count"]) == (1, 1)
    entry = next(h for h in holds["holds"] if h["end_to_end_id"] == target)["clearance"]
    assert (entry["cleared_by"], entry["codes"], entry["justification"]) == ("lead-2", ["NOT_IN_REGISTRY"], "x" * 20)
    assert services.verify_audit(ctx)["ok"]


def test_a_cleared_payment_is_paid_once_by_a_supplementary_run_after_a_fresh_check(
        ctx: Context, plan: dict, expected: dict, tmp_path: Path) -> None:
    period = plan["period"]
    month.approve_all(ctx, plan, month.submit_all(ctx, plan))
    main = services.create_run(ctx, period, user="fin-1")
    rid = int(main["run_id"])
    _refused("PERIOD_NOT_RELEASED", services.create_supplementary_run, ctx, period, user="fin-2")
    for user in ("fin-2", "fin-3"):
        services.approve_run(ctx, rid, user=user)
    first = month.release(ctx, plan, rid, tmp_path / "main")
    _refused("NOTHING_CLEARED", services.create_supplementary_run, ctx, period, user="fin-2")

    identity = _held(ctx, rid, "IDENTITY_MISMATCH")
    rows = {"unknown": _held(ctx, rid, "ACCOUNT_UNKNOWN")[0], "registry": _held(ctx, rid, "NOT_IN_REGISTRY")[0],
            "identity": identity[0], "closed": _held(ctx, rid, "ACCOUNT_CLOSED")[0], "identity2": identity[1]}
    e2e = {name: h["end_to_end_id"] for name, h in rows.items()}
    amount = {name: h["net_amount"] for name, h in rows.items()}
    # the account registry does not know the account: its SHEBA names the bank (IRkk BBB ...)
    assert rows["unknown"]["bank_code"] == ""
    bank = {**{name: h["bank_code"] for name, h in rows.items()}, "unknown": rows["unknown"]["account_code"][4:7]}
    for e in e2e.values():
        services.clear_hold(ctx, rid, e, user="lead-1", justification=WHY)

    # since the clearances: the payee of the closed account died before the period; the account of the
    # second identity mismatch was closed
    deaths = (SAMPLE / plan["deaths"]).read_text(encoding="utf-8") + f"{rows['closed']['national_id']},2026-09-30\n"
    _load_csv(ctx, tmp_path, "deaths", deaths)
    lines = (SAMPLE / "accounts.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    closing = [i for i, line in enumerate(lines) if line.startswith(rows["identity2"]["account_code"] + ",")]
    assert len(closing) == 1 and lines[closing[0]].rstrip().endswith(",open")
    lines[closing[0]] = lines[closing[0]].rstrip()[:-len("open")] + "closed\n"
    _load_csv(ctx, tmp_path, "accounts", "".join(lines))
    paid_now = ("unknown", "registry", "identity")
    total = sum(amount[n] for n in paid_now)
    per_bank: dict[str, dict[str, int]] = {}
    for n in paid_now:
        b = per_bank.setdefault(bank[n], {"count": 0, "total": 0})
        b["count"] += 1
        b["total"] += amount[n]

    _refused("SOD_CLEARER_MAKES_RUN", services.create_supplementary_run, ctx, period, user="lead-1")
    _refused("WRONG_ROLE", services.create_supplementary_run, ctx, period, user="audit-1")
    older = services.create_supplementary_run(ctx, period, user="fin-3")
    sup = services.create_supplementary_run(ctx, period, user="fin-2")
    assert services.show_run(ctx, older["run_id"])["status"] == "superseded"
    assert sup["content_sha256"] == older["content_sha256"]
    assert (sup["kind"], sup["parent_run_id"], sup["period"], sup["status"]) == \
        ("supplementary", rid, period, "awaiting_approval")
    assert (sup["rows"], sup["payable_count"], sup["held_count"], sup["blocked_count"]) == (5, 3, 1, 1)
    assert sup["payable_total"] == total
    assert sup["exceptions"] == {"ACCOUNT_CLOSED": 2, "ACCOUNT_UNKNOWN": 1, "DECEASED": 1, "IDENTITY_MISMATCH": 2,
                                 "NOT_IN_REGISTRY": 1}
    assert sup["per_bank"] == dict(sorted(per_bank.items()))
    assert (sup["intake_rejections"], sup["missing_branches"]) == ({}, [])
    status = {c["end_to_end_id"]: c["status"] for c in sup["clearances"]}
    assert status == {e2e["unknown"]: "PAYABLE", e2e["registry"]: "PAYABLE", e2e["identity"]: "PAYABLE",
                      e2e["closed"]: "BLOCK", e2e["identity2"]: "HOLD"}
    sid = int(sup["run_id"])
    copied = _payments(ctx, sid).set_index("end_to_end_id")
    original = _payments(ctx, rid).set_index("end_to_end_id")
    assert sorted(copied.index) == sorted(e2e.values())
    for column in ("submission_id", "branch_code", "source_sha256", "row_no", "pension_id", "national_id",
                   "full_name", "birth_date", "benefit_type", "gross_amount", "deduction_amount", "net_amount",
                   "account_code"):
        assert copied[column].to_dict() == original.loc[copied.index, column].to_dict()
    _refused("RUN_NOT_RELEASED", services.clear_hold, ctx, sid, e2e["identity2"], user="lead-1", justification=WHY)
    _refused("SOD_MAKER_CHECKER", services.approve_run, ctx, sid, user="fin-2")

    released = _approve_and_release(ctx, sid, ("fin-3", "lead-1"), tmp_path / "sup")
    assert released["already_released"] is False
    paid: dict[str, int] = {}
    for f in released["files"]:
        assert f"_RUN{sid}_" in Path(f["path"]).name
        back = month.read_back(f)
        assert back.declared_count in (None, f["transactions"]) and back.declared_sum in (None, f["control_sum"])
        assert sum(a for _, a in back.transfers) == f["control_sum"]
        paid.update(dict(back.transfers))
    assert paid == {e2e[n]: amount[n] for n in paid_now}
    assert sorted(f["bank_code"] for f in released["files"]) == sorted(per_bank)
    assert {Path(f["path"]).name for f in released["files"]}.isdisjoint({Path(f["path"]).name for f in first["files"]})
    manifest = json.loads(Path(released["manifest"]).read_text(encoding="utf-8"))
    assert (manifest["kind"], manifest["parent_run_id"], manifest["transactions"], manifest["control_sum"]) == \
        ("supplementary", rid, 3, total)
    # the same payments were never in the main run's bank files
    sent_before = set(month.sent(first["files"]))
    assert sent_before.isdisjoint(paid) and len(sent_before) == expected["totals"]["payable_count"]
    with ctx.uow() as s:
        assert [(p.period, p.run_id) for p in s.execute(select(PeriodRelease)).scalars()] == [(period, rid)]
    cleared = _clearances(ctx)
    assert {k: (c.paid_in_run_id, c.closed_in_run_id) for k, c in cleared.items()} == {
        e2e["unknown"]: (sid, None), e2e["registry"]: (sid, None), e2e["identity"]: (sid, None),
        e2e["closed"]: (None, sid), e2e["identity2"]: (None, sid)}

    assert services.list_holds(ctx, rid)["awaiting_payment_count"] == 0
    again = services.list_holds(ctx, sid)
    assert [(h["end_to_end_id"], h["codes"]) for h in again["holds"]] == \
        [(e2e["identity2"], ["ACCOUNT_CLOSED", "IDENTITY_MISMATCH"])]
    _refused("NOTHING_CLEARED", services.create_supplementary_run, ctx, period, user="fin-2")
    _refused("ALREADY_PAID", services.clear_hold, ctx, rid, e2e["registry"], user="lead-1", justification=WHY)
    assert "clear it on that run" in _refused("ALREADY_CLEARED", services.clear_hold, ctx, rid, e2e["identity2"],
                                              user="lead-1", justification=WHY).message
    _refused("NOT_HELD", services.clear_hold, ctx, sid, e2e["closed"], user="lead-1", justification=WHY)
    _refused("NOT_HELD", services.clear_hold, ctx, sid, e2e["registry"], user="lead-1", justification=WHY)
    assert services.release_run(ctx, sid, user="fin-1")["files"] == [
        {**f, "path": str(Path(released["archive"]) / Path(f["path"]).name)} for f in released["files"]]

    # the account was closed on purpose and the payee asked to be paid to it: cleared on the supplementary run
    cleared_again = services.clear_hold(ctx, sid, e2e["identity2"], user="lead-1", justification=WHY)
    assert cleared_again["codes"] == ["ACCOUNT_CLOSED", "IDENTITY_MISMATCH"]
    third = services.create_supplementary_run(ctx, period, user="fin-3")
    assert (third["rows"], third["payable_count"], third["payable_total"], third["parent_run_id"]) == \
        (1, 1, amount["identity2"], rid)
    done = _approve_and_release(ctx, int(third["run_id"]), ("fin-2", "lead-1"))
    assert [(f["bank_code"], f["transactions"], f["control_sum"]) for f in done["files"]] == \
        [(bank["identity2"], 1, amount["identity2"])]
    assert list(month.sent(done["files"])) == [e2e["identity2"]]
    with ctx.uow() as s:
        assert [(c.run_id, c.paid_in_run_id, c.closed_in_run_id) for c in s.execute(
            select(HoldClearance).where(HoldClearance.end_to_end_id == e2e["identity2"]).order_by(HoldClearance.id))
            .scalars()] == [(rid, None, sid), (sid, third["run_id"], None)]
        totals = s.execute(select(func.sum(ReleasedFile.control_sum), func.sum(ReleasedFile.transactions))).one()
    assert tuple(totals) == (expected["totals"]["payable_total"] + total + amount["identity2"],
                             expected["totals"]["payable_count"] + 4)
    _refused("NOTHING_CLEARED", services.create_supplementary_run, ctx, period, user="fin-2")
    assert _audit_actions(ctx, "hold.clear") == 6
    report = services.verify_audit(ctx)
    assert report["ok"], report


def test_clearers_and_releases_that_race_settle_a_payment_once(
        ctx: Context, plan: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _released_month(ctx, plan)
    held = _held(ctx, rid, "NOT_IN_REGISTRY")[0]
    target = held["end_to_end_id"]
    outcomes: list[str] = []

    def clear() -> None:
        try:
            services.clear_hold(ctx, rid, target, user="lead-1", justification=WHY)
            outcomes.append("cleared")
        except Refused as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=clear) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ALREADY_CLEARED", "cleared"]  # two clearers at once: one clearance
    sup = services.create_supplementary_run(ctx, plan["period"], user="fin-2")
    sid = int(sup["run_id"])
    for user in ("fin-3", "fin-1"):
        services.approve_run(ctx, sid, user=user)
    import payroll.services.release as release_module

    real = release_module._settlement

    def raced(session: Any, run: Run) -> tuple[list[int], list[int]]:
        got = real(session, run)  # the clearance was open when checked ...
        session.execute(update(HoldClearance).values(paid_in_run_id=rid))  # ... and paid just after
        return got

    monkeypatch.setattr(release_module, "_settlement", raced)
    _refused("CLEARANCE_SPENT", services.release_run, ctx, sid, user="fin-1")
    monkeypatch.undo()
    with ctx.uow() as s:
        assert s.get(Run, sid).status == "approved"
        assert s.execute(select(func.count()).select_from(ReleasedFile).where(ReleasedFile.run_id == sid)
                         ).scalar_one() == 0
        assert s.execute(select(HoldClearance.paid_in_run_id)).scalars().all() == [None]
        s.execute(update(HoldClearance).values(paid_in_run_id=rid))  # now another run really did pay it
    _refused("CLEARANCE_SPENT", services.release_run, ctx, sid, user="fin-1")
    with ctx.uow() as s:
        s.execute(update(HoldClearance).values(paid_in_run_id=None))
    done = services.release_run(ctx, sid, user="fin-1")
    assert [(f["transactions"], f["control_sum"]) for f in done["files"]] == [(1, held["net_amount"])]
    assert _clearances(ctx)[target].paid_in_run_id == sid
    assert services.verify_audit(ctx)["ok"]


def test_the_hold_commands(ctx: Context, plan: dict, expected: dict, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    rid = _released_month(ctx, plan)
    monkeypatch.setenv("PENSION_HOME", str(ctx.home))
    monkeypatch.setenv("PENSION_DB_URL", ctx.settings.database_url)

    def run(*args: str, status: int = 0) -> dict[str, Any]:
        capsys.readouterr()
        assert cli.main([*args, "--json"]) == status
        return json.loads(capsys.readouterr().out)

    listed = run("hold", "list", str(rid))
    assert (listed["held_count"], listed["held_total"]) == (expected["totals"]["held_count"],
                                                            expected["totals"]["held_total"])
    held = _held(ctx, rid, "IDENTITY_MISMATCH")[0]
    target = held["end_to_end_id"]
    cleared = run("hold", "clear", str(rid), target, "--as", "lead-1", "--justification", WHY)
    assert (cleared["end_to_end_id"], cleared["codes"]) == (target, ["IDENTITY_MISMATCH"])
    again = run("hold", "clear", str(rid), target, "--as", "lead-1", "--justification", WHY, status=1)
    assert again["error"]["code"] == "ALREADY_CLEARED"
    short = run("hold", "clear", str(rid), _held(ctx, rid, "NOT_IN_REGISTRY")[0]["end_to_end_id"], "--as", "lead-1", "--justification",
                "ok", status=1)
    assert short["error"]["code"] == "JUSTIFICATION_TOO_SHORT"
    sup = run("run", "supplementary", "--period", plan["period"], "--as", "fin-2")
    assert (sup["kind"], sup["payable_count"], sup["payable_total"]) == ("supplementary", 1, held["net_amount"])
    capsys.readouterr()
    assert cli.main(["hold", "list", str(rid)]) == 0
    assert "cleared by lead-1" in capsys.readouterr().out
