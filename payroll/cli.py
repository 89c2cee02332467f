"""`pension`: the command line, a contract for scripts and schedulers.

Every command takes --json and then prints exactly one JSON object on stdout. Exit status: 0 done,
1 the engine refused (invalid file, separation of duties, unknown id, wrong state), 2 usage error,
3 an unexpected internal error. Commands call payroll.services and nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup
from typer.exceptions import TyperException

from payroll import services, signing
from payroll.errors import Refused
from payroll.services.audit_export import export_audit
from payroll.services.audit_witness import audit_checkpoint as checkpoint_now
from payroll.services.reference import LOADABLE_KINDS, RULE_KINDS
from payroll.services.run_summary import run_summary
from payroll.services.trace import trace

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Pension payment engine: branch lists in, approved bank transfer files out.")
approve_app = typer.Typer(no_args_is_help=True, help="Approve a submission or a run (one level per call).")
reject_app = typer.Typer(no_args_is_help=True, help="Reject a submission with a reason.")
run_app = typer.Typer(no_args_is_help=True, help="Payment runs.")
submission_app = typer.Typer(no_args_is_help=True, help="Branch submissions.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail.")
hold_app = typer.Typer(no_args_is_help=True, help="Held payments of a released run: list them, clear them.")
app.add_typer(approve_app, name="approve")
app.add_typer(reject_app, name="reject")
app.add_typer(run_app, name="run")
app.add_typer(submission_app, name="submission")
app.add_typer(audit_app, name="audit")
app.add_typer(hold_app, name="hold")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
AsOpt = Annotated[str, typer.Option("--as", help="The user acting (user_id).")]


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _n(amount: int | None) -> str:
    """Grouped digits for people; JSON keeps the plain integer."""
    return "-" if amount is None else f"{amount:,}"


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _execute(json_out: bool, action: Callable[[services.Context], dict[str, Any]],
             human: Callable[[dict[str, Any]], str], failed: Callable[[dict[str, Any]], bool] = lambda r: False,
             *, schema: bool = True) -> None:
    ctx = None
    try:
        try:
            ctx = services.Context()  # cheap: the engine is created on first use
        except ValidationError as e:
            raise typer.BadParameter(f"configuration (PENSION_* environment): {e}") from None
        if schema:
            ctx.require_schema()
        result = action(ctx)
    except Refused as e:
        if json_out:
            _print_json({"error": e.as_dict()})
        else:
            typer.echo(f"refused [{e.code}]: {e.message}", err=True)
            for item in e.detail.get("errors", [])[:10]:
                typer.echo(f"  row {item.get('row')} column {item.get('column')}: {item.get('message')}", err=True)
        raise _Exit(1) from None
    finally:
        if ctx is not None:
            ctx.dispose()
    if json_out:
        _print_json(result)
    else:
        typer.echo(human(result))
    if failed(result):
        raise _Exit(1)


# --- set-up and reference data --------------------------------------------------------------------


@app.command()
def init(sample: Annotated[bool, typer.Option("--sample", help="Also load data/sample reference data.")] = False,
         json_out: JsonOpt = False) -> None:
    """Create or upgrade the database; --sample also loads the sample month's reference data."""
    _execute(json_out, lambda ctx: services.init_database(ctx, sample=sample), lambda r: f"database at revision {r['revision']} ({r['database']}); loaded "
             + ", ".join(f"{x['kind']} {x['rows']}" for x in r["loaded"]), schema=False)


@app.command()
def load(kind: Annotated[str, typer.Argument(
        help="branches | users | registry | deaths | accounts | banks | approval_chain")],
         file: Annotated[str, typer.Argument(help="CSV with header, or Parquet: a path or an fsspec URL")],
         as_: Annotated[str, typer.Option("--as", help="The administrator loading it.")] = "system",
         json_out: JsonOpt = False) -> None:
    """Load reference data: an extract replaces the previous one; branches and users are merged."""
    if kind not in LOADABLE_KINDS + RULE_KINDS:
        raise typer.BadParameter(f"{kind!r} is not one of {', '.join(LOADABLE_KINDS + RULE_KINDS)}",
                                 param_hint="KIND")
    _execute(json_out, lambda ctx: services.load_reference(ctx, kind, file, actor=as_),
             lambda r: f"{r['kind']}: {r['rows']} rows {r['mode']} from {r['file']}")


# --- submissions ------------------------------------------------------------------------------------


