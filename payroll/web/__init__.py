"""The portal and HTTP API: FastAPI beside the CLI, calling the same service layer (payroll.services),
which holds every rule. `pension serve` starts it (payroll.web.app.create_app)."""
