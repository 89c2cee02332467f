"""Unit tests for payroll.approvals: every cell of the separation-of-duties rules, as pure functions."""

from __future__ import annotations

import csv

import pytest

from payroll.approvals import ROLES, RUN_MAKERS, Actor, Item, Level, authorize, require_role, slots
from payroll.config import REPO_DATA_DIR
from payroll.errors import PolicyViolation, Refused, WrongState

# The chains as shipped in data/reference/approval_chain.csv (checked below).
SUBMISSION_CHAIN = (
    Level(1, frozenset({"branch_head"}), "branch"),
    Level(2, frozenset({"province_approver"}), "province"),
)
LEAD_THRESHOLD = 1_000_000_000_000  # a run over this total needs a finance lead as well
RUN_CHAIN = (
    Level(1, frozenset({"finance", "finance_lead"}), "hq"),
    Level(2, frozenset({"finance", "finance_lead"}), "hq"),
    Level(3, frozenset({"finance_lead"}), "hq", min_total=LEAD_THRESHOLD),
)

RUN_SLOTS = tuple(slots(RUN_CHAIN, 0))  # a run under the threshold: two finance signatures

CLERK = Actor("clerk.b001", "clerk", "B001", "P01")
HEAD_B001 = Actor("head.b001", "branch_head", "B001", "P01")
HEAD_B002 = Actor("head.b002", "branch_head", "B002", "P01")
PROV_P01 = Actor("prov.p01", "province_approver", None, "P01")
PROV_P02 = Actor("prov.p02", "province_approver", None, "P02")
FIN_1 = Actor("fin.1", "finance", None, None)
FIN_2 = Actor("fin.2", "finance", None, None)
LEAD = Actor("fin.lead", "finance_lead", None, None)
AUDITOR = Actor("audit.1", "auditor", None, None)
ADMIN = Actor("admin.1", "admin", None, None)


def submission(levels_approved: int = 0, maker: str = "clerk.b001") -> Item:
    return Item("submission", 7, maker, levels_approved, "B001", "P01")


def run(levels_approved: int = 0, maker: str = "fin.1") -> Item:
    return Item("run", 3, maker, levels_approved)


def refused(actor: Actor, item: Item, chain, signed_by=()) -> Refused:  # noqa: ANN001
    with pytest.raises(Refused) as e:
        authorize(actor, item, chain, set(signed_by))
    return e.value


def test_shipped_chain_matches_the_one_tested() -> None:
    with open(REPO_DATA_DIR / "reference" / "approval_chain.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    chains = {t: tuple(Level(int(r["level"]), frozenset(r["roles"].split("|")), r["scope"], int(r["required"] or 1),
                             int(r["min_total"]) if r["min_total"] else None)
                       for r in rows if r["item_type"] == t) for t in ("submission", "run")}
    assert chains == {"submission": SUBMISSION_CHAIN, "run": RUN_CHAIN}


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("item", "chain"), [(submission(), SUBMISSION_CHAIN), (submission(1), SUBMISSION_CHAIN),
                                             (run(), RUN_SLOTS), (run(2), RUN_SLOTS)])
def test_auditor_is_always_refused(item: Item, chain) -> None:  # noqa: ANN001
    e = refused(AUDITOR, item, chain)
    assert isinstance(e, PolicyViolation)
    assert e.code == "SOD_AUDITOR_READ_ONLY"
    assert "audit.1" in e.message


@pytest.mark.parametrize(("item", "chain"), [(submission(), SUBMISSION_CHAIN), (run(1), RUN_SLOTS)])
def test_admin_is_always_refused(item: Item, chain) -> None:  # noqa: ANN001
    e = refused(ADMIN, item, chain)
    assert isinstance(e, PolicyViolation)
    assert e.code == "SOD_ADMIN_NEVER_APPROVES"


@pytest.mark.parametrize(("actor", "item", "chain", "needs"), [
    (CLERK, submission(0, maker="someone"), SUBMISSION_CHAIN, "branch_head"),
    (PROV_P01, submission(0), SUBMISSION_CHAIN, "branch_head"),
    (FIN_2, submission(0), SUBMISSION_CHAIN, "branch_head"),
    (HEAD_B001, submission(1), SUBMISSION_CHAIN, "province_approver"),
    (LEAD, submission(1), SUBMISSION_CHAIN, "province_approver"),
    (HEAD_B001, run(0), RUN_SLOTS, "finance or finance_lead"),
    (PROV_P01, run(1), RUN_SLOTS, "finance or finance_lead"),
    (CLERK, run(1), RUN_SLOTS, "finance or finance_lead"),
])
def test_wrong_role_for_the_level(actor: Actor, item: Item, chain, needs: str) -> None:  # noqa: ANN001
    e = refused(actor, item, chain)
    assert isinstance(e, PolicyViolation)
    assert e.code == "WRONG_ROLE"
    assert f"needs a {needs}; {actor.user_id} is a {actor.role}" in e.message


def test_branch_head_of_another_branch_is_out_of_scope() -> None:
    e = refused(HEAD_B002, submission(0), SUBMISSION_CHAIN)
    assert isinstance(e, PolicyViolation)
    assert e.code == "OUT_OF_SCOPE"
    assert "branch B002, not to branch B001" in e.message


def test_province_approver_of_another_province_is_out_of_scope() -> None:
    e = refused(PROV_P02, submission(1), SUBMISSION_CHAIN, {"head.b001"})
    assert isinstance(e, PolicyViolation)
    assert e.code == "OUT_OF_SCOPE"
    assert "province P02, not to province P01" in e.message


