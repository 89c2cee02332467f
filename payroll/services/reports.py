"""Reports for finance and auditors: the run's exception report, and the audit chain's verification.

The exception report is written as CSV or JSON lines (one line per finding), as an XLSX workbook (a
summary sheet, a sheet per severity) or as one self-contained HTML page (sortable tables, totals per
branch, code and bank). National ids in every report are masked for readers whose role does not need
them (payroll.masking); text a spreadsheet would run as a formula never becomes one.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import jinja2
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter
from sqlalchemy import select

from payroll import audit
from payroll.catalog import SEVERITY_RANK, catalog
from payroll.errors import NotFound, Refused
from payroll.masking import IdMasker, ids_in
from payroll.payments import totals_by
from payroll.period import Period
from payroll.services.context import Context, actor
from payroll.services.runs import load_run, run_view
from payroll.store.files import read_table_verified, sha256_bytes, write_atomic
from payroll.store.models import Bank, Branch, Run, RunException

EXCEPTION_REPORT_COLUMNS = ["code", "severity", "stage", "branch_code", "pension_id", "national_id", "row",
                            "submission_id", "source_sha256", "evidence", "detail", "description"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _evidence(detail: str) -> str:
    """The finding's evidence in words, as the check wrote it (intake findings: their message)."""
    d = json.loads(detail)
    return str(d.get("evidence") or d.get("message") or "")


def exception_rows(ctx: Context, run_id: int) -> list[dict[str, Any]]:
    with ctx.uow() as session:
        load_run(session, run_id)
        found = session.execute(select(RunException).where(RunException.run_id == run_id)).scalars().all()
    codes = catalog()
    rows: list[dict[str, Any]] = [{"code": e.code, "severity": e.severity, "stage": e.stage, "branch_code": e.branch_code,
             "pension_id": e.pension_id, "national_id": e.national_id, "row": e.row_no,
             "submission_id": e.submission_id, "source_sha256": e.source_sha256,
             "evidence": _evidence(e.detail), "detail": e.detail,
             "description": codes[e.code].description if e.code in codes else ""}
            for e in found]
    rows.sort(key=lambda r: (-SEVERITY_RANK[r["severity"]], r["stage"] != "run", r["code"], r["branch_code"],
                             r["row"]))
    return rows


# --- who reads the report -------------------------------------------------------------------------


def reader_role(ctx: Context, user: str | None) -> str | None:
    """The role of the user a report is written for; None for no user or one the database does not
    know (both read masked national ids)."""
    if user is None:
        return None
    with ctx.uow() as session:
        try:
            return actor(session, user).role
        except NotFound:
            return None


def record_read(ctx: Context, user: str | None, action: str, item_type: str, item_id: object,
                detail: dict[str, Any]) -> None:
    """Reading personal data is on the record: an audit entry says who got which report or trace, and
    whether with full national ids. A report made for no user (masked, e.g. the demo's files) is not."""
    if user is None:
        return
    with ctx.uow() as session:
        try:
            who = actor(session, user)
        except NotFound:
            return
        audit.append(session, actor=user, role=who.role, action=action, item_type=item_type, item_id=item_id,
                     detail=detail)


def id_masker(ctx: Context, user: str | None, rows: list[dict[str, Any]]) -> IdMasker:
    """The masker of a report of `rows` (exception rows) for `user`: it knows every national id of the
    rows and of their details, to find them inside evidence and detail text."""
    masker = IdMasker.for_role(reader_role(ctx, user), ctx.country.code)
    if not masker.full:
        masker.learn(r["national_id"] for r in rows)
        for r in rows:
            try:
                masker.learn(ids_in(json.loads(r["detail"])))
            except ValueError:
                pass
    return masker


def masked_rows(rows: list[dict[str, Any]], masker: IdMasker) -> list[dict[str, Any]]:
    """Exception rows as `masker`'s reader sees them: national id, evidence and detail masked."""
    if masker.full:
        return rows
    return [{**r, "national_id": masker.national_id(r["national_id"]),
             "evidence": masker.text(r["evidence"], r["national_id"]),
             "detail": masker.json_text(r["detail"], r["national_id"])} for r in rows]


# --- the run's figures, as every report shows them ------------------------------------------------

NO_BANK = "(none)"  # exceptions about no payment of this run's (intake, earlier periods), unknown accounts