def _receipt_text(r: dict[str, Any]) -> str:
    lines = [f"submission {r['submission_id']} ({r['branch_code']} {r['period']} v{r['version']}): {r['status']}"
             + (" (same bytes as before; nothing new stored)" if r.get("duplicate") else ""),
             f"  rows {r['rows']}, rejected {r['rows_rejected']}, accepted {r['accepted_rows']} for "
             f"{_n(r['accepted_total'])}; counted total {_n(r['counted_total'])} (declared {_n(r['declared_total'])})",
             f"  sha256 {r['content_sha256']}"]
    src = r.get("source") or {}
    if src:
        lines.append("  read as " + ", ".join(f"{k} {v}" for k, v in src.items() if v and k != "columns")
                     + (f"; {len(src['columns'])} header(s) mapped" if src.get("columns") else ""))
    v = r.get("validation")
    if v:
        failed = ", ".join(f"{f['code']} {f['column'] or ''} x{f['unexpected']}".replace("  ", " ")
                           for f in v["failed"])
        lines.append(f"  quality gate: {v['expectations'] - len(v['failed'])} of {v['expectations']} expectations "
                     f"met in {v['seconds']} s" + (f"; failed: {failed}" if failed else ""))
    if r.get("data_docs"):
        lines.append(f"  data docs: {r['data_docs']}")
    lines += [f"  {'row ' + str(e['row']) if e['row'] else 'file'} {e['column'] or ''} {e['code']}: {e['message']}"
              for e in r["errors"][:50]]
    if len(r["errors"]) > 50:
        lines.append(f"  ... {len(r['errors']) - 50} more (use --json for all)")
    return "\n".join(lines)


@app.command()
def submit(file: Annotated[str, typer.Argument(help="The branch payee list (CSV, XLSX or Parquet): a path or an "
                                              "fsspec URL.")],
           branch: Annotated[str, typer.Option("--branch")],
           period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
           as_: AsOpt,
           declared_count: Annotated[int | None, typer.Option("--declared-count", min=0)] = None,
           declared_total: Annotated[int | None, typer.Option("--declared-total", min=0)] = None,
           encoding: Annotated[str | None, typer.Option(
               "--encoding", help="Force the text encoding (utf-8, windows-1256, cp949, euc-kr); "
               "detected when not given.")] = None,
           sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX: the sheet to read (default: the "
                                                     "first).")] = None,
           json_out: JsonOpt = False) -> None:
    """Submit a branch's payee list for a period; prints the receipt."""
    def submit_and_show(ctx: services.Context) -> dict[str, Any]:
        r = services.submit(ctx, file, branch=branch, period=period, user=as_, declared_count=declared_count,
                            declared_total=declared_total, encoding=encoding, sheet=sheet)
        if r.get("data_docs"):  # the receipt names the page: render it now, the person is waiting
            services.data_docs_page(ctx, r["submission_id"])
        return r

    _execute(json_out, submit_and_show, _receipt_text, failed=lambda r: r["status"] == "rejected")


@submission_app.command("show")
def submission_show(submission_id: int, json_out: JsonOpt = False) -> None:
    """Show a submission: its receipt, state and approvals."""
    _execute(json_out, lambda ctx: services.show_submission(ctx, submission_id),
             lambda r: _receipt_text(r) + "".join(f"\n  level {a['level']} {a['decision']} by {a['user']}"
                                                  for a in r["approvals"]))


@approve_app.command("submission")
def approve_submission(submission_id: int, as_: AsOpt,
                       expect_sha256: Annotated[str | None, typer.Option(
                           "--expect-sha256", help="Refuse unless the submission still has this content hash.")]
                       = None, json_out: JsonOpt = False) -> None:
    """Approve the next level of a submission; then resume the period's flow if one waits (PREFECT_API_URL)."""
    def act(ctx: services.Context) -> dict[str, Any]:
        r = services.approve_submission(ctx, submission_id, user=as_, expect_sha256=expect_sha256)
        return {**r, "resumed_flow_runs": _resume_list_flows(ctx, r, as_, "approve")}

    _execute(json_out, act, lambda r: f"submission {r['submission_id']}: level {r['level']} of {r['levels_required']} "
             f"approved; now {r['status']}" + _resumed_text(r))


@reject_app.command("submission")
def reject_submission(submission_id: int, as_: AsOpt, reason: Annotated[str, typer.Option("--reason")],
                      json_out: JsonOpt = False) -> None:
    """Send a submission back to its branch with a reason; then resume the period's flow if one waits."""
    def act(ctx: services.Context) -> dict[str, Any]:
        r = services.reject_submission(ctx, submission_id, user=as_, reason=reason)
        return {**r, "resumed_flow_runs": _resume_list_flows(ctx, r, as_, "reject")}

    _execute(json_out, act, lambda r: f"submission {r['submission_id']} returned at level {r['level']}: "
             f"{r['reason']}" + _resumed_text(r))


