"""The glossary (issue 19, part 5): the kit's core terms in English and Chinese (catalogs/zh/glossary.json), and one
Chinese term per concept across every zh catalog: no catalog uses another translation of a concept (its ``avoid``
list), and where an English text names a concept (``en_match``), its translation uses the glossary's term."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from salesops_kit import kpis
from salesops_kit.i18n import catalog, glossary
from salesops_kit.i18n import notebook_text as nt
from salesops_kit.report.runner import find_notebooks

CATALOG_DIR = Path(nt.__file__).parent / "catalogs" / "zh"
GLOSSARY = json.loads((CATALOG_DIR / "glossary.json").read_text(encoding="utf-8"))
HAN = re.compile(r"[\u4e00-\u9fff]")

# The terms the issue names, each with the one translation the kit uses.
ISSUE_TERMS = {"win_rate": "赢单率", "sales_cycle": "销售周期", "cac": "客户获取成本", "clv": "客户生命周期价值",
               "repeat_purchase_rate": "复购率", "opportunity": "商机", "stage_conversion": "阶段转化率",
               "lead": "线索", "quota": "配额", "pipeline": "管道", "funnel": "漏斗"}


def _translations() -> list[tuple[str, str, str, str]]:
    """(catalog, key, English text, Chinese text) of every translation the zh catalogs hold; notebook markdown
    with the English cell it translates, KPI definitions with the registry's English."""
    out = []
    for name in ("labels", "templates", "notes"):
        out += [(name, en, en, zh) for en, zh in catalog(name, "zh").items()]
    for name, zh in catalog("kpi_definitions", "zh").items():
        try:
            en = kpis.definition(name, "en")
        except KeyError:  # a family's name: its English is in the registry under a member's name
            en = ""
        out.append(("kpi_definitions", name, en, zh))
    for path in find_notebooks():
        for cid, src in nt.markdown_cells(json.loads(path.read_text(encoding="utf-8"))):
            zh = nt.notebook_markdown(path.stem, cid, src, "zh")
            if zh is not None:
                out.append(("notebooks", f"{path.stem} {cid}", src, zh))
    patterns = json.loads((CATALOG_DIR / "patterns.json").read_text(encoding="utf-8"))
    for group in ("labels", "printed"):
        out += [("patterns", p["en"], "", p["zh"]) for p in patterns.get(group, [])]
    out += [("patterns", k, "", v) for k, v in patterns["kpi_families"].items()]
    return out


TRANSLATIONS = _translations()


def test_glossary_entries_are_complete_and_distinct():
    assert set(ISSUE_TERMS) <= set(GLOSSARY)
    for key, zh in ISSUE_TERMS.items():
        assert GLOSSARY[key]["zh"] == zh, key
    terms = [g["zh"] for g in GLOSSARY.values()]
    assert len(terms) == len(set(terms)), "two concepts share a Chinese term"
    for key, g in GLOSSARY.items():
        assert set(g) <= {"en", "zh", "en_definition", "zh_definition", "avoid", "also", "en_match"}, key
        assert g["en"] and HAN.search(g["zh"]) and g["en_definition"] and HAN.search(g["zh_definition"]), key
        assert g["zh"] not in g["avoid"] and all(a not in g["zh"] for a in g["avoid"]), key
        if "en_match" in g:
            assert re.search(g["en_match"], g["en"], re.I), key  # the pattern finds the glossary's own term


@pytest.mark.parametrize("key", sorted(GLOSSARY))
def test_no_catalog_uses_another_translation_of_the_concept(key):
    g = GLOSSARY[key]
    found = [f"{cat}: {k[:70]!r} uses {a!r}" for cat, k, _, zh in TRANSLATIONS for a in g["avoid"] if a in zh]
    assert not found, f"{g['en']} is {g['zh']!r} in the kit; these translations use another term:\n" + \
        "\n".join(found)


@pytest.mark.parametrize("key", sorted(k for k, g in GLOSSARY.items() if "en_match" in g))
def test_where_the_english_names_the_concept_the_chinese_uses_its_term(key):
    g = GLOSSARY[key]
    pat = re.compile(g["en_match"], re.I)
    missing = []
    for cat, k, en, zh in TRANSLATIONS:
        prose = re.sub(r"`[^`]*`|\{[^}]*\}", " ", en)  # code spans and placeholders are not the term
        if en and pat.search(prose) and not any(term in zh for term in [g["zh"], *g.get("also", [])]):
            missing.append(f"{cat}: {k[:70]!r} -> {zh[:50]!r}")
    assert not missing, f"{g['en']!r} should read {g['zh']!r} (or {g.get('also')}) in:\n" + "\n".join(missing)


def test_the_checks_catch_a_second_translation(monkeypatch):
    """A planted translation with 获客成本 for CAC is reported by both checks."""
    planted = [("labels", "CAC by channel", "CAC by channel", "各渠道获客成本")]
    g = GLOSSARY["cac"]
    assert any(a in planted[0][3] for a in g["avoid"])
    g2 = dict(g, also=[])  # without the abbreviation, the term itself must be there
    assert re.search(g2["en_match"], planted[0][2], re.I) and g2["zh"] not in planted[0][3]


def test_glossary_in_both_languages():
    en, zh = glossary("en"), glossary("zh")
    assert [g["concept"] for g in en] == [g["concept"] for g in zh]
    assert {g["concept"]: g["term"] for g in zh}["win_rate"] == "赢单率"
    assert {g["concept"]: g["term"] for g in en}["win_rate"] == "win rate"
    assert all(HAN.search(g["definition"]) for g in zh) and not any(HAN.search(g["definition"]) for g in en)
