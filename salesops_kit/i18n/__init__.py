"""Translations (English and Chinese) of labels, sentences and KPI definitions, and the CJK chart font.

A foundation service: every floor may import it; it imports nothing from the kit but the KPI registry's
names (lazily, for definitions)."""

from .core import (
    CJK_FONT_NAMES,
    LANG_ENV,
    LANGS,
    CJKFontWarning,
    current_lang,
    kpi_definition,
    kpi_label,
    t,
    tr,
    unit_label,
    use_cjk_font,
)

__all__ = ["LANG_ENV", "LANGS", "current_lang", "t", "tr", "kpi_label", "kpi_definition", "unit_label",
           "use_cjk_font", "CJK_FONT_NAMES", "CJKFontWarning"]
