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
from typing import Any, cast

import numpy as np
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)

from payroll.benefits import BenefitRule
from payroll.country import CountryProfile
from payroll.period import Period
from validations.context import GX_LOCK, batch_definition, configurations_built_once
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


def _evaluation_error(evr: Any, meta: dict[str, Any], kwargs: Any, columns: Any) -> Any:
    """Why an expectation could not be evaluated: a column the file lacks (reported as the finding's
    error, the file-level rules name it), else a GateError, never a silent pass."""
    if not (evr.exception_info and evr.exception_info.get("raised_exception") is not False):
        return None
    info = evr.exception_info
    message = info.get("exception_message") or next(
        (v.get("exception_message") for v in info.values() if isinstance(v, dict)), None)
    if not _missing_columns(kwargs, columns):
        raise GateError(f"expectation {meta.get('rule')} could not be evaluated: {message}")
    return message


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
    with GX_LOCK, configurations_built_once():
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
        error = _evaluation_error(evr, meta, kwargs, data.columns)
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


# --- many files, one validation ---------------------------------------------------------------------

FILE_COLUMN = "file_index"
KEY_NAME = "row_key"
ROW_BITS = 32  # a row key is file_index << 32 | row_no
_ROW_MASK = (1 << ROW_BITS) - 1
BATCH_RESULT_FORMAT: dict[str, Any] = {**RESULT_FORMAT, "unexpected_index_column_names": [KEY_NAME]}
# expectations judged per file in a batch: the file column joins their key
PER_FILE_RULES = ("unique:", "one_payee:")


def run_gate_many(frames: list[pd.DataFrame], profile: CountryProfile, period: Period,
                  rules: dict[str, BenefitRule]) -> list[GateResult]:
    """Validate several normalized frames (one per branch file) in one Great Expectations run: the
    frames are concatenated with a file column, each row keyed ``file_index << 32 | row_no``; findings
    and each expectation's counts are keyed back to the file. Returns one GateResult per frame, in
    order, equal to what ``run_gate`` gives for that frame alone (verdicts, counts, findings, listed
    rows; only timings differ: a file's seconds are its share of the batch by rows). Uniqueness
    expectations are judged within each file (the file column is part of their key). Frames whose
    column types differ from the first's are validated in a batch of their own."""
    if not frames:
        return []
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, f in enumerate(frames):
        groups.setdefault(tuple((str(c), str(t)) for c, t in f.dtypes.items()), []).append(i)
    out: list[GateResult | None] = [None] * len(frames)
    with GX_LOCK, configurations_built_once():
        for members in groups.values():
            if len(members) == 1:
                out[members[0]] = _run_gate(frames[members[0]], profile, period, rules)
                continue
            for i, r in zip(members, _run_batch([frames[i] for i in members], profile, period, rules),
                            strict=True):
                out[i] = r
    return [r for r in out if r is not None]


def _batch_suite(suite: Any) -> Any:
    """The suite for a batch: per-file expectations get the file column in their key."""
    import great_expectations as gx

    expectations = []
    for e in suite.expectations:
        rule = str((e.meta or {}).get("rule", ""))
        if rule.startswith(PER_FILE_RULES):
            columns = list(e.column_list)
            # the compound key of a uniqueness check takes the file column first; the one-payee metric
            # reads column 0 as the key and 1 as the payee, further columns narrow the key
            columns = [FILE_COLUMN, *columns] if rule.startswith("unique:") else [*columns, FILE_COLUMN]
            e = e.copy(update={"column_list": columns})
        expectations.append(e)
    return gx.ExpectationSuite(name=suite.name, expectations=expectations, meta=suite.meta)


def _domain(expectation: Any, data: pd.DataFrame) -> np.ndarray | None:
    """The rows a conditional expectation judges (None: every row)."""
    cond = expectation.row_condition
    if cond is None:
        return None
    column = getattr(getattr(cond, "column", None), "name", None)
    op, param = getattr(cond, "operator", None), getattr(cond, "parameter", None)
    if column is None or column not in data.columns:
        raise GateError(f"row condition {cond!r} cannot be split by file")
    values = data[column]
    if op == "IN":
        return values.isin(list(param or [])).to_numpy(dtype=bool, na_value=False)
    if op == "==":
        return (values == param).to_numpy(dtype=bool, na_value=False)
    raise GateError(f"row condition {cond!r} cannot be split by file")