def _resumed_text(r: dict[str, Any]) -> str:
    return f"; resumed flow run(s) {', '.join(r['resumed_flow_runs'])}" if r["resumed_flow_runs"] else ""


def _warned(result: tuple[list[str], str | None]) -> list[str]:
    ids, warning = result
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    return ids


def _resume_list_flows(ctx: services.Context, r: dict[str, Any], user: str, decision: str) -> list[str]:
    from flows.approval import after_list_decision

    return _warned(after_list_decision(ctx.settings, r, user, decision))


# --- runs -------------------------------------------------------------------------------------------


def _run_text(r: dict[str, Any]) -> str:
    lines = [f"run {r['run_id']} for {r['period']}: {r['status']}",
             f"  payable {r['payable_count']} for {_n(r['payable_total'])}; held {r['held_count']}; "
             f"blocked {r['blocked_count']}"]
    lines += [f"  {code}: {n}" for code, n in r["exceptions"].items()]
    lines += [f"  missing branch {m['branch_code']}: {m['state']}" for m in r["missing_branches"]]
    return "\n".join(lines)


@run_app.command("create")
def run_create(period: Annotated[str, typer.Option("--period", help="YYYY-MM")], as_: AsOpt,
               json_out: JsonOpt = False) -> None:
    """Consolidate the period's approved branch lists into a run and check it."""
    _execute(json_out, lambda ctx: services.create_run(ctx, period, user=as_), _run_text)


@run_app.command("show")
def run_show(run_id: int, json_out: JsonOpt = False) -> None:
    """Show a run's figures, exceptions and approvals."""
    _execute(json_out, lambda ctx: services.show_run(ctx, run_id), _run_text)


@approve_app.command("run")
def approve_run(run_id: int, as_: AsOpt, json_out: JsonOpt = False) -> None:
    """Sign the next slot of a run's approval chain; then resume its flow if one waits (PREFECT_API_URL)."""
    def act(ctx: services.Context) -> dict[str, Any]:
        r = services.approve_run(ctx, run_id, user=as_)  # the policy first: nothing resumes a refused signature
        return {**r, "resumed_flow_runs": _resume_run_flows(ctx, r, as_)}

    _execute(json_out, act, lambda r: f"run {r['run_id']}: level {r['level']} of {r['levels_required']} approved; "
             f"now {r['status']}" + _resumed_text(r))


def _resume_run_flows(ctx: services.Context, r: dict[str, Any], user: str) -> list[str]:
    from flows.approval import after_run_signature

    return _warned(after_run_signature(ctx.settings, r, user))


class _ReleaseGroup(TyperGroup):
    """`pension release RUN ...` releases a run; `pension release verify DIR` checks a release."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands:
            return "run", self.commands["run"], args
        return super().resolve_command(ctx, args)


release_app = typer.Typer(cls=_ReleaseGroup, no_args_is_help=True,
                          help="Release an approved run (pension release RUN --as U), or verify a release folder.")
app.add_typer(release_app, name="release")


@release_app.command("run")
def release(run_id: int, as_: AsOpt,
            out: Annotated[Path | None, typer.Option("--out", help="Also copy the files here.")] = None,
            json_out: JsonOpt = False) -> None:
    """Release an approved run: the banks' files, a manifest and its signature. Idempotent."""
    _execute(json_out, lambda ctx: services.release_run(ctx, run_id, user=as_, out_dir=out),
             lambda r: "\n".join([f"run {r['run_id']} released" + (" (already; same files)" if r["already_released"]
                                                                    else "")]
                                 + [f"  archive rebuilt byte for byte from the record; it was altered: {p}"
                                    for p in r.get("archive_restored", [])]
                                 + [f"  {f['path']}: {f['transactions']} transfers, {_n(f['control_sum'])}"
                                    for f in r["files"]] + [f"  manifest {r['manifest']} (signed)"]))


@release_app.command("verify")
def release_verify(directory: Annotated[Path, typer.Argument(help="A release folder (files + manifest).")],
                   public_key: Annotated[Path | None, typer.Option(
                       "--public-key", help="PEM public key; default: the configured release key's.")] = None,
                   json_out: JsonOpt = False) -> None:
    """Check a release folder: the manifest's signature, every file's hash, and totals re-added."""
    def text(r: dict[str, Any]) -> str:
        head = (f"{r['directory']}: OK, signed by key {r['key_id']}; {r['files']} file(s), {r['transactions']} "
                f"transfers, {_n(r['control_sum'])}" if r["ok"] else f"{r['directory']}: NOT OK")
        return "\n".join([head] + [f"  {p}" for p in r["problems"]])

    _execute(json_out, lambda ctx: services.verify_release(
        directory, public_key or signing.public_key_path(ctx.settings.release_key_path)), text,
        failed=lambda r: not r["ok"], schema=False)