@dataclass(frozen=True)
class RunFigures:
    """A run's recorded figures and its payments, checked to add up to the run's payable totals."""

    view: dict[str, Any]  # payroll.services.runs.run_view
    created_at: str
    currency: str
    payments: pd.DataFrame
    branches: dict[str, tuple[str, str]]  # branch_code -> (name, province_code)
    banks: dict[str, str]  # bank_code -> name
    per_branch: dict[str, dict[str, int]]  # what the run pays, per branch: count, total
    per_province: dict[str, dict[str, int]]
    per_bank: dict[str, dict[str, int]]  # the transfers per bank, from the run's summary
    statuses_by_branch: dict[str, dict[str, int]]  # branch -> payment status -> count
    statuses_by_bank: dict[str, dict[str, int]]

    def province_of(self, branch_code: str) -> str:
        return self.branches.get(branch_code, ("", ""))[1]


def _count_by(frame: pd.DataFrame, key: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (k, status), n in frame.groupby([key, "status"]).size().items():
        out.setdefault(str(k), {})[str(status)] = int(n)
    return out


def run_figures(ctx: Context, run_id: int) -> RunFigures:
    """The run's figures: the recorded ones (Run, its summary JSON) and the ones its verified payments file
    gives per branch and per province. Refused if they do not add up to the run's payable count and total."""
    with ctx.uow() as session:
        run = load_run(session, run_id)
        view = run_view(run)
        summary = json.loads(run.summary)
        path, sha, created_at = Path(run.payments_path), run.content_sha256, run.created_at
        branches = {b.branch_code: (b.name, b.province_code) for b in session.execute(select(Branch)).scalars()}
        banks = {b.bank_code: b.name for b in session.execute(select(Bank)).scalars()}
    try:
        payments = read_table_verified(path, sha).to_pandas()
    except (OSError, ValueError) as e:
        raise Refused("STORED_FILE_CHANGED", f"run {run_id}: {e}") from None
    payments["province_code"] = payments["branch_code"].map(
        {b: p for b, (_, p) in branches.items()}).fillna("").astype(str)
    per_branch = totals_by(payments, "branch_code")
    per_province = totals_by(payments, "province_code")
    per_bank = summary.get("per_bank") or totals_by(payments, "bank_code")
    want = (view["payable_count"], view["payable_total"])
    for name, got in (("branch", per_branch), ("province", per_province)):
        if (sum(v["count"] for v in got.values()), sum(v["total"] for v in got.values())) != want:
            raise Refused("REPORT_TOTALS_DIFFER", f"run {run_id}: the payments per {name} do not add up to the "
                          f"run's {want[0]} payments of {want[1]}")
    if sum(v["total"] for v in per_bank.values()) != want[1]:
        raise Refused("REPORT_TOTALS_DIFFER", f"run {run_id}: the transfers per bank do not add up to the "
                      f"run's payable total {want[1]}")
    banked = payments.assign(bank_code=payments["bank_code"].replace("", NO_BANK))
    return RunFigures(view=view, created_at=created_at, currency=ctx.country.currency, payments=payments,
                      branches=branches, banks=banks, per_branch=per_branch, per_province=per_province,
                      per_bank={str(k): dict(v) for k, v in per_bank.items()},
                      statuses_by_branch=_count_by(payments, "branch_code"),
                      statuses_by_bank=_count_by(banked, "bank_code"))



def with_payments(rows: list[dict[str, Any]], figures: RunFigures) -> list[dict[str, Any]]:
    """Exception rows with the payee's name, bank, net amount and payment status of this run's payment
    they are about (blank for an intake rejection or a finding about an earlier period's payment)."""
    p = figures.payments
    keys = {(int(r["submission_id"]), int(r["row"])) for r in rows}
    subs = {k[0] for k in keys}
    sel = p[p["submission_id"].isin(list(subs))]
    found = {(int(s), int(n)): (str(name), str(bank), int(amount), str(status))
             for s, n, name, bank, amount, status in zip(
                 sel["submission_id"], sel["row_no"], sel["full_name"], sel["bank_code"], sel["net_amount"],
                 sel["status"], strict=True) if (int(s), int(n)) in keys}
    out = []
    for r in rows:
        name, bank, amount, status = found.get((int(r["submission_id"]), int(r["row"])), ("", "", None, ""))
        out.append({**r, "full_name": name, "bank_code": bank, "net_amount": amount, "payment_status": status})
    return out


# --- exception report: csv, jsonl, xlsx, html -----------------------------------------------------

SEVERITIES = ("BLOCK", "HOLD", "WARN", "REPORT")
# the spreadsheet and HTML reports: the CSV's columns with the payment each finding is about
WIDE_COLUMNS = ["code", "severity", "stage", "branch_code", "pension_id", "national_id", "full_name", "row",
                "bank_code", "net_amount", "payment_status", "submission_id", "source_sha256", "evidence",
                "description", "detail"]
SUMMARY_COLUMNS = ["totals_by", "key", "name", "exceptions", *SEVERITIES, "payable_count", "payable_total",
                   "held_count", "blocked_count"]
AMOUNT_COLUMNS = frozenset({"net_amount", "payable_total", "total", "previous_total", "change"})


def summary_rows(figures: RunFigures, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exception report's totals: one line for the run, then per branch, per code and per bank (each
    with its exceptions by severity and what the run pays there)."""
    view = figures.view
    codes = catalog()

    def counts(sel: list[dict[str, Any]]) -> dict[str, int]:
        c = Counter(str(r["severity"]) for r in sel)
        return {"exceptions": len(sel), **{s: c.get(s, 0) for s in SEVERITIES}}

    out: list[dict[str, Any]] = [{
        "totals_by": "run", "key": str(view["run_id"]), "name": f"{view['period']} ({view['kind']}, {view['status']})",
        **counts(rows), "payable_count": view["payable_count"], "payable_total": view["payable_total"],
        "held_count": view["held_count"], "blocked_count": view["blocked_count"]}]
    by_branch: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_branch.setdefault(str(r["branch_code"]), []).append(r)
    for b in sorted(set(by_branch) | set(figures.per_branch) | set(figures.statuses_by_branch)):
        paid = figures.per_branch.get(b, {"count": 0, "total": 0})
        st = figures.statuses_by_branch.get(b, {})
        out.append({"totals_by": "branch", "key": b, "name": figures.branches.get(b, ("", ""))[0],
                    **counts(by_branch.get(b, [])), "payable_count": paid["count"], "payable_total": paid["total"],
                    "held_count": st.get("HOLD", 0), "blocked_count": st.get("BLOCK", 0)})
    by_code: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_code.setdefault(str(r["code"]), []).append(r)
    for c in sorted(by_code):
        out.append({"totals_by": "code", "key": c, "name": codes[c].description if c in codes else "",
                    **counts(by_code[c]), "payable_count": None, "payable_total": None, "held_count": None,
                    "blocked_count": None})
    by_bank: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_bank.setdefault(str(r.get("bank_code") or NO_BANK), []).append(r)
    for k in sorted(set(by_bank) | set(figures.per_bank) | set(figures.statuses_by_bank)):
        paid = figures.per_bank.get(k, {"count": 0, "total": 0})
        st = figures.statuses_by_bank.get(k, {})
        name = figures.banks.get(k, "no bank: intake rejections, earlier periods, unknown accounts"
                                 if k == NO_BANK else "")
        out.append({"totals_by": "bank", "key": k, "name": name, **counts(by_bank.get(k, [])),
                    "payable_count": paid["count"], "payable_total": paid["total"],
                    "held_count": st.get("HOLD", 0), "blocked_count": st.get("BLOCK", 0)})
    return out


def export_exceptions(ctx: Context, run_id: int, out: Path, fmt: str = "csv", *,
                      user: str | None = None) -> dict[str, Any]:
    """Write the run's exception report as csv, jsonl, xlsx or html for `user`: national ids are masked
    unless the user's role needs them (payroll.masking); no user reads masked ids."""
    if fmt not in EXCEPTION_FORMATS:
        raise Refused("UNKNOWN_FORMAT", f"unknown report format {fmt!r}; {', '.join(EXCEPTION_FORMATS)}")
    found = exception_rows(ctx, run_id)
    masker = id_masker(ctx, user, found)
    rows = masked_rows(found, masker)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXCEPTION_REPORT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: spreadsheet_safe(v) for k, v in r.items()})
        data = buf.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheets read Persian text right
    elif fmt == "jsonl":
        data = "".join(json.dumps({**r, "detail": json.loads(r["detail"])}, ensure_ascii=False) + "\n"
                       for r in rows).encode()
    else:
        figures = run_figures(ctx, run_id)
        wide = with_payments(rows, figures)
        data = exceptions_xlsx(figures, wide) if fmt == "xlsx" else exceptions_html(figures, wide, masker.full)
    write_atomic(Path(out), data)
    by_code = Counter(str(r["code"]) for r in rows)
    record_read(ctx, user, "report.exceptions", "run", run_id, {"format": fmt, "rows": len(rows),
                                                                "full_ids": masker.full, "sha256": sha256_bytes(data)})
    return {"run_id": run_id, "path": str(Path(out).resolve()), "format": fmt, "rows": len(rows),
            "by_code": dict(sorted(by_code.items())), "masked": not masker.full}


