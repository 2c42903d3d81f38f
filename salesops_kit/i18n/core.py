"""Report language: English (default) or Chinese labels for KPI names, units, page titles, charts and findings.

The language is read from the environment variable ``SALESOPS_LANG`` (``en`` or ``zh``; ``zh_CN``,
``zh-Hans`` ... count as ``zh``). ``salesops report --lang zh`` sets it for the notebook kernels, which
inherit the environment, so the same notebooks draw Chinese chart labels and findings without changes.

``t(text)`` translates a label (unknown text comes back unchanged, so English is always a safe fallback);
``tr(template, **values)`` formats a findings sentence from its English ``str.format`` template;
``kpi_label(name)`` names a KPI, including families such as ``stage_conversion_Proposal_to_Negotiation``, and
``kpi_definition(name, default=english)`` translates a KPI definition (the registry,
:func:`salesops_kit.kpis.definition`, holds the English text and resolves families).
The translations are data, not code: JSON catalogs in ``salesops_kit/i18n/catalogs/<lang>/`` (``labels``,
``templates``, ``kpi_definitions``, ``patterns``), read on first use and cached (:func:`catalog`).
When a Chinese label reaches matplotlib, :func:`use_cjk_font` puts an installed CJK font first in
matplotlib's font list, or warns once, naming the package to install, instead of drawing empty boxes.
"""

from __future__ import annotations

import functools
import json
import os
import re
import string
import sys
import warnings
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

__all__ = ["LANG_ENV", "LANGS", "current_lang", "t", "tr", "kpi_label", "kpi_definition", "unit_label",
           "use_cjk_font", "CJK_FONT_NAMES", "CJKFontWarning", "CATALOGS", "catalog", "format_money",
           "format_month", "format_date", "YUAN_CODES", "glossary"]

LANG_ENV = "SALESOPS_LANG"
LANGS = ("en", "zh")

# Fonts with CJK glyphs, in order of preference, as matplotlib's font manager names them.
CJK_FONT_NAMES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR", "Noto Sans SC",
    "Source Han Sans SC", "Source Han Sans CN", "Source Han Sans", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB", "Droid Sans Fallback",
    "AR PL UMing CN", "Arial Unicode MS",
)


class CJKFontWarning(UserWarning):
    """No installed font can draw Chinese characters in charts."""


def current_lang() -> str:
    """``"zh"`` when ``SALESOPS_LANG`` starts with ``zh`` (any case), else ``"en"``."""
    v = os.environ.get(LANG_ENV, "").strip().lower()
    return "zh" if v.startswith("zh") else "en"


def _norm_lang(lang: str | None) -> str:
    if lang is None:
        return current_lang()
    return "zh" if str(lang).lower().startswith("zh") else "en"


# --- the catalogs: salesops_kit/i18n/catalogs/<lang>/<name>.json --------------------------------------
# Each file maps group -> {English text: translation}; the groups say where a text is used (report pages,
# chart labels, a topic's findings ...) and are flattened when the file is read. catalogs/README.md says how
# to add a text or a language. English is the source language: it has no catalog.
CATALOGS = ("labels", "templates", "kpi_definitions", "notes")
_CATALOG_DIR = "catalogs"


