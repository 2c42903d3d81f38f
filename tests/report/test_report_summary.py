"""The index's executive summary and money (issue 15, deliverable 2), the report's glossary and GLOSSARY.md
(deliverable 5), and pages without scaffolding boxes. Fast: no notebook runs."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from salesops_kit.i18n import glossary, glossary_markdown
from salesops_kit.kpis import KPIS_MIME
from salesops_kit.report import find_notebooks
from salesops_kit.report.pages import executive_summary, format_value, index_page
from salesops_kit.report.runner import export_html

ROOT = Path(__file__).resolve().parents[2]


# --- money on the index -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, unit, lang, text", [
    (10_005_534.2, "currency", "en", "10,005,534"), (10_005.2, "currency per month", "en", "10,005 per month"),
    (12.5, "currency per customer", "en", "12.50 per customer"), (10_005_534.2, "USD", "en", "10,005,534 USD"),
    (10_005_534.2, "currency", "zh", "1,000.6 万"),
])
def test_money_without_a_code_is_the_number_alone(value, unit, lang, text):
    assert format_value(value, unit, lang=lang) == text


# --- the executive summary ----------------------------------------------------------------------------------------
def _run(stem):
    return SimpleNamespace(notebook=stem, html=Path(f"{stem}.html"), status="ok", seconds=1.0, failed_cell=None,
                           error="", missing=())


def _rec(subject, stake=None, lead=False, **kw):
    return {"subject": subject, "metric": "win rate", "value": "20%", "benchmark": "30%", "suggestion": "act",
            "stake": stake, "lead": lead, **kw}


FINDINGS = {
    "01_f": [_rec("a", 500.0), _rec("b", 9_000.0), _rec("c", 100.0), _rec("answer 01", None, lead=True)],
    "02_c": [_rec("answer 02", 255_837.27, lead=True, window="all history"), _rec("e", 20_000.0)],
    "04_r": [_rec("f", 7_000.0), _rec("g")],
    "05_m": [_rec("h", 104_040.05, lead=True), _rec("i", 1.0)],
}
RUNS = [_run(s) for s in FINDINGS]


def test_the_summary_takes_at_most_two_per_notebook_and_orders_by_money_at_stake():
    got = executive_summary(RUNS, FINDINGS, currency="USD")
    # first round, one per notebook (its answer, else its largest stake), by stake: answer 02, h (05), f (04), then
    # the answer without a stake (01); second round by stake: e (02, 20,000) before b (01, 9,000) and i -> cut at 5
    subjects = [BeautifulSoup(d["sentence"], "html.parser").get_text().split(":")[0] for d in got]
    assert subjects == ["answer 02", "h", "f", "answer 01", "e"]
    assert [d["stake"] for d in got] == [f"(money at stake: {x} USD)" if x else "" for x in
                                         ("255,837", "104,040", "7,000", "", "20,000")]
    assert [d["href"] for d in got] == ["02_c.html", "05_m.html", "04_r.html", "01_f.html", "02_c.html"]
    assert "(all history)" in got[0]["sentence"]  # the window is rendered after the metric


def test_the_summary_shows_the_number_alone_without_a_currency_and_an_answer_without_stake():
    got = executive_summary([_run("01_f")], {"01_f": FINDINGS["01_f"]}, currency=None)
    assert [d["stake"] for d in got] == ["", "(money at stake: 9,000)"]  # the notebook's answer comes first
    zh = executive_summary([_run("02_c")], {"02_c": FINDINGS["02_c"]}, currency="USD", lang="zh")
    assert zh[0]["stake"] == "（涉及金额：25.6 万 USD）"
    assert got[0]["sentence"].startswith("answer 01")
    assert executive_summary(RUNS, {}) == []


def test_the_index_opens_with_the_summary_and_never_writes_currency_as_a_unit():
    ds = SimpleNamespace(as_of=pd.Timestamp("2025-12-15"), mapping_name="canonical", account=None)
    kpis = pd.DataFrame({"kpi": ["won_revenue"], "segment": ["all"], "value": [10_005_534.2], "ci_low": [None],
                         "ci_high": [None], "unit": ["currency"], "definition": ["won"], "window": ["all history"]})
    html = index_page(runs=RUNS, ds=ds, kpis=kpis, findings=FINDINGS, params={})
    soup = BeautifulSoup(html, "html.parser")
    assert [h.get_text() for h in soup.find_all("h2")][:2] == ["Executive summary", "Headline KPIs"]
    assert len(soup.select("ol.decisions > li")) == 5
    row = soup.select_one('tr[data-kpi="won_revenue"]')
    assert [td.get_text() for td in row.find_all("td")][1:3] == ["10,005,534", "all history"]
    assert not re.search(r"\d\s*currency\b", soup.get_text())
    empty = BeautifulSoup(index_page(runs=[], ds=ds, kpis=kpis, findings={}, params={}, lang="zh"), "html.parser")
    assert empty.find("h2").get_text() == "执行摘要" and "本报告没有涉及金额的决策" in empty.get_text()


# --- no scaffolding box -------------------------------------------------------------------------------------------
def test_a_cell_that_shows_nothing_leaves_no_box(tmp_path):
    nb = nbformat.v4.new_notebook()
    published = nbformat.v4.new_output("display_data", data={"text/plain": "", KPIS_MIME: {"rows": []}})
    blank = nbformat.v4.new_output("stream", text="\n")
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · X"),
                nbformat.v4.new_code_cell("kpis.publish(...)", outputs=[published]),
                nbformat.v4.new_code_cell("print()", outputs=[blank]),
                nbformat.v4.new_code_cell("x = 1", outputs=[]),
                nbformat.v4.new_code_cell("print('hello')", outputs=[nbformat.v4.new_output("stream", text="hello\n")])]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    soup = BeautifulSoup(export_html(path, no_code=True), "html.parser")
    assert len(soup.select("div.jp-CodeCell")) == 1 and "hello" in soup.select_one("div.jp-CodeCell").get_text()
    with_code = BeautifulSoup(export_html(path, no_code=False), "html.parser")
    assert len(with_code.select("div.jp-CodeCell")) == 4  # the analyst's version keeps the code
    assert not with_code.select("div.jp-OutputArea-output")[0].get_text().strip() == ""


# --- the glossary -------------------------------------------------------------------------------------------------
# the methods and abbreviations the issue names, each a glossary concept explained in two sentences
METHODS = ("fdr", "aalen_johansen", "brier", "log_rank", "sbg", "bgnbd", "gamma_gamma", "mase", "smape", "stl", "hac",
           "theta", "ets", "p_chart", "u_chart", "xbar_chart", "ewma", "beta_binomial", "wilson", "bootstrap",
           "p_alive", "clv", "ltv_cac", "payback", "seasonal_naive", "backtest", "pi_coverage")


def _sentences(text: str, lang: str) -> int:
    return len(re.findall(r"。", text)) if lang == "zh" else len(re.findall(r"[.!?](?=\s+[A-Z(]|$)", text))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_method_is_explained_in_two_sentences(lang):
    by = {g["concept"]: g for g in glossary(lang)}
    missing = [m for m in METHODS if m not in by]
    assert not missing, f"not in the glossary catalog: {missing}"
    long = {m: _sentences(by[m]["definition"], lang) for m in METHODS if _sentences(by[m]["definition"], lang) != 2}
    assert not long, f"not two sentences ({lang}): {long}"


def test_glossary_md_is_the_catalog_the_index_shows():
    """notebooks/GLOSSARY.md is generated from the glossary catalog; the index shows the same terms and text."""
    md = (ROOT / "notebooks" / "GLOSSARY.md").read_text(encoding="utf-8")
    assert md == glossary_markdown(), ("notebooks/GLOSSARY.md is out of date: python -c \"from salesops_kit.i18n "
                                       "import glossary_markdown; print(glossary_markdown(), end='')\" > "
                                       "notebooks/GLOSSARY.md")
    ds = SimpleNamespace(as_of=pd.Timestamp("2025-12-15"), mapping_name="canonical", account=None)
    for lang in ("en", "zh"):
        soup = BeautifulSoup(index_page(runs=[], ds=ds, kpis=pd.DataFrame(), findings={}, params={}, lang=lang),
                             "html.parser")
        shown = dict(zip([dt.get_text() for dt in soup.select("dl.glossary dt")],
                         [dd.get_text() for dd in soup.select("dl.glossary dd")], strict=True))
        for g in glossary(lang):
            assert shown.get(g["term"]) == g["definition"], g["concept"]
            line = (f"- **{g['term']}**: {g['definition']}" if lang == "en" else
                    f"- **{g['term']}**（{g['en']}）：{g['definition']}")
            assert line in md.splitlines(), g["concept"]


@pytest.mark.parametrize("nb", [p.name for p in find_notebooks()])
def test_every_notebook_links_to_the_glossary(nb):
    cells = nbformat.read(ROOT / "notebooks" / nb, as_version=4).cells
    first = next(c for c in cells if c.cell_type == "markdown")
    assert "(GLOSSARY.md)" in first.source, f"{nb}: its first markdown cell does not link to GLOSSARY.md"
