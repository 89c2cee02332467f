"""Who may read what: the scope of each role, one place for the CLI's trace, the API and the pages.

- auditors, finance and finance leads read every branch (HQ roles);
- clerks and branch heads read their own branch; provincial approvers the branches of their province;
- administrators manage reference data and users and never read payments or payee lists.

Runs, holds and exception reports are HQ matters (finance, finance lead, auditor); bank files are
finance's alone (finance, finance lead); the audit trail is the auditors' (and the finance lead's and
administrators', who export it: payroll.services.audit_export.EXPORT_ROLES).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from payroll.approvals import Actor, require_role
from payroll.errors import PolicyViolation
from payroll.store.models import Branch

HQ_READERS = ("auditor", "finance", "finance_lead")
BRANCH_ROLES = ("clerk", "branch_head")
RUN_READERS = HQ_READERS
BANK_FILE_READERS = ("finance", "finance_lead")
AUDIT_READERS = ("auditor", "finance_lead", "admin")


def branch_scope(session: Session, who: Actor, doing: str = "reading payee data") -> tuple[frozenset[str] | None, str]:
    """The branches `who` may read payee data of (None: all) and the scope in words."""
    if who.role in HQ_READERS:
        return None, "all branches"
    if who.role == "admin":
        raise PolicyViolation("SOD_ADMIN_NO_PAYMENTS", f"{who.user_id} is an administrator; administrators manage "
                              "reference data and never see payments")
    if who.role in BRANCH_ROLES:
        if not who.branch_code:
            raise PolicyViolation("OUT_OF_SCOPE", f"{who.user_id} is a {who.role} of no branch")
        return frozenset({who.branch_code}), f"branch {who.branch_code}"
    if who.role == "province_approver":
        if not who.province_code:
            raise PolicyViolation("OUT_OF_SCOPE", f"{who.user_id} is a province approver of no province")
        branches = session.execute(select(Branch.branch_code).where(
            Branch.province_code == who.province_code)).scalars()
        return frozenset(branches), f"province {who.province_code}"
    raise PolicyViolation("WRONG_ROLE", f"{doing} needs an auditor, finance, finance_lead or a branch or "
                          f"province user; {who.user_id} is a {who.role}")


def require_branch(session: Session, who: Actor, branch_code: str, doing: str) -> None:
    """`who` may read the payee data of `branch_code`."""
    branches, scope = branch_scope(session, who, doing)
    if branches is not None and branch_code not in branches:
        raise PolicyViolation("OUT_OF_SCOPE", f"{who.user_id} reads {scope}, not branch {branch_code}")


def require_run_reader(who: Actor, doing: str = "reading a run") -> None:
    require_role(who, RUN_READERS, doing)


def require_bank_file_reader(who: Actor) -> None:
    require_role(who, BANK_FILE_READERS, "downloading bank files")


def require_audit_reader(who: Actor) -> None:
    require_role(who, AUDIT_READERS, "reading the audit trail")
