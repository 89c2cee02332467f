"""Masking of national ids in reports, by the reader's role.

Who sees what: the roles that work with whole identities (auditors, who trace a finding back to the
person; finance and the finance lead, who clear holds and recover overpayments) read full national
ids (:data:`FULL_ID_ROLES`). Every other role (clerk, branch_head, province_approver, admin) and a
reader nobody named (``None``) or the database does not know reads masked ids.

How a national id is masked (:func:`mask_national_id`), per country profile:

* KR, resident registration number (13 digits): the first seven digits stay (``YYMMDD`` and the
  gender/century digit ``S``, what Korean forms customarily show), the six others become ``*``:
  ``9710139019902`` -> ``9710139******``. The dash of the written form is not kept (reports carry the
  compact form the engine stores; :func:`payroll.identifiers.kr_rrn.mask` is the dashed variant for
  messages).
* IR, national code (10 digits, 8 or 9 when a spreadsheet dropped the leading zeros): only the last
  four digits stay: ``0013542419`` -> ``******2419``. The first three digits name the issuing office
  and the birth place with it, so they are hidden as well; four digits are enough to tell apart two
  payees of one branch on the phone, and are the same four :func:`payroll.identifiers.ir_nid.mask`
  shows at intake.
* Anything that is not an id of that shape (a malformed id quoted by an intake finding, an unknown
  country) is masked entirely, character for character.

A masked id has the same length as the compact id, never starts with a character a spreadsheet reads
as a formula, and contains neither quotes nor backslashes, so it can replace an id inside JSON text.

Ids also appear inside a finding's evidence and detail (the other payees on a shared account, the
survivors of one insured person, an account's holder). :class:`IdMasker` masks, in such text, the
row's own national id as written and every id it was told about (:func:`ids_in` collects those of a
report's rows: their national ids and every value under an id key of their details); ids are matched
as whole digit runs (a longer number that merely contains one is left alone), plain or dashed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from payroll.normalize import compact_id

FULL_ID_ROLES: frozenset[str] = frozenset({"auditor", "finance", "finance_lead"})
# keys of a finding's detail whose values are national ids
_ID_KEY_RE = re.compile(r"(^|_)national_id$|^insured_id$")
# a run of digits, possibly written with dashes (a formatted id: 971013-9019902, 001-354241-9)
_TOKEN_RE = re.compile(r"(?<!\d)\d+(?:[\-\u2010-\u2015]\d+)*(?!\d)")
_DIGITS_RE = re.compile(r"\d+")
_SHORTEST_ID = 6  # shorter "ids" (a typo, a placeholder) are not looked for inside text


def needs_full_ids(role: str | None) -> bool:
    """Whether a reader with `role` sees full national ids (auditor, finance, finance_lead)."""
    return role in FULL_ID_ROLES


def mask_national_id(value: str, country: str) -> str:
    """The national id `value` as a reader without the need to know sees it (see the module docstring).

    >>> mask_national_id('9710139019902', 'KR'), mask_national_id('971013-9019902', 'KR')
    ('9710139******', '9710139******')
    >>> mask_national_id('0013542419', 'IR'), mask_national_id('13542419', 'IR')
    ('******2419', '******2419')
    >>> mask_national_id('12AB', 'IR'), mask_national_id('', 'IR')
    ('****', '')
    """
    if not value:
        return value
    digits = compact_id(value)
    if country == "KR" and len(digits) == 13 and digits.isascii() and digits.isdigit():
        return digits[:7] + "*" * 6
    if country == "IR" and 8 <= len(digits) <= 10 and digits.isascii() and digits.isdigit():
        return "*" * 6 + digits.zfill(10)[-4:]
    return "*" * len(digits or value)


def is_id_key(key: str) -> bool:
    """Whether a detail key holds a national id: national_id, holder_national_id, insured_id, ..."""
    return bool(_ID_KEY_RE.search(key))


def ids_in(obj: Any) -> set[str]:
    """Every national id under an id key of a JSON-like structure (compact form)."""
    found: set[str] = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(k, str) and is_id_key(k) and isinstance(v, str | int) and not isinstance(v, bool):
                    found.add(compact_id(str(v)))
                else:
                    stack.append(v)
        elif isinstance(o, list | tuple):
            stack.extend(o)
    return {f for f in found if f}


class IdMasker:
    """Masks national ids in the values of one report for one reader; a no-op for a reader who sees
    full ids (``full=True``)."""

    def __init__(self, country: str, *, full: bool, known: Iterable[str | None] = ()) -> None:
        self.country = country
        self.full = full
        self._known: set[str] = set()
        self.learn(known)

    @classmethod
    def for_role(cls, role: str | None, country: str, known: Iterable[str | None] = ()) -> IdMasker:
        return cls(country, full=needs_full_ids(role), known=known)

    def learn(self, ids: Iterable[str | None]) -> None:
        """Look for these ids inside text too."""
        for i in ids:
            c = compact_id(i) if i else ""
            if len(c) >= _SHORTEST_ID:
                self._known.add(c)

    def national_id(self, value: str | None) -> str | None:
        if self.full or not value:
            return value
        return mask_national_id(value, self.country)

    def text(self, value: str, own: str | None = None) -> str:
        """`value` with the row's own national id (as written, or as a digit run) and every known id masked."""
        if self.full or not value:
            return value
        own_id = compact_id(own) if own else ""
        if len(own_id) < _SHORTEST_ID:
            own_id = ""
        elif own and own in value:
            value = value.replace(own, mask_national_id(own, self.country))

        def known(digits: str) -> bool:
            c = compact_id(digits)
            return c in self._known or (bool(own_id) and c == own_id)

        def token(m: re.Match[str]) -> str:
            t = m.group(0)
            if known(t):
                return mask_national_id(t, self.country)
            if t.isdigit():
                return t
            return _DIGITS_RE.sub(lambda d: mask_national_id(d.group(0), self.country) if known(d.group(0))
                                  else d.group(0), t)

        if not self._known and not own_id:
            return value
        return _TOKEN_RE.sub(token, value)

    def structure(self, obj: Any, own: str | None = None) -> Any:
        """A JSON-like structure with the values of id keys masked and ids inside text masked."""
        if self.full:
            return obj
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                key = self.text(k, own) if isinstance(k, str) else k
                if isinstance(k, str) and is_id_key(k) and isinstance(v, str | int) and not isinstance(v, bool):
                    out[key] = mask_national_id(str(v), self.country)
                else:
                    out[key] = self.structure(v, own)
            return out
        if isinstance(obj, list | tuple):
            return [self.structure(v, own) for v in obj]
        if isinstance(obj, str):
            return self.text(obj, own)
        return obj

    def json_text(self, text: str, own: str | None = None) -> str:
        """A JSON document (a finding's detail) with its ids masked; keys keep their order."""
        if self.full or not text:
            return text
        try:
            parsed = json.loads(text)
        except ValueError:
            return self.text(text, own)
        return json.dumps(self.structure(parsed, own), ensure_ascii=False)


def mask_ids_in_text(text: str, country: str) -> str:
    """`text` with every digit run that has the shape of a national id of `country` masked, whoever
    reads it: for logs, which nobody reads by role. IR: ten digits that pass the check digit (other
    ten-digit numbers, such as an amount in rials, stay); KR: thirteen digits, plain or written
    ``YYMMDD-SNNNNNN`` (numbers issued since October 2020 have no check digit to tell them by).

    >>> mask_ids_in_text('payee 0013542419 paid 1000000000', 'IR')
    'payee ******2419 paid 1000000000'
    >>> mask_ids_in_text('rrn 971013-9019902 run 12', 'KR')
    'rrn 9710139****** run 12'
    """
    from payroll.identifiers import ir_nid

    def token(m: re.Match[str]) -> str:
        t = m.group(0)
        digits = compact_id(t)
        if not (digits.isascii() and digits.isdigit()):
            return t
        if country == "IR" and len(digits) == 10 and ir_nid.is_valid(digits):
            return mask_national_id(digits, country)
        if country == "KR" and len(digits) == 13 and (t.isdigit() or re.fullmatch(r"\d{6}\D\d{7}", t)):
            return mask_national_id(digits, country)
        return t

    return _TOKEN_RE.sub(token, text) if text else text