@app.command()
def reconcile(run_id: int, file: Annotated[Path, typer.Argument(help="A pain.002 or camt.054 from a bank.")],
              as_: AsOpt, json_out: JsonOpt = False) -> None:
    """Read a bank's status report against a released run; reading it again changes nothing."""
    def text(r: dict[str, Any]) -> str:
        s = r["statuses"]
        lines = [f"run {r['run_id']}: report {r['report_id']}" + (" already read; nothing changed"
                                                                  if r["already_read"] else ""),
                 "  this report: " + ", ".join(f"{k} {v}" for k, v in r["outcomes"].items()),
                 f"  run: {r['reconciliation']}; {r['transfers']} transfers: settled {s['settled']}, rejected "
                 f"{s['rejected']}, accepted {s['accepted']}, pending {s['pending']}, no status yet {r['without_status']}"]
        lines += [f"  {x['outcome']}: {x['end_to_end_id']} {x['bank_status']} {x['reason_code'] or ''}"
                  f"{' (' + x['problem'] + ')' if x['problem'] else ''}"
                  for x in r["lines"] if x["outcome"] not in ("applied", "unchanged")][:50]
        return "\n".join(lines)

    _execute(json_out, lambda ctx: services.reconcile(ctx, run_id, file, user=as_), text)


@run_app.command("supplementary")
def run_supplementary(period: Annotated[str, typer.Option("--period", help="YYYY-MM")], as_: AsOpt,
                      json_out: JsonOpt = False) -> None:
    """Pay the cleared holds of a released period: re-check them into a supplementary run to approve."""
    _execute(json_out, lambda ctx: services.create_supplementary_run(ctx, period, user=as_),
             lambda r: _run_text(r) + f"\n  supplementary to run {r['parent_run_id']}; "
                       f"{len(r['clearances'])} cleared payment(s) re-checked")


# --- held payments ------------------------------------------------------------------------------------


def _holds_text(r: dict[str, Any]) -> str:
    lines = [f"run {r['run_id']} ({r['kind']}, {r['period']}, {r['status']}): {r['held_count']} held for "
             f"{_n(r['held_total'])}; {r['cleared_count']} cleared, {r['awaiting_payment_count']} awaiting payment "
             f"{_n(r['awaiting_payment_total'])}"]
    for h in r["holds"]:
        c = h["clearance"]
        state = ("not cleared" if c is None else f"cleared by {c['cleared_by']}"
                 + (f", paid in run {c['paid_in_run_id']}" if c["paid_in_run_id"] else "")
                 + (f", held again in run {c['closed_in_run_id']}" if c["closed_in_run_id"] else ""))
        clear = (f"clearable by {', '.join(h['clearable_by'])}; a supplementary run pays "
                 f"{_n(h['supplementary_amount'])}" if h["clearable_by"] else f"not clearable: {h['not_clearable']}")
        lines.append(f"  {h['end_to_end_id']} {h['branch_code']} pension {h['pension_id']} {_n(h['net_amount'])} "
                     f"{h['status']}: {', '.join(h['codes'])} ({clear}); {state}")
    return "\n".join(lines)


@hold_app.command("list")
def hold_list(run_id: int, json_out: JsonOpt = False) -> None:
    """List the run's held payments with their findings and clearances."""
    _execute(json_out, lambda ctx: services.list_holds(ctx, run_id), _holds_text)


@hold_app.command("clear")
def hold_clear(run_id: int, end_to_end_id: str, as_: AsOpt,
               justification: Annotated[str, typer.Option(
                   "--justification", help="Why the payment may be made (at least 20 characters).")],
               json_out: JsonOpt = False) -> None:
    """Clear the HOLD of one payment of a released run; a supplementary run then pays it."""
    _execute(json_out, lambda ctx: services.clear_hold(ctx, run_id, end_to_end_id, user=as_,
                                                       justification=justification),
             lambda r: f"payment {r['end_to_end_id']} of run {r['run_id']} cleared by {r['cleared_by']} "
                       f"({', '.join(r['codes'])}); clearance {r['clearance_id']}, awaiting a supplementary run")


@app.command()
def exceptions(run_id: int, out: Annotated[Path, typer.Option("--out")],
               fmt: Annotated[str, typer.Option("--format", help="csv | jsonl | xlsx | html")] = "csv",
               as_: Annotated[str | None, typer.Option(
                   "--as", help="The reader: national ids in full for auditors and finance, else masked.")] = None,
               json_out: JsonOpt = False) -> None:
    """Write the run's exception report."""
    _execute(json_out, lambda ctx: services.export_exceptions(ctx, run_id, out, fmt, user=as_),
             lambda r: f"{r['rows']} exception rows written to {r['path']}"
                       + (" (national ids masked)" if r.get("masked") else ""))


