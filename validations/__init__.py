"""Data-quality gates as code (Great Expectations suites and custom expectations).

The walking skeleton's row rules are vectorized pandas in payroll.intake; the Great Expectations
suites, their Data Docs and the mapping of validation results to exception rows come here next.
"""
