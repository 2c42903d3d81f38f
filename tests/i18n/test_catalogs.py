"""The translation catalogs are data files: canonical JSON (UTF-8, sorted keys), read once, shipped in the wheel.

salesops_kit/i18n/catalogs/<lang>/{labels,templates,kpi_definitions,patterns}.json; see catalogs/README.md.
"""

from __future__ import annotations

import json
import re
import string
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import salesops_kit
from salesops_kit.i18n import CATALOGS, catalog, t, tr
from salesops_kit.i18n import core as i18n

KIT = Path(salesops_kit.__file__).parent
CATALOG_DIR = KIT / "i18n" / "catalogs"
FILES = sorted(CATALOG_DIR.glob("*/*.json"))


def test_every_language_has_every_catalog():
    langs = sorted(p.name for p in CATALOG_DIR.iterdir() if p.is_dir())
    assert langs == ["zh"]
    assert sorted(p.stem for p in (CATALOG_DIR / "zh").glob("*.json")) == sorted(
        (*CATALOGS, "patterns", "notebooks", "glossary"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_catalog_files_are_canonical_json(path):
    """Sorted keys, two-space indent, characters as written (no \\u escapes), one trailing newline: a diff of
    a catalog shows only the texts that changed."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", (
        f"rewrite {path.name} with json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True)")


@pytest.mark.parametrize("name", CATALOGS)
def test_grouped_catalogs_hold_each_text_once_with_a_translation(name):
    groups = json.loads((CATALOG_DIR / "zh" / f"{name}.json").read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for group, entries in groups.items():
        assert group and entries, name
        for text, zh in entries.items():
            assert text not in seen, f"{text!r} is in groups {seen[text]!r} and {group!r}"
            seen[text] = group
            assert isinstance(zh, str) and zh.strip() and zh == zh.strip(), (group, text)
    assert dict(catalog(name, "zh")) == {k: v for e in groups.values() for k, v in e.items()}


def test_label_patterns_compile_and_use_their_groups():
    patterns = json.loads((CATALOG_DIR / "zh" / "patterns.json").read_text(encoding="utf-8"))
    for p in patterns["labels"]:
        groups = re.compile(p["en"]).groups
        used = {int(f) for _, f, _, _ in string.Formatter().parse(p["zh"]) if f is not None}
        assert used == set(range(groups)), p
    for family, fmt in patterns["kpi_families"].items():
        assert fmt.count("{0}") == 1, family
    assert set(patterns["kpi_families"]) <= {family for _, family, _ in i18n._FAMILIES}


def test_catalogs_are_read_once_and_only_when_needed(monkeypatch):
    i18n._read.cache_clear()
    i18n._catalog.cache_clear()
    i18n._labels_lower.cache_clear()
    i18n._patterns.cache_clear()
    i18n._kpi_families.cache_clear()
    monkeypatch.delenv("SALESOPS_LANG", raising=False)
    assert t("Win rate") == "Win rate" and tr("channel {channel}", channel="A") == "channel A"
    assert i18n._read.cache_info().currsize == 0  # English reads no catalog
    for _ in range(3):
        assert tr("channel {channel}", lang="zh", channel="A") == "渠道 A"
    assert i18n._read.cache_info().misses == 1 and i18n._read.cache_info().hits == 0  # templates.json, once


def test_catalog_names_what_exists():
    assert dict(catalog("labels", "en")) == {}  # English is the source language
    assert catalog("labels", None) is catalog("labels", "en")  # SALESOPS_LANG unset in tests
    with pytest.raises(ValueError, match="the catalogs are: labels, templates, kpi_definitions, notes"):
        catalog("label", "zh")
    with pytest.raises(TypeError):
        catalog("labels", "zh")["new"] = "x"  # read-only
    i18n._read.cache_clear()
    with pytest.raises(FileNotFoundError, match="languages with catalogs: zh"):
        i18n._read("fr", "labels")


def test_former_dictionary_names_still_read_the_catalogs():
    assert i18n.ZH is catalog("labels", "zh") and i18n.ZH_TEMPLATES is catalog("templates", "zh")
    assert i18n.ZH_DEFINITIONS is catalog("kpi_definitions", "zh")
    assert i18n.ZH_PATTERNS[0][0].match("A → B conversion")


def test_catalogs_are_package_data():
    """pyproject.toml ships the catalogs in the wheel, and the kit reads them as package resources."""
    pyproject = tomllib.loads((KIT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["salesops_kit.i18n"]
    shipped = {p for g in globs for p in (KIT / "i18n").glob(g)}
    assert shipped == set(FILES)
    res = resources.files("salesops_kit.i18n").joinpath("catalogs", "zh", "labels.json")
    assert json.loads(res.read_text(encoding="utf-8"))