@run_app.command("summary")
def run_summary_cmd(run_id: int, out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
                    as_: Annotated[str | None, typer.Option(
                        "--as", help="The reader: national ids in full for auditors and finance, else masked.")] = None,
                    json_out: JsonOpt = False) -> None:
    """The run summary finance reads before approving: figures, charts, change against the last period."""
    _execute(json_out, lambda ctx: run_summary(ctx, run_id, out, user=as_),
             lambda r: f"run {r['run_id']} summary written to {r['path']}")


def _recovery_text(r: dict[str, Any]) -> str:
    head = (f"run {r['run_id']} ({r['run_status']}) of {r['period']}: {r['count']} deceased payee(s) were paid "
            f"{_n(r['total'])} {r['currency']} after the month of death")
    lines = [head] + [f"  {p['national_id']} died {p['date_of_death']}: {p['payments']} payment(s) "
                      f"{', '.join(p['periods'])} = {_n(p['total'])} (branch {p['branch_code']}, pension {p['pension_id']})"
                      for p in r["people"]]
    if r.get("path"):
        lines.append(f"written to {r['path']}")
    return "\n".join(lines)


@app.command()
def recovery(period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
             out: Annotated[Path | None, typer.Option("--out", help="Write the list as CSV, a line per payment.")]
             = None, json_out: JsonOpt = False) -> None:
    """The overpayment recovery list: payments released after a recorded death (the period's run)."""
    _execute(json_out, lambda ctx: services.export_recovery(ctx, period, out) if out
             else services.recovery_list(ctx, period), _recovery_text)


def _verify_text(r: dict[str, Any]) -> str:
    witnessed = (f"{r['checkpoints']['checked']} checkpoint(s) and {r['manifests']['checked']} release "
                 "manifest(s) agree")
    if r["ok"]:
        return "\n".join([f"audit chain intact: {r['entries']} entries, head {r['head_hash'][:16]}; {witnessed}",
                          *(f"  note: {n}" for n in r["notes"])])
    at = f" at entry {r['broken_at']}" if r["broken_at"] is not None else ""
    return "\n".join([f"audit chain BROKEN{at}: {r['reason']}", *(f"  {p}" for p in r["problems"][1:]),
                      *(f"  note: {n}" for n in r["notes"])])


@audit_app.command("verify")
def audit_verify(json_out: JsonOpt = False) -> None:
    """Verify the audit trail's hash chain, and the chain against its signed checkpoints and the release
    manifests (witnesses outside the database); names every one that disagrees."""
    _execute(json_out, lambda ctx: services.verify_audit(ctx), _verify_text, failed=lambda r: not r["ok"])


@audit_app.command("checkpoint")
def audit_checkpoint(as_: AsOpt, json_out: JsonOpt = False) -> None:
    """Sign a checkpoint of the verified audit chain's head into $PENSION_HOME/audit (auditors, finance leads)."""
    _execute(json_out, lambda ctx: checkpoint_now(ctx, user=as_),
             lambda r: f"checkpoint {r['n']}: entry {r['seq']} hash {r['hash'][:16]}, signed by key {r['key_id']}, "
                       f"written to {r['path']}")


@audit_app.command("export")
def audit_export(out: Annotated[Path, typer.Option("--out", help="The file to write.")], as_: AsOpt,
                 fmt: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
                 json_out: JsonOpt = False) -> None:
    """Export the audit trail with its hash chain, for tools/verify_audit_export.py outside the engine."""
    _execute(json_out, lambda ctx: export_audit(ctx, out, fmt, user=as_),
             lambda r: f"{r['entries']} entries (seq {r['first_seq']} to {r['last_seq']}, head "
                       f"{r['head_hash'][:16]}) written to {r['path']}; verify with "
                       f"python3 tools/verify_audit_export.py {r['path']} --head {r['head_hash']}")


@app.command("trace")
def trace_payee(national_id: Annotated[str, typer.Argument(help="The payee's national id, in any written form.")],
                as_: AsOpt, period: Annotated[str | None, typer.Option("--period", help="YYYY-MM")] = None,
                json_out: JsonOpt = False) -> None:
    """A payee's story: branch file and row, approvals, checks, bank file and reference, bank status."""
    def text(r: dict[str, Any]) -> str:
        if not r["found"]:
            return f"{r['national_id']}: nothing recorded" + (f" for {r['period']}" if r["period"] else "")
        lines = [f"{r['national_id']}: branch(es) {', '.join(r['branches'])}, pension id(s) "
                 f"{', '.join(r['pension_ids'])}"]
        for e in r["events"]:
            rest = {k: v for k, v in e.items() if k not in ("at", "event")}
            lines.append(f"  {e['at']}  {e['event']}: " + ", ".join(f"{k}={v}" for k, v in rest.items()
                                                                   if v not in (None, "", [], {})))
        return "\n".join(lines)

    _execute(json_out, lambda ctx: trace(ctx, national_id, period=period, user=as_), text)


