"""Comparing a payee's name with the civil registry's: a key for equality and a similarity score.

Two names are the same when their keys are equal: after payroll.normalize (Persian/Arabic letter forms,
zero-width non-joiners, spacing), case folded, Latin diacritics dropped, the Arabic-script letters
people type interchangeably folded (alef with madda or hamza to alef, teh marbuta to heh, hamza
seats to their letter), and spaces, hyphens, dots and apostrophes removed, so that 'محمد\u200cرضا' = 'محمدرضا', '김 민수' = '김민수' and 'Kim Min-Su' =
'KIM MINSU'. Otherwise the score (0..100, rapidfuzz) is the better of the plain ratio of the keys
and the token-sort ratio of the spaced forms, so a reordered name ('Karimi Ali') scores high.
Both are computed over whole columns: rapidfuzz's cdist runs its C++ scorers over the pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

from payroll.normalize import normalize_name_series

_LATIN_MARKS = r"(?<=[A-Za-z])[\u0300-\u036f]+"  # combining marks on a Latin letter (é -> e)
_PUNCT = r"[\-\u2010-\u2015'\u2019.]"
# typed interchangeably in Persian names; folded for comparison only, never for what is stored or paid
_FOLD = str.maketrans({"\u0622": "\u0627", "\u0623": "\u0627", "\u0625": "\u0627", "\u0671": "\u0627",
                       "\u0624": "\u0648", "\u0626": "\u06cc", "\u0629": "\u0647", "\u0621": None})


def spaced_form(names: pd.Series) -> pd.Series:
    """Normalized, case-folded, Latin diacritics dropped, punctuation as space; words kept apart."""
    s = normalize_name_series(names).str.casefold()
    foldable = s.str.contains("[\u0621-\u0626\u0629\u0671]", regex=True, na=False).to_numpy(bool)
    if foldable.any():
        s = s.copy()
        s[foldable] = s[foldable].str.translate(_FOLD)
    has_marks = s.str.contains("[\u00c0-\u024f]", regex=True, na=False).to_numpy(bool)
    if has_marks.any():  # decompose only the names with accented Latin letters (Hangul must stay whole)
        fixed = s[has_marks].str.normalize("NFD").str.replace(_LATIN_MARKS, "", regex=True).str.normalize("NFC")
        s = s.copy()
        s[has_marks] = fixed
    return s.str.replace(_PUNCT, " ", regex=True).str.replace(" +", " ", regex=True).str.strip()


def name_key(names: pd.Series) -> pd.Series:
    """The equality key: the spaced form without spaces."""
    return spaced_form(names).str.replace(" ", "", regex=False)


def similarity(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Pairwise score a[i] vs b[i], 0..100, rounded to one decimal."""
    if len(a) == 0:
        return np.zeros(0)
    sa, sb = spaced_form(a), spaced_form(b)
    ka, kb = sa.str.replace(" ", "", regex=False), sb.str.replace(" ", "", regex=False)
    plain = cpdist(ka.tolist(), kb.tolist(), scorer=fuzz.ratio, workers=-1)
    reordered = cpdist(sa.tolist(), sb.tolist(), scorer=fuzz.token_sort_ratio, workers=-1)
    # cpdist gives float32: widen before rounding, or 94.4 becomes 94.4000015 and passes a 94.4 threshold
    return np.round(np.maximum(plain, reordered).astype(np.float64), 1)
