"""The report's own pages are Jinja2 templates (salesops_kit/report/templates) rendered with autoescape: every
value from the data is escaped by the kit's rule, only HTML the kit escaped itself passes as Markup, and the
templates ship in the wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from jinja2 import UndefinedError
from markupsafe import Markup

import salesops_kit
from salesops_kit.findings import escape_html
from salesops_kit.report import NotebookRun, pages

KIT = Path(salesops_kit.__file__).parent
HOSTILE = '"><script>alert(1)</script>\x07\nnext'


def _ds(account=None):
    account = pd.DataFrame({"table": [HOSTILE], "rows_read": [1234]}) if account is None else account
    return SimpleNamespace(as_of=pd.Timestamp("2025-12-31"), mapping_name=HOSTILE, account=account)


def test_the_environment_autoescapes_and_refuses_unknown_names():
    env = pages._environment()
    assert env.autoescape is True and env is pages._environment()  # built once
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    with pytest.raises(UndefinedError, match="nothing"):
        env.from_string("{{ nothing }}").render()


def test_every_value_gets_the_kits_escaping_and_markup_passes():
    assert pages._finalize(HOSTILE) == escape_html(HOSTILE)  # quotes, tags; control characters and line breaks
    assert "\x07" not in pages._finalize(HOSTILE) and "\n" not in pages._finalize(HOSTILE)
    assert pages._finalize(None) == "" and pages._finalize(float("nan")) == ""
    assert pages._finalize(Markup("<li>ok</li>")) == "<li>ok</li>"


def test_page_escapes_the_title_and_keeps_the_callers_html():
    html = pages.page(HOSTILE, "<h1>escaped by the caller</h1>", lang="zh")
    assert html.startswith("<!DOCTYPE html>\n") and html.endswith("</html>\n")
    assert f"<title>{escape_html(HOSTILE)}</title>" in html and "<script>" not in html
    assert "<h1>escaped by the caller</h1>" in html and 'lang="zh-Hans"' in html
    assert f'content="{pages.CSP}"' in html  # the policy as written


def test_index_escapes_data_in_text_and_attributes():
    runs = [NotebookRun(HOSTILE, "failed", 1.25, Path("01_x.html"), failed_cell=3, error=HOSTILE),
            NotebookRun("02_cost_metrics", "skipped", 0.0, None, missing=("orders",))]
    kpis = pd.DataFrame({"kpi": ["win_rate"], "segment": ["all"], "value": [0.5], "ci_low": [0.4], "ci_high": [0.6],
                         "unit": ["rate"], "definition": [HOSTILE]})
    findings = {HOSTILE: [{"subject": HOSTILE, "metric": "win rate", "value": "1%"}] * 4}
    html = pages.index_page(runs=runs, ds=_ds(), kpis=kpis, findings=findings, params={HOSTILE: HOSTILE},
                            files=["kpis.csv", "quarantine/", f"quarantine/{HOSTILE}.csv", HOSTILE],
                            kpi_errors=[HOSTILE], top_findings=3)
    assert "<script>" not in html and '"><script>' not in html and "\x07" not in html
    assert f'<td title="{escape_html(HOSTILE)}">' in html  # an attribute cannot be closed from the data
    assert f'<a href="quarantine/{escape_html(HOSTILE)}.csv">' in html
    assert "1,234" in html and "+1 …" in html and "1.2" in html and "orders (orders)" in html


def test_index_in_chinese_translates_the_page_and_the_table_names():
    html = pages.index_page(runs=[], ds=_ds(pd.DataFrame({"table": ["orders"], "rows_read": [5]})),
                            kpis=pd.DataFrame(), findings={}, params={}, lang="zh")
    for zh in ("销售运营分析报告", "核心指标", "此数据集无法计算核心指标。", "暂无发现。", "数据清点", "读取行数",
               "订单 <code>orders</code>"):
        assert zh in html, zh


@pytest.mark.parametrize("lang, why", [("en", "CSV only: more customers than one Excel sheet holds"),
                                       ("zh", "仅 CSV：客户数超过一张 Excel 工作表的行数上限")])
def test_index_says_why_a_customer_table_has_no_spreadsheet(lang, why):
    def index(files):
        return pages.index_page(runs=[], ds=_ds(pd.DataFrame({"table": ["orders"], "rows_read": [5]})),
                                kpis=pd.DataFrame(), findings={}, params={}, lang=lang, files=files)

    assert why in index(["kpis.csv", "customers.csv"])
    both = index(["kpis.csv", "customers.csv", "customers.xlsx"])
    assert why not in both and 'href="customers.xlsx"' in both


def test_missing_page_shows_a_mapping_snippet_line_by_line():
    html = pages.missing_page("02_cost_metrics", ("orders",), _ds(), lang="en")
    assert ('<pre>tables:\n  orders:\n    file: "orders*.csv"\n    columns:\n'
            '      order_id: "&lt;column in your export&gt;"\n') in html
    assert f"<code>{escape_html(HOSTILE)}</code>" in html


def test_templates_are_package_data():
    pyproject = tomllib.loads((KIT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["salesops_kit.report"]
    shipped = {p for g in globs for p in (KIT / "report").glob(g)}
    assert shipped == set((KIT / "report" / "templates").iterdir())
    assert {p.name for p in shipped} == {"page.html.j2", "index.html.j2", "missing.html.j2"}