@app.command()
def demo(out: Annotated[Path | None, typer.Option("--out", help="Where bank files and reports go.")] = None,
         json_out: JsonOpt = False) -> None:
    """Run the sample month end to end through the Prefect flow on the embedded default."""
    from flows.demo import run_demo  # Prefect is imported only by the commands that need it

    _execute(json_out, lambda _: run_demo(out), _demo_text, schema=False)


def _demo_text(r: dict[str, Any]) -> str:
    run = r["run"]
    lines = [f"history {h['period']}: run {h['run_id']} released, {h['payable_count']} paid "
             f"{_n(h['payable_total'])} {r['currency']}" for h in r.get("history", [])]
    lines += [f"sample month {r['period']} done in {r['seconds']} s (flow run {r['flow_run']})",
             f"  submissions: {r['submissions']['accepted']} accepted, {r['submissions']['rejected']} rejected; "
             f"{r['rows_rejected']} rows rejected at intake",
             f"  run {run['run_id']}: payable {run['payable_count']} for {_n(run['payable_total'])} {r['currency']}; "
             f"held {run['held_count']}; blocked {run['blocked_count']}"]
    lines += [f"    {c}: {n}" for c, n in run["exceptions"].items()]
    lines += [f"  bank file {f['path']} ({f['format']}, {f['transactions']} transfers, {_n(f['control_sum'])})"
              for f in r["files"]]
    if r.get("verify"):
        v = r["verify"]
        lines.append(f"  release verify: {'OK' if v['ok'] else 'NOT OK'}, manifest signed by key {v['key_id']}; "
                     f"{v['files']} files re-read, {v['transactions']} transfers, {_n(v['control_sum'])}")
    if r.get("reconciliation"):
        rc, s = r["reconciliation"], r["reconciliation"]["statuses"]
        lines.append(f"  bank reports: {rc['reports']} read, run {rc['reconciliation']}: settled {s['settled']}, "
                     f"rejected {s['rejected']} ({rc['rejected']}, now a BANK_REJECTED hold to clear and reissue); "
                     f"reading one again changed nothing: {rc['read_again_changed_nothing']}")
    if r.get("recovery"):
        rec = r["recovery"]
        lines.append(f"  recovery list {rec['path']}: {rec['count']} deceased payee(s), {_n(rec['total'])} to recover")
    if r.get("supplementary"):
        sup = r["supplementary"]
        lines.append(f"  supplementary run {sup['run_id']}: {len(sup['cleared'])} cleared HOLD(s) paid, "
                     f"{sup['payable_count']} for {_n(sup['payable_total'])} {r['currency']}")
    lines += [f"  report {path}" for path in r.get("reports", [])]
    lines += [f"  manifest {r['manifest']}", f"  exception report {r['exception_report']}",
              f"  audit chain: {'intact' if r['audit']['ok'] else 'BROKEN'} ({r['audit']['entries']} entries)",
              f"  database {r['database']}"]
    return "\n".join(lines)


# --- the branch inbox and the Prefect deployments -----------------------------------------------------

flows_app = typer.Typer(no_args_is_help=True, help="Prefect deployments: the inbox collection and the monthly run.")
app.add_typer(flows_app, name="flows")

InboxOpt = Annotated[str | None, typer.Option(
    "--inbox", help="A local folder or an fsspec URL, one folder per branch; default PENSION_INBOX, else "
    "$PENSION_HOME/inbox.")]
SettleOpt = Annotated[float, typer.Option(
    "--settle-seconds", min=0, help="Pick a file only when it and its sidecar are older than this.")]


def _collect_text(r: dict[str, Any]) -> str:
    c = r["counts"]
    lines = [f"inbox {r['inbox']}: {len(r['branches'])} branch folder(s) in {r['seconds']} s "
             f"(flow run {r['flow_run']}, {r['state'].lower()})",
             "  " + ", ".join(f"{n} {outcome}" for outcome, n in c.items())]
    for e in r["files"]:
        why = e.get("reason") or (e["error"]["message"] if isinstance(e.get("error"), dict) else e.get("error"))
        lines.append(f"  {e['branch']}/{e['file']}: {e['outcome']}"
                     + (f", submission {e['submission_id']}" if e["submission_id"] else "")
                     + (f" ({why})" if why and e["outcome"] != "accepted" else "")
                     + (f"\n    receipt {e['receipt']}" if e["receipt"] else ""))
    return "\n".join(lines)


