"""The Chinese markdown of the numbered notebooks (catalogs/zh/notebooks.json): every markdown cell has a
translation of its current English text, and the report shows it.

A translation is keyed by notebook and cell id and carries the hash of the English source it translates; when
someone edits an English cell, the test below names the cell (stale) until its translation is redone
(``python -m salesops_kit.i18n.notebook_text notebooks/*.ipynb`` prints the worklist with the new hashes).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from salesops_kit.i18n import notebook_text as nt
from salesops_kit.report.runner import find_notebooks

NOTEBOOKS = find_notebooks()
CATALOG = Path(nt.__file__).parent / "catalogs" / "zh" / "notebooks.json"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _code_spans(markdown: str) -> list[str]:
    return sorted(" ".join(c.split()) for c in re.findall(r"`[^`]+`", markdown))


def _status(path: Path) -> list[dict]:
    return nt.markdown_status(path.stem, nt.markdown_cells(json.loads(path.read_text(encoding="utf-8"))))


def test_every_markdown_cell_has_a_current_translation():
    assert len(NOTEBOOKS) == 6
    problems = [r for p in NOTEBOOKS for r in _status(p) if r["status"] != "ok"]
    assert not problems, "markdown cells without a current Chinese translation (catalogs/zh/notebooks.json):\n" + \
        "\n".join(f"  {r['status']:8s} {r['notebook']} {r['cell']} en_sha256={r['hash']}  {r['first_line']}"
                  for r in problems)


def test_catalog_entries_belong_to_existing_cells_and_keep_code_references():
    """No entry for a notebook or cell that does not exist; every `code reference` and number of the English
    text is in its translation (they are names the reader types, not prose)."""
    data = json.loads(CATALOG.read_text(encoding="utf-8"))
    by_stem = {p.stem: dict(nt.markdown_cells(json.loads(p.read_text(encoding="utf-8")))) for p in NOTEBOOKS}
    assert set(data) <= set(by_stem)
    for stem, cells in data.items():
        for cid, entry in cells.items():
            assert set(entry) == {"en_sha256", "zh"}, (stem, cid)
            assert cid in by_stem[stem], f"{stem} has no markdown cell {cid}"
            en, zh = by_stem[stem][cid], entry["zh"]
            if nt.markdown_hash(en) != entry["en_sha256"]:
                continue  # stale: reported by the test above
            assert HAN.search(zh), (stem, cid)
            assert _code_spans(en) == _code_spans(zh), (stem, cid)
            assert en.lstrip()[:1] == zh.lstrip()[:1] == "#", (stem, cid)  # every cell opens with its heading


def test_a_changed_english_cell_is_stale_not_shown_in_its_old_translation():
    stem = NOTEBOOKS[1].stem
    cells = nt.markdown_cells(json.loads(NOTEBOOKS[1].read_text(encoding="utf-8")))
    cid, src = cells[1]
    assert nt.notebook_markdown(stem, cid, src, "zh")
    assert nt.notebook_markdown(stem, cid, src, "en") is None  # English shows the notebook as written
    changed = src + "\nOne more English sentence."
    assert nt.notebook_markdown(stem, cid, changed, "zh") is None
    assert nt.markdown_status(stem, [(cid, changed)])[0]["status"] == "stale"
    assert nt.markdown_status(stem, [("cell-99", "## A new cell")])[0]["status"] == "missing"
    # a cell renumbered by an insertion above it keeps its translation (found by hash), reported as moved
    assert nt.notebook_markdown(stem, "cell-98", src, "zh") == nt.notebook_markdown(stem, cid, src, "zh")
    assert nt.markdown_status(stem, [("cell-98", src)])[0]["status"] == "moved"


def test_hash_ignores_line_endings_and_trailing_space():
    assert nt.markdown_hash("## A\r\nb\n\n") == nt.markdown_hash("## A\nb") == nt.markdown_hash(["## A\n", "b"])
    assert nt.markdown_hash("## A\nb") != nt.markdown_hash("## A\nc")


def test_translate_notebook_changes_markdown_only():
    nb = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    zh, left = nt.translate_notebook(nb, NOTEBOOKS[0].stem, "zh")
    assert left == []
    assert [c["cell_type"] for c in zh["cells"]] == [c["cell_type"] for c in nb["cells"]]
    for a, b in zip(nb["cells"], zh["cells"], strict=True):
        if a["cell_type"] == "code":
            assert a == b
        else:
            assert HAN.search("".join(b["source"])) and a["id"] == b["id"]


def test_report_page_renders_the_chinese_markdown(tmp_path):
    """export_html with lang zh shows the catalog's markdown (no kernel needed: the page of an unexecuted copy)."""
    from salesops_kit.report.runner import export_html

    src = NOTEBOOKS[0]
    shutil.copy(src, tmp_path / src.name)
    zh = export_html(tmp_path / src.name, no_code=True, lang="zh")
    en = export_html(tmp_path / src.name, no_code=True, lang="en")
    first = nt.markdown_cells(json.loads(src.read_text(encoding="utf-8")))[0]
    question = re.search(r"\*\*Question\.\*\* (.{20})", first[1]).group(1)
    assert question in en and question not in zh
    assert "问题。" in zh and "数据审计" in zh


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_worklist_command_exits_zero_when_complete(path, capsys):
    code = nt.main([str(path)])
    out = capsys.readouterr().out
    assert "markdown cells have a current translation" in out
    assert code == (0 if all(r["status"] in ("ok", "moved") for r in _status(path)) else 1)
