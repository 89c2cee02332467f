"""The data-quality gate: validate a normalized payee frame with the suite, return findings.

``run_gate(frame, profile, period, rules) -> GateResult``. The frame is what payroll intake produces:
one row per branch-file row, ``row_no`` (spreadsheet numbering, header = 1) and the payee columns,
strings compacted, amounts ``Int64``. The frame is validated through the process's one ephemeral GX
context (:mod:`validations.context`), indexed by ``row_no`` so that GX reports failing rows by their
row number: ``result_format`` COMPLETE with ``unexpected_index_column_names=["row_no"]`` and
``exclude_unexpected_values`` (GX then lists row numbers only, never the values: no national id or
account code reaches the validation result, and building the list costs one append per failing row).

Each expectation is validated on its own (``batch.validate(expectation, result_format=...)``) so that
its own cost is measured. GX resolves a suite's metrics in one graph, but the metrics expectations
share here (table columns, row count) are cheap: on a million rows validating them one by one costs
the same as ``batch.validate(suite)`` (7.1 s either way, see benchmarks/bench_gate.py).

Findings: one per failing (row_no, column), first expectation in suite order wins; file-level
expectations (columns, types) give one finding each on row 1, the header. A column that is missing
makes the expectations about it raise inside GX; those are recorded as failed, not as findings (the
MISSING_COLUMNS finding says it). Any other error inside GX is a bug and raises :class:`GateError`.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)

from payroll.benefits import BenefitRule
from payroll.country import CountryProfile
from payroll.period import Period
from validations.context import GX_LOCK, batch_definition
from validations.findings import FINDING_COLUMNS, FindingBuilder, empty_findings
from validations.suite import build_suite

MAX_LISTED = 100  # entries kept in each list of the returned GX result; findings hold them all
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["row_no"],
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 20,
}


class GateError(RuntimeError):
    """An expectation could not be evaluated for a reason other than a missing column (a bug)."""


@dataclass
class GateResult:
    findings: pd.DataFrame  # row_no, column, code, message, value; sorted; one per (row_no, column)
    expectations: list[dict[str, Any]]  # type, column, code, rule, success, counts, seconds
    success: bool  # every expectation passed
    result: dict[str, Any]  # the GX suite validation result, JSON-able, lists trimmed to MAX_LISTED
    seconds: float
    file_level: bool = field(default=False)  # a file-level expectation failed (columns or types)

    @property
    def rows_with_findings(self) -> int:
        return int(self.findings["row_no"].nunique())


def _row_numbers(result: dict[str, Any]) -> np.ndarray:
    """Row numbers from ``unexpected_index_list``: ``[{"row_no": [..]}]`` when values are excluded,
    ``[{"row_no": n, <column>: value}, ...]`` otherwise."""
    listed = result.get("unexpected_index_list") or []
    if not listed:
        return np.array([], dtype=np.int64)
    if len(listed) == 1 and isinstance(listed[0].get("row_no"), list):
        return np.asarray(listed[0]["row_no"], dtype=np.int64)
    return np.asarray([entry["row_no"] for entry in listed], dtype=np.int64)


def _trim(value: Any) -> Any:
    """Lists longer than MAX_LISTED cut to MAX_LISTED, also inside ``[{"row_no": [...]}]``."""
    if isinstance(value, list):
        return [_trim(v) for v in value[:MAX_LISTED]]
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items()}
    return value


def _missing_columns(kwargs: dict[str, Any], columns: pd.Index) -> list[str]:
    wanted = [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list") or [])
    return [c for c in wanted if c not in columns]


def _prepare(frame: pd.DataFrame) -> pd.DataFrame:
    if "row_no" not in frame.columns:
        raise ValueError("the normalized frame has no row_no column")
    row_no = pd.to_numeric(frame["row_no"], downcast=None).astype(np.int64)
    if row_no.duplicated().any():
        raise ValueError("row_no is not unique in the normalized frame")
    data = frame.drop(columns="row_no")
    data.index = pd.Index(row_no.to_numpy(), name="row_no")
    return data


def run_gate(frame: pd.DataFrame, profile: CountryProfile, period: Period,
             rules: dict[str, BenefitRule]) -> GateResult:
    """Validate the normalized frame; findings for every failing row, the GX result, timings.
    Safe to call from several threads: validations take turns on the process's GX context."""
    with GX_LOCK:
        return _run_gate(frame, profile, period, rules)


