"""Translations (English and Chinese) of labels, sentences and KPI definitions, and the CJK chart font.

A foundation service: every floor may import it, and it imports nothing from the kit. The translations are
data files (``catalogs/<lang>/*.json``, see ``catalogs/README.md``) read on first use; the KPI registry
(:func:`salesops_kit.kpis.definition`) hands English definitions down to :func:`kpi_definition`."""

from .core import (
    CATALOGS,
    CJK_FONT_NAMES,
    LANG_ENV,
    LANGS,
    YUAN_CODES,
    CJKFontWarning,
    catalog,
    current_lang,
    format_date,
    format_money,
    format_month,
    glossary,
    glossary_markdown,
    kpi_definition,
    kpi_label,
    t,
    tr,
    unit_label,
    use_cjk_font,
)

__all__ = ["LANG_ENV", "LANGS", "current_lang", "t", "tr", "kpi_label", "kpi_definition", "unit_label",
           "use_cjk_font", "CJK_FONT_NAMES", "CJKFontWarning", "CATALOGS", "catalog", "format_money",
           "format_month", "format_date", "YUAN_CODES", "glossary", "glossary_markdown"]
