"""The payee-list suite as code: ``build_suite(profile, period, rules) -> gx.ExpectationSuite``.

Every expectation carries ``meta``:

* ``code``: the exception code a failing row (or, for file-level expectations, the file) is given;
* ``column``: the column a finding names;
* ``message``: a template for the finding's message; ``{column}`` and ``{value}`` (the row's value,
  masked for national ids and account codes) are always available, other fields come from the rule
  (see :mod:`validations.findings`);
* ``rule``: a stable name of the expectation within the suite (``not_null:pension_id``,
  ``gross_range:DISABILITY+OLD_AGE+SURVIVOR``...), used to match results to expectations;
* ``level``: ``file`` for expectations about the table itself (columns, types), ``row`` otherwise.

Order matters: findings are deduplicated per (row, column) and the first expectation in suite order
wins; the pattern check of an identifier comes before its check digit, a date before the age it
gives, a sign before a sum.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from payroll.benefits import BenefitRule
from payroll.country import CountryProfile
from payroll.period import Period

if TYPE_CHECKING:
    import great_expectations as gx

PAYEE_COLUMNS: tuple[str, ...] = (
    "pension_id", "national_id", "full_name", "birth_date", "benefit_type",
    "gross_amount", "deduction_amount", "net_amount", "account_code",
)
AMOUNT_COLUMNS: tuple[str, ...] = ("gross_amount", "deduction_amount", "net_amount")
# GX's pandas type check matches these names against the column dtype (pandas' nullable Int64 is
# spelled by its class name, "Int64Dtype"; "Int64" alone is not recognised by GX 1.24.1).
INTEGER_TYPES: tuple[str, ...] = ("Int64Dtype", "int64")
PENSION_ID_REGEX = r"^[A-Za-z0-9]{1,20}$"
NATIONAL_ID_REGEX: dict[str, str] = {"IR": r"^[0-9]{10}$", "KR": r"^[0-9]{13}$"}
NATIONAL_ID_DIGITS: dict[str, int] = {"IR": 10, "KR": 13}
IR_ACCOUNT_REGEX = r"^IR[0-9]{24}$"
EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)

#: The exception codes the suite emits, with a description for data/reference/exception_codes.csv.
EXCEPTION_CODES: dict[str, str] = {
    "MISSING_COLUMNS": "A required column is missing from the header.",
    "WRONG_TYPE": "An amount column does not hold whole numbers (integer minor units) after intake.",
    "MISSING_VALUE": "A required field is empty; the row is rejected and the branch must resend it.",
    "INVALID_PENSION_ID": "The pension id is not 1 to 20 letters or digits.",
    "INVALID_NATIONAL_ID": "The national id has the wrong length or fails its check digit after normalization.",
    "INVALID_ACCOUNT_CODE": "The account code is malformed, fails its check digits, or is not a domestic account.",
    "UNKNOWN_BENEFIT_TYPE": "The benefit type is not one of the country's benefit types (benefit_rules.csv).",
    "NON_POSITIVE_AMOUNT": "Gross or net amount is zero or negative or the deduction is negative.",
    "AMOUNT_OUT_OF_RANGE": "The gross amount is below the minimum pension or above the cap of its benefit type.",
    "AMOUNT_MISMATCH": "net_amount is not gross_amount minus deduction_amount.",
    "INVALID_DATE": "The birth date is implausible (before 1900 or after the end of the period).",
    "AGE_OUT_OF_RANGE": "The payee's age at the end of the period is outside the limits of the benefit type.",
    "DUPLICATE_ROW": "The same pension id and national id appear more than once in the file.",
    "ACCOUNT_SHARED": "The same account code is given for different payees (national ids) in the file.",
}


def _meta(rule: str, code: str, column: str, message: str, level: str = "row") -> dict[str, Any]:
    return {"rule": rule, "code": code, "column": column, "message": message, "level": level}


def build_suite(profile: CountryProfile, period: Period, rules: dict[str, BenefitRule],
                name: str | None = None) -> gx.ExpectationSuite:
    """The data-quality suite of a normalized payee frame for this country, period and benefit rules."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    from validations.expectations import (
        ExpectAgeToBeWithinBenefitLimits,
        ExpectColumnValuesToBeBetweenVectorized,
        ExpectColumnValuesToBelongToOnePayee,
        ExpectColumnValuesToBeValidAccountCode,
        ExpectColumnValuesToBeValidNationalId,
        ExpectNetAmountToEqualGrossMinusDeduction,
    )

    country = profile.code
    codes = sorted(rules)
    expectations: list[Any] = []
    add = expectations.append

    # --- file level: the table has the columns, amounts are integers --------------------------------
    for c in PAYEE_COLUMNS:
        add(gxe.ExpectColumnToExist(column=c, meta=_meta(
            f"exists:{c}", "MISSING_COLUMNS", c, "column {column} is missing", level="file")))
    for c in AMOUNT_COLUMNS:
        add(gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=list(INTEGER_TYPES), meta=_meta(
            f"type:{c}", "WRONG_TYPE", c, "column {column} holds {dtype}, not whole numbers of minor units",
            level="file")))

    # --- row level, in order of precedence per column ---------------------------------------------
    for c in PAYEE_COLUMNS:
        add(gxe.ExpectColumnValuesToNotBeNull(column=c, meta=_meta(
            f"not_null:{c}", "MISSING_VALUE", c, "{column} is empty")))

    add(gxe.ExpectColumnValuesToMatchRegex(column="pension_id", regex=PENSION_ID_REGEX, meta=_meta(
        "pattern:pension_id", "INVALID_PENSION_ID", "pension_id",
        "pension id '{value}' is not 1 to 20 letters or digits")))

    digits = NATIONAL_ID_DIGITS[country]
    add(gxe.ExpectColumnValuesToMatchRegex(column="national_id", regex=NATIONAL_ID_REGEX[country], meta=_meta(
        "pattern:national_id", "INVALID_NATIONAL_ID", "national_id",
        f"national id {{value}} is not {digits} digits")))
    add(ExpectColumnValuesToBeValidNationalId(column="national_id", scheme=country, meta=_meta(
        "check:national_id", "INVALID_NATIONAL_ID", "national_id", "national id {value}: {reason}")))

    add(ExpectColumnValuesToBeValidAccountCode(column="account_code", scheme=country, meta=_meta(
        "check:account_code", "INVALID_ACCOUNT_CODE", "account_code", "account code {value}: {reason}")))
    if profile.account_is_iban and country == "IR":
        add(gxe.ExpectColumnValuesToMatchRegex(column="account_code", regex=IR_ACCOUNT_REGEX, meta=_meta(
            "domestic:account_code", "INVALID_ACCOUNT_CODE", "account_code",
            "account code {value} is not an Iranian SHEBA (IR and 24 digits): pensions are paid to IR accounts")))

    add(gxe.ExpectColumnValuesToBeInSet(column="benefit_type", value_set=codes, meta=_meta(
        "known:benefit_type", "UNKNOWN_BENEFIT_TYPE", "benefit_type",
        "benefit type '{value}' is not one of " + ", ".join(codes))))

    add(ExpectColumnValuesToBeBetweenVectorized(column="gross_amount", min_value=1, meta=_meta(
        "positive:gross_amount", "NON_POSITIVE_AMOUNT", "gross_amount", "gross_amount {value} is not positive")))
    # one conditional expectation per distinct (minimum, cap): GX filters the frame for each
    by_limits: dict[tuple[int, int], list[str]] = {}
    for code in codes:
        by_limits.setdefault((rules[code].min_gross, rules[code].max_gross), []).append(code)
    for (min_gross, max_gross), group in by_limits.items():
        condition = Column("benefit_type") == group[0] if len(group) == 1 else Column("benefit_type").is_in(group)
        add(ExpectColumnValuesToBeBetweenVectorized(
            column="gross_amount", min_value=min_gross, max_value=max_gross, row_condition=condition,
            meta=_meta(f"gross_range:{'+'.join(group)}", "AMOUNT_OUT_OF_RANGE", "gross_amount",
                       "gross_amount {value} is {limit} for {benefit_type}")))
    add(ExpectColumnValuesToBeBetweenVectorized(column="deduction_amount", min_value=0, meta=_meta(
        "non_negative:deduction_amount", "NON_POSITIVE_AMOUNT", "deduction_amount",
        "deduction_amount {value} is negative")))
    add(ExpectColumnValuesToBeBetweenVectorized(column="net_amount", min_value=1, meta=_meta(
        "positive:net_amount", "NON_POSITIVE_AMOUNT", "net_amount", "net_amount {value} is not positive")))
    add(ExpectNetAmountToEqualGrossMinusDeduction(column_list=list(AMOUNT_COLUMNS), meta=_meta(
        "sum:net_amount", "AMOUNT_MISMATCH", "net_amount",
        "net_amount {value} is not gross_amount {gross_amount} minus deduction_amount {deduction_amount} "
        "= {expected}")))

    add(ExpectColumnValuesToBeBetweenVectorized(
        column="birth_date", min_value=EARLIEST_BIRTH_DATE, max_value=period.end, meta=_meta(
            "plausible:birth_date", "INVALID_DATE", "birth_date", "birth date {value} is {limit}")))
    add(ExpectAgeToBeWithinBenefitLimits(
        column_list=["birth_date", "benefit_type"], as_of=period.end.isoformat(),
        limits={code: [rules[code].min_age, rules[code].max_age] for code in codes},
        meta=_meta("age:birth_date", "AGE_OUT_OF_RANGE", "birth_date",
                   "born {value}: {age} years old at the end of {period}; {benefit_type} {limit}")))

    add(gxe.ExpectCompoundColumnsToBeUnique(
        column_list=["pension_id", "national_id"], ignore_row_if="any_value_is_missing", meta=_meta(
            "unique:pension_id+national_id", "DUPLICATE_ROW", "pension_id",
            "pension id and national id also appear in row(s) {rows} with different values")))
    add(ExpectColumnValuesToBelongToOnePayee(column_list=["account_code", "national_id"], meta=_meta(
        "one_payee:account_code", "ACCOUNT_SHARED", "account_code",
        "account {value} is also given for another payee in row(s) {rows}")))

    return gx.ExpectationSuite(name=name or f"payee_rows.{country}.{period}", expectations=expectations,
                               meta={"country": country, "period": str(period)})
