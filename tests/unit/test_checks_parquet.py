"""Every check gives the same findings, kept rows and statuses whether its tables are pandas frames,
Arrow tables or Parquet files read in place (the way the run reads its rows and the reference extracts
from their content-addressed objects)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from payroll.checks import Reference, engine
from payroll.checks.pipeline import CHECKS, ROW_CHECKS, run_checks
from payroll.legs import split_over_cap
from payroll.period import Period
from tests.unit.test_checks import reference, rows_frame
from tests.unit.test_checks_deep import (
    _anomaly_case,
    _names_case,
    _repeated_changes,
    payment,
    released,
    row,
    with_,
)

PERIOD = Period(2026, 11)


def _mixed_case(tmp_path: Path) -> tuple[pd.DataFrame, Reference]:
    """Findings of every row-local and population check at once."""
    rows = rows_frame(
        row("N1"), row("N2", full_name="Alexander Hamiltom"), row("N3", birth_date="1960-01-01"),
        row("N4", branch_code="B002"), row("N4", pension_id="P-N4b", branch_code="B003"),   # duplicate person
        row("D1", benefit_type="OLD_AGE", pension_id="P-D1a"),
        row("D1", benefit_type="SURVIVOR", pension_id="P-D1b"),                               # double benefit
        row("S1", account_code="ACC-SHARED"), row("S2", account_code="ACC-SHARED"),           # shared account
        row("C1"), row("U1", account_code="ACC-NOWHERE"), row("O1"), row("ND"),                # account problems
        row("X1"), row("X2"),                                                                  # deaths
        row("V1", insured_id="I1", share_bp=6000), row("V2", insured_id="I1", share_bp=5000),  # survivors > 100%
        row("Z1", net_amount=3_000_000),                                                       # jump
        row("Q'1", full_name="O'Brien \"Q\""),                                                 # quotes
        row("PD", pension_id="P-X2"),                                                          # pension id twice
    )
    rows["insured_id"] = rows["insured_id"].astype(object).where(rows["insured_id"].notna(), None)
    rows["share_bp"] = rows["share_bp"].astype("Int32")
    base = reference(rows, deaths_rows=[{"national_id": "X1", "date_of_death": "2026-10-02"},
                                        {"national_id": "X2", "date_of_death": "2026-11-20"},
                                        {"national_id": "P9", "date_of_death": "2026-08-01"}])
    registry = base.registry.copy()
    registry.loc[registry["national_id"] == "N2", "full_name"] = "Alexander Hamilton"
    registry.loc[registry["national_id"] == "N3", "birth_date"] = "1955-03-01"
    registry = registry[registry["national_id"] != "N1"]
    accounts = base.accounts.copy()
    accounts.loc[accounts["account_code"] == "ACC-C1", "status"] = "closed"
    accounts.loc[accounts["account_code"] == "ACC-O1", "holder_national_id"] = "SOMEONE"
    accounts.loc[accounts["account_code"] == "ACC-ND", "dedicated"] = False
    accounts = accounts[accounts["account_code"] != "ACC-NOWHERE"].drop_duplicates("account_code")
    runs = [released(tmp_path, "2026-09", 9, payment("P9"), payment("Z1")),
            released(tmp_path, "2026-10", 10, payment("P9"), payment("Z1"), payment("GONE"),
                     payment("C1", account_code="ACC-OLD"))]
    ref = with_(dataclasses.replace(base, registry=registry, accounts=accounts.reset_index(drop=True)), *runs,
                double_benefits=())
    return rows, ref


CASES: dict[str, Callable[[Path], tuple[pd.DataFrame, Reference]]] = {
    "names": lambda tmp: _names_case(),
    "repeated_changes": _repeated_changes,
    "anomalies": _anomaly_case,
    "mixed": _mixed_case,
}


def _to_parquet(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def as_paths(tmp_path: Path, rows: pd.DataFrame, ref: Reference) -> tuple[Path, Reference]:
    rows_path = _to_parquet(tmp_path, "rows", rows.reset_index(names="row_key"))
    return rows_path, dataclasses.replace(ref, registry=_to_parquet(tmp_path, "registry", ref.registry),
                                          deaths=_to_parquet(tmp_path, "deaths", ref.deaths),
                                          accounts=_to_parquet(tmp_path, "accounts", ref.accounts))


def as_arrow(rows: pd.DataFrame, ref: Reference) -> tuple[pa.Table, Reference]:
    def t(f: pd.DataFrame) -> pa.Table:
        return pa.Table.from_pandas(f, preserve_index=False)
    return t(rows.reset_index(names="row_key")), dataclasses.replace(
        ref, registry=t(ref.registry), deaths=t(ref.deaths), accounts=t(ref.accounts))


def _plain(exceptions: pd.DataFrame) -> list[tuple[int, str, Any]]:
    return [(int(k), c, d) for k, c, d in zip(exceptions["row_key"], exceptions["code"], exceptions["detail"],
                                              strict=True)]


def _kept_keys(kept: Any) -> list[int]:
    if isinstance(kept, pd.DataFrame):
        return [int(k) for k in kept.index]
    return [int(k) for k in kept["row_key"].to_pylist()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_check_on_parquet_files_and_arrow_tables_equals_the_check_on_frames(case: str, tmp_path: Path) -> None:
    rows, ref = CASES[case](tmp_path)
    rows_path, ref_paths = as_paths(tmp_path, rows, ref)
    rows_arrow, ref_arrow = as_arrow(rows, ref)
    found_any = False
    for check in CHECKS:
        on_frames = check(rows, ref, PERIOD)
        found_any = found_any or len(on_frames.exceptions) > 0
        for other_rows, other_ref in ((rows_path, ref_paths), (rows_arrow, ref_arrow)):
            other = check(other_rows, other_ref, PERIOD)
            assert _plain(other.exceptions) == _plain(on_frames.exceptions), (case, check)
            assert _kept_keys(other.kept) == _kept_keys(on_frames.kept), (case, check)
    assert found_any


@pytest.mark.parametrize("case", sorted(CASES))
def test_pipeline_on_parquet_files_gives_the_same_statuses_and_findings(case: str, tmp_path: Path) -> None:
    rows, ref = CASES[case](tmp_path)
    rows_path, ref_paths = as_paths(tmp_path, rows, ref)
    for checks in (CHECKS, ROW_CHECKS):
        status, exc = run_checks(rows, ref, PERIOD, checks=checks)
        status_p, exc_p = run_checks(rows_path, ref_paths, PERIOD, checks=checks)
        assert status_p.to_dict() == status.to_dict()
        assert _plain(exc_p) == _plain(exc)
        assert list(exc_p["severity"]) == list(exc["severity"])


def test_the_cap_split_reads_the_account_registry_from_a_parquet_file(tmp_path: Path) -> None:
    rows = rows_frame(row("K1", net_amount=2_000_000), row("K2", net_amount=1_000_000), row("K3", net_amount=3_000_000))
    rows["status"] = "PAYABLE"
    ref = reference(rows)
    accounts = pd.concat([ref.accounts, pd.DataFrame([
        {"account_code": "ORD-K1-B", "bank_code": "088", "holder_national_id": "K1", "dedicated": False,
         "status": "open"},
        {"account_code": "ORD-K1-A", "bank_code": "081", "holder_national_id": "K1", "dedicated": False,
         "status": "open"},
        {"account_code": "ORD-K3", "bank_code": "081", "holder_national_id": "K3", "dedicated": False,
         "status": "closed"}])], ignore_index=True)
    path = _to_parquet(tmp_path, "accounts", accounts)
    out, findings = split_over_cap(rows, accounts, 1_850_000)
    out_p, findings_p = split_over_cap(rows, path, 1_850_000)
    pd.testing.assert_frame_equal(out_p, out)
    assert _plain(findings_p) == _plain(findings)
    assert list(out["excess_account_code"]) == ["ORD-K1-A", "", ""]
    assert sorted(findings["code"]) == ["CAP_EXCESS_HELD", "CAP_SPLIT"]


def test_duckdb_runs_under_the_configured_memory_limit_and_spill_folder(tmp_path: Path) -> None:
    spill = tmp_path / "home" / "tmp" / "duckdb"
    try:
        engine.configure("123MB", spill)
        assert spill.is_dir() and (spill.stat().st_mode & 0o777) == 0o700
        got = engine.query("SELECT current_setting('memory_limit') AS m, current_setting('temp_directory') AS t")
        assert got["t"].iloc[0] == str(spill)
        assert got["m"].iloc[0].replace(" ", "") in ("117.3MiB", "123.0MB", "123MB")
    finally:
        engine.configure()


def test_queries_in_threads_see_only_their_own_tables(tmp_path: Path) -> None:
    """Each query runs on a cursor of its own: the same table name in two threads is two tables."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> list[int]:
        path = _to_parquet(tmp_path, f"t{i}", pd.DataFrame({"x": [i] * (i + 1)}))
        frame = pd.DataFrame({"x": [i * 10]})
        got = engine.query("SELECT x FROM t UNION ALL SELECT x FROM f ORDER BY x", t=path, f=frame)
        return [int(v) for v in got["x"]]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(12)))
    assert results == [[i] * (i + 1) + [i * 10] for i in range(12)]
