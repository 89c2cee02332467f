"""The release stage's floor: the run's transfers through the pain.001 template writer alone.

    .venv/bin/python benchmarks/floor_release.py PAYMENTS.parquet --period 2026-11 [--currency IRR]
        [--message pain.001.001.09] [--account-id] [--out DIR]

Exactly as issue 17 writes it: the same transfers, read from the run's payments Parquet, through
``bank_formats.pain001.write_pain001`` (the templated writer) and nothing else: no XSD validation, no
read-back, no manifest, no signature, no database. The transfers are the PAYABLE rows' legs as the
engine's release makes them (payroll.legs.transfer_legs: one per payment, a second one for an excess
paid to the ordinary account, end-to-end id suffixed -1/-2 when split), recomputed here in DuckDB SQL,
one file per bank in bank, branch, pension id, national id, leg order, with the engine's remittance text.
Timed from opening the Parquet to the last file written (``read_seconds`` of it: reading and ordering
the legs; ``write_seconds``: building the CreditTransfers and writing). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bank_formats.model import CreditTransfer, Debtor, PaymentBatch
from bank_formats.pain001 import DEFAULT_MESSAGE, write_pain001

# an institution's account for the floor's batches (the engine's comes from its settings)
IR_DEBTOR = Debtor(name="Pension fund", iban="IR290130000000000000000042", bank_code="013")
KR_DEBTOR = Debtor(name="Pension fund", iban=None, bank_code="004", account_id="00412345678901")


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _legs_sql(payments: Path, columns: set[str]) -> str:
    """The transfers of the PAYABLE rows, in the bank files' order (payroll.legs.transfer_legs)."""
    src = f"read_parquet({_quoted(payments)})"
    if {"excess_amount", "excess_account_code", "excess_bank_code"} <= columns:
        excess, excess_account, excess_bank = ("CAST(excess_amount AS BIGINT)", "excess_account_code",
                                               "excess_bank_code")
    else:  # a run made before the cap split: unsplit
        excess, excess_account, excess_bank = "CAST(0 AS BIGINT)", "''", "''"
    return f"""
        WITH payable AS (
            SELECT end_to_end_id, account_code, bank_code, CAST(net_amount AS BIGINT) AS net,
                   {excess} AS excess, {excess_account} AS excess_account, {excess_bank} AS excess_bank,
                   full_name, pension_id, national_id, branch_code
            FROM {src} WHERE status = 'PAYABLE'),
        legs AS (
            SELECT end_to_end_id || CASE WHEN excess > 0 THEN '-1' ELSE '' END AS e2e,
                   CASE WHEN excess > 0 THEN '-1' ELSE '' END AS leg,
                   account_code, bank_code, net - excess AS amount, full_name, pension_id, national_id, branch_code
            FROM payable
            UNION ALL
            SELECT end_to_end_id || '-2', '-2', excess_account, excess_bank, excess, full_name, pension_id,
                   national_id, branch_code
            FROM payable WHERE excess > 0 AND excess_account <> '')
        SELECT e2e, account_code, bank_code, amount, full_name, pension_id, branch_code
        FROM legs WHERE amount > 0
        ORDER BY bank_code, branch_code, pension_id, national_id, leg
    """


def release_floor(payments_parquet: Path, *, period: str, out_dir: Path, currency: str = "IRR",
                  message: str = DEFAULT_MESSAGE, iban: bool = True, debtor: Debtor | None = None,
                  created_at: datetime | None = None) -> dict[str, Any]:
    """Seconds to write the run's transfers, one pain.001 file per bank, with the files, transfers, sum
    and bytes written. `iban`: the creditor account is an IBAN (else Othr/Id, the code less its 3-letter
    prefix, as the engine writes Korean accounts)."""
    import duckdb
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    debtor = debtor or (IR_DEBTOR if iban else KR_DEBTOR)
    created_at = created_at or datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=3, minutes=30)))
    compact = period.replace("-", "")
    t0 = time.perf_counter()
    columns = set(pq.read_schema(payments_parquet).names)
    con = duckdb.connect()
    try:
        relation = con.sql(_legs_sql(payments_parquet, columns))
        legs = relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
    finally:
        con.close()
    by_bank = legs.group_by("bank_code").aggregate([("amount", "count"), ("amount", "sum")]).sort_by("bank_code")
    groups = zip(*(by_bank.column(n).to_pylist() for n in ("bank_code", "amount_count", "amount_sum")), strict=True)
    t_read = time.perf_counter()
    files, transfers, total, size = 0, 0, 0, 0
    offset = 0
    for bank_code, count, amount_sum in groups:
        part = legs.slice(offset, count)
        offset += count
        msg_id = f"PEN{compact}B{bank_code}"
        batch = PaymentBatch(
            msg_id=msg_id, created_at=created_at, initiating_party=debtor.name, payment_info_id=f"{msg_id}P1",
            requested_execution_date=date.fromisoformat(f"{period}-01"), currency=currency, debtor=debtor,
            number_of_transactions=int(count), control_sum_minor=int(amount_sum))
        cols = [part.column(n).to_pylist() for n in ("e2e", "account_code", "bank_code", "amount", "full_name",
                                                      "pension_id", "branch_code")]
        txs = (CreditTransfer(
            end_to_end_id=e2e, amount_minor=amount, creditor_name=name,
            creditor_iban=account if iban else None, creditor_account_id=None if iban else account[3:],
            creditor_bank_code=bank, remittance=f"Pension {period} pension id {pid} branch {branch}")
            for e2e, account, bank, amount, name, pid, branch in zip(*cols, strict=True))
        result = write_pain001(out_dir / f"{msg_id}.xml", batch, txs, message=message)
        files += 1
        transfers += result.transactions
        total += result.control_sum_minor
        size += result.bytes
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "read_seconds": round(t_read - t0, 3),
            "write_seconds": round(seconds - (t_read - t0), 3), "files": files, "transfers": transfers,
            "control_sum": total, "bytes": size, "message": message,
            "transfers_per_second": round(transfers / seconds) if seconds else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("payments", type=Path, help="a run's payments Parquet (PENSION_HOME/runs/...)")
    ap.add_argument("--period", required=True, help="YYYY-MM")
    ap.add_argument("--currency", default="IRR")
    ap.add_argument("--message", default=DEFAULT_MESSAGE, choices=["pain.001.001.09", "pain.001.001.03"])
    ap.add_argument("--account-id", action="store_true", help="accounts are not IBANs (Korea): Othr/Id")
    ap.add_argument("--out", type=Path, default=None, help="where the files go (default: temporary)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="floor-release-") as tmp:
        out = release_floor(a.payments, period=a.period, out_dir=a.out or Path(tmp), currency=a.currency,
                            message=a.message, iban=not a.account_id)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
