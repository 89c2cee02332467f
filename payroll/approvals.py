"""Who may approve what: the approval chain and separation of duties, as pure functions.

The chain is data (data/reference/approval_chain.csv): ordered levels, each with the roles that may
sign it, a scope (the item's branch, its province, or headquarters), how many distinct people must sign
it (N of the M users who hold those roles) and, optionally, the item total above which the level
applies at all (a finance lead as well for a large run). :func:`slots` turns the levels that apply to
an item into one signature slot each, in order; an item's ``levels_approved`` counts filled slots. Rules, in order: auditors
and administrators never approve; the signer's role fits the level; the signer acts within the
item's branch or province; the maker never checks; one person never signs two levels of one item.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from payroll.errors import PolicyViolation, WrongState

ROLES = ("clerk", "branch_head", "province_approver", "finance", "finance_lead", "auditor", "admin")
RUN_MAKERS = ("finance", "finance_lead")


@dataclass(frozen=True)
class Level:
    level: int
    roles: frozenset[str]
    scope: str  # branch | province | hq
    required: int = 1  # N distinct signers
    min_total: int | None = None  # the level applies only to items whose total exceeds this
    slot: int = 1  # which of the N signatures (after slots())


def slots(chain: Sequence[Level], total: int) -> list[Level]:
    """The signatures `chain` asks of an item of `total` (minor units), in order: each level that
    applies to it, once per required signer."""
    return [replace(level, slot=n) for level in chain
            if level.min_total is None or total > level.min_total
            for n in range(1, level.required + 1)]


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str
    branch_code: str | None
    province_code: str | None


@dataclass(frozen=True)
class Item:
    item_type: str  # submission | run
    item_id: int
    maker: str
    levels_approved: int
    branch_code: str | None = None
    province_code: str | None = None


def _never_signs(actor: Actor) -> None:
    """Auditors and administrators sign nothing."""
    if actor.role == "auditor":
        raise PolicyViolation("SOD_AUDITOR_READ_ONLY", f"{actor.user_id} is an auditor; auditors never change anything")
    if actor.role == "admin":
        raise PolicyViolation("SOD_ADMIN_NEVER_APPROVES",
                              f"{actor.user_id} is an administrator; administrators manage reference data only")


def authorize(actor: Actor, item: Item, chain: Sequence[Level], signed_by: Collection[str]) -> Level:
    """The level `actor` may sign next on `item`, or a PolicyViolation/WrongState saying why not.

    `signed_by` holds the users who already signed the item's current content.
    """
    what = f"{item.item_type} {item.item_id}"
    _never_signs(actor)
    if item.levels_approved >= len(chain):
        raise WrongState("WRONG_STATE", f"{what} has already passed all {len(chain)} approval levels")
    level = chain[item.levels_approved]
    if actor.role not in level.roles:
        raise PolicyViolation("WRONG_ROLE", f"level {level.level} of {what} needs a "
                              f"{' or '.join(sorted(level.roles))}; {actor.user_id} is a {actor.role}")
    if level.scope == "branch" and actor.branch_code != item.branch_code:
        raise PolicyViolation("OUT_OF_SCOPE", f"{actor.user_id} belongs to branch {actor.branch_code}, "
                              f"not to branch {item.branch_code} of {what}")
    if level.scope == "province" and actor.province_code != item.province_code:
        raise PolicyViolation("OUT_OF_SCOPE", f"{actor.user_id} belongs to province {actor.province_code}, "
                              f"not to province {item.province_code} of {what}")
    if actor.user_id == item.maker:
        raise PolicyViolation("SOD_MAKER_CHECKER", f"{actor.user_id} made {what} and may not approve it")
    if actor.user_id in signed_by:
        raise PolicyViolation("SOD_TWO_LEVELS", f"{actor.user_id} already signed another level of {what}")
    return level


def may_sign(actor: Actor, item: Item, chain: Sequence[Level]) -> None:
    """What the policy says of `actor` and `item` whatever the item's state: a PolicyViolation when no
    level of `chain` takes the actor's role within the actor's scope. Checked before the item's state,
    so a refused user learns nothing of it (:func:`authorize` then decides the next level)."""
    what = f"{item.item_type} {item.item_id}"
    _never_signs(actor)
    mine = [level for level in chain if actor.role in level.roles]
    if not mine:
        roles = sorted({r for level in chain for r in level.roles})
        raise PolicyViolation("WRONG_ROLE", f"signing a {item.item_type} needs a {' or '.join(roles)}; "
                              f"{actor.user_id} is a {actor.role}")
    if not any(level.scope == "hq" or (level.scope == "branch" and actor.branch_code == item.branch_code)
               or (level.scope == "province" and actor.province_code == item.province_code) for level in mine):
        where = f"branch {actor.branch_code}" if actor.branch_code else f"province {actor.province_code}"
        raise PolicyViolation("OUT_OF_SCOPE", f"{actor.user_id} belongs to {where}, not to the branch or province "
                              f"of {what}")


def require_role(actor: Actor, roles: Collection[str], doing: str) -> None:
    if actor.role not in roles:
        raise PolicyViolation("WRONG_ROLE", f"{doing} needs a {' or '.join(sorted(roles))}; "
                              f"{actor.user_id} is a {actor.role}")
