"""Report language: the environment switch, translations, KPI labels and the CJK font for charts."""

from __future__ import annotations

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402

from salesops_kit.i18n import (  # noqa: E402
    CJKFontWarning,
    catalog,
    current_lang,
    kpi_label,
    t,
    unit_label,
    use_cjk_font,
)
from salesops_kit.i18n import core as i18n  # noqa: E402

LABELS = catalog("labels", "zh")  # salesops_kit/i18n/catalogs/zh/labels.json


@pytest.mark.parametrize("value, lang", [(None, "en"), ("", "en"), ("en", "en"), ("zh", "zh"), ("zh_CN.UTF-8", "zh"),
                                         ("ZH-Hans", "zh"), ("fr", "en")])
def test_current_lang_reads_the_environment(monkeypatch, value, lang):
    if value is None:
        monkeypatch.delenv("SALESOPS_LANG", raising=False)
    else:
        monkeypatch.setenv("SALESOPS_LANG", value)
    assert current_lang() == lang


def test_t_translates_in_chinese_and_passes_english_and_unknown_text_through(fresh_fonts):
    monkeypatch = fresh_fonts
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    assert t("Win rate") == "赢单率"
    assert t("win rate") == "赢单率"  # case-insensitive fallback
    assert t("Some label nobody translated") == "Some label nobody translated"
    assert t("Win rate", lang="en") == "Win rate"
    monkeypatch.setenv("SALESOPS_LANG", "en")
    assert t("Win rate") == "Win rate"
    assert t("Win rate", lang="zh") == "赢单率"


def test_every_translation_is_text_and_the_case_fallback_is_unambiguous():
    assert all(isinstance(v, str) and v.strip() for v in LABELS.values())
    for k in LABELS:  # keys that differ only by case ("Days" label, "days" unit): the lowercase one wins
        if k.lower() in LABELS and k.upper() not in LABELS:
            assert t(k.upper(), lang="zh") == LABELS[k.lower()], k


@pytest.mark.parametrize("name, en, zh", [
    ("win_rate", "win rate", "赢单率"),
    ("stage_conversion_Proposal_to_Negotiation", "stage conversion Proposal → Negotiation",
     "阶段转化率 Proposal → Negotiation"),
    ("rows_quarantined_orders", "rows quarantined orders", "订单 隔离行数"),
    ("rows_leads", "rows leads", "线索行数"),
    ("date_max_csat", "date max csat", "客户满意度 最晚日期"),
    ("something_new", "something new", "something new"),
    ("ltv_cac_ratio", "LTV:CAC ratio", "LTV:CAC 比值"),
    ("csat_mean", "CSAT mean", "客户满意度均值"),
])
def test_kpi_label(name, en, zh):
    assert kpi_label(name, "en") == en
    assert kpi_label(name, "zh") == zh


def test_unit_label():
    assert unit_label("days", "zh") == "天" and unit_label("days", "en") == "days" and unit_label("", "zh") == ""


@pytest.fixture(autouse=True)
def fresh_fonts(monkeypatch):
    """Every test starts with no font looked up, a fake installed CJK font, and restores rcParams."""
    i18n._reset_font_state()
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [_fake_font("Noto Sans CJK SC")])
    monkeypatch.setattr(i18n, "_system_cjk_font_files", lambda fm: [])  # only the fake list counts
    with matplotlib.rc_context():
        yield monkeypatch
    i18n._reset_font_state()


def _fake_font(name: str):
    return font_manager.FontEntry(fname=f"/nonexistent/{name}.ttf", name=name)


def test_installed_cjk_font_goes_first(fresh_fonts):
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", [_fake_font("DejaVu Sans"),
                                                              _fake_font("WenQuanYi Micro Hei")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert use_cjk_font() == "WenQuanYi Micro Hei"
    assert matplotlib.rcParams["font.sans-serif"][0] == "WenQuanYi Micro Hei"
    assert matplotlib.rcParams["axes.unicode_minus"] is False


def test_noto_cjk_is_preferred_over_others(fresh_fonts):
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", [_fake_font("SimHei"), _fake_font("Noto Sans CJK SC")])
    assert use_cjk_font() == "Noto Sans CJK SC"


def test_no_cjk_font_warns_once_naming_the_package(fresh_fonts):
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", [_fake_font("DejaVu Sans")])
    before = list(matplotlib.rcParams["font.sans-serif"])
    with pytest.warns(CJKFontWarning, match="fonts-noto-cjk") as rec:
        assert use_cjk_font() is None
    assert "fonts-wqy-microhei" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: silent
        assert use_cjk_font() is None
    assert list(matplotlib.rcParams["font.sans-serif"]) == before


def test_chinese_chart_label_triggers_the_font_check(fresh_fonts):
    fresh_fonts.setenv("SALESOPS_LANG", "zh")
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", [_fake_font("DejaVu Sans")])
    with pytest.warns(CJKFontWarning):
        assert t("Win rate") == "赢单率"


def test_report_page_headings_are_translated_keeping_numbers_and_unknown_text():
    from salesops_kit.report.runner import translate_headings

    md = "# 01 · Funnel analysis\n\nBody # Findings stays\n## Findings\n## 2. Win rate\n### Something new  \n"
    assert translate_headings(md, "zh") == ("# 01 · 漏斗分析\n\nBody # Findings stays\n## 主要发现\n## 2. 赢单率\n"
                                            "### Something new\n")
    assert translate_headings("## Findings", "en") == "## Findings"