def test_maker_never_approves_a_submission() -> None:
    e = refused(HEAD_B001, submission(0, maker="head.b001"), SUBMISSION_CHAIN)
    assert isinstance(e, PolicyViolation)
    assert e.code == "SOD_MAKER_CHECKER"


@pytest.mark.parametrize("levels", [0, 1])
def test_maker_never_approves_a_run(levels: int) -> None:
    e = refused(FIN_1, run(levels, maker="fin.1"), RUN_SLOTS, {"fin.lead"} if levels else ())
    assert e.code == "SOD_MAKER_CHECKER"
    assert "fin.1 made run 3" in e.message


def test_one_person_never_signs_two_levels_of_a_run() -> None:
    e = refused(FIN_2, run(1), RUN_SLOTS, {"fin.2"})
    assert isinstance(e, PolicyViolation)
    assert e.code == "SOD_TWO_LEVELS"


def test_one_person_never_signs_two_levels_of_a_submission() -> None:
    e = refused(PROV_P01, submission(1), SUBMISSION_CHAIN, {"prov.p01"})
    assert e.code == "SOD_TWO_LEVELS"


@pytest.mark.parametrize(("actor", "item", "chain"), [
    (PROV_P01, submission(2), SUBMISSION_CHAIN),
    (HEAD_B001, submission(2), SUBMISSION_CHAIN),
    (FIN_2, run(2), RUN_SLOTS),
])
def test_all_levels_done_is_wrong_state(actor: Actor, item: Item, chain) -> None:  # noqa: ANN001
    e = refused(actor, item, chain)
    assert isinstance(e, WrongState)
    assert not isinstance(e, PolicyViolation)
    assert e.code == "WRONG_STATE"
    assert "already passed all 2 approval levels" in e.message


# --------------------------------------------------------------------------- happy paths


def test_submission_level_1_then_level_2() -> None:
    assert authorize(HEAD_B001, submission(0), SUBMISSION_CHAIN, set()) == SUBMISSION_CHAIN[0]
    level = authorize(PROV_P01, submission(1), SUBMISSION_CHAIN, {"head.b001"})
    assert level == SUBMISSION_CHAIN[1]
    assert (level.level, level.scope) == (2, "province")


def test_run_level_1_and_2_by_two_finance_users() -> None:
    assert authorize(FIN_2, run(0), RUN_SLOTS, set()).level == 1
    level = authorize(LEAD, run(1), RUN_SLOTS, {"fin.2"})
    assert (level.level, level.scope) == (2, "hq")


def test_finance_lead_signs_level_1_and_finance_level_2() -> None:
    assert authorize(LEAD, run(0), RUN_SLOTS, set()) == RUN_SLOTS[0]
    assert authorize(FIN_2, run(1), RUN_SLOTS, {"fin.lead"}) == RUN_SLOTS[1]


def test_signed_by_of_other_users_does_not_block() -> None:
    assert authorize(FIN_2, run(1), RUN_SLOTS, {"fin.lead", "someone.else"}).level == 2


# --------------------------------------------------------------------------- require_role


def test_require_role_accepts_a_listed_role() -> None:
    assert require_role(LEAD, RUN_MAKERS, "creating a payment run") is None
    assert require_role(FIN_1, RUN_MAKERS, "creating a payment run") is None


@pytest.mark.parametrize("actor", [CLERK, HEAD_B001, PROV_P01, AUDITOR, ADMIN])
def test_require_role_refuses_other_roles(actor: Actor) -> None:
    with pytest.raises(PolicyViolation) as e:
        require_role(actor, RUN_MAKERS, "creating a payment run")
    assert e.value.code == "WRONG_ROLE"
    assert e.value.message == (f"creating a payment run needs a finance or finance_lead; "
                               f"{actor.user_id} is a {actor.role}")


def test_roles_cover_every_actor_used() -> None:
    assert {a.role for a in (CLERK, HEAD_B001, PROV_P01, FIN_1, LEAD, AUDITOR, ADMIN)} == set(ROLES)


# --------------------------------------------------------------------------- N of M, and the threshold


def test_a_run_over_the_threshold_needs_a_finance_lead_as_well() -> None:
    small, large = slots(RUN_CHAIN, LEAD_THRESHOLD), slots(RUN_CHAIN, LEAD_THRESHOLD + 1)
    assert [lv.level for lv in small] == [1, 2] and [lv.level for lv in large] == [1, 2, 3]
    assert authorize(FIN_2, run(0), large, set()).level == 1
    assert authorize(LEAD, run(2), large, {"fin.2", "fin.3"}).level == 3
    e = refused(FIN_2, run(2), large, {"fin.3", "fin.4"})
    assert e.code == "WRONG_ROLE" and "finance_lead" in e.message
    assert refused(FIN_2, run(2), small).code == "WRONG_STATE"  # under the threshold two signatures are all


def test_n_of_m_needs_n_distinct_signers_at_one_level() -> None:
    chain = slots((Level(1, frozenset({"finance", "finance_lead"}), "hq", required=3),), 0)
    assert [(lv.level, lv.slot) for lv in chain] == [(1, 1), (1, 2), (1, 3)]
    assert authorize(FIN_2, run(0), chain, set()).slot == 1
    assert authorize(LEAD, run(1), chain, {"fin.2"}).slot == 2
    assert refused(FIN_2, run(1), chain, {"fin.2"}).code == "SOD_TWO_LEVELS"  # never twice, even at one level
    assert refused(FIN_1, run(1), chain, {"fin.2"}).code == "SOD_MAKER_CHECKER"
    assert refused(LEAD, run(3), chain, {"fin.2", "fin.lead", "fin.3"}).code == "WRONG_STATE"
