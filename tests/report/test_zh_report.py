"""The Chinese management report of the sample company (issue 19): ``salesops report --lang zh --no-code``, rendered
once per session, reads Chinese: at most 10% of any page's visible prose is English (english_share.py says how it
is measured), every notebook page shows its translated markdown, and numbers follow Chinese conventions."""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import pytest
import test_report_support as support
from english_share import english_share, english_words, visible_prose

MAX_ENGLISH = 0.10


# --- the measure itself (no report needed) ---------------------------------------------------------------------
def test_english_share_counts_prose_outside_code_pre_and_tables():
    html = ("<html><head><title>English title words</title></head><body>"
            "<p>赢单率上升了 three points</p>"  # 6 Han characters, 2 English words
            "<pre>printed English text</pre><code>win_rate</code><table><tr><td>English cell</td></tr></table>"
            "<p>STL ETS MASE Benjamini–Hochberg Gamma-Gamma log-rank Wilson lead_source USD 2025-11 Daniel</p>"
            "<p>findings.csv team=Atlas</p></body></html>")
    assert english_words(html) == ["three", "points", "Daniel"]
    assert english_words(html, data_words=["Daniel Kim"]) == ["three", "points"]
    assert english_share(html, data_words=["Daniel Kim"]) == pytest.approx(2 / (2 + 6 / 1.5))
    assert "printed" not in visible_prose(html) and "English cell" not in visible_prose(html)
    assert english_share("<p>全部是中文。</p>") == 0.0 and english_share("<p></p>") == 0.0
    assert english_share("<p>All English here.</p>") == 1.0


def test_index_carries_the_glossary_in_the_page_language():
    from types import SimpleNamespace

    import pandas as pd

    from salesops_kit.i18n import glossary
    from salesops_kit.report import pages

    ds = SimpleNamespace(as_of=pd.Timestamp("2025-12-15"), mapping_name="canonical", account=None)
    for lang, heading in (("zh", "术语表"), ("en", "Glossary")):
        html = pages.index_page(runs=[], ds=ds, kpis=pd.DataFrame(), findings={}, params={}, lang=lang)
        assert f"<h2>{heading}</h2>" in html
        terms = glossary(lang)
        assert all(f"<dt>{g['term']}</dt>" in html for g in terms) and len(terms) >= 20
    assert "2025年12月15日" in pages.index_page(runs=[], ds=ds, kpis=pd.DataFrame(), findings={}, params={},
                                              lang="zh")


# --- the sample report in Chinese (one render) -----------------------------------------------------------------
_CACHE: dict = {}


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory):
    """``salesops report --lang zh --no-code`` on the sample company: (exit code, printed, output folder)."""
    if "zh" not in _CACHE:
        from salesops_kit import cli
        from salesops_kit.i18n import CJKFontWarning

        out = tmp_path_factory.mktemp("report_zh") / "out"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore", CJKFontWarning)  # depends on the machine's fonts
            code = cli.main(["report", "--lang", "zh", "--no-code", "--out", str(out), "--no-progress", "-j", "2"])
        _CACHE["zh"] = (code, buf.getvalue(), out)
    return _CACHE["zh"]


@pytest.fixture(scope="module")
def data_words():
    """The sample's own names (reps, teams, channels, stages, sources ...): data, not English prose."""
    from salesops_kit.data.load import load_dataset
    from salesops_kit.report.runner import sample_data_dir

    ds = load_dataset(sample_data_dir())
    words: set[str] = set()
    for table in ds.tables.values():
        for col in table.columns:
            if table[col].dtype == object and table[col].nunique() <= 300:
                words |= {str(v) for v in table[col].dropna().unique()}
    return words


@pytest.mark.slow
@pytest.mark.skipif(not support.have_sample(), reason="data/sample has not been generated")
def test_every_chinese_page_is_at_most_ten_percent_english(zh_report, data_words):
    code, printed, out = zh_report
    assert code == 0, printed
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 7  # the index and six notebooks
    shares = {}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        shares[page.name] = (english_share(html, data_words), english_words(html, data_words))
    over = {name: f"{share:.1%}: {' '.join(words[:60])}" for name, (share, words) in shares.items()
            if share > MAX_ENGLISH}
    assert not over, "pages whose visible prose is more than 10% English:\n" + "\n".join(
        f"  {k} {v}" for k, v in over.items())


@pytest.mark.slow
@pytest.mark.skipif(not support.have_sample(), reason="data/sample has not been generated")
def test_notebook_pages_show_the_chinese_markdown(zh_report):
    code, printed, out = zh_report
    for page in sorted(out.glob("0*.html")):
        html = page.read_text(encoding="utf-8")
        prose = visible_prose(html)
        assert "问题。" in prose and "注意事项" in prose, page.name
        assert "Question." not in prose and "Caveats" not in prose and "How to adapt" not in prose, page.name
        assert 'lang="zh"' in html and "hl-ipython3" not in html  # management version: no code


@pytest.mark.slow
@pytest.mark.skipif(not support.have_sample(), reason="data/sample has not been generated")
def test_index_writes_money_in_wan_and_dates_in_chinese(zh_report):
    """The headline money KPIs of kpis.csv appear on the index in 万 / 亿 with their currency code, the as-of date
    as 年月日, and rates as the same percentages as on English pages."""
    import pandas as pd

    from salesops_kit.i18n import format_date, format_money

    code, printed, out = zh_report
    index = (out / "index.html").read_text(encoding="utf-8")
    kpis = pd.read_csv(out / "kpis.csv")
    allseg = kpis[kpis["segment"] == "all"].set_index("kpi")
    won, unit = float(allseg.loc["won_revenue", "value"]), allseg.loc["won_revenue", "unit"]
    assert won >= 100_000 and len(unit) == 3  # the sample's revenue is large, in one currency
    expected = format_money(won, unit, "zh")
    assert re.fullmatch(r"[\d,]+\.\d+ (万|亿) [A-Z]{3}", expected) and expected in index
    assert f"{won:,.0f}" not in index  # not also in full
    assert f"{float(allseg.loc['win_rate', 'value']) * 100:.1f}%" in index
    manifest = pd.read_json(out / "manifest.json", typ="series")
    assert format_date(manifest["as_of"], "zh") in index