@pytest.mark.parametrize("en, zh", [
    ("Proposal → Negotiation conversion", "Proposal → Negotiation 转化率"),
    ("weakest step Proposal → Negotiation", "最薄弱环节 Proposal → Negotiation"),
    ("win rate by lead source", "按线索来源的赢单率"),
    ("Funnel findings", "漏斗分析发现"),
    ("Stage names stay as they are", "Stage names stay as they are"),
])
def test_templates_translate_labels_with_a_variable_part(en, zh):
    assert t(en, lang="zh") == zh
    assert t(en, lang="en") == en


# --- the kit's charts and findings follow the report language --------------------------------------------
_LABEL_CALLS = {"set_title": 0, "set_xlabel": 0, "set_ylabel": 0, "suptitle": 0, "text": 2}
_LABEL_KEYWORDS = {"label", "title", "xlabel", "ylabel"}


def _label_args(tree):
    import ast

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None)
        if name in _LABEL_CALLS and len(node.args) > _LABEL_CALLS[name]:
            yield node.args[_LABEL_CALLS[name]]
        for kw in node.keywords:
            if kw.arg in _LABEL_KEYWORDS:
                yield kw.value


def test_every_constant_chart_label_goes_through_t_and_has_a_chinese_entry():
    """Guard for salesops_kit/plots/*.py: a constant label string is wrapped in i18n.t (imported as ``tr``)
    and the table knows it, so a Chinese report has no English chart label left behind."""
    import ast
    from pathlib import Path

    import salesops_kit.plots as plots_pkg

    unwrapped, untranslated = [], []
    for path in sorted(Path(plots_pkg.__file__).parent.glob("*.py")):
        for arg in _label_args(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and any(c.isalpha() for c in arg.value):
                unwrapped.append(f"{path.name}:{arg.lineno}: {arg.value!r}")
            elif (isinstance(arg, ast.Call) and getattr(arg.func, "id", None) in ("t", "tr") and arg.args
                  and isinstance(arg.args[0], ast.Constant) and arg.args[0].value not in LABELS
                  and t(arg.args[0].value, lang="zh") == arg.args[0].value):
                untranslated.append(f"{path.name}:{arg.lineno}: {arg.args[0].value!r}")
    assert unwrapped == [], "wrap these chart labels in tr(...): " + "; ".join(unwrapped)
    assert untranslated == [], ("add these chart labels to salesops_kit/i18n/catalogs/zh/labels.json: "
                                + "; ".join(untranslated))


def test_chart_titles_follow_the_report_language(fresh_fonts):
    import matplotlib.pyplot as plt
    import pandas as pd

    from salesops_kit.plots.audit import plot_audit_bars

    empty = pd.DataFrame(columns=["table", "check", "rows", "action"])
    fresh_fonts.setenv("SALESOPS_LANG", "zh")
    ax = plot_audit_bars(empty)
    assert ax.get_title() == "审计：没有被隔离或标记的行"
    assert matplotlib.rcParams["font.sans-serif"][0] == "Noto Sans CJK SC"  # the (fake) installed CJK font
    fresh_fonts.setenv("SALESOPS_LANG", "en")
    ax2 = plot_audit_bars(empty)
    assert ax2.get_title() == "Audit: no rows quarantined or flagged"
    plt.close("all")


def test_findings_sentences_and_titles_follow_the_report_language(fresh_fonts):
    from salesops_kit.findings import FINDINGS_MIME, Finding, Findings

    f = Findings([Finding(subject="<b>Ann</b>", metric="win rate", value="20%", benchmark="30%")],
                 title="Rep coaching findings")
    fresh_fonts.setenv("SALESOPS_LANG", "zh")
    assert f[0].sentence() == "&lt;b&gt;Ann&lt;/b&gt;: 赢单率 20% 对比 30%"
    assert "<h3>销售代表辅导发现</h3>" in f.to_html() and "赢单率" in f.to_html()
    assert f.to_markdown().startswith("### 销售代表辅导发现")
    assert f._repr_mimebundle_()[FINDINGS_MIME]["findings"][0]["metric"] == "win rate"  # records stay as written
    assert "暂无发现" in Findings([], title="x").to_html()
    fresh_fonts.setenv("SALESOPS_LANG", "en")
    assert f[0].sentence() == "&lt;b&gt;Ann&lt;/b&gt;: win rate 20% vs 30%"


def test_cjk_font_installed_after_the_cache_is_registered(fresh_fonts):
    # the cache knows only DejaVu; the system has a WenQuanYi file: it is added and used, no warning
    fresh_fonts.setattr(font_manager.fontManager, "ttflist", [_fake_font("DejaVu Sans")])
    fresh_fonts.setattr(i18n, "_system_cjk_font_files", lambda fm: ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"])
    added = []

    def addfont(path):
        added.append(path)
        font_manager.fontManager.ttflist.append(_fake_font("WenQuanYi Micro Hei"))

    fresh_fonts.setattr(font_manager.fontManager, "addfont", addfont)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert i18n.use_cjk_font() == "WenQuanYi Micro Hei"
    assert added == ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"]


def test_money_units_keep_their_currency_code_in_chinese():
    from salesops_kit.i18n import unit_label

    assert unit_label("USD per month", "zh") == "USD/月"
    assert unit_label("CNY per customer", "zh") == "CNY/客户"
    assert unit_label("EUR", "zh") == "EUR"
    assert unit_label("USD per month", "en") == "USD per month"
    assert unit_label("days", "zh") == "天" and unit_label("currency per month", "zh") == "金额/月"
