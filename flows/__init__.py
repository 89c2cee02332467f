"""Prefect flows: thin wrappers that call payroll.services, map work per branch and retry where the
outside world (the database) can fail transiently. No business rule lives here."""
