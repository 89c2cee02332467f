"""The run summary finance reads before approving a run: one self-contained HTML page.

What the run pays (count, total, held, blocked; per bank as the run's summary recorded it; per province
and per branch from its verified payments file), its exceptions per code, and the change against the
last released period: per province and per branch, this run's payable total against what the released
runs of the latest earlier period paid (its main run and any supplementary runs, which pay that
period's cleared holds). Charts are drawn with matplotlib's Agg renderer and embedded as PNG data URIs;
nothing is fetched when the page is opened. The page's totals are the run's own: every table's total is
checked against Run.payable_count and Run.payable_total before anything is written.

National ids (the held and blocked payments' list) are masked for readers whose role does not need
them (payroll.masking).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from payroll.catalog import catalog
from payroll.errors import Refused
from payroll.payments import totals_by
from payroll.services.context import Context
from payroll.services.reports import (
    RunFigures,
    exception_rows,
    figures_notes,
    html_table,
    id_masker,
    masked_rows,
    record_read,
    render_page,
    run_figures,
    with_payments,
)
from payroll.store.files import read_table_verified, sha256_bytes, write_atomic
from payroll.store.models import Run

SEVERITY_COLOURS = {"BLOCK": "#b00020", "HOLD": "#e69500", "WARN": "#d4c300", "REPORT": "#5470c6"}
HELD_COLUMNS = ["code", "severity", "branch_code", "pension_id", "national_id", "full_name", "bank_code",
                "net_amount", "evidence"]


def previous_period(ctx: Context, figures: RunFigures) -> dict[str, Any] | None:
    """What the released runs of the latest period before the run's paid, per branch and per province
    (the branch's province as the branches table has it now); None when no earlier period was released."""
    period = figures.view["period"]
    with ctx.uow() as session:
        last = session.execute(select(func.max(Run.period)).where(
            Run.status == "released", Run.period < period)).scalar_one_or_none()
        if last is None:
            return None
        runs = [(r.id, r.kind, r.payable_count, r.payable_total, Path(r.payments_path), r.content_sha256)
                for r in session.execute(select(Run).where(Run.status == "released", Run.period == last)
                                         .order_by(Run.id)).scalars()]
    per_branch: dict[str, dict[str, int]] = {}
    for run_id, _, _, _, path, sha in runs:
        try:
            frame = read_table_verified(path, sha).to_pandas()
        except (OSError, ValueError) as e:
            raise Refused("STORED_FILE_CHANGED", f"released run {run_id} ({last}): {e}") from None
        for b, v in totals_by(frame, "branch_code").items():
            got = per_branch.setdefault(b, {"count": 0, "total": 0})
            got["count"] += v["count"]
            got["total"] += v["total"]
    count, total = sum(r[2] for r in runs), sum(r[3] for r in runs)
    if (sum(v["count"] for v in per_branch.values()), sum(v["total"] for v in per_branch.values())) != (count, total):
        raise Refused("REPORT_TOTALS_DIFFER", f"the released runs of {last} do not add up to their recorded totals")
    per_province: dict[str, dict[str, int]] = {}
    for b, v in per_branch.items():
        got = per_province.setdefault(figures.province_of(b), {"count": 0, "total": 0})
        got["count"] += v["count"]
        got["total"] += v["total"]
    return {"period": last, "run_ids": [r[0] for r in runs], "kinds": [r[1] for r in runs],
            "payable_count": count, "payable_total": total, "per_branch": per_branch, "per_province": per_province}


def _change_rows(now: dict[str, dict[str, int]], before: dict[str, dict[str, int]] | None,
                 key: str) -> list[dict[str, Any]]:
    rows = []
    for k in sorted(set(now) | set(before or {})):
        this = now.get(k, {"count": 0, "total": 0})
        row: dict[str, Any] = {key: k, "payable_count": this["count"], "payable_total": this["total"]}
        if before is not None:
            prev = before.get(k, {"count": 0, "total": 0})
            change = this["total"] - prev["total"]
            row.update(previous_count=prev["count"], previous_total=prev["total"], change=change,
                       change_percent=round(100 * change / prev["total"], 1) if prev["total"] else None)
        rows.append(row)
    return rows


def _scale(values: list[int]) -> tuple[float, str]:
    top = max([abs(v) for v in values] or [0])
    for factor, word in ((1e12, "trillions"), (1e9, "billions"), (1e6, "millions"), (1e3, "thousands")):
        if top >= 10 * factor:
            return factor, word
    return 1.0, ""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def charts(figures: RunFigures, by_code: dict[str, tuple[str, int]],
           previous: dict[str, Any] | None) -> dict[str, str]:
    """PNG data URIs: amounts per province (against the previous period's), exceptions per code, and the
    change per province when there is a previous period."""
    from matplotlib.figure import Figure  # Agg, without pyplot's global state; imported only when drawing
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    currency = figures.currency
    out: dict[str, str] = {}
    provinces = sorted(set(figures.per_province) | set(previous["per_province"] if previous else {}))
    now = [figures.per_province.get(p, {"total": 0})["total"] for p in provinces]
    before = [previous["per_province"].get(p, {"total": 0})["total"] for p in provinces] if previous else []
    factor, word = _scale(now + before)
    axis = f"{currency} ({word})" if word else currency
    ticks = FuncFormatter(lambda x, _: f"{x / factor:,.0f}" if factor > 1 else f"{x:,.0f}")

    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(provinces)))
    if previous:
        ax.bar([x - 0.2 for x in xs], before, width=0.4, label=f"{previous['period']} (released)", color="#a0a8b8")
        ax.bar([x + 0.2 for x in xs], now, width=0.4, label=f"{figures.view['period']} (this run)", color="#2f6db5")
        ax.legend(fontsize=8)
    else:
        ax.bar(xs, now, width=0.6, color="#2f6db5")
    ax.set_xticks(xs, provinces)
    ax.yaxis.set_major_formatter(ticks)
    ax.set_ylabel(axis)
    ax.set_title("Payable amount per province")
    out["amounts-per-province"] = _png(fig)

    codes = sorted(by_code, key=lambda c: (by_code[c][1], c))
    fig = Figure(figsize=(7, max(1.8, 0.28 * len(codes) + 0.9)), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(list(range(len(codes))), [by_code[c][1] for c in codes],
            color=[SEVERITY_COLOURS.get(by_code[c][0], "#777777") for c in codes])
    ax.set_yticks(list(range(len(codes))), codes, fontsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("findings")
    ax.set_title("Exceptions per code")
    shown = {sev for sev, _ in by_code.values()}
    ax.legend(handles=[Patch(color=c, label=s) for s, c in SEVERITY_COLOURS.items() if s in shown], fontsize=8,
              loc="lower right")
    out["exceptions-per-code"] = _png(fig)

    if previous:
        change = [n - b for n, b in zip(now, before, strict=True)]
        factor, word = _scale(change)
        fig = Figure(figsize=(7, 3.2), layout="constrained")
        ax = fig.add_subplot()
        ax.bar(xs, change, width=0.6, color=["#2e7d32" if c >= 0 else "#b00020" for c in change])
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_xticks(xs, provinces)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / factor:,.0f}" if factor > 1 else f"{x:,.0f}"))
        ax.set_ylabel(f"{currency} ({word})" if word else currency)
        ax.set_title(f"Change per province against {previous['period']}")
        out["change-per-province"] = _png(fig)
    return out


def run_summary(ctx: Context, run_id: int, out: Path, *, user: str | None = None) -> dict[str, Any]:
    """Write the run summary page to `out` for `user` (national ids masked unless the user's role needs
    them); returns its figures. The totals on the page are the run's: Run.payable_count/payable_total."""
    figures = run_figures(ctx, run_id)
    view = figures.view
    found = exception_rows(ctx, run_id)
    masker = id_masker(ctx, user, found)
    rows = with_payments(masked_rows(found, masker), figures)
    previous = previous_period(ctx, figures)
    codes = catalog()
    by_code: dict[str, tuple[str, int]] = {}
    for r in rows:
        sev, n = by_code.get(r["code"], (r["severity"], 0))
        by_code[r["code"]] = (sev, n + 1)
    images = charts(figures, by_code, previous)

    payable = {"payable_count": view["payable_count"], "payable_total": view["payable_total"]}
    figure_rows: list[dict[str, Any]] = [
        {"figure": "payable_count", "value": view["payable_count"]},
        {"figure": "payable_total", "value": view["payable_total"]},
        {"figure": "held_count", "value": view["held_count"]},
        {"figure": "blocked_count", "value": view["blocked_count"]},
        {"figure": "rows", "value": view["rows"]},
        {"figure": "exceptions", "value": len(rows)},
        {"figure": "missing_branches", "value": len(view["missing_branches"])},
    ]
    if previous:
        figure_rows += [{"figure": "previous_period", "value": previous["period"]},
                        {"figure": "previous_payable_count", "value": previous["payable_count"]},
                        {"figure": "previous_payable_total", "value": previous["payable_total"]},
                        {"figure": "change", "value": view["payable_total"] - previous["payable_total"]}]

    bank_rows = [{"bank_code": k, "name": figures.banks.get(k, ""), "count": v["count"], "total": v["total"]}
                 for k, v in sorted(figures.per_bank.items())]
    province_rows = _change_rows(figures.per_province, previous["per_province"] if previous else None,
                                 "province_code")
    branch_rows = _change_rows(figures.per_branch, previous["per_branch"] if previous else None, "branch_code")
    for r in branch_rows:
        name, province = figures.branches.get(r["branch_code"], ("", ""))
        st = figures.statuses_by_branch.get(r["branch_code"], {})
        r.update(name=name, province_code=province, held_count=st.get("HOLD", 0), blocked_count=st.get("BLOCK", 0))
    code_rows = [{"code": c, "severity": sev, "description": codes[c].description if c in codes else "",
                  "count": n} for c, (sev, n) in sorted(by_code.items())]
    held = [r for r in rows if r["severity"] in ("BLOCK", "HOLD")]

    # the page's totals are the run's, or nothing is written
    for name, part, count_key, total_key in (("province", province_rows, "payable_count", "payable_total"),
                                             ("branch", branch_rows, "payable_count", "payable_total")):
        got = (sum(r[count_key] for r in part), sum(r[total_key] for r in part))
        if got != (payable["payable_count"], payable["payable_total"]):
            raise Refused("REPORT_TOTALS_DIFFER", f"run {run_id}: the summary's totals per {name} {got} are not the "
                          f"run's {payable['payable_count']} payments of {payable['payable_total']}")

    change_cols = ["payable_count", "payable_total"] + (
        ["previous_count", "previous_total", "change", "change_percent"] if previous else [])
    if previous:
        runs = ", ".join(f"{i} ({k})" for i, k in zip(previous["run_ids"], previous["kinds"], strict=True))
        compared = (f"Compared with {previous['period']}, the last released period (released runs {runs}): "
                    f"{previous['payable_count']:,} payments of {previous['payable_total']:,} {figures.currency}; "
                    f"change {view['payable_total'] - previous['payable_total']:+,} {figures.currency}.")
    else:
        compared = (f"No period before {view['period']} was released: there is no previous period to compare "
                    "this run with.")
    missing = [f"Branch {m['branch_code']} is not in this run: {m['state']}." for m in view["missing_branches"]]

    def img(key: str, alt: str) -> list[dict[str, str]]:
        return [{"id": f"chart-{key}", "src": images[key], "alt": alt}] if key in images else []

    sections: list[dict[str, Any]] = [
        {"id": "figures", "heading": "The run's figures", "notes": missing,
         "tables": [html_table("figures", "Figures", ["figure", "value"], figure_rows)]},
        {"id": "banks", "heading": "Per bank", "notes": ["Transfers per bank, as the run recorded them."],
         "tables": [html_table("per-bank", "Per bank", ["bank_code", "name", "count", "total"], bank_rows,
                               {"bank_code": "total", "count": sum(r["count"] for r in bank_rows),
                                "total": sum(r["total"] for r in bank_rows)})]},
        {"id": "provinces", "heading": "Per province", "notes": [compared],
         "images": img("amounts-per-province", "Payable amount per province")
         + img("change-per-province", "Change per province against the last released period"),
         "tables": [html_table("per-province", "Per province", ["province_code", *change_cols], province_rows,
                               _totals(province_rows, "province_code", change_cols))]},
        {"id": "branches", "heading": "Per branch",
         "tables": [html_table("per-branch", "Per branch",
                               ["branch_code", "name", "province_code", *change_cols, "held_count", "blocked_count"],
                               branch_rows, _totals(branch_rows, "branch_code",
                                                    [*change_cols, "held_count", "blocked_count"]))]},
        {"id": "exceptions", "heading": "Exceptions", "images": img("exceptions-per-code", "Exceptions per code"),
         "tables": [html_table("per-code", "Exceptions per code", ["code", "severity", "description", "count"],
                               code_rows, {"code": "total", "count": len(rows)})]},
        {"id": "held", "heading": f"Held and blocked ({len(held)} findings)",
         "notes": ["A payment with several findings is listed once per finding."],
         "tables": [html_table("held-blocked", "Held and blocked", HELD_COLUMNS, held, row_class="severity")]},
    ]
    title = f"Run summary: run {view['run_id']}, {view['period']}"
    page = render_page(title, figures_notes(figures, masker.full), sections)
    write_atomic(Path(out), page)
    record_read(ctx, user, "report.run_summary", "run", run_id, {"full_ids": masker.full,
                                                                 "sha256": sha256_bytes(page)})
    return {"run_id": run_id, "period": view["period"], "kind": view["kind"], "status": view["status"],
            "path": str(Path(out).resolve()), "currency": figures.currency, **payable,
            "held_count": view["held_count"], "blocked_count": view["blocked_count"],
            "per_bank": figures.per_bank, "per_province": figures.per_province, "per_branch": figures.per_branch,
            "exceptions": {c: n for c, (_, n) in sorted(by_code.items())},
            "previous": None if previous is None else {k: previous[k] for k in (
                "period", "run_ids", "payable_count", "payable_total", "per_province")},
            "charts": sorted(images), "masked": not masker.full}


def _totals(rows: list[dict[str, Any]], label_column: str, columns: list[str]) -> dict[str, Any]:
    foot: dict[str, Any] = {label_column: "total"}
    for c in columns:
        if c == "change_percent":
            prev = sum(r.get("previous_total", 0) for r in rows)
            now = sum(r.get("payable_total", 0) for r in rows)
            foot[c] = round(100 * (now - prev) / prev, 1) if prev else None
        else:
            foot[c] = sum(r.get(c) or 0 for r in rows)
    return foot
