"""The service layer: one function per use case. The CLI, the flows and (later) the HTTP API call
these and nothing else; each state change and its audit entry commit in one transaction."""

from payroll.services.audit_witness import verify_audit
from payroll.services.context import Context
from payroll.services.holds import clear_hold, list_holds
from payroll.services.reconcile import reconcile, reconciliation_view
from payroll.services.reference import init_database, load_reference
from payroll.services.release import release_run, verify_release
from payroll.services.reports import export_exceptions, export_recovery, recovery_list
from payroll.services.runs import approve_run, create_run, show_run
from payroll.services.submissions import (
    approve_submission,
    awaiting_approval,
    data_docs_page,
    reject_submission,
    show_submission,
    submit,
    submit_bytes,
    submit_many,
)
from payroll.services.supplementary import create_supplementary_run

from payroll.services.inbox import (  # isort: skip  (the inbox builds on submissions)
    collect_branch,
    collect_inbox,
    default_inbox,
    list_branch_folders,
    merge_summaries,
)

__all__ = [
    "Context", "approve_run", "approve_submission", "awaiting_approval", "clear_hold", "collect_branch", "collect_inbox", "create_run",
    "data_docs_page", "submit_many",
    "create_supplementary_run", "default_inbox", "export_exceptions", "export_recovery", "init_database", "list_branch_folders",
    "list_holds", "load_reference", "merge_summaries", "recovery_list", "reject_submission", "release_run", "show_run",
    "show_submission", "submit", "submit_bytes", "verify_audit", "reconcile", "reconciliation_view", "verify_release",
]