@app.command()
def collect(inbox: InboxOpt = None, settle_seconds: SettleOpt = 10.0, json_out: JsonOpt = False) -> None:
    """Collect the branch files waiting in the inbox once, through the collect-branch-files flow.

    Exit 0 when every file got its outcome (accepted, duplicate, rejected, waiting); 3 when a file failed
    unexpectedly (it stays in the inbox for the next collection)."""
    result: dict[str, Any] = {}

    def action(ctx: services.Context) -> dict[str, Any]:
        from flows.serve import prefect_environment

        prefect_environment(ctx.settings)
        from flows.collect import run_collection  # Prefect reads its settings on import

        result.update(run_collection(inbox, settle_seconds))
        return result

    _execute(json_out, action, _collect_text)
    if result["counts"]["failed"]:
        raise _Exit(3)


def _month_text(r: dict[str, Any]) -> str:
    run, sub = r["run"], r["submissions"]
    lines = [f"month {r['period']} in {r['seconds']} s (flow run {r['flow_run']}, task runner {r['task_runner']})",
             f"  submissions: {sub['accepted']} accepted, {sub['rejected']} rejected, {sub['duplicate']} duplicate; "
             f"{r['rows']:,} rows",
             f"  run {run['run_id']} {run['status']}: payable {run['payable_count']:,} for {_n(run['payable_total'])}; "
             f"held {run['held_count']:,}; blocked {run['blocked_count']:,}"]
    lines += [f"  bank file {f['path']} ({f['format']}, {f['transactions']:,} transfers, {_n(f['control_sum'])})"
              for f in r["files"][:20]]
    if len(r["files"]) > 20:
        lines.append(f"  ... and {len(r['files']) - 20} more bank files")
    if r["exception_report"]:
        lines.append(f"  exception report {r['exception_report']}")
    return "\n".join(lines)


@app.command()
def month(plan: Annotated[Path, typer.Argument(help="A month plan (plan.json of `pension synth` or data/sample); "
                                               "its files are named relative to its folder.")],
          out: Annotated[Path | None, typer.Option("--out", help="Where bank files and reports go.")] = None,
          wait: Annotated[bool, typer.Option("--wait", help="Pause for the approvals the plan does not give "
                                             "(pension approve resumes the flow).")] = False,
          json_out: JsonOpt = False) -> None:
    """Run a month through the monthly-run flow on the configured task runner (PENSION_TASK_RUNNER thread
    or dask), with a progress bar per stage on stderr. The reference extracts must be loaded first."""

    def action(ctx: services.Context) -> dict[str, Any]:
        from flows.serve import prefect_environment

        prefect_environment(ctx.settings)
        from flows.monthly import run_month  # Prefect reads its settings on import
        from payroll.progress import RichProgress, reporting

        if json_out:
            return run_month(plan, out, wait_for_approval=wait)
        with RichProgress() as bars, reporting(bars):
            return run_month(plan, out, wait_for_approval=wait)

    _execute(json_out, action, _month_text)


