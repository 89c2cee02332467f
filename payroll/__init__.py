"""Pension payment engine: the domain, its store and the service layer.

Nothing here imports Prefect; flows/ and the CLI are thin callers of payroll.services.
"""