@functools.cache
def _read(lang: str, name: str):
    """The parsed JSON of ``catalogs/<lang>/<name>.json`` (read once per process)."""
    path = resources.files(__package__).joinpath(_CATALOG_DIR, lang, f"{name}.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        have = sorted(p.name for p in resources.files(__package__).joinpath(_CATALOG_DIR).iterdir() if p.is_dir())
        raise FileNotFoundError(f"no {name!r} catalog for language {lang!r} in salesops_kit/i18n/{_CATALOG_DIR}/; "
                                f"languages with catalogs: {', '.join(have)}") from None


def catalog(name: str, lang: str | None = "zh") -> Mapping[str, str]:
    """One catalog of a language as a read-only ``{English text: translation}`` mapping, read on first use.

    ``labels`` serves :func:`t`, :func:`kpi_label` and :func:`unit_label` (labels, units, KPI and table names,
    chart text, headings); ``templates`` serves :func:`tr` (findings sentences: English ``str.format``
    templates with the same named placeholders in the translation); ``kpi_definitions`` serves
    :func:`kpi_definition` (keyed by KPI registry name, families by their family name such as
    ``stage_conversion_{from}_to_{to}``); ``notes`` serves the lines notebooks print (whole sentences, see
    :func:`salesops_kit.i18n.notebook_text.translate_printed`). English (the source language) has no catalog:
    its mapping is empty.
    """
    if name not in CATALOGS:
        raise ValueError(f"unknown catalog {name!r}; the catalogs are: {', '.join(CATALOGS)}")
    return _catalog(name, _norm_lang(lang))


@functools.cache
def _catalog(name: str, lang: str) -> Mapping[str, str]:
    """:func:`catalog` for a normalised language, cached (groups flattened, a text in two groups refused)."""
    if lang == "en":
        return MappingProxyType({})
    flat: dict[str, str] = {}
    where: dict[str, str] = {}
    for group, entries in _read(lang, name).items():
        for text, translation in entries.items():
            if text in flat:
                raise ValueError(f"{text!r} is in two groups of catalogs/{lang}/{name}.json ({where[text]!r} and "
                                 f"{group!r}); keep it in one")
            flat[text], where[text] = translation, group
    return MappingProxyType(flat)


@functools.cache
def _labels_lower(lang: str) -> Mapping[str, str]:
    """Case-insensitive fallback of the labels; where keys differ only by case ("Days" label, "days" unit) the
    lowercase key wins."""
    labels = catalog("labels", lang)
    return MappingProxyType({k.lower(): v for k, v in sorted(labels.items(), key=lambda kv: kv[0] == kv[0].lower())})


@functools.cache
def _patterns(lang: str) -> tuple[tuple[re.Pattern, str], ...]:
    """Labels with a variable part (stage names, segments): (English regex, translated format), first match wins
    (``patterns.json``, key ``labels``)."""
    if lang == "en":
        return ()
    return tuple((re.compile(p["en"]), p[lang]) for p in _read(lang, "patterns")["labels"])


@functools.cache
def _kpi_families(lang: str) -> Mapping[str, str]:
    """Translated formats of the KPI families of :data:`_FAMILIES` (``patterns.json``, key ``kpi_families``)."""
    if lang == "en":
        return MappingProxyType({})
    return MappingProxyType(dict(_read(lang, "patterns")["kpi_families"]))


# The Chinese catalogs under the names the Python dictionaries had (read on first use).
_ALIASES = {"ZH": "labels", "ZH_TEMPLATES": "templates", "ZH_DEFINITIONS": "kpi_definitions"}


def __getattr__(name: str):
    if name in _ALIASES:
        return catalog(_ALIASES[name], "zh")
    if name == "ZH_PATTERNS":
        return _patterns("zh")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- translating ---------------------------------------------------------------------------------------
def t(text: str, lang: str | None = None) -> str:
    """Translate a label into the report language (unknown text is returned unchanged).

    Matching is exact first, then case-insensitive, then the label patterns of ``patterns.json`` (whose
    variable parts are translated when the labels catalog knows them). When the result contains Chinese
    characters and matplotlib is already imported, the first call also makes sure charts can draw them
    (:func:`use_cjk_font`).
    """
    lang = _norm_lang(lang)
    if not isinstance(text, str) or lang == "en":
        return text
    out = catalog("labels", lang).get(text)
    if out is None:
        out = _labels_lower(lang).get(text.lower())
    if out is None:
        out = _from_patterns(text, lang)
    if out is not text and "matplotlib" in sys.modules:
        use_cjk_font()
    return out


def tr(template: str, /, lang: str | None = None, **values) -> str:
    """Format a findings sentence in the report language.

    ``template`` is the English ``str.format`` template with named placeholders (``"channel {channel}"``);
    in Chinese its entry of the ``templates`` catalog is formatted with the same ``values``, in English (or
    for a template the catalog does not know) the English one, so English output is exactly what the
    template says. Data values are passed as ``values``, never baked into a template; nothing is escaped
    here (findings are escaped when rendered). A translation may write numbers and dates the way its reader
    expects (``{amount:万}``, ``{month:年月}``: :class:`_LocalFormatter`).
    """
    translated = catalog("templates", lang).get(template)
    if translated is None:
        return template.format(**values)
    return _LocalFormatter(_norm_lang(lang)).format(translated, **values)


class _LocalFormatter(string.Formatter):
    """``str.format`` plus the number and date styles a translation may ask for in its format spec:
    ``{amount:万}`` an amount in 万 / 亿 from 100,000 on (``2,840.6 万``, under it in full), ``{month:年月}``
    ``2025年11月``, ``{day:年月日}`` ``2025年12月15日``. The English template keeps its own spec
    (``{amount:,.0f}``), so English output is what the template says."""

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang

    def format_field(self, value, format_spec):
        if format_spec == "万":
            return format_money(value, "", self.lang)
        if format_spec == "年月":
            return format_month(value, self.lang)
        if format_spec == "年月日":
            return format_date(value, self.lang)
        return super().format_field(value, format_spec)


def kpi_definition(name: str, lang: str | None = None, *, default: str | None = None) -> str:
    """The definition of a KPI in the report language, from the ``kpi_definitions`` catalog.

    ``name`` is a registry name as :mod:`salesops_kit.kpis` defines it (a family by its family name, such as
    ``stage_conversion_{from}_to_{to}``); ``default`` is its English definition, which the caller holds
    (i18n sits below the registry and does not read it): it is the answer in English and when the catalog
    has no translation. Without a ``default`` such a name raises ``KeyError``. For any KPI name, members
    of families included, use :func:`salesops_kit.kpis.definition`, which resolves the name and passes
    the registry's text.
    """
    translated = catalog("kpi_definitions", lang).get(name)
    if translated is not None:
        return translated
    if default is None:
        raise KeyError(f"no {_norm_lang(lang)} definition of KPI {name!r} in the i18n catalogs; pass the English "
                       "one as default=, or call salesops_kit.kpis.definition(name, lang)")
    return default


def _from_patterns(text: str, lang: str) -> str:
    labels, lower = catalog("labels", lang), _labels_lower(lang)
    for pat, fmt in _patterns(lang):
        m = pat.match(text)
        if m:
            return fmt.format(*(labels.get(g, lower.get(g.lower(), g)) for g in m.groups()))
    return text


# KPI families: registry names with a variable part, e.g. stage_conversion_Proposal_to_Negotiation
# (translated formats: patterns.json, key kpi_families).
_FAMILIES = (
    (re.compile(r"^stage_conversion_(.+)_to_(.+)$"), "stage_conversion", "{0} → {1}"),
    (re.compile(r"^cumulative_conversion_(.+)_to_(.+)$"), "cumulative_conversion", "{0} → {1}"),
    (re.compile(r"^seasonal_index_(q[1-4]|m\d{1,2})$"), "seasonal_index", "{0}"),
    (re.compile(r"^(.+)_change_pop$"), "change_pop", "{0}"),
    (re.compile(r"^(.+)_change_yoy$"), "change_yoy", "{0}"),
    (re.compile(r"^(.+)_attainment$"), "attainment", "{0}"),
    (re.compile(r"^rows_quarantined_(.+)$"), "rows_quarantined", "{0}"),
    (re.compile(r"^rows_(.+)$"), "rows", "{0}"),
    (re.compile(r"^date_min_(.+)$"), "date_min", "{0}"),
    (re.compile(r"^date_max_(.+)$"), "date_max", "{0}"),
)
_FAMILY_EN = {"change_pop": "{0} change vs previous period", "change_yoy": "{0} change vs a year earlier",
              "attainment": "{0} attainment"}


def kpi_label(name: str, lang: str | None = None) -> str:
    """A readable label for a KPI registry name: ``win_rate`` → ``win rate`` / ``赢单率``;
    families keep their variable part (``stage_conversion_Proposal_to_Negotiation`` →
    ``stage conversion Proposal → Negotiation``)."""
    lang = _norm_lang(lang)
    labels, families = catalog("labels", lang), _kpi_families(lang)  # both empty in English
    if name in labels:
        return labels[name]
    for pat, family, fmt in _FAMILIES:
        m = pat.match(name)
        if not m:
            continue
        if family in _FAMILY_EN:  # the variable part is itself a KPI name
            parts = [kpi_label(g, lang) for g in m.groups()]
            return families.get(family, _FAMILY_EN[family]).format(*parts)
        parts = [t(g, lang) for g in m.groups()]
        if family in families:
            return families[family].format(*parts)
        if family in labels:
            return f"{labels[family]} {fmt.format(*parts)}"
        return f"{family.replace('_', ' ')} {fmt.format(*parts)}"
    return _ACRONYM.sub(lambda m: _ACRONYMS[m.group(0)], name.replace("_", " "))


# abbreviations a manager reads in capitals (``ltv_cac_ratio`` → ``LTV:CAC ratio``, ``csat_mean`` → ``CSAT mean``)
_ACRONYMS = {"ltv cac": "LTV:CAC", "cac": "CAC", "ltv": "LTV", "clv": "CLV", "csat": "CSAT", "nps": "NPS",
             "mase": "MASE", "smape": "sMAPE", "rfm": "RFM", "p10": "P10", "p90": "P90"}
_ACRONYM = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _ACRONYMS), key=len, reverse=True)) + r")\b")


