"""Dedicated accounts with a monthly cap, and the transfers (legs) a payment becomes.

Where the country's dedicated pension account takes at most a monthly cap (Korea: the NPS
seizure-protected account, 1,850,000 KRW; ``data/reference/dedicated_account_caps.csv``), a PAYABLE
payment to a dedicated account is split: up to the cap (less what the period's earlier payments to that
account already credited) to the dedicated account, the rest to the payee's ordinary account from the
account registry (an open, non-dedicated account held by the payee; the lowest account code when there
are several). With no ordinary account the rest is held: the capped part is still paid, and the finding
``CAP_EXCESS_HELD`` says how much was held.

The split is recorded on the payment row (``excess_amount``, ``excess_account_code``, ``excess_bank_code``)
so approvers see it before release. :func:`transfer_legs` turns the PAYABLE rows into the transfers the
bank files carry. A payment that was split keeps its end-to-end id with a leg suffix: ``-1`` for the
dedicated account, ``-2`` for the ordinary account; a payment that was not split keeps its id unchanged.
The legs of a run add up to the run's payable total: every payable minor unit is in exactly one leg or
in a held excess.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from payroll.checks import Table, exceptions_frame
from payroll.checks.engine import query, ref_input
from payroll.money import exact_sum

DEDICATED, ORDINARY = "-1", "-2"
PAYABLE = "PAYABLE"
LEG_EXCESS = ("excess_amount", "excess_account_code", "excess_bank_code")
LEG_ORDER = ("bank_code", "branch_code", "pension_id", "national_id", "leg")  # the bank files' order
LEG_COLUMNS = ["end_to_end_id", "payment_id", "leg", "row_key", "account_code", "bank_code", "amount",
               "full_name", "pension_id", "national_id", "branch_code"]
# the payments columns transfer_legs reads
LEG_SOURCE_COLUMNS = ("status", "end_to_end_id", "row_key", "account_code", "bank_code", "net_amount", "full_name",
                      "pension_id", "national_id", "branch_code", *LEG_EXCESS)


def dedicated_account_cap(path: Path, country: str) -> int | None:
    """The monthly cap of `country`'s dedicated account in minor units, or None when it has none."""
    caps = None
    with open(path, newline="", encoding="utf-8") as f:
        for n, r in enumerate(csv.DictReader(f), start=2):
            if r["country"] != country:
                continue
            text = r["monthly_cap"].strip()
            if not text.isascii() or not text.isdigit() or int(text) <= 0:
                raise ValueError(f"{path}: row {n}, column monthly_cap: {r['monthly_cap']!r} is not a positive "
                                 "whole number of minor units")
            if caps is not None:
                raise ValueError(f"{path}: row {n}, column country: {country} has a second cap")
            caps = int(text)
    return caps


