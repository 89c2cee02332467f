"""Benchmark of the run checks (payroll.checks.pipeline.run_checks) at national scale.

    .venv/bin/python benchmarks/bench_checks.py [--payees 1000000] [--seed 11] [--data DIR]

Generates (numpy, deterministic by seed) a consolidated month of N payees, a civil registry extract of
1.1 N people, a death list of N / 2, an account registry of about N accounts and the two previous
released months as Parquet in the run's payments schema, with planted cases at about the rates audit
offices report (per thousand payees: 10 not in the registry, 10 name variants or mismatches, 1 birth date
mismatch, 2.5 deceased, 1 died in the period, 0.5 duplicated across branches of which half a permitted
double benefit, 5 account changes, 0.5 accounts shared, 2 amount jumps, 10 new, 5 vanished). Then it
runs every check over whole tables and prints one JSON object: seconds per check and in total, peak
RSS, findings per code, the machine's cores. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from payroll.checks import History, Policy, Reference, ReleasedRun  # noqa: E402
from payroll.checks.pipeline import CHECKS  # noqa: E402
from payroll.checks.policy import double_benefits  # noqa: E402
from payroll.payments import PAYMENTS_SCHEMA  # noqa: E402
from payroll.period import Period  # noqa: E402

PERIOD = Period(2026, 11)
FIRST = np.array(["علی", "محمد", "حسین", "رضا", "مهدی", "فاطمه", "زهرا", "مریم", "معصومه", "سکینه",
                  "محمد رضا", "امیر حسین", "علی اکبر", "اکبر", "عباس", "جواد", "صغری", "کبری", "طاهره", "نرگس"])
LAST = np.array(["کریمی", "رضایی", "محمدی", "حسینی", "احمدی", "موسوی", "جعفری", "صادقی", "رحیمی", "قاسمی",
                 "نجفی", "اکبری", "حیدری", "یوسفی", "عباسی", "کاظمی", "مرادی", "ابراهیمی", "نوری", "زارعی"])


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ids(numbers: np.ndarray, width: int, prefix: str = "") -> pd.Series:
    s = pd.Series(numbers).astype(str).str.zfill(width)
    return prefix + s if prefix else s


def generate(n: int, seed: int, out: Path) -> dict[str, int]:
    """Write payees.parquet, registry, deaths, accounts and history/<period>.parquet under `out`."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    people = rng.choice(9_000_000_000, size=int(n * 1.6), replace=False) + 1_000_000_000
    payee_nid = people[:n]
    branch = rng.integers(0, 600, n)
    fi, li = rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n)
    names = pd.Series(FIRST[fi]) + " " + pd.Series(LAST[li])
    birth = pd.Series(pd.to_datetime("1935-01-01") + pd.to_timedelta(rng.integers(0, 15000, n), unit="D")
                      ).dt.strftime("%Y-%m-%d")
    gross = (104_000_000 + rng.integers(0, 300_000, n) * 1000).astype(np.int64)
    deduction = (rng.integers(0, 5000, n) * 1000).astype(np.int64)
    benefit = rng.choice(np.array(["OLD_AGE", "SURVIVOR", "DISABILITY"]), size=n, p=[0.75, 0.2, 0.05])
    acct_no = np.arange(n, dtype=np.int64) + 10**12
    rows = pd.DataFrame({
        "row_key": np.arange(n, dtype=np.int64), "submission_id": branch.astype(np.int64) + 1,
        "branch_code": _ids(branch + 1, 3, "B"), "source_sha256": "ab" * 32,
        "row_no": (np.arange(n) % 20000 + 2).astype(np.int32), "pension_id": _ids(np.arange(n) + 10**8, 9),
        "national_id": _ids(payee_nid, 10), "full_name": names, "birth_date": birth, "benefit_type": benefit,
        "gross_amount": gross, "deduction_amount": deduction, "net_amount": gross - deduction,
        "account_code": _ids(acct_no, 24, "IR"),
    })
    survivor = np.flatnonzero(benefit == "SURVIVOR")
    insured = pd.Series([None] * n, dtype="str")
    insured.iloc[survivor] = _ids(people[n + np.arange(len(survivor)) % int(n * 0.5)], 10).to_numpy()
    rows["insured_id"] = insured
    rows["share_bp"] = pd.array(np.where(benefit == "SURVIVOR", 5000, 0), dtype="Int32")
    rows.loc[benefit != "SURVIVOR", "share_bp"] = pd.NA

    pick = rng.permutation(n)
    cuts = np.cumsum([0, n // 100, n // 200, n // 200, n // 1000, n * 25 // 10000, n // 1000, n // 4000,
                      n // 4000, n // 2000, n // 2000, n // 500, n // 100, n // 200])
    (not_reg, variant, mismatch, birth_diff, dead, died_in, dup_legit, dup_bad, acc_changed,
     shared, jump, new, _) = (pick[cuts[i]:cuts[i + 1]] for i in range(13))
    # duplicates: a second row for another person's national id (legit: old-age + survivor pair)
    rows.loc[dup_legit, "national_id"] = rows["national_id"].iloc[dup_legit - 1].to_numpy()
    rows.loc[dup_legit, "benefit_type"] = "SURVIVOR"
    rows.loc[dup_legit - 1, "benefit_type"] = "OLD_AGE"
    rows.loc[dup_bad, "national_id"] = rows["national_id"].iloc[(dup_bad + 7) % n].to_numpy()
    rows.loc[shared, "account_code"] = rows["account_code"].iloc[(shared + 13) % n].to_numpy()
    rows.to_parquet(out / "payees.parquet")

    reg = rows[["national_id", "full_name", "birth_date"]].drop_duplicates("national_id")
    reg = reg[~reg["national_id"].isin(rows["national_id"].iloc[not_reg])].copy()
    pos = reg.index
    swap = pos.intersection(variant)
    reg.loc[swap, "full_name"] = pd.Series(LAST[li[swap]], index=swap) + " " + pd.Series(FIRST[fi[swap]], index=swap)
    other = pos.intersection(mismatch)
    reg.loc[other, "full_name"] = pd.Series(FIRST[fi[other]], index=other) + " " + pd.Series(
        LAST[(li[other] + 1) % len(LAST)], index=other)
    bd = pos.intersection(birth_diff)
    reg.loc[bd, "birth_date"] = "1930-01-01"
    extra = pd.DataFrame({"national_id": _ids(people[n:n + n // 10], 10), "full_name": "نام دیگر", "birth_date": "1950-01-01"})
    pd.concat([reg, extra], ignore_index=True).to_parquet(out / "registry.parquet")

    deaths = pd.DataFrame({
        "national_id": pd.concat([rows["national_id"].iloc[dead], rows["national_id"].iloc[died_in],
                                  _ids(people[int(n * 1.1):int(n * 1.1) + n // 2], 10)], ignore_index=True),
        "date_of_death": (["2026-08-14"] * len(dead)) + (["2026-11-10"] * len(died_in))
                         + (["2015-06-01"] * (n // 2)),
    }).drop_duplicates("national_id")
    deaths.to_parquet(out / "deaths.parquet")

    accounts = pd.DataFrame({"account_code": _ids(acct_no, 24, "IR"), "bank_code": "013",
                             "holder_national_id": rows["national_id"], "dedicated": True, "status": "open"})
    accounts.to_parquet(out / "accounts.parquet")

    (out / "history").mkdir(exist_ok=True)
    for back, period in ((2, "2026-09"), (1, "2026-10")):
        hist = rows.drop(index=new).copy()
        hist.loc[hist.index.intersection(jump), ["net_amount"]] = hist["net_amount"] // 2
        changed = hist.index.intersection(acc_changed)
        hist.loc[changed, "account_code"] = _ids(acct_no[changed] + 5 * 10**12 + back, 24, "IR").to_numpy()
        vanished = pd.DataFrame({**{c: hist[c].iloc[:n // 200].to_numpy() for c in hist.columns}})
        vanished["pension_id"] = _ids(np.arange(len(vanished)) + 9 * 10**8, 9).to_numpy()
        hist = pd.concat([hist, vanished], ignore_index=True)
        hist["row_key"] = np.arange(len(hist), dtype=np.int64)
        hist["bank_code"], hist["status"] = "013", "PAYABLE"
        hist["end_to_end_id"] = "PEN" + period.replace("-", "") + hist["pension_id"]
        pq.write_table(pa.Table.from_pandas(hist[PAYMENTS_SCHEMA.names], schema=PAYMENTS_SCHEMA,
                                            preserve_index=False), out / "history" / f"{period}.parquet")
    return {"payees": n, "registry": len(reg) + len(extra), "deaths": len(deaths), "accounts": len(accounts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--payees", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--data", type=Path, default=None, help="where generated data goes (kept for reruns)")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data or Path(f"/tmp/bench_checks_{args.payees}_{args.seed}")
    if args.generate_only:
        print(json.dumps(generate(args.payees, args.seed, data)))
        return
    t0 = time.perf_counter()
    sizes = None
    if not (data / "payees.parquet").exists():  # in its own process, so peak RSS below is the checks'
        done = subprocess.run([sys.executable, __file__, "--generate-only", "--payees", str(args.payees),
                               "--seed", str(args.seed), "--data", str(data)], check=True, capture_output=True,
                              text=True)
        sizes = json.loads(done.stdout)
    generated = time.perf_counter() - t0
    base_rss = _peak_mib()

    t0 = time.perf_counter()
    rows = pd.read_parquet(data / "payees.parquet").set_index("row_key")
    ref = Reference(
        registry=pd.read_parquet(data / "registry.parquet"), deaths=pd.read_parquet(data / "deaths.parquet"),
        accounts=pd.read_parquet(data / "accounts.parquet"),
        history=History([ReleasedRun(p, i + 1, data / "history" / f"{p}.parquet")
                         for i, p in enumerate(("2026-09", "2026-10"))]),
        policy=Policy(double_benefits=double_benefits(
            Path(__file__).resolve().parent.parent / "data" / "reference" / "double_benefits.csv", "IR")))
    loaded = time.perf_counter() - t0

    per_check, found = {}, []
    t_all = time.perf_counter()
    for check in CHECKS:
        t0 = time.perf_counter()
        found.append(check(rows, ref, PERIOD).exceptions)
        per_check[f"{check.__module__.rsplit('.', 1)[1]}.{check.__name__}"] = round(time.perf_counter() - t0, 2)
    checks_s = time.perf_counter() - t_all
    exc = pd.concat(found, ignore_index=True)
    print(json.dumps({
        "payees": args.payees, "seed": args.seed, "cores": os.cpu_count(), "generated": sizes,
        "generate_seconds": round(generated, 1), "load_seconds": round(loaded, 1),
        "checks_seconds": round(checks_s, 1), "per_check_seconds": per_check,
        "rows_per_second": round(args.payees / checks_s), "peak_rss_mib_before_load": round(base_rss),
        "peak_rss_mib": round(_peak_mib()), "findings": exc["code"].value_counts().sort_index().to_dict(),
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
