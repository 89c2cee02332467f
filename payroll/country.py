"""Country profiles: which national id, which account code, which currency.

IR (default): Iranian national code, SHEBA accounts, rials. KR: resident registration number,
bank-code-prefixed accounts, won. The profile is configuration (PENSION_COUNTRY).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from payroll.identifiers import iban, ir_nid, kr_account, kr_rrn


@dataclass(frozen=True)
class CountryProfile:
    code: str
    currency: str
    national_id: ModuleType
    account: ModuleType
    timezone: str  # the institution's clock: schedules (the submission window) run in it

    def account_bank_code(self, account_code: str) -> str:
        return self.account.bank_code(account_code)

    @property
    def account_is_iban(self) -> bool:
        return self.account is iban


PROFILES: dict[str, CountryProfile] = {
    "IR": CountryProfile("IR", "IRR", ir_nid, iban, "Asia/Tehran"),
    "KR": CountryProfile("KR", "KRW", kr_rrn, kr_account, "Asia/Seoul"),
}


def profile(code: str) -> CountryProfile:
    try:
        return PROFILES[code]
    except KeyError:
        raise ValueError(f"unknown country profile {code!r}; known: {', '.join(PROFILES)}") from None