_CODE_UNIT = re.compile(r"^([A-Z]{3})((?: per .+)?)$")


def unit_label(unit: str, lang: str | None = None) -> str:
    """The unit in the report language (``days`` → ``天``). A money unit carries its currency code
    (``USD per month``): the code stays, the rest is translated like the registry's ``currency per month``
    (``USD/月``)."""
    if not unit:
        return ""
    m = _CODE_UNIT.match(unit)
    if m and _norm_lang(lang) != "en":
        generic = t("currency" + m.group(2), lang)
        if generic != "currency" + m.group(2):
            return generic.replace(t("currency", lang), m.group(1))
    return t(unit, lang)


# --- the glossary: the kit's core terms, one Chinese term per concept -----------------------------------------
# catalogs/zh/glossary.json: {concept: {en, zh, en_definition, zh_definition, avoid: [other translations not to
# use], also: [abbreviations that may stand for the term], en_match: regex of the English term (optional)}}.
# tests/i18n/test_glossary.py keeps every zh catalog to these terms.
@functools.cache
def _glossary() -> Mapping[str, Mapping]:
    return MappingProxyType(_read("zh", "glossary"))


def glossary(lang: str | None = None) -> list[dict]:
    """The kit's core terms in the report language, in English alphabetical order: ``{concept, term,
    definition}`` (Chinese terms with their English in ``en``)."""
    lang = _norm_lang(lang)
    out = []
    for key, g in sorted(_glossary().items(), key=lambda kv: kv[1]["en"].lower()):
        out.append({"concept": key, "term": g[lang], "en": g["en"], "definition": g[f"{lang}_definition"]})
    return out