EXCEPTION_FORMATS = ("csv", "jsonl", "xlsx", "html")


# --- xlsx -----------------------------------------------------------------------------------------


def _run_time(created_at: str) -> datetime:
    """The run's creation time as the naive UTC datetime openpyxl and zip entries take."""
    try:
        t = datetime.fromisoformat(created_at)
    except ValueError:
        t = datetime(1980, 1, 1, tzinfo=UTC)
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return max(t.replace(microsecond=0), datetime(1980, 1, 1))


def _write_sheet(ws: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Header row frozen, autofilter over the table, readable widths; every text cell is a string cell
    (never a formula, whatever it starts with), amounts with thousands separators."""
    widths = [len(c) for c in columns]
    for j, c in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j, value=c)
        cell.font = Font(bold=True)
    for i, r in enumerate(rows, start=2):
        for j, c in enumerate(columns, start=1):
            v = r.get(c)
            if isinstance(v, str):
                v = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)
            cell = ws.cell(row=i, column=j, value=v)
            if isinstance(v, str):
                cell.data_type = "s"  # a text that starts with "=" stays text: openpyxl writes no formula
                if v.startswith(_FORMULA_START):
                    cell.quotePrefix = True  # and a spreadsheet keeps it text when the cell is edited
            elif c in AMOUNT_COLUMNS and isinstance(v, int):
                cell.number_format = "#,##0"
            if i < 2000:  # widths from the first rows: enough to read, cheap on a national run
                shown = f"{v:,}" if isinstance(v, int) and c in AMOUNT_COLUMNS else "" if v is None else str(v)
                widths[j - 1] = max(widths[j - 1], len(shown))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(rows) + 1, 1)}"


def _deterministic_zip(data: bytes, stamp: datetime) -> bytes:
    """The same archive with every entry stamped `stamp`: the same report twice gives the same bytes."""
    out = io.BytesIO()
    with ZipFile(io.BytesIO(data)) as src, ZipFile(out, "w", ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def exceptions_xlsx(figures: RunFigures, rows: list[dict[str, Any]]) -> bytes:
    """A Summary sheet (totals per run, branch, code and bank) and one sheet per severity."""
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    _write_sheet(summary, SUMMARY_COLUMNS, summary_rows(figures, rows))
    for sev in SEVERITIES:
        _write_sheet(wb.create_sheet(sev), WIDE_COLUMNS, [r for r in rows if r["severity"] == sev])
    stamp = _run_time(figures.created_at)
    wb.properties.creator = "pension-engine"
    wb.properties.title = f"Exception report, run {figures.view['run_id']} ({figures.view['period']})"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    raw = io.BytesIO()
    ExcelWriter(wb, ZipFile(raw, "w", ZIP_DEFLATED, allowZip64=True)).save()  # not save_workbook: it stamps now
    return _deterministic_zip(raw.getvalue(), stamp)


# --- html -----------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
caption { text-align: left; font-weight: bold; padding: 0.3rem 0; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.detail { font-family: monospace; font-size: 0.75rem; max-width: 40rem; word-break: break-all; }
tfoot td { font-weight: bold; background: #fafafa; }
tr.BLOCK td:first-child { border-left: 4px solid #b00020; } tr.HOLD td:first-child { border-left: 4px solid #e69500; }
tr.WARN td:first-child { border-left: 4px solid #d4c300; } tr.REPORT td:first-child { border-left: 4px solid #5470c6; }
p.note { color: #555; } figure { display: inline-block; margin: 0 1rem 1rem 0; } img { max-width: 100%; }
"""

# click a column header to sort its table (numbers by data-value, text in the reader's collation)
_JS = """
(function () {
  function key(td) {
    var v = td.getAttribute("data-value");
    return v !== null && v !== "" && !isNaN(v) ? Number(v) : td.textContent.trim();
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[i]), y = key(b.cells[i]);
        var c = (typeof x === "number" && typeof y === "number") ? x - y
          : String(x).localeCompare(String(y), undefined, {numeric: true});
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css | safe }}</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for p in notes %}<p class="note">{{ p }}</p>
{% endfor %}
{% for s in sections %}<section id="section-{{ s.id }}">
<h2>{{ s.heading }}</h2>
{% for p in s.notes %}<p class="note">{{ p }}</p>
{% endfor %}
{% for img in s.images %}<figure><img id="{{ img.id }}" src="{{ img.src }}" alt="{{ img.alt }}">
<figcaption>{{ img.alt }}</figcaption></figure>
{% endfor %}
{% for t in s.tables %}<table class="sortable" id="{{ t.id }}">
<caption>{{ t.caption }}</caption>
<thead><tr>{% for h in t.headers %}<th scope="col">{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for r in t.rows %}<tr{% if r.cls %} class="{{ r.cls }}"{% endif %}>
{%- for c in r.cells %}<td{% if c.cls %} class="{{ c.cls }}"{% endif %}
{%- if c.value is not none %} data-value="{{ c.value }}"{% endif %}{% if c.text_dir %} dir="auto"{% endif %}>
{{- c.text }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
{% if t.foot %}<tfoot><tr>{% for c in t.foot %}<td{% if c.cls %} class="{{ c.cls }}"{% endif %}
{%- if c.value is not none %} data-value="{{ c.value }}"{% endif %}>{{ c.text }}</td>{% endfor %}</tr></tfoot>
{% endif %}</table>
{% endfor %}</section>
{% endfor %}
<script>{{ js | safe }}</script>
</body>
</html>
"""


_PLAIN_INTS = frozenset({"row", "submission_id", "run_id"})  # numbers, not quantities: no separators


@dataclass
class HtmlCell:
    text: str
    value: int | float | None = None  # numbers sort (and are read back) by this
    cls: str = ""
    text_dir: bool = False


def html_cell(v: Any, column: str = "") -> HtmlCell:
    if v is None:
        return HtmlCell("")
    if isinstance(v, bool):
        return HtmlCell(str(v).lower())
    if isinstance(v, int):
        return HtmlCell(str(v) if column in _PLAIN_INTS else f"{v:,}", v, "num")
    if isinstance(v, float):
        return HtmlCell(f"{v:,.1f}", v, "num")
    return HtmlCell(str(v), None, "detail" if column == "detail" else "", True)


def html_table(table_id: str, caption: str, columns: list[str], rows: list[dict[str, Any]],
               foot: dict[str, Any] | None = None, row_class: str | None = None) -> dict[str, Any]:
    """A sortable table for the page template: one header per column, one cell per value (HTML-escaped
    by the template), a footer of totals."""
    return {"id": table_id, "caption": caption, "headers": columns,
            "rows": [{"cls": str(r.get(row_class, "")) if row_class else "",
                      "cells": [html_cell(r.get(c), c) for c in columns]} for r in rows],
            "foot": [html_cell(foot.get(c), c) for c in columns] if foot is not None else None}


@cache
def _template() -> Any:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(_PAGE)


def render_page(title: str, notes: list[str], sections: list[dict[str, Any]]) -> bytes:
    """One self-contained HTML page: inline style and script, images as data URIs, nothing fetched."""
    for s in sections:
        s.setdefault("notes", [])
        s.setdefault("images", [])
        s.setdefault("tables", [])
    return _template().render(title=title, notes=notes, sections=sections, css=_CSS, js=_JS).encode("utf-8")


def _foot(rows: list[dict[str, Any]], label_column: str, label: str, columns: list[str]) -> dict[str, Any]:
    """Totals of the numeric columns of `rows`."""
    foot: dict[str, Any] = {label_column: label}
    for c in columns:
        vals = [r.get(c) for r in rows]
        if c != label_column and vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            foot[c] = sum(vals)  # type: ignore[misc]
    return foot


def figures_notes(figures: RunFigures, full_ids: bool) -> list[str]:
    v = figures.view
    return [f"Run {v['run_id']} for {v['period']} ({v['kind']}), {v['status']}; made by {v['created_by']} at "
            f"{v['created_at']}; payments file sha256 {v['content_sha256']}.",
            f"Pays {v['payable_count']:,} payments, {v['payable_total']:,} {figures.currency}; "
            f"{v['held_count']:,} held, {v['blocked_count']:,} blocked, of {v['rows']:,} rows.",
            "National ids are shown in full." if full_ids else
            "National ids are masked for this reader (payroll.masking)."]


def exceptions_html(figures: RunFigures, rows: list[dict[str, Any]], full_ids: bool) -> bytes:
    """The exception report as one HTML page: totals per branch, code and bank, then one table per severity."""
    totals = summary_rows(figures, rows)
    cols = [c for c in SUMMARY_COLUMNS if c != "totals_by"]
    code_cols = ["key", "name", "exceptions", *SEVERITIES]
    sections: list[dict[str, Any]] = [{"id": "totals", "heading": "Totals", "tables": []}]
    for by, caption, columns in (("branch", "Per branch", cols), ("code", "Per exception code", code_cols),
                                 ("bank", "Per bank", cols)):
        part = [r for r in totals if r["totals_by"] == by]
        sections[0]["tables"].append(html_table(f"by-{by}", caption, columns, part, _foot(part, "key", "total",
                                                                                            columns)))
    for sev in SEVERITIES:
        part = [r for r in rows if r["severity"] == sev]
        sections.append({"id": f"severity-{sev}", "heading": f"{sev} ({len(part)})",
                         "notes": [catalog_note(sev)],
                         "tables": [html_table(f"exceptions-{sev}", f"{sev} findings", WIDE_COLUMNS, part,
                                               row_class="severity")]})
    v = figures.view
    return render_page(f"Exception report: run {v['run_id']}, {v['period']}", figures_notes(figures, full_ids),
                       sections)


_SEVERITY_NOTES = {
    "BLOCK": "Never paid.",
    "HOLD": "Not paid until cleared by someone with the right role; then paid by a supplementary run.",
    "WARN": "Paid, and reported.",
    "REPORT": "Not a payment of this run: an overpayment to recover, a payee who vanished.",
}


def catalog_note(severity: str) -> str:
    return _SEVERITY_NOTES.get(severity, "")


RECOVERY_COLUMNS = ["national_id", "date_of_death", "period", "run_id", "branch_code", "pension_id",
                    "end_to_end_id", "amount"]


def recovery_list(ctx: Context, period: str) -> dict[str, Any]:
    """The overpayment recovery list the latest run of `period` found: for every recorded death, each
    payment released for a period after the month of death (OVERPAID_AFTER_DEATH findings)."""
    per = Period.parse(period)
    with ctx.uow() as session:
        run = session.execute(select(Run).where(Run.period == str(per), Run.status != "superseded",
                                                Run.kind == "main")
                              .order_by(Run.id.desc()).limit(1)).scalar_one_or_none()
        if run is None:
            raise NotFound("run for period", str(per))
        found = session.execute(select(RunException).where(
            RunException.run_id == run.id, RunException.code == "OVERPAID_AFTER_DEATH")
            .order_by(RunException.national_id)).scalars().all()
    people, payments = [], []
    for e in found:
        d = json.loads(e.detail)
        people.append({"national_id": e.national_id, "date_of_death": d["date_of_death"], "periods": d["periods"],
                       "payments": len(d["payments"]), "total": d["total"], "branch_code": e.branch_code,
                       "pension_id": e.pension_id})
        payments += [{"national_id": e.national_id, "date_of_death": d["date_of_death"], **p}
                     for p in d["payments"]]
    return {"period": str(per), "run_id": run.id, "run_status": run.status, "currency": ctx.country.currency,
            "people": people, "payments": [{k: p[k] for k in RECOVERY_COLUMNS} for p in payments],
            "count": len(people), "total": sum(p["total"] for p in people)}


def export_recovery(ctx: Context, period: str, out: Path) -> dict[str, Any]:
    """The recovery list as CSV, one line per payment to recover (spreadsheet-safe cells)."""
    found = recovery_list(ctx, period)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RECOVERY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in found["payments"]:
        w.writerow({k: spreadsheet_safe(v) for k, v in p.items()})
    write_atomic(Path(out), buf.getvalue().encode("utf-8-sig"))
    return {**found, "path": str(Path(out).resolve())}