def _run_gate(frame: pd.DataFrame, profile: CountryProfile, period: Period,
              rules: dict[str, BenefitRule]) -> GateResult:
    started = time.perf_counter()
    run_time = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = _prepare(frame)
    suite = build_suite(profile, period, rules)
    definition = batch_definition()
    batch = definition.get_batch(batch_parameters={"dataframe": data})

    builder = FindingBuilder(data, profile, period)
    parts: list[pd.DataFrame] = []
    evrs: list[ExpectationValidationResult] = []
    summaries: list[dict[str, Any]] = []
    file_level = False
    for expectation in suite.expectations:
        t0 = time.perf_counter()
        evr = batch.validate(expectation, result_format=RESULT_FORMAT)
        seconds = time.perf_counter() - t0
        meta = dict(expectation.meta or {})
        kwargs = expectation.configuration.kwargs
        result = dict(evr.result or {})
        error = None
        if evr.exception_info and evr.exception_info.get("raised_exception") is not False:
            info = evr.exception_info
            message = info.get("exception_message") or next(
                (v.get("exception_message") for v in info.values() if isinstance(v, dict)), None)
            if not _missing_columns(kwargs, data.columns):
                raise GateError(f"expectation {meta.get('rule')} could not be evaluated: {message}")
            error = message
        if not evr.success and error is None:
            if meta.get("level") == "file":
                file_level = True
                parts.append(builder.file_finding(meta))
            else:
                row_nos = _row_numbers(result)
                if len(row_nos) != int(result.get("unexpected_count") or 0):
                    raise GateError(f"expectation {meta.get('rule')}: GX counted {result.get('unexpected_count')} "
                                    f"failing rows but listed {len(row_nos)}")
                parts.append(builder.row_findings(meta, kwargs, row_nos))
        evr.result = _trim(result)
        evrs.append(evr)
        summaries.append({
            "type": expectation.expectation_type,
            "rule": meta.get("rule"),
            "column": meta.get("column"),
            "code": meta.get("code"),
            "success": bool(evr.success),
            "unexpected_count": int(result.get("unexpected_count") or 0) if error is None else None,
            "element_count": int(result["element_count"]) if "element_count" in result else None,
            "seconds": round(seconds, 6),
            **({"error": error} if error else {}),
        })

    findings = pd.concat(parts, ignore_index=True) if parts else empty_findings()
    findings = (findings.drop_duplicates(["row_no", "column"], keep="first")
                .sort_values(["row_no", "column"], kind="stable")
                .reset_index(drop=True)[list(FINDING_COLUMNS)])
    findings["row_no"] = findings["row_no"].astype(np.int64)

    successful = sum(1 for s in summaries if s["success"])
    suite_result = ExpectationSuiteValidationResult(
        success=successful == len(summaries),
        results=evrs,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(summaries),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(summaries) - successful,
            "success_percent": 100.0 * successful / len(summaries) if summaries else None,
        },
        meta={**suite.meta, "great_expectations_version": _gx_version(), "rows": len(data),
              "run_id": {"run_name": f"gate {profile.code} {period}", "run_time": run_time},
              "validation_time": run_time,
              "batch_spec": {"datasource_name": definition.data_asset.datasource.name,
                             "data_asset_name": definition.data_asset.name,
                             "batch_definition": definition.name}},
    )
    return GateResult(
        findings=findings,
        expectations=summaries,
        success=suite_result.success,
        result=suite_result.to_json_dict(),
        seconds=time.perf_counter() - started,
        file_level=file_level,
    )


def _gx_version() -> str:
    import great_expectations as gx

    return str(gx.__version__)
