"""Every ``--no-code`` page of the sample report reads clean (issue 15, "Checked by"): no NaN/None/<NA>/NaT cell,
no scientific notation, no table shown twice, no money whose unit is the word "currency".

The pages are the sample report's executed notebooks (built once per session by ``test_report_support``, shared
with the end-to-end and browser tests) exported again as the management version, which costs an nbconvert
export per notebook, not a second run. The corpus exports get the same check in ``test_report_corpus.py``.
The checker itself is tested first on planted pages, so a clean result means something.
"""

from __future__ import annotations

import shutil

import pytest
import test_report_support as support
from report_checks import page_problems

from salesops_kit.report import find_notebooks
from salesops_kit.report.runner import export_html

STEMS = [p.stem for p in find_notebooks()]

_TABLE = ('<div class="jp-OutputArea-output"><table><tr><th>owner</th><th>won revenue (USD)</th><th>win rate</th>'
          '</tr><tr><td>Ann</td><td>{a}</td><td>{b}</td></tr><tr><td>Bo</td><td>1,200</td><td>30.0%</td></tr>'
          '</table></div>')


def _page(tmp_path, body: str):
    p = tmp_path / "01_x.html"
    p.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return p


# --- the checker on planted pages ---------------------------------------------------------------------------------
def test_a_clean_table_has_no_problem(tmp_path):
    assert page_problems(_page(tmp_path, _TABLE.format(a="15,923", b="28.5%"))) == []


@pytest.mark.parametrize("a, b, problem", [
    ("NaN", "28.5%", "missing-value cell"), ("15,923", "&lt;NA&gt;", "missing-value cell"),
    ("None", "1%", "missing-value"),
    ("1.592273e+04", "28.5%", "scientific notation"), ("15,923 currency", "28.5%", "'currency' as a unit"),
])
def test_the_checker_names_the_page_the_table_and_the_problem(tmp_path, a, b, problem):
    found = page_problems(_page(tmp_path, _TABLE.format(a=a, b=b)))
    assert len(found) == 1 and found[0].startswith("01_x.html / table 1 [owner | won revenue (USD) | win rate]")
    assert problem in found[0]


def test_the_checker_finds_a_table_shown_twice(tmp_path):
    twice = _page(tmp_path, _TABLE.format(a="15,923", b="28.5%") * 2)
    assert any("the same table as table 1" in p for p in page_problems(twice))
    printed = ('<div class="jp-OutputArea-output"><pre>owner     won    win\nAnn    15,923  28.5%\n'
               'Bo      1,200  30.0%</pre></div>')
    as_text = _page(tmp_path, _TABLE.replace("won revenue (USD)", "won").replace("win rate", "win")
                    .format(a="15,923", b="28.5%") + printed)
    assert any("printed again as text" in p for p in page_problems(as_text))


def test_the_checker_reads_printed_outputs_and_not_code(tmp_path):
    printed = '<div class="jp-OutputArea-output"><pre>combo 1.06e+07 7.83e+06\nalerts  all  9.0  NaN</pre></div>'
    found = page_problems(_page(tmp_path, printed))
    assert any("scientific notation '1.06e+07'" in p for p in found)
    assert any("missing value printed" in p for p in found)
    sentence = '<div class="jp-OutputArea-output"><pre>None of the 19 lost deals has a stage.</pre></div>'
    assert page_problems(_page(tmp_path, sentence)) == []
    code = '<div class="jp-InputArea"><pre>x = float("nan")  # 1e-3 None</pre></div>'
    assert page_problems(_page(tmp_path, code)) == []
    prose = '<p>Amounts are in the report currency; a KPI is NaN when there are no deals.</p>'
    assert page_problems(_page(tmp_path, prose)) == []  # prose about a currency is not a unit
    note = ('<div class="jp-OutputArea-output"><pre>add rates: {USD: &lt;rate&gt;} (units of the report currency per '
            'unit).\nwon 1,234 currency</pre></div>')
    assert [p.split(": ", 1)[1] for p in page_problems(_page(tmp_path, note))] == [
        "the word 'currency' as a unit: '1,234 currency'"]


# --- the sample report's pages ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_pages(tmp_path_factory):
    if not support.have_sample():
        pytest.skip("data/sample has not been generated")
    res = support.sample_report(tmp_path_factory)
    out = tmp_path_factory.mktemp("sample_no_code")
    for run in res.runs:
        executed = res.out_dir / "_executed" / f"{run.notebook}.ipynb"
        if run.html is not None and executed.exists():
            (out / run.html.name).write_text(export_html(executed, no_code=True), encoding="utf-8")
        elif run.html is not None:
            shutil.copy(run.html, out / run.html.name)
    shutil.copy(res.out_dir / "index.html", out / "index.html")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("page", [*STEMS, "index"])
def test_sample_page_reads_clean(sample_pages, page):
    path = sample_pages / f"{page}.html"
    assert path.is_file(), f"{page}.html was not written"
    problems = page_problems(path)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
