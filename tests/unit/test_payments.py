"""Unit tests for payroll.payments: references, consolidation with lineage, payments and totals."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from payroll.checks import Reference
from payroll.country import profile
from payroll.identifiers import iban, ir_nid
from payroll.intake import PAYEE_COLUMNS, read_payee_file
from payroll.payments import (
    PAYMENTS_SCHEMA,
    account_banks,
    build_payments,
    consolidate,
    consolidate_table,
    end_to_end_id,
    end_to_end_ids,
    to_table,
    totals_by,
)
from payroll.period import Period
from tests.unit.test_intake import loose_gate

PERIOD = Period(2026, 11)
IR = profile("IR")
SHA_A = "a" * 64
SHA_B = "b" * 64


def nid(nine: str) -> str:
    return nine + ir_nid.calc_check_digit(nine)


def sheba(bban: str) -> str:
    return "IR" + iban.calc_check_digits("IR", bban) + bban


def payee(i: int, net: int = 0, **overrides: str) -> dict[str, str]:
    net = net or 900_000 + i
    row = {"pension_id": f"P{i:05d}", "national_id": nid(f"{200000000 + i:09d}"), "full_name": f"Payee {i}",
           "birth_date": "1950-06-15", "benefit_type": "OLD_AGE", "gross_amount": str(net + 10_000),
           "deduction_amount": "10000", "net_amount": str(net), "account_code": sheba(f"0120{i:018d}")}
    row.update(overrides)
    return row


def accepted_table(rows: list[dict[str, str]]) -> pa.Table:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PAYEE_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    r = read_payee_file(buf.getvalue().encode(), "branch.csv", profile=IR, period=PERIOD, gate=loose_gate)
    assert r.status == "accepted" and r.row_errors == []
    return r.accepted_table()


# --------------------------------------------------------------------------- end_to_end_id

BASE = ("2026-11", "B001", "P00001", "0013542419")


def test_end_to_end_id_is_deterministic_short_and_ascii() -> None:
    ref = end_to_end_id(*BASE)
    assert ref == end_to_end_id(*BASE)
    assert len(ref) <= 35
    assert re.fullmatch(r"[A-Za-z0-9]+", ref, re.ASCII)
    assert ref.startswith("PEN202611")


@pytest.mark.parametrize("position", range(4))
def test_end_to_end_id_changes_with_every_key_part(position: int) -> None:
    changed = list(BASE)
    changed[position] = {0: "2026-12", 1: "B002", 2: "P00002", 3: "0013542427"}[position]
    assert end_to_end_id(*changed) != end_to_end_id(*BASE)


def test_end_to_end_id_does_not_confuse_shifted_parts() -> None:
    assert end_to_end_id("2026-11", "B0011", "P1", "N") != end_to_end_id("2026-11", "B001", "1P1", "N")


EDGE_PARTS = ["", "|", "a|b", "'", "''", '"', "\\", "%", "_", "ۀ۰۱۲", "٠١٢", "ي ك", "\u200c", "é", "e\u0301", "😀",
              " lead", "trail ", "x" * 200, "B001", "0013542419", "NULL", "None"]


def test_end_to_end_ids_in_one_pass_equal_the_per_row_function() -> None:
    rng = np.random.default_rng(17)
    n = 20_000
    branches = [f"B{i:03d}" for i in rng.integers(0, 600, n)]
    pensions = [f"P{i:08d}" for i in rng.integers(0, 10**8, n)]
    nids = [f"{i:010d}" for i in rng.integers(0, 10**10, n)]
    for i, part in enumerate(EDGE_PARTS):  # every edge case in every position
        branches[i], pensions[i + 100], nids[i + 200] = part, part, part
        branches[i + 300], pensions[i + 300], nids[i + 300] = part, part, part
    keys = rng.permutation(n) * 3 + 5  # row keys neither dense nor in order
    rows = pd.DataFrame({"branch_code": branches, "pension_id": pensions, "national_id": nids},
                        index=pd.Index(keys, name="row_key"))
    for period in ("2026-11", "1405-08", "2026-12"):
        got = end_to_end_ids(period, rows)
        assert len(got) == n
        want = {k: end_to_end_id(period, b, p, i) for k, b, p, i in zip(keys, branches, pensions, nids, strict=True)}
        assert got.to_dict() == want
    # the same from an Arrow table and from a Parquet file
    table = pa.Table.from_pandas(rows.reset_index(), preserve_index=False)
    assert end_to_end_ids("2026-11", table).to_dict() == end_to_end_ids("2026-11", rows).to_dict()


def test_end_to_end_ids_of_a_missing_part_equal_the_per_row_function() -> None:
    rows = pd.DataFrame({"branch_code": ["B1", None], "pension_id": [None, "P"], "national_id": ["N", "N"]},
                        index=pd.Index([0, 1], name="row_key"), dtype=object)
    got = end_to_end_ids("2026-11", rows)
    assert list(got) == [end_to_end_id("2026-11", "B1", None, "N"),  # type: ignore[arg-type]
                         end_to_end_id("2026-11", None, "P", "N")]  # type: ignore[arg-type]


def test_account_banks_from_a_frame_and_a_parquet_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = pd.DataFrame({"account_code": ["A1", "A2", "A9"]}, index=pd.Index([7, 3, 5], name="row_key"))
    accounts = pd.DataFrame({"account_code": ["A1", "A2"], "bank_code": ["011", "012"]})
    path = tmp_path / "accounts.parquet"
    accounts.to_parquet(path)
    for acc in (accounts, path):
        assert account_banks(rows, acc).to_dict() == {3: "012", 5: "", 7: "011"}


# --------------------------------------------------------------------------- consolidate


def _parts() -> list[tuple[int, str, str, pa.Table]]:
    return [
        (12, "B002", SHA_B, accepted_table([payee(21), payee(22)])),
        (11, "B001", SHA_A, accepted_table([payee(11), payee(12), payee(13)])),
    ]


def test_consolidate_keeps_lineage_and_sorts_by_branch_then_row() -> None:
    rows = consolidate(_parts())
    assert rows.index.name == "row_key"
    assert rows.index.tolist() == [0, 1, 2, 3, 4]
    assert list(zip(rows["submission_id"], rows["branch_code"], rows["source_sha256"], rows["row_no"],
                    rows["pension_id"], strict=True)) == [
        (11, "B001", SHA_A, 2, "P00011"),
        (11, "B001", SHA_A, 3, "P00012"),
        (11, "B001", SHA_A, 4, "P00013"),
        (12, "B002", SHA_B, 2, "P00021"),
        (12, "B002", SHA_B, 3, "P00022"),
    ]
    assert rows["net_amount"].dtype == np.int64
    assert rows["net_amount"].tolist() == [900_011, 900_012, 900_013, 900_021, 900_022]
    assert list(rows.columns[:4]) == ["submission_id", "branch_code", "source_sha256", "row_no"]


# --------------------------------------------------------------------------- build_payments


def _reference(rows: pd.DataFrame) -> Reference:
    reg = rows[["national_id", "full_name", "birth_date"]].astype(str)
    accounts = pd.DataFrame({
        "account_code": rows["account_code"],
        "bank_code": ["012", "012", "062", "012", "055"],
        "holder_national_id": rows["national_id"],
        "dedicated": True,
        "status": ["open", "open", "open", "closed", "open"],
    })
    deaths = pd.DataFrame({"national_id": [rows.loc[4, "national_id"]], "date_of_death": ["2026-11-20"]})
    return Reference(registry=reg.reset_index(drop=True), deaths=deaths, accounts=accounts.iloc[[0, 2, 3, 4]])


def test_build_payments_sets_status_bank_and_unique_references() -> None:
    rows = consolidate(_parts())
    payments, exceptions = build_payments(rows, _reference(rows), PERIOD)
    assert list(payments.columns) == list(PAYMENTS_SCHEMA.names)
    assert payments["row_key"].tolist() == [0, 1, 2, 3, 4]
    # row 1: account unknown (HOLD); row 3: account closed (HOLD); row 4: died in the period (WARN, paid)
    assert payments["status"].tolist() == ["PAYABLE", "HOLD", "PAYABLE", "HOLD", "PAYABLE"]
    assert payments["bank_code"].tolist() == ["012", "", "062", "012", "055"]  # from the account registry
    assert sorted(zip(exceptions["row_key"], exceptions["code"], strict=True)) == [
        (1, "ACCOUNT_UNKNOWN"), (3, "ACCOUNT_CLOSED"), (4, "DIED_IN_PERIOD")]
    refs = payments["end_to_end_id"].tolist()
    assert len(set(refs)) == 5
    assert refs[0] == end_to_end_id("2026-11", "B001", "P00011", rows.loc[0, "national_id"])
    assert all(len(x) <= 35 and re.fullmatch(r"[A-Z0-9]+", x, re.ASCII) for x in refs)
    assert payments[["submission_id", "source_sha256", "row_no"]].values.tolist()[3] == [12, SHA_B, 2]
    table = to_table(payments)
    assert table.schema.equals(PAYMENTS_SCHEMA)
    assert table.column("net_amount").type == pa.int64()


def test_build_payments_is_reproducible() -> None:
    rows = consolidate(_parts())
    first, _ = build_payments(rows, _reference(rows), PERIOD)
    again, _ = build_payments(consolidate(_parts()), _reference(rows), PERIOD)
    pd.testing.assert_frame_equal(first, again)


def _consolidate_frame_per_list(parts: list) -> pd.DataFrame:  # type: ignore[type-arg]
    """How consolidate worked before the Arrow table: a frame per list, concatenated and sorted."""
    frames = []
    for submission_id, branch, source_sha, table in parts:
        df = table.to_pandas()
        df.insert(0, "source_sha256", source_sha)
        df.insert(0, "branch_code", branch)
        df.insert(0, "submission_id", submission_id)
        frames.append(df)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["branch_code", "row_no"], kind="stable").reset_index(drop=True)
    rows.index.name = "row_key"
    return rows


def test_the_run_parquet_has_the_same_bytes_as_from_a_frame_per_list() -> None:
    """The run's content hash (which the approvals and the release manifest bind to) does not change
    with the columnar consolidation: same dtypes (the lists' nullable Int32 shares), same Parquet bytes."""
    import pyarrow.parquet as pq

    old_rows = _consolidate_frame_per_list(_parts())
    pd.testing.assert_frame_equal(consolidate(_parts()), old_rows)
    ref = _reference(old_rows)
    old, _ = build_payments(old_rows, ref, PERIOD)
    new, _ = build_payments(consolidate_table(_parts()), ref, PERIOD)

    def parquet_bytes(frame: pd.DataFrame) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(to_table(frame), sink, compression="zstd")
        return bytes(sink.getvalue().to_pybytes())

    assert to_table(new).equals(to_table(old), check_metadata=True)
    assert parquet_bytes(new) == parquet_bytes(old)


def test_build_payments_from_the_consolidated_arrow_table_equals_from_the_frame(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = consolidate(_parts())
    table = consolidate_table(_parts())
    assert table.column_names[0] == "row_key" and table["row_key"].to_pylist() == [0, 1, 2, 3, 4]
    ref = _reference(rows)
    from_frame, exc_frame = build_payments(rows, ref, PERIOD)
    from_table, exc_table = build_payments(table, ref, PERIOD)
    assert to_table(from_table).equals(to_table(from_frame))
    pd.testing.assert_frame_equal(exc_table, exc_frame)
    # the reference extracts as Parquet files give the same
    paths = {}
    for name in ("registry", "deaths", "accounts"):
        paths[name] = tmp_path / f"{name}.parquet"
        pa.Table.from_pandas(getattr(ref, name), preserve_index=False).to_pandas().to_parquet(paths[name])
    on_files, exc_files = build_payments(table, Reference(**paths), PERIOD)
    assert to_table(on_files).equals(to_table(from_frame))
    pd.testing.assert_frame_equal(exc_files, exc_frame)


# --------------------------------------------------------------------------- totals_by


def _payments_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "status": ["PAYABLE", "PAYABLE", "HOLD", "BLOCK", "PAYABLE", "HOLD"],
        "bank_code": ["012", "062", "012", "012", "012", "055"],
        "branch_code": ["B001", "B001", "B001", "B002", "B002", "B002"],
        "net_amount": np.array([100, 250, 1_000, 5_000, 7, 9], dtype=np.int64),
    })


