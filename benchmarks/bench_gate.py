"""Benchmark of the data-quality gate on a synthetic normalized IR payee frame.

    .venv/bin/python benchmarks/bench_gate.py [--rows 1000000] [--seed 7] [--compare-suite]

Builds the frame intake would hand over (valid national codes and SHEBAs computed with vectorized
check digits, verified on a sample against ``ir_nid.calc_check_digit`` and ``iban.calc_check_digits``),
plants about 1% bad rows of several kinds, runs ``run_gate`` and prints total seconds, peak RSS,
findings (per code) and each expectation's own seconds. ``--compare-suite`` also validates the suite
in one GX call on the same frame, to show what measuring each expectation alone costs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from payroll.benefits import benefit_rules  # noqa: E402
from payroll.country import profile  # noqa: E402
from payroll.identifiers import iban, ir_nid  # noqa: E402
from payroll.period import Period  # noqa: E402

PERIOD = Period(2026, 11)
BAD_KINDS = (
    "nid_check", "nid_length", "sheba_check", "foreign_iban", "unknown_type", "gross_low", "gross_high",
    "net_mismatch", "negative_deduction", "future_birth", "too_young", "duplicate_key", "shared_account",
    "missing_name", "bad_pension_id",
)


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative int64 numbers, most significant first: shape (n, width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers) % 10


def _text(digits: np.ndarray) -> pd.Series:
    raw = (digits.astype(np.uint8) + ord("0")).tobytes()
    width = digits.shape[1]
    return pd.Series([raw[i : i + width].decode("ascii") for i in range(0, len(raw), width)], dtype="str")


def national_ids(first_nine: np.ndarray) -> pd.Series:
    """Valid Iranian national codes for 9-digit serials (mod 11 check digit, vectorized)."""
    d = _digits(first_nine, 9)
    r = (d @ np.arange(10, 1, -1, dtype=np.int64)) % 11
    check = np.where(r < 2, r, 11 - r)
    return _text(np.hstack([d, check[:, None]]))


def shebas(bank: str, accounts: np.ndarray) -> pd.Series:
    """Valid SHEBAs: IR + check digits + bank code (3) + 19-digit account (ISO 7064 mod 97-10)."""
    bban = np.hstack([np.tile(np.array([int(c) for c in bank], dtype=np.int64), (len(accounts), 1)),
                      _digits(accounts, 19)])
    # BBAN + "IR00" with I=18, R=27: the number mod 97, folded digit by digit
    tail = np.array([1, 8, 2, 7, 0, 0], dtype=np.int64)
    r = np.zeros(len(accounts), dtype=np.int64)
    for col in range(bban.shape[1]):
        r = (r * 10 + bban[:, col]) % 97
    for digit in tail:
        r = (r * 10 + digit) % 97
    check = 98 - r
    return "IR" + _text(np.stack([check // 10, check % 10], axis=1)) + _text(bban)


def build_frame(n: int, seed: int = 7) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    i = np.arange(n, dtype=np.int64)
    kind = rng.choice(np.array(["OLD_AGE", "DISABILITY", "SURVIVOR", "SURVIVOR_CHILD"]), size=n,
                      p=[0.7, 0.1, 0.15, 0.05])
    child = kind == "SURVIVOR_CHILD"
    start = np.where(child, np.datetime64("2010-01-01"), np.datetime64("1935-01-01"))
    span = np.where(child, 3650, 14600)
    birth = (start + rng.integers(0, span)).astype("datetime64[D]").astype(str)
    gross = np.where(child, rng.integers(20_000_000, 300_000_000, n), rng.integers(150_000_000, 900_000_000, n))
    deduction = rng.integers(0, 5_000_000, n)
    frame = pd.DataFrame({
        "row_no": i + 2,
        "pension_id": pd.Series("P" + pd.Series(i).astype(str).str.zfill(8), dtype="str"),
        "national_id": national_ids(100_000_000 + i),
        "full_name": pd.Series("Payee " + pd.Series(i).astype(str), dtype="str"),
        "birth_date": pd.Series(birth, dtype="str"),
        "benefit_type": pd.Series(kind, dtype="str"),
        "gross_amount": pd.array(gross, dtype="Int64"),
        "deduction_amount": pd.array(deduction, dtype="Int64"),
        "net_amount": pd.array(gross - deduction, dtype="Int64"),
        "account_code": shebas("017", 10_000_000 + i),
    })
    # the generators must agree with the identifier modules
    sample = rng.choice(n, size=min(n, 500), replace=False)
    for k in sample:
        nid, sheba = frame.at[k, "national_id"], frame.at[k, "account_code"]
        assert nid[-1] == ir_nid.calc_check_digit(nid) and ir_nid.is_valid(nid), nid
        assert sheba[2:4] == iban.calc_check_digits("IR", sheba[4:]) and iban.is_valid(sheba), sheba

    # about 1% bad rows, disjoint, of several kinds
    per_kind = max(1, n // 100 // len(BAD_KINDS))
    chosen = rng.permutation(n)[: per_kind * len(BAD_KINDS)].reshape(len(BAD_KINDS), per_kind)
    planted = dict(zip(BAD_KINDS, chosen, strict=True))
    donors = rng.permutation(n)[: per_kind * 2]
    donors = donors[~np.isin(donors, chosen)][:per_kind]

    def put(rows: np.ndarray, column: str, values: object) -> None:
        frame.loc[rows, column] = values

    nid_bad = frame.loc[planted["nid_check"], "national_id"]
    put(planted["nid_check"], "national_id", nid_bad.str.slice(0, 9) + nid_bad.str.slice(9).map(
        lambda c: str((int(c) + 1) % 10)))
    put(planted["nid_length"], "national_id", frame.loc[planted["nid_length"], "national_id"].str.slice(0, 9) + "12")
    sheba_bad = frame.loc[planted["sheba_check"], "account_code"]
    put(planted["sheba_check"], "account_code", sheba_bad.str.slice(0, 25) + sheba_bad.str.slice(25).map(
        lambda c: str((int(c) + 1) % 10)))
    put(planted["foreign_iban"], "account_code", "DE89370400440532013000")
    put(planted["unknown_type"], "benefit_type", "BONUS")
    put(planted["gross_low"], "benefit_type", "OLD_AGE")
    put(planted["gross_low"], "gross_amount", 50_000_000)
    put(planted["gross_low"], "net_amount", 50_000_000 - frame.loc[planted["gross_low"], "deduction_amount"])
    put(planted["gross_high"], "benefit_type", "DISABILITY")
    put(planted["gross_high"], "gross_amount", 2_000_000_000)
    put(planted["gross_high"], "net_amount", 2_000_000_000 - frame.loc[planted["gross_high"], "deduction_amount"])
    put(planted["net_mismatch"], "net_amount", frame.loc[planted["net_mismatch"], "net_amount"] + 1)
    put(planted["negative_deduction"], "deduction_amount", -1000)
    put(planted["negative_deduction"], "net_amount", frame.loc[planted["negative_deduction"], "gross_amount"] + 1000)
    put(planted["future_birth"], "birth_date", "2027-01-15")
    put(planted["too_young"], "benefit_type", "OLD_AGE")
    put(planted["too_young"], "birth_date", "2001-06-30")
    put(planted["duplicate_key"], "pension_id", frame.loc[donors[: per_kind], "pension_id"].to_numpy())
    put(planted["duplicate_key"], "national_id", frame.loc[donors[: per_kind], "national_id"].to_numpy())
    put(planted["shared_account"], "account_code", frame.loc[donors[: per_kind], "account_code"].to_numpy())
    put(planted["missing_name"], "full_name", None)
    put(planted["bad_pension_id"], "pension_id", "P-" + frame.loc[planted["bad_pension_id"], "pension_id"])
    return frame, planted


def _status_mib(field: str) -> float | None:
    """VmRSS / VmHWM of this process from /proc (Linux), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare-suite", action="store_true",
                        help="also validate the whole suite in one GX call (no per-expectation timing)")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    frame, planted = build_frame(args.rows, args.seed)
    print(f"frame: {len(frame):,} rows, {sum(len(v) for v in planted.values()):,} planted bad rows "
          f"({len(planted)} kinds), built in {time.perf_counter() - t:.2f} s, "
          f"{frame.memory_usage(deep=True).sum() / 2**20:.0f} MiB")

    t = time.perf_counter()
    from validations.context import gx_context
    from validations.gate import run_gate

    gx_context()
    print(f"import + GX context: {time.perf_counter() - t:.2f} s")

    rules = benefit_rules("IR")
    ir = profile("IR")
    run_gate(frame.head(50), ir, PERIOD, rules)  # warm-up: first-call costs are not the gate's
    before = _status_mib("VmRSS")
    reset = _reset_peak_rss()
    result = run_gate(frame, ir, PERIOD, rules)
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    gate_peak = _status_mib("VmHWM") if reset else None

    print(f"\ngate: {result.seconds:.2f} s total, success={result.success}, "
          f"{len(result.findings):,} findings on {result.rows_with_findings:,} rows")
    if before is not None and gate_peak is not None:
        print(f"RSS: {before:,.0f} MiB before the gate (frame, GX), peak {gate_peak:,.0f} MiB during the gate "
              f"(+{gate_peak - before:,.0f} MiB); process peak {process_peak:,.0f} MiB")
    else:
        print(f"peak RSS of the process (frame building included): {process_peak:,.0f} MiB")
    for code, count in result.findings["code"].value_counts().sort_index().items():
        print(f"  {code:<22} {count:>8,}")
    measured = sum(e["seconds"] for e in result.expectations)
    print(f"\nper expectation (validated alone on the loaded batch; sum {measured:.2f} s, "
          f"findings and result {result.seconds - measured:.2f} s):")
    for e in sorted(result.expectations, key=lambda e: -e["seconds"]):
        print(f"  {e['seconds']:7.3f} s  {e['rule']:<32} {e['type']:<50} "
              f"unexpected {e['unexpected_count'] if e['unexpected_count'] is not None else '-':>7}")

    if args.compare_suite:
        from validations.context import batch_definition
        from validations.gate import RESULT_FORMAT
        from validations.suite import build_suite

        data = frame.set_index("row_no")
        t = time.perf_counter()
        batch = batch_definition().get_batch(batch_parameters={"dataframe": data})
        suite_result = batch.validate(build_suite(ir, PERIOD, rules), result_format=RESULT_FORMAT)
        print(f"\nwhole suite in one GX call: {time.perf_counter() - t:.2f} s "
              f"(success={suite_result.success}); run_gate measured each expectation alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
