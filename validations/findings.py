"""Turn the failing rows of each expectation into findings: row_no, column, code, message, value.

Pure pandas (no great_expectations import). Messages are filled from the expectation's
``meta["message"]`` template, vectorized over the failing rows: ``{column}``, ``{value}`` and the fields
of its rule (``{limit}``, ``{age}``, ``{rows}``, ``{reason}``...). Python loops only run over failing
rows, where a reason or a list of other rows has to be worded. National ids and account codes are
masked with the country module's ``mask()`` wherever they are echoed, in ``message`` and ``value``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from payroll.country import CountryProfile
from payroll.intake.findings import EXCERPT_CHARS
from payroll.period import Period

FINDING_COLUMNS: tuple[str, ...] = ("row_no", "column", "code", "message", "value")
MAX_ROWS_NAMED = 10  # other rows named in one message; the rest are counted
HEADER_ROW = 1  # file-level findings name the header row, as intake does


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({
        "row_no": np.array([], dtype=np.int64),
        "column": pd.Series([], dtype=object),
        "code": pd.Series([], dtype=object),
        "message": pd.Series([], dtype=object),
        "value": pd.Series([], dtype=object),
    })


def fill_template(template: str, fields: Mapping[str, pd.Series | str], n: int) -> pd.Series:
    """``template.format(**row)`` for every row, by concatenating whole columns (no per-row format)."""
    out = pd.Series([""] * n, dtype=object)
    for literal, name, spec, conv in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if name is None:
            continue
        if spec or conv:
            raise ValueError(f"message template {template!r}: format specs are not supported")
        value = fields[name]
        if isinstance(value, pd.Series):
            out = out + value.reset_index(drop=True).astype(str).astype(object)
        else:
            out = out + str(value)
    return out


def _display(values: pd.Series, mask: Callable[[str], str] | None) -> pd.Series:
    """Values as text for a message; masked when the column is an identifier. <NA> becomes ''."""
    present = values.notna().to_numpy()
    out = pd.Series([""] * len(values), dtype=object)
    if present.any():
        text = values[present].astype(str)
        long = (text.str.len() > EXCERPT_CHARS).to_numpy()
        if long.any():  # a finding quotes a value's first characters and its length, never all of it
            text = text.where(~long, text.map(lambda v: f"{v[:EXCERPT_CHARS]}... ({len(v)} characters)"))
        out[present] = _per_distinct(mask, text) if mask is not None else text.to_numpy(dtype=object)
    return out


def _per_distinct(fn: Callable[[str], str], values: pd.Series) -> np.ndarray:
    """``fn`` applied once per distinct value (a bad value is often repeated: placeholders, one IBAN)."""
    codes, uniques = pd.factorize(values)
    done = np.array([fn(str(v)) for v in uniques] + [""], dtype=object)
    return done[codes]  # code -1 (missing) takes the trailing ""


def _rows_text(shown: list[int], total: int) -> str:
    """``7, 12`` or, when more than MAX_ROWS_NAMED rows share the value, ``7, 12, ... and 5 more``."""
    text = ", ".join(str(r) for r in shown[:MAX_ROWS_NAMED])
    more = total - min(len(shown), MAX_ROWS_NAMED)
    return f"{text} and {more} more" if more > 0 else text


class FindingBuilder:
    """Words findings for one frame (indexed by row_no) and one country profile and period."""

    def __init__(self, data: pd.DataFrame, profile: CountryProfile, period: Period) -> None:
        self.data = data
        self.profile = profile
        self.period = period
        self.masks: dict[str, Callable[[str], str]] = {
            "national_id": profile.national_id.mask,
            "account_code": profile.account.mask,
        }

    def file_finding(self, meta: Mapping[str, Any]) -> pd.DataFrame:
        column = str(meta["column"])
        dtype = str(self.data[column].dtype) if column in self.data.columns else ""
        fields = {"column": column, "dtype": dtype, "value": dtype}
        message = fill_template(str(meta["message"]), fields, 1)
        return pd.DataFrame({"row_no": np.array([HEADER_ROW], dtype=np.int64), "column": [column],
                             "code": [meta["code"]], "message": message.to_numpy(), "value": [dtype or None]})

    def row_findings(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], row_nos: np.ndarray
                     ) -> pd.DataFrame:
        """One finding per failing row of one expectation."""
        if len(row_nos) == 0:
            return empty_findings()
        rows = self.data.loc[row_nos]
        column = str(meta["column"])
        values = rows[column] if column in rows.columns else pd.Series([pd.NA] * len(rows), index=rows.index)
        shown = _display(values, self.masks.get(column))
        fields: dict[str, pd.Series | str] = {"column": column, "value": shown,
                                               "period": str(self.period)}
        kind = str(meta["rule"]).split(":", 1)[0]
        extra = getattr(self, f"_fields_{kind}", None)
        if extra is not None:
            fields.update(extra(meta, kwargs, rows, values))
        message = fill_template(str(meta["message"]), fields, len(rows))
        return pd.DataFrame({
            "row_no": np.asarray(row_nos, dtype=np.int64),
            "column": column,
            "code": str(meta["code"]),
            "message": message.to_numpy(),
            "value": shown.where(values.notna().to_numpy(), None).to_numpy(),
        })

    # --- rule-specific fields (one method per rule kind: the part of meta["rule"] before ':') -----

    @staticmethod
    def _reasons(module: Any, values: pd.Series) -> pd.Series:
        def reason(value: str) -> str:
            try:
                module.validate(value)
            except Exception as e:  # stdnum's ValidationError subclasses carry the reason
                return str(e).rstrip(".").lower() or "is not valid"
            return "is not valid"

        return pd.Series(_per_distinct(reason, values.astype(str)), dtype=object)

    def _fields_check(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                      values: pd.Series) -> dict[str, pd.Series | str]:
        module = self.profile.national_id if meta["column"] == "national_id" else self.profile.account
        return {"reason": self._reasons(module, values)}

    def _fields_gross_range(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                            values: pd.Series) -> dict[str, pd.Series | str]:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        below = (values < low).to_numpy(dtype=bool, na_value=False) if low is not None else np.zeros(len(values), bool)
        limit = np.where(below, f"below the minimum pension {low}", f"above the cap {high}")
        return {"limit": pd.Series(limit, dtype=object), "benefit_type": rows["benefit_type"].astype(str)}

    def _fields_plausible(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                          values: pd.Series) -> dict[str, pd.Series | str]:
        low = str(kwargs.get("min_value"))
        before = (values.astype(str) < low).to_numpy(dtype=bool, na_value=False)
        limit = np.where(before, f"before {low[:4]}", f"after the end of the period {self.period}")
        return {"limit": pd.Series(limit, dtype=object)}

    def _fields_age(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                    values: pd.Series) -> dict[str, pd.Series | str]:
        from validations.expectations import age_limits, ages_at  # imports great_expectations

        types = rows["benefit_type"]
        age = ages_at(values, str(kwargs["as_of"]))
        low, high = age_limits(types, dict(kwargs["limits"]))
        young = (age < low).to_numpy(dtype=bool, na_value=False)
        limit = np.where(young, "needs at least " + low.astype(str).to_numpy(dtype=object),
                         "is paid only up to age " + high.astype(str).to_numpy(dtype=object))
        return {"age": age.astype(str), "limit": pd.Series(limit, dtype=object), "benefit_type": types.astype(str)}

    def _fields_sum(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                    values: pd.Series) -> dict[str, pd.Series | str]:
        gross, deduction = rows["gross_amount"], rows["deduction_amount"]
        return {"gross_amount": gross.astype(str), "deduction_amount": deduction.astype(str),
                "expected": (gross - deduction).astype(str)}

    def _fields_unique(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                       values: pd.Series) -> dict[str, pd.Series | str]:
        key_columns = list(kwargs.get("column_list") or ["pension_id", "national_id"])
        group = rows.groupby(key_columns, sort=False, dropna=False).ngroup().to_numpy()
        members: dict[int, list[int]] = {}
        row_nos = rows.index.to_numpy()
        for g, r in zip(group.tolist(), row_nos.tolist(), strict=True):
            members.setdefault(g, []).append(r)
        text = []
        for g, r in zip(group.tolist(), row_nos.tolist(), strict=True):
            others = [x for x in members[g][: MAX_ROWS_NAMED + 1] if x != r]
            text.append(_rows_text(others, len(members[g]) - 1))
        return {"rows": pd.Series(text, dtype=object)}

    def _fields_one_payee(self, meta: Mapping[str, Any], kwargs: Mapping[str, Any], rows: pd.DataFrame,
                          values: pd.Series) -> dict[str, pd.Series | str]:
        key_column, payee_column = list(kwargs.get("column_list") or ["account_code", "national_id"])[:2]
        keys = rows[key_column].astype(str).tolist()
        payees = rows[payee_column].astype(str).tolist()
        row_nos = rows.index.to_numpy().tolist()
        by_key: dict[str, dict[str, list[int]]] = {}
        for k, p, r in zip(keys, payees, row_nos, strict=True):
            by_key.setdefault(k, {}).setdefault(p, []).append(r)
        size = {k: sum(len(rows_of) for rows_of in payees_of.values()) for k, payees_of in by_key.items()}
        text = []
        for k, p in zip(keys, payees, strict=True):
            others: list[int] = []
            for other_payee, other_rows in by_key[k].items():  # stops after MAX_ROWS_NAMED rows
                if other_payee != p:
                    others.extend(other_rows[: MAX_ROWS_NAMED - len(others)])
                    if len(others) >= MAX_ROWS_NAMED:
                        break
            text.append(_rows_text(sorted(others), size[k] - len(by_key[k][p])))
        return {"rows": pd.Series(text, dtype=object)}