def test_totals_by_counts_only_payable_rows() -> None:
    assert totals_by(_payments_frame(), "bank_code") == {"012": {"count": 2, "total": 107},
                                                         "062": {"count": 1, "total": 250}}
    assert totals_by(_payments_frame(), "branch_code") == {"B001": {"count": 2, "total": 350},
                                                           "B002": {"count": 1, "total": 7}}


def test_totals_by_gives_python_ints() -> None:
    out = totals_by(_payments_frame(), "bank_code")
    for v in out.values():
        assert type(v["count"]) is int and type(v["total"]) is int


def test_totals_by_nothing_payable_is_empty() -> None:
    df = _payments_frame().assign(status="HOLD")
    assert totals_by(df, "bank_code") == {}


def test_totals_by_is_exact_beyond_int64() -> None:
    n, amount = 9_300, 10**15 - 1  # every amount is one intake accepts (15 digits)
    df = pd.DataFrame({"status": "PAYABLE", "bank_code": "012", "net_amount": np.full(n, amount, dtype=np.int64)})
    assert totals_by(df, "bank_code") == {"012": {"count": n, "total": n * amount}}


def test_consolidate_sorts_rows_a_list_holds_out_of_order() -> None:
    """Branch lists are stored in row order and then need no sort; one that is not is still sorted."""
    (sid_b, b, sha_b, table_b), part_a = _parts()
    reversed_b = table_b.take(pa.array([1, 0]))
    rows = consolidate([(sid_b, b, sha_b, reversed_b), part_a])
    assert rows["row_no"].tolist() == [2, 3, 4, 2, 3]
    assert rows["pension_id"].tolist() == ["P00011", "P00012", "P00013", "P00021", "P00022"]
    assert consolidate([(sid_b, b, sha_b, reversed_b), part_a]).equals(consolidate(_parts()))