def split_over_cap(payments: pd.DataFrame, accounts: Table, cap: int | None,
                   credited: Mapping[str, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the excess columns to `payments` (indexed by row key) and return (payments, findings).

    `accounts`: the account registry as a frame, an Arrow table or a Parquet Path (only the accounts of
    the payable rows are read out of it). `credited`: what the period's released runs already paid into
    each dedicated account."""
    out = payments.drop(columns=list(LEG_EXCESS), errors="ignore")
    out["excess_amount"] = np.zeros(len(out), dtype=np.int64)
    out["excess_account_code"] = ""
    out["excess_bank_code"] = ""
    if cap is None or out.empty:
        return out, exceptions_frame([], "CAP_SPLIT", [])
    registry = ref_input(accounts, ["account_code", "bank_code", "holder_national_id", "dedicated", "status"])
    payable = out["status"] == PAYABLE
    dedicated = query("SELECT DISTINCT a.account_code FROM accounts a WHERE CAST(a.dedicated AS BOOLEAN) "
                      "AND a.account_code IN (SELECT account_code FROM p)",
                      p=out.loc[payable, ["account_code"]], accounts=registry)["account_code"]
    capped = out[payable & out["account_code"].isin(dedicated)].sort_index()
    if capped.empty:
        return out, exceptions_frame([], "CAP_SPLIT", [])
    net = capped["net_amount"].astype(np.int64)
    before = capped["account_code"].map(dict(credited or {})).fillna(0).astype(np.int64)
    earlier = net.groupby(capped["account_code"]).cumsum() - net + before  # this run's earlier rows first
    to_dedicated = np.minimum(net, np.maximum(cap - earlier, 0))
    excess = (net - to_dedicated)[lambda s: s > 0]
    if excess.empty:
        return out, exceptions_frame([], "CAP_SPLIT", [])
    holders = capped.loc[excess.index, "national_id"]
    # each holder's open ordinary account with the lowest account code
    ordinary = query("""
        SELECT DISTINCT ON (holder_national_id) holder_national_id, account_code, bank_code FROM accounts
        WHERE NOT CAST(dedicated AS BOOLEAN) AND status = 'open'
          AND holder_national_id IN (SELECT national_id FROM h)
        ORDER BY holder_national_id, account_code""", h=holders.to_frame("national_id"), accounts=registry)
    found = {h: (a, b) for h, a, b in zip(ordinary["holder_national_id"], ordinary["account_code"],
                                          ordinary["bank_code"], strict=True)}
    out.loc[excess.index, "excess_amount"] = excess.to_numpy()
    out.loc[excess.index, "excess_account_code"] = [found.get(h, ("", ""))[0] for h in holders]
    out.loc[excess.index, "excess_bank_code"] = [found.get(h, ("", ""))[1] for h in holders]
    split, held = [], []
    for key in excess.index:
        row = out.loc[key]
        fact = {"net_amount": int(row["net_amount"]), "cap": cap, "credited_before": int(earlier[key]),
                "to_dedicated": int(to_dedicated[key]), "excess": int(excess[key]),
                "dedicated_account": row["account_code"]}
        if row["excess_account_code"]:
            split.append((key, {**fact, "ordinary_account": row["excess_account_code"],
                                "evidence": f"{fact['to_dedicated']} to dedicated account {row['account_code']} "
                                            f"(monthly cap {cap}, {fact['credited_before']} credited before), "
                                            f"{fact['excess']} to ordinary account {row['excess_account_code']}"}))
        else:
            held.append((key, {**fact, "evidence": f"{fact['to_dedicated']} paid to dedicated account "
                                                   f"{row['account_code']} (monthly cap {cap}); {fact['excess']} held: "
                                                   "the payee has no open ordinary account"}))
    findings = pd.concat([exceptions_frame([k for k, _ in split], "CAP_SPLIT", [d for _, d in split]),
                          exceptions_frame([k for k, _ in held], "CAP_EXCESS_HELD", [d for _, d in held])],
                         ignore_index=True)
    return out, findings


def transfer_legs(payments: pd.DataFrame) -> pd.DataFrame:
    """The transfers of a run's PAYABLE rows: one per unsplit payment, two per split one (one when the
    excess is held). Sorted by bank, branch, pension id, national id, leg: the order of the bank files."""
    payable = payments[payments["status"] == PAYABLE]
    excess = payable["excess_amount"].astype(np.int64)
    split = excess > 0
    first = pd.DataFrame({
        "payment_id": payable["end_to_end_id"],
        "leg": np.where(split, DEDICATED, ""),
        "row_key": payable["row_key"],
        "account_code": payable["account_code"],
        "bank_code": payable["bank_code"],
        "amount": payable["net_amount"].astype(np.int64) - excess,
    })
    paid_excess = payable[split & (payable["excess_account_code"] != "")]
    second = pd.DataFrame({
        "payment_id": paid_excess["end_to_end_id"],
        "leg": ORDINARY,
        "row_key": paid_excess["row_key"],
        "account_code": paid_excess["excess_account_code"],
        "bank_code": paid_excess["excess_bank_code"],
        "amount": paid_excess["excess_amount"].astype(np.int64),
    })
    people = ["full_name", "pension_id", "national_id", "branch_code"]
    legs = pd.concat([pd.concat([first, payable[people]], axis=1), pd.concat([second, paid_excess[people]], axis=1)],
                     ignore_index=True)
    legs = legs[legs["amount"] > 0]  # the whole amount went to the ordinary account: no dedicated leg
    legs["end_to_end_id"] = legs["payment_id"] + legs["leg"]
    return legs[LEG_COLUMNS].iloc[_stable_order(legs, LEG_ORDER)].reset_index(drop=True)


def _stable_order(frame: pd.DataFrame, keys: tuple[str, ...]) -> np.ndarray:
    """Positions of `frame`'s rows sorted by the text columns `keys`, ties in their order: what
    ``sort_values(keys, kind="stable")`` gives (Arrow's sort is stable and orders UTF-8 text by code point,
    as Python does), in about half its time on a national month's million legs."""
    table = pa.table({k: pa.array(frame[k].astype("str"), from_pandas=True) for k in keys})
    return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]).to_numpy()


def paid_total(payments: pd.DataFrame) -> int:
    """What the bank files of `payments` carry: the PAYABLE net amounts less any held excess."""
    payable = (payments["status"] == PAYABLE).to_numpy()
    excess = payments["excess_amount"].to_numpy()
    held = payable & (excess > 0) & (payments["excess_account_code"] == "").to_numpy()
    return exact_sum(payments["net_amount"].to_numpy()[payable]) - exact_sum(excess[held])


def with_excess_columns(payments: pd.DataFrame) -> pd.DataFrame:
    """`payments` of a run made before the cap split existed read as unsplit."""
    if all(c in payments.columns for c in LEG_EXCESS):
        return payments
    out = payments.copy()
    out["excess_amount"] = np.zeros(len(out), dtype=np.int64)
    out["excess_account_code"] = ""
    out["excess_bank_code"] = ""
    return out
