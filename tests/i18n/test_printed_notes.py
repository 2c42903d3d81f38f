"""What the notebooks print, in Chinese on zh pages: every sentence a code cell prints as a literal (section notes
such as "No stage_history table in this dataset: ...") has a translation in catalogs/zh/notes.json, and printed
lines with values follow the ``printed`` patterns of patterns.json; displayed tables get translated headers."""

from __future__ import annotations

import ast
import json
import re

import pytest

from salesops_kit.i18n import catalog
from salesops_kit.i18n import notebook_text as nt
from salesops_kit.report.runner import find_notebooks

HAN = re.compile(r"[\u4e00-\u9fff]")


def _printed_literals() -> list[tuple[str, str, str]]:
    """(notebook, cell id, text) of every string literal a code cell passes to print (including the branches
    of ``a if cond else "literal"``); version banners and separators are not prose and are left out."""
    out = []
    for path in find_notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            try:
                tree = ast.parse(src)
            except SyntaxError:  # IPython magics: no print to read
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    for arg in node.args:
                        for sub in ast.walk(arg):
                            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                                text = sub.value.strip()
                                if re.search(r"[A-Za-z]{3,}", text) and text not in _NOT_PROSE and \
                                        not isinstance(arg, ast.JoinedStr) and not _is_call_arg(arg, sub):
                                    out.append((path.stem, cell["id"], text))
    return out


# Package names, version banners and join separators that notebooks print: not prose.
_NOT_PROSE = {"python", "salesops_kit", "| pandas", "| numpy", "| scipy", "| narwhals", "| matplotlib",
              "| statsmodels", "| holidays"}


def _is_call_arg(arg: ast.AST, const: ast.Constant) -> bool:
    """A literal inside a call of the printed expression (``", ".join(...)``, ``df[["kpi", ...]]``) is code; a
    literal part of an f-string is a printed pattern's business (patterns.json, ``printed``)."""
    for node in ast.walk(arg):
        if isinstance(node, (ast.Call, ast.Subscript, ast.JoinedStr)) and any(c is const for c in ast.walk(node)):
            return True
    return False


LITERALS = _printed_literals()


def test_notebooks_print_notes_at_all():
    texts = {t for _, _, t in LITERALS}
    assert "Nothing was quarantined." in texts and "No alert to chart." in texts
    # the collector still finds the notebooks' printed notes (issue 15 moved most sentences into the package, where
    # the template tests cover them): a floor that fails if the collector stops seeing prints, not a quota
    assert len(texts) >= 10


@pytest.mark.parametrize("where", LITERALS, ids=lambda w: f"{w[0]}:{w[1]}:{w[2][:30]}")
def test_every_printed_sentence_has_a_translation(where):
    notebook, cell, text = where
    zh = nt.translate_printed(text, "zh")
    assert zh != text and HAN.search(zh), (
        f"{notebook} {cell} prints {text!r}; add its translation to salesops_kit/i18n/catalogs/zh/notes.json")


def test_printed_lines_with_values_and_unknown_lines():
    out = nt.translate_printed("as of 2025-12-15: 6,547 opportunities; stage history: yes; leads: no\n"
                               "Note: No quotas table: won revenue has no quota target.\n"
                               "  stage  reached\nquotas         missing\n", "zh")
    assert out.splitlines() == ["数据截至 2025年12月15日：6,547 个商机；阶段历史：有；线索：无",
                                "注意：" + catalog("notes", "zh")["No quotas table: won revenue has no quota target."],
                                "  stage  reached", "quotas         缺失"]
    assert out.endswith("\n")
    assert nt.translate_printed("No segment column in this dataset.", "en") == "No segment column in this dataset."
    assert nt.translate_printed("An unknown English line.", "zh") == "An unknown English line."
    review = nt.translate_printed("Review period 2025-11 (as of 2025-12-15)", "zh")
    assert review == "回顾期 2025年11月（数据截至 2025年12月15日）"
    assert nt.translate_printed("x fell — vs a year earlier", "zh") == "x fell（同比去年）"
    assert nt.translate_printed("2025-12-15", "zh") == "2025-12-15"  # a date alone is data, not a pattern's part


def test_output_html_headers_titles_and_notes_are_translated_and_escaped():
    note = "No quotas table: won revenue has no quota target."
    html = ('<p><b>Stage funnel</b> 6,547 deals</p><table class="dataframe"><tr><th>win_rate</th><th>x&lt;y</th>'
            f'</tr></table><ul><li>{note}</li><li>&lt;b&gt;unknown</li></ul>')
    out = nt.translate_output_html(html, "zh")
    assert "<b>阶段漏斗</b>" in out and "<th>赢单率</th>" in out and "<th>x&lt;y</th>" in out
    assert f"<li>{catalog('notes', 'zh')[note]}</li>" in out and "<li>&lt;b&gt;unknown</li>" in out
    assert nt.translate_output_html(html, "en") == html


def test_printed_patterns_compile_and_use_their_groups():
    import string

    patterns = json.loads((nt.Path(nt.__file__).parent / "catalogs" / "zh" / "patterns.json").read_text("utf-8"))
    for p in patterns["printed"]:
        groups = re.compile(p["en"]).groups
        used = {int(f) for _, f, _, _ in string.Formatter().parse(p["zh"]) if f is not None}
        assert used == set(range(groups)), p
