"""The portal's labels (every key in Persian, Korean and English; every key a page uses is there) and how
amounts, dates and times are shown."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from payroll.catalog import SEVERITY_RANK
from payroll.web import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
PAGES = Path(i18n.__file__).parent / "pages.py"


def test_every_label_is_in_every_language() -> None:
    assert set(i18n.LABELS) == set(i18n.LANGUAGES) == {"fa", "ko", "en"}
    keys = set(i18n.LABELS["en"])
    for lang in i18n.LANGUAGES:
        assert set(i18n.LABELS[lang]) == keys, lang
        assert all(text.strip() for text in i18n.LABELS[lang].values()), lang


def test_every_label_has_the_same_placeholders_in_every_language() -> None:
    for key, english in i18n.LABELS["en"].items():
        wanted = set(re.findall(r"\{(\w+)\}", english))
        for lang in ("fa", "ko"):
            assert set(re.findall(r"\{(\w+)\}", i18n.LABELS[lang][key])) == wanted, (lang, key)


def _used_keys() -> set[str]:
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'", template.read_text(encoding="utf-8")))
        # the home page's hints: t(key ~ '_hint') for each link of the menu
    source = PAGES.read_text(encoding="utf-8")
    used |= set(re.findall(r'\.t\("([a-z_.]+)"', source))
    nav = set(re.findall(r'\("(nav\.[a-z_]+)", "/', source))
    used |= nav | {f"{k}_hint" for k in nav if k != "nav.home"}
    used |= set(re.findall(r'"(done\.[a-z_]+)"', source))
    return used


def test_every_key_the_pages_use_has_a_label() -> None:
    used = _used_keys()
    assert len(used) > 100
    assert used - set(i18n.LABELS["en"]) == set()


def test_every_severity_has_a_label() -> None:
    for lang in i18n.LANGUAGES:
        for severity in SEVERITY_RANK:
            assert f"severity.{severity}" in i18n.LABELS[lang]


def test_labels_fill_their_placeholders_and_values_fall_back_to_the_raw_value() -> None:
    assert i18n.label("en", "run.title", id=7, period="2026-11") == "Run #7 · 2026-11"
    assert i18n.label("fa", "nav.home") == "خانه"
    # inside Persian words an id or a period keeps its left-to-right order: each value is isolated
    assert i18n.label("fa", "run.title", id=7, period="2026-11") == "دورهٔ پرداخت #\u20687\u2069 · \u20682026-11\u2069"
    assert i18n.value("ko", "state", "approved") == "승인됨"
    assert i18n.value("en", "state", "something_new") == "something_new"
    with pytest.raises(KeyError):
        i18n.label("en", "no.such.key")


@pytest.mark.parametrize(("n", "lang", "text"), [
    (1250000, "en", "1,250,000"),
    (1250000, "ko", "1,250,000"),
    (1250000, "fa", "۱٬۲۵۰٬۰۰۰"),
    (0, "en", "0"),
    (999, "fa", "۹۹۹"),
    (1000, "en", "1,000"),
    (-32619166000, "en", "-32,619,166,000"),
    (-1000, "fa", "-۱٬۰۰۰"),
    (10**18, "ko", "1,000,000,000,000,000,000"),
])
def test_amounts_are_grouped_by_three_in_the_language(n: int, lang: str, text: str) -> None:
    assert i18n.format_number(n, lang) == text


def test_amounts_carry_the_currency_and_a_persian_amount_reads_back() -> None:
    assert i18n.format_amount(32619166000, "en", "IRR") == "32,619,166,000 IRR"
    assert i18n.format_amount(5000, "ko", "KRW") == "5,000 KRW"
    shown = i18n.format_amount(32619166000, "fa", "IRR")
    assert "\u066c" in shown and shown.endswith(" IRR")
    digits = shown.split()[0].replace("\u066c", "").translate(i18n.TO_ASCII_DIGITS)
    assert int(digits) == 32619166000
    assert i18n.format_amount(None, "en", "IRR") == ""


def test_percentages() -> None:
    assert i18n.format_percent(12.34, "en") == "+12.3%"
    assert i18n.format_percent(-5, "en") == "-5.0%"
    assert i18n.format_percent(None, "fa") == "–"
    assert i18n.format_percent(1.5, "fa") == "+۱٫۵٪"


def test_dates_show_the_jalali_date_beside_the_gregorian_for_iran() -> None:
    assert i18n.format_date(date(2026, 11, 22), "IR") == "2026-11-22 (1405-09-01)"
    assert i18n.format_date("2026-03-21", "IR") == "2026-03-21 (1405-01-01)"  # Nowruz
    assert i18n.format_date(date(2026, 11, 22), "KR") == "2026-11-22"
    assert i18n.jalali(date(2025, 3, 20)) == "1403-12-30"


def test_times_are_shown_in_the_institutions_time_zone() -> None:
    # 22:00 UTC is already the next day in Tehran (UTC+03:30) and Seoul (UTC+09:00)
    assert i18n.format_when("2026-11-21T22:00:00+00:00", "IR", "Asia/Tehran") == "2026-11-22 01:30 (1405-09-01)"
    assert i18n.format_when("2026-11-21T22:00:00+00:00", "KR", "Asia/Seoul") == "2026-11-22 07:00"
    assert i18n.format_when(None, "IR", "Asia/Tehran") == ""
    assert i18n.format_when("not a time", "KR", "Asia/Seoul") == "not a time"


@pytest.mark.parametrize(("asked", "cookie", "accept", "country", "lang"), [
    ("ko", "fa", "en", "IR", "ko"),                    # ?lang= first
    (None, "en", "ko", "IR", "en"),                    # then the cookie that keeps it
    ("xx", "yy", "ko-KR,ko;q=0.9,en;q=0.8", "IR", "ko"),  # unknown choices are ignored
    (None, None, "de-DE,de;q=0.9,en;q=0.5,fa;q=0.7", "KR", "fa"),  # by quality, not order
    (None, None, "en;q=0, ko;q=0.1", "IR", "ko"),      # q=0 means not acceptable
    (None, None, "de", "IR", "fa"),                    # then the country profile
    (None, None, None, "KR", "ko"),
    (None, None, "", "XX", "en"),
])
def test_the_language_of_a_page(asked: str | None, cookie: str | None, accept: str | None, country: str,
                                lang: str) -> None:
    assert i18n.choose_language(asked, cookie, accept, country) == lang


def test_direction() -> None:
    assert (i18n.direction("fa"), i18n.direction("ko"), i18n.direction("en")) == ("rtl", "ltr", "ltr")