GLOSSARY_MD = "notebooks/GLOSSARY.md"  # written from the catalog by glossary_markdown(); a test keeps them equal


def glossary_markdown() -> str:
    """``notebooks/GLOSSARY.md``: every glossary term with its definition, in English and in Chinese, from the
    same catalog the report's index shows (so the two cannot disagree). Regenerate it with
    ``python -c "from salesops_kit.i18n import glossary_markdown; print(glossary_markdown(), end='')"
    > notebooks/GLOSSARY.md``."""
    lines = ["# Glossary · 术语表", "",
             "The methods, abbreviations and sales terms used in the notebooks and the reports, each in plain words. "
             "The report's index shows the same text (both come from "
             "`salesops_kit/i18n/catalogs/zh/glossary.json`).", "",
             "本工具笔记本和报告中用到的方法、缩写和销售术语的通俗解释。报告目录页中的术语表与本文内容相同（均来自 "
             "`salesops_kit/i18n/catalogs/zh/glossary.json`）。", "", "## English", ""]
    lines += [f"- **{g['term']}**: {g['definition']}" for g in glossary("en")]
    lines += ["", "## 中文", ""]
    lines += [f"- **{g['term']}**（{g['en']}）：{g['definition']}" for g in glossary("zh")]
    return "\n".join(lines) + "\n"


# --- numbers and dates as a reader of the language expects them -----------------------------------------------
# Chinese: large amounts in 万 (10⁴) and 亿 (10⁸) with the currency (元 for renminbi, else its code), months as
# 2025年11月, days as 2025年12月15日; percentages are written the same in both languages. English keeps the kit's
# formats (thousands separators, ISO dates).
YUAN_CODES = frozenset({"CNY", "RMB", "CNH"})
WAN_FROM = 100_000  # from 10.0 万 on: three significant figures at least, as below it in full


def _zh_scaled(value: float) -> tuple[str, str]:
    """``(number, scale)``: 28,406,150 → ("2,840.6", "万"); 284,061,500 → ("2.84", "亿"); 15,923 → ("15,923", "")."""
    a = abs(value)
    if a >= 100_000_000:
        return f"{value / 100_000_000:,.2f}", "亿"
    if a >= WAN_FROM:
        return f"{value / 10_000:,.1f}", "万"
    return f"{value:,.0f}", ""