@app.command()
def synth(out: Annotated[Path, typer.Option("--out", help="Folder to write the month into (replaced files).")],
          payees: Annotated[int, typer.Option("--payees")] = 100_000,
          branches: Annotated[int, typer.Option("--branches")] = 40,
          seed: Annotated[int, typer.Option("--seed")] = 7,
          period: Annotated[str, typer.Option("--period")] = "2026-11",
          fmt: Annotated[str, typer.Option("--format", help="Branch and reference files: csv or parquet.")] = "csv",
          json_out: JsonOpt = False) -> None:
    """Write a synthetic national month (payroll.synth), deterministic by seed: branch files, registry,
    deaths, accounts, branches, users, plan.json and expected.json (what the engine must report)."""
    from payroll.synth import generate

    def action(ctx: services.Context) -> dict[str, Any]:
        exp = generate(out, payees=payees, branches=branches, seed=seed, period=period, fmt=fmt)
        return {"out": str(out), "payees": payees, "branches": branches, "seed": seed,
                "rejected_branches": exp["rejected_branches"], "intake_rejections": exp["intake_rejections"],
                "run": {k: v for k, v in exp["run"].items() if not k.startswith("payable_by")}}

    _execute(json_out, action, schema=False, human=lambda r: f"{r['out']}: {r['payees']} payees in {r['branches']} branches (seed "
             f"{r['seed']}); expected: {r['run']['payable_count']} payable for {_n(r['run']['payable_total'])}, "
             f"{r['run']['held_count']} held, {r['run']['blocked_count']} blocked; findings "
             + ", ".join(f"{k} {v}" for k, v in r["run"]["findings"].items())
             + f"; branch files rejected: {', '.join(r['rejected_branches']) or 'none'}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(typer_ctx: typer.Context, payees: Annotated[int, typer.Option("--payees")] = 100_000) -> None:
    """The whole month on generated data, timed per stage beside each stage's floor, with the peak RSS of
    all the engine's processes (benchmarks/bench_month.py; its other options pass through: --branches,
    --seed, --format, --data, --home, --workers, --db-url URL (a fresh database on that server, dropped
    after), --profile DIR (cProfile per stage), --no-floors, --quiet). Prints one JSON object."""
    from benchmarks.bench_month import main as bench_main

    bench_main(["--payees", str(payees), *typer_ctx.args])


# --- the portal and HTTP API ------------------------------------------------------------------------

user_app = typer.Typer(no_args_is_help=True, help="Portal users: passwords.")
app.add_typer(user_app, name="user")


@user_app.command("password")
def user_password(user_id: Annotated[str, typer.Argument(help="The user (users.csv) who will sign in.")],
                  as_: Annotated[str, typer.Option("--as", help="The administrator setting it.")] = "system",
                  password_stdin: Annotated[bool, typer.Option(
                      "--password-stdin", help="Read the password from standard input (one line).")] = False,
                  json_out: JsonOpt = False) -> None:
    """Set a user's portal password (argon2id; at least 12 characters). Asked twice, hidden, unless
    --password-stdin."""
    from payroll.services.users import set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    _execute(json_out, lambda ctx: set_password(ctx, user_id, password, by=as_),
             lambda r: f"password of {r['user_id']} ({r['role']}) set at {r['password_set_at']}")


@app.command()
def serve(host: Annotated[str, typer.Option("--host", help="Listen here; 127.0.0.1 unless a proxy on "
                                            "another machine forwards to it.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
          proxy: Annotated[bool, typer.Option("--proxy", help="Behind a reverse proxy on 127.0.0.1: trust its "
                                              "X-Forwarded-For/-Proto headers.")] = False) -> None:
    """Start the portal and HTTP API (pages at /, API at /api/v1, its OpenAPI document at
    /api/v1/openapi.json) until Ctrl-C."""
    import uvicorn

    from payroll.web.app import create_app

    def action(ctx: services.Context) -> dict[str, Any]:
        typer.echo(f"portal on http://{host}:{port}/ (OpenAPI http://{host}:{port}/api/v1/openapi.json); database "
                   f"{ctx.settings.database_url.split('@')[-1]}", err=True)
        uvicorn.run(create_app(ctx.settings), host=host, port=port, proxy_headers=proxy,
                    forwarded_allow_ips="127.0.0.1" if proxy else None, log_level="info")
        return {"stopped": f"{host}:{port}"}

    _execute(False, action, lambda r: f"stopped serving on {r['stopped']}")


@flows_app.command("serve")
def flows_serve(inbox: InboxOpt = None,
                cron: Annotated[str | None, typer.Option(
                    "--cron", help="When to collect (default every 15 minutes on days 1-20), in the "
                    "institution's time zone.")] = None,
                settle_seconds: SettleOpt = 10.0, json_out: JsonOpt = False) -> None:
    """Serve the inbox collection on its schedule and the monthly run on demand (needs PREFECT_API_URL)."""

    def action(ctx: services.Context) -> dict[str, Any]:
        from flows.serve import prefect_environment

        prefect_environment(ctx.settings, quiet=False)
        from flows.serve import COLLECT_CRON, serve

        return serve(ctx.settings, inbox=inbox, cron=cron or COLLECT_CRON, settle_seconds=settle_seconds,
                     print_starting_message=not json_out)

    _execute(json_out, action, lambda r: "stopped serving " + ", ".join(r["served"]))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    json_out = "--json" in args
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="pension", standalone_mode=False)
        return 0
    except _Exit as e:
        return e.code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        return 2
    except TyperException as e:  # Typer's (vendored) click usage errors: bad or missing arguments
        if json_out:
            _print_json({"error": {"code": "USAGE", "message": e.format_message()}})
        else:
            e.show()  # type: ignore[attr-defined]  # click's UsageError, vendored by Typer
        return e.exit_code
    except Exception as e:  # an engine bug, not a refusal: say so plainly, keep the contract's stdout
        if json_out:
            _print_json({"error": {"code": "INTERNAL", "message": f"{type(e).__name__}: {e}"}})
        else:
            typer.echo(f"internal error: {type(e).__name__}: {e}", err=True)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
