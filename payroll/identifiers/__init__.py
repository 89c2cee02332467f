"""Identifier validation, one small module per identifier in the style of python-stdnum.

``ir_nid`` (Iranian national code, mod 11), ``kr_rrn`` (Korean resident registration number; check
digit only meaningful before October 2020), ``iban`` (IBAN with Iran's SHEBA, ISO 7064 mod 97-10) and
``kr_account`` (Korean bank account with 3-digit bank code). Each offers ``compact``, ``validate``
(raising ``stdnum.exceptions`` errors), ``is_valid``, ``format``, ``mask``, ``compact_series`` and a
vectorized ``valid_mask(series) -> numpy bool array`` that agrees with ``is_valid``. Text is normalized
first by :mod:`payroll.normalize`.
"""