def format_money(value, currency: str | None = "", lang: str | None = None, *, per: str = "") -> str:
    """An amount with its currency in the report language.

    English: ``28,406,150 USD`` (``per`` appended as written: ``USD per month``). Chinese: ``2,840.6 万 USD``,
    ``2,840.6 万元`` for renminbi (``CNY``, ``RMB``), ``2.84 亿元`` from 10⁸ on, amounts under 100,000 in full
    (``15,923 元``); ``per`` is translated like a unit (``per month`` → ``/月``). Missing values give ``–``.
    """
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    value = float(value)
    code = (currency or "").strip()
    if _norm_lang(lang) == "en":
        unit = " ".join(x for x in (code, per.strip()) if x)
        return f"{value:,.0f} {unit}".rstrip()
    num, scale = _zh_scaled(value)
    suffix = unit_label(f"USD {per.strip()}", "zh")[3:] if per.strip() else ""  # "/月"
    if code.upper() in YUAN_CODES:
        return f"{num} {scale}元{suffix}" if scale else f"{num} 元{suffix}"
    if not code:  # an amount whose currency is not known: the scale only
        return f"{num} {scale}{suffix}".rstrip() if scale else f"{num}{suffix}"
    return " ".join(x for x in (num, scale, f"{code}{suffix}") if x)


def _as_timestamp(value):
    import datetime as _dt

    if isinstance(value, _dt.datetime | _dt.date):
        return value
    if hasattr(value, "to_timestamp"):  # a pandas Period
        return value.to_timestamp()
    return _dt.date.fromisoformat(str(value)[:10] if len(str(value)) >= 10 else f"{str(value)[:7]}-01")


def format_month(value, lang: str | None = None) -> str:
    """A month: ``2025-11`` in English, ``2025年11月`` in Chinese (a date, a Period or ``"2025-11"``)."""
    d = _as_timestamp(value)
    return f"{d.year}年{d.month}月" if _norm_lang(lang) == "zh" else f"{d.year:04d}-{d.month:02d}"


def format_date(value, lang: str | None = None) -> str:
    """A day: ``2025-12-15`` in English, ``2025年12月15日`` in Chinese."""
    d = _as_timestamp(value)
    return f"{d.year}年{d.month}月{d.day}日" if _norm_lang(lang) == "zh" else f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


# --- CJK fonts for matplotlib -------------------------------------------------------------------------
_FONT_STATE: dict[str, object] = {}


def use_cjk_font(*, warn: bool = True) -> str | None:
    """Put an installed CJK font first in matplotlib's sans-serif list; return its name.

    Looks for Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei, Microsoft YaHei, PingFang ... in
    matplotlib's font manager. When none is installed, warns once (:class:`CJKFontWarning`) naming the
    package to install, and returns None; charts then still draw, with boxes for Chinese characters.
    The lookup runs once per process.
    """
    if "font" in _FONT_STATE:
        return _FONT_STATE["font"]  # type: ignore[return-value]
    import matplotlib
    from matplotlib import font_manager

    found = _find_cjk(font_manager)
    if found is None:  # a font installed after matplotlib built its cache: register the system's CJK files
        for path in _system_cjk_font_files(font_manager):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
        found = _find_cjk(font_manager)
    _FONT_STATE["font"] = found
    if found:
        fam = list(matplotlib.rcParams["font.sans-serif"])
        matplotlib.rcParams["font.sans-serif"] = [found] + [f for f in fam if f != found]
        fam = list(matplotlib.rcParams["font.family"])
        if "sans-serif" not in fam:
            matplotlib.rcParams["font.family"] = ["sans-serif"] + fam
        matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    elif warn:
        warnings.warn(
            "No font with Chinese characters is installed, so Chinese chart labels would be drawn as empty "
            "boxes. Install one and re-run: on Debian/Ubuntu `sudo apt-get install fonts-noto-cjk` (or the "
            "smaller fonts-wqy-microhei), with conda `conda install -c conda-forge font-ttf-noto-cjk`, on "
            "Windows/macOS Microsoft YaHei / PingFang are built in. Then delete matplotlib's font cache "
            "(matplotlib.get_cachedir()) if the new font is not found.",
            CJKFontWarning,
            stacklevel=2,
        )
    return found


def _system_cjk_font_files(font_manager) -> list[str]:
    """Font files on the system whose names say they cover CJK (matplotlib's cache may predate them)."""
    pat = re.compile(r"wqy|noto\S*cjk|sourcehan|simhei|msyh|pingfang", re.I)
    return [p for p in sorted(font_manager.findSystemFonts()) if pat.search(p)]


def _find_cjk(font_manager) -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in CJK_FONT_NAMES if n in installed), None)
    if found is None:  # any other font whose name says it covers CJK
        found = next((n for n in sorted(installed) if re.search(r"CJK|Han Sans|WenQuanYi|YaHei|Hei\b", n)), None)
    return found


def _reset_font_state() -> None:
    """Forget the font lookup (tests)."""
    _FONT_STATE.clear()