def _percent(count: int, total: int) -> float | None:
    return count / total * 100 if total else None


def _counts(expectation: Any, batch_result: dict[str, Any], data: pd.DataFrame, file_of: np.ndarray, n: int
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per file: the rows an expectation judges (element_count) and, where GX reports it, how many of
    them are missing (missing_count), counted as GX counts a single frame; one pass over the batch."""
    domain = _domain(expectation, data)
    element = np.bincount(file_of if domain is None else file_of[domain], minlength=n)
    if "missing_count" not in batch_result:
        return element, None
    kwargs = expectation.configuration.kwargs
    if "column" in kwargs:
        missing = data[kwargs["column"]].isna().to_numpy()
    else:
        nulls = data[list(kwargs["column_list"])].isna()
        how = getattr(expectation, "ignore_row_if", "all_values_are_missing")
        missing = (nulls.any(axis=1).to_numpy() if how == "any_value_is_missing"
                   else nulls.all(axis=1).to_numpy() if how == "all_values_are_missing"
                   else np.zeros(len(data), dtype=bool))
    if domain is not None:
        missing = missing & domain
    return element, np.bincount(file_of[missing], minlength=n)


def _file_result(element: int, missing: int | None, row_nos: np.ndarray) -> dict[str, Any]:
    """One file's part of a row-level expectation's batch result, with GX's fields and arithmetic."""
    unexpected = len(row_nos)
    result: dict[str, Any] = {"element_count": element, "unexpected_count": unexpected,
                              "unexpected_percent": _percent(unexpected, element),
                              "unexpected_index_column_names": ["row_no"]}
    if missing is not None:
        nonmissing = element - missing
        result.update({"unexpected_percent": _percent(unexpected, nonmissing), "missing_count": missing,
                       "missing_percent": _percent(missing, element),
                       "unexpected_percent_total": _percent(unexpected, element),
                       "unexpected_percent_nonmissing": _percent(unexpected, nonmissing)})
    listed = row_nos[:MAX_LISTED].tolist()  # GateResult.result keeps MAX_LISTED rows, as _trim does
    partial = int(RESULT_FORMAT["partial_unexpected_count"])
    result["partial_unexpected_index_list"] = [{"row_no": listed[:partial]}] if listed else []
    result["unexpected_index_list"] = [{"row_no": listed}] if listed else []
    return result


def _run_batch(frames: list[pd.DataFrame], profile: CountryProfile, period: Period,
               rules: dict[str, BenefitRule]) -> list[GateResult]:
    started = time.perf_counter()
    run_time = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    datas = [_prepare(f) for f in frames]
    parts_in = []
    for i, d in enumerate(datas):
        part = d.copy(deep=False)
        part.insert(len(part.columns), FILE_COLUMN, np.full(len(part), i, dtype=np.int64))
        part.index = pd.Index((np.int64(i) << ROW_BITS) | d.index.to_numpy(dtype=np.int64), name=KEY_NAME)
        parts_in.append(part)
    batch_data = pd.concat(parts_in)
    batch_files = batch_data[FILE_COLUMN].to_numpy()
    suite = build_suite(profile, period, rules)
    batch_suite = _batch_suite(suite)
    definition = batch_definition()
    batch = definition.get_batch(batch_parameters={"dataframe": batch_data})
    del parts_in

    n = len(frames)
    total_rows = max(len(batch_data), 1)
    builders = [FindingBuilder(d, profile, period) for d in datas]
    parts: list[list[pd.DataFrame]] = [[] for _ in range(n)]
    evrs: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    summaries: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    file_level = [False] * n
    for expectation, batch_expectation in zip(suite.expectations, batch_suite.expectations, strict=True):
        t0 = time.perf_counter()
        evr = batch.validate(batch_expectation, result_format=BATCH_RESULT_FORMAT)
        seconds = time.perf_counter() - t0
        meta = dict(expectation.meta or {})
        kwargs = expectation.configuration.kwargs
        result = dict(evr.result or {})
        error = _evaluation_error(evr, meta, kwargs, datas[0].columns)
        keys = np.array([], dtype=np.int64)
        if error is None and "element_count" in result:
            listed = result.get("unexpected_index_list") or []
            if listed and len(listed) == 1 and isinstance(listed[0].get(KEY_NAME), list):
                keys = np.asarray(listed[0][KEY_NAME], dtype=np.int64)
            elif listed:
                keys = np.asarray([entry[KEY_NAME] for entry in listed], dtype=np.int64)
            if len(keys) != int(result.get("unexpected_count") or 0):
                raise GateError(f"expectation {meta.get('rule')}: GX counted {result.get('unexpected_count')} "
                                f"failing rows but listed {len(keys)}")
        file_of = keys >> ROW_BITS
        order = np.argsort(file_of, kind="stable")
        bounds = np.searchsorted(file_of[order], np.arange(n + 1))
        row_level = error is None and "element_count" in result
        if row_level:
            elements, missings = _counts(expectation, result, batch_data, batch_files, n)
        # the JSON of this expectation's result, made once; each file gets its success and counts
        template = ExpectationValidationResult(
            success=bool(evr.success), expectation_config=expectation.configuration,
            result={} if row_level else _trim(result), exception_info=evr.exception_info,
            meta=evr.meta).to_json_dict()
        for i in range(n):
            row_nos = keys[order[bounds[i]:bounds[i + 1]]] & _ROW_MASK
            if row_level:
                file_result = _file_result(int(elements[i]), None if missings is None else int(missings[i]),
                                           row_nos)
                success = len(row_nos) == 0
            else:
                file_result, success = cast(dict[str, Any], template["result"]), bool(evr.success)
            if not success and error is None:
                if meta.get("level") == "file":
                    file_level[i] = True
                    parts[i].append(builders[i].file_finding(meta))
                else:
                    parts[i].append(builders[i].row_findings(meta, kwargs, row_nos))
            evrs[i].append({**template, "success": success, "result": file_result})
            summaries[i].append({
                "type": expectation.expectation_type,
                "rule": meta.get("rule"),
                "column": meta.get("column"),
                "code": meta.get("code"),
                "success": success,
                "unexpected_count": int(file_result.get("unexpected_count") or 0) if error is None else None,
                "element_count": int(file_result["element_count"]) if "element_count" in file_result else None,
                "seconds": round(seconds * len(datas[i]) / total_rows, 6),
                **({"error": error} if error else {}),
            })

    elapsed = time.perf_counter() - started
    # the suite result's JSON, made once; each file gets its results, statistics and row count
    suite_template = ExpectationSuiteValidationResult(
        success=False, results=[], suite_name=suite.name, statistics={},
        meta={**suite.meta, "great_expectations_version": _gx_version(), "rows": 0,
              "run_id": {"run_name": f"gate {profile.code} {period}", "run_time": run_time},
              "validation_time": run_time,
              "batch_spec": {"datasource_name": definition.data_asset.datasource.name,
                             "data_asset_name": definition.data_asset.name,
                             "batch_definition": definition.name}},
    ).to_json_dict()
    out = []
    for i in range(n):
        findings = pd.concat(parts[i], ignore_index=True) if parts[i] else empty_findings()
        findings = (findings.drop_duplicates(["row_no", "column"], keep="first")
                    .sort_values(["row_no", "column"], kind="stable")
                    .reset_index(drop=True)[list(FINDING_COLUMNS)])
        findings["row_no"] = findings["row_no"].astype(np.int64)
        successful = sum(1 for s in summaries[i] if s["success"])
        total = len(summaries[i])
        result = {**suite_template, "success": successful == total, "results": evrs[i],
                  "statistics": {"evaluated_expectations": total, "successful_expectations": successful,
                                 "unsuccessful_expectations": total - successful,
                                 "success_percent": 100.0 * successful / total if total else None},
                  "meta": {**suite_template["meta"], "rows": len(datas[i]),
                           "batch": {"files": n, "file_index": i, "rows": int(len(batch_data))}}}
        out.append(GateResult(findings=findings, expectations=summaries[i], success=successful == total,
                              result=result, seconds=elapsed * len(datas[i]) / total_rows,
                              file_level=file_level[i]))
    return out
