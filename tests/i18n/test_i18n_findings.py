"""Chinese findings sentences (i18n.tr + the templates catalog) and Chinese KPI definitions (kpi_definitions).

Guards: every literal template the kit passes to ``tr`` has a Chinese entry with the same placeholders;
every registry KPI has a Chinese definition. On the sample data the Chinese findings are Chinese (no
English sentence words left besides names, units and technical terms) and the English findings are the
sentences the analysis results imply.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pandas as pd
import pytest

import salesops_kit
from salesops_kit.i18n import catalog, kpi_definition, t, tr

# The Chinese catalogs (salesops_kit/i18n/catalogs/zh/*.json)
ZH_LABELS = catalog("labels", "zh")
ZH_TEMPLATES = catalog("templates", "zh")
ZH_DEFINITIONS = catalog("kpi_definitions", "zh")

KIT = Path(salesops_kit.__file__).parent
SAMPLE = KIT.parent / "data" / "sample"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


# --- the template table ---------------------------------------------------------------------------------
def _tr_calls():
    """(file:line, first argument node) of every call of i18n.tr in the kit, whatever local name it has."""
    for path in sorted(KIT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and (node.module or "").split(".")[-1] == "i18n" for a in node.names if a.name == "tr"}
        if not names:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names and node.args:
                yield f"{path.relative_to(KIT)}:{node.lineno}", node.args[0]


def _literal_templates():
    found, other = {}, []
    for where, arg in _tr_calls():
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.setdefault(arg.value, where)
        else:
            other.append(where)
    return found, other


def test_every_template_passed_to_tr_has_a_chinese_entry_with_the_same_placeholders():
    found, _ = _literal_templates()
    assert len(found) > 100  # the walk sees the kit's sentences (a broken walk would pass vacuously)
    missing = [f"{w}: {s!r}" for s, w in found.items() if s not in ZH_TEMPLATES]
    assert missing == [], "add these to salesops_kit/i18n/catalogs/zh/templates.json: " + "; ".join(missing)
    wrong = [f"{w}: {s!r}" for s, w in found.items() if _fields(ZH_TEMPLATES[s]) != _fields(s)]
    assert wrong == [], "the Chinese template must use the same placeholders: " + "; ".join(wrong)


def test_templates_passed_by_name_are_translated_too():
    """Only quality's flag actions reach tr through a variable; their texts need entries as well."""
    from salesops_kit.data.audit import _FLAG_ACTION

    _, other = _literal_templates()
    assert [w.split(":")[0] for w in other] == ["data/audit.py"]
    assert all(s in ZH_TEMPLATES and not _fields(s) for s in _FLAG_ACTION.values())


def test_every_chinese_template_is_used_and_reads_chinese():
    found, _ = _literal_templates()
    from salesops_kit.data.audit import _FLAG_ACTION

    unused = set(ZH_TEMPLATES) - set(found) - set(_FLAG_ACTION.values())
    assert unused == set(), f"stale entries in catalogs/zh/templates.json: {sorted(unused)}"
    english = {s: sorted(set(re.findall(r"[A-Za-z][\w'-]*", re.sub(r"\{[^}]*\}", "", zh))) - _KEEP)
               for s, zh in ZH_TEMPLATES.items()}
    assert {s: w for s, w in english.items() if w} == {}  # only technical terms stay in Latin letters
    same = {s for s, zh in ZH_TEMPLATES.items() if zh == s}
    assert same == {"{column} = {segment}"}  # pure layout, nothing to translate


def test_tr_formats_english_as_written_and_chinese_from_the_table(monkeypatch):
    monkeypatch.delenv("SALESOPS_LANG", raising=False)
    tpl = "CAC {cac} vs LTV {ltv} over {months} months, {n:,} new customers"
    assert tr(tpl, cac="1,234.50 USD", ltv="99.00 USD", months=36, n=1234) == (
        "CAC 1,234.50 USD vs LTV 99.00 USD over 36 months, 1,234 new customers")
    assert tr(tpl, lang="zh", cac="1,234.50 USD", ltv="99.00 USD", months=36, n=1234) == (
        "客户获取成本 1,234.50 USD，36 个月客户生命周期价值 99.00 USD，新客户 1,234 位")
    assert tr("channel {channel}", lang="zh", channel="<b>Ads</b>") == "渠道 <b>Ads</b>"  # never escaped here
    assert tr("a sentence nobody translated {x}", lang="zh", x=1) == "a sentence nobody translated 1"
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    assert tr("trend") == "趋势" and tr("trend", lang="en") == "trend"


@pytest.mark.parametrize("en, zh", [
    ("won revenue vs target", "赢单收入（对比目标）"),
    ("win rate (vs last period)", "赢单率（环比上期）"),
    ("CSAT mean (vs a year earlier)", "客户满意度均值（同比去年）"),
    ("close before created", "关闭日期早于创建日期"),
    ("No channel stands out.", "没有表现突出的渠道。"),
])
def test_finding_metrics_and_messages_have_chinese_labels(en, zh):
    assert t(en, lang="zh") == zh and t(en, lang="en") == en
    assert ZH_LABELS["Jan"] == "1月"  # findings labels are in the one labels catalog


# --- KPI definitions ------------------------------------------------------------------------------------
def test_every_registry_kpi_has_a_chinese_definition():
    from salesops_kit.kpis import REGISTRY

    missing = [k for k in REGISTRY if not CJK.search(ZH_DEFINITIONS.get(k, ""))]
    assert missing == []
    assert set(ZH_DEFINITIONS) == set(REGISTRY)  # no definition of a KPI that no longer exists
    for name, zh in ZH_DEFINITIONS.items():  # the family placeholders survive translation
        assert set(re.findall(r"\{[a-z_]+\}", REGISTRY[name].definition)) <= set(re.findall(r"\{[a-z_]+\}", zh))


def test_kpi_definition_follows_the_language_and_resolves_families(monkeypatch):
    """The registry resolves the name and holds the English text; i18n translates it (and never imports the
    registry: tests/test_architecture.py)."""
    from salesops_kit.kpis import REGISTRY, definition

    monkeypatch.delenv("SALESOPS_LANG", raising=False)
    assert definition("win_rate") == REGISTRY["win_rate"].definition
    assert definition("win_rate", "zh").startswith("赢单率")
    fam = "stage_conversion_{from}_to_{to}"
    assert definition("stage_conversion_Proposal_to_Negotiation", "zh") == ZH_DEFINITIONS[fam]
    assert definition("stage_conversion_Proposal_to_Negotiation") == REGISTRY[fam].definition
    assert definition("deals_won_change_yoy", "zh") == ZH_DEFINITIONS["{kpi}_change_yoy"]
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    assert definition("win_rate") == ZH_DEFINITIONS["win_rate"]
    with pytest.raises(KeyError, match="not in the registry"):
        definition("no_such_kpi", "zh")
    assert definition("no_such_kpi", "zh", default="x") == "x"


def test_i18n_kpi_definition_translates_the_english_text_the_caller_holds():
    assert kpi_definition("win_rate", "zh", default="English") == ZH_DEFINITIONS["win_rate"]
    assert kpi_definition("win_rate", "en", default="English") == "English"
    assert kpi_definition("no_such_kpi", "zh", default="English") == "English"  # untranslated: the English text
    with pytest.raises(KeyError, match="pass the English one as default="):
        kpi_definition("win_rate", "en")


def _kpis():
    from salesops_kit.kpis import kpi_frame

    return kpi_frame([{"kpi": "win_rate", "value": 0.25, "ci_low": 0.2, "ci_high": 0.3},
                      {"kpi": "stage_conversion_Proposal_to_Negotiation", "value": 0.6},
                      {"kpi": "cac", "segment": "channel=Paid Search", "value": 12.5}])


def test_kpis_csv_and_xlsx_carry_chinese_definitions_in_zh_and_stay_deterministic(tmp_path):
    from openpyxl import load_workbook

    from salesops_kit.report.exports import write_kpis

    en = pd.read_csv(write_kpis(_kpis(), tmp_path / "en")["kpis.csv"])
    assert list(en["definition"]) == list(_kpis().sort_values(["kpi", "segment"])["definition"])
    a = write_kpis(_kpis(), tmp_path / "a", lang="zh")
    b = write_kpis(_kpis().iloc[::-1], tmp_path / "b", lang="zh")
    assert a["kpis.csv"].read_bytes() == b["kpis.csv"].read_bytes()
    zh = pd.read_csv(a["kpis.csv"])
    assert all(CJK.search(d) for d in zh["definition"])
    assert list(zh["segment"]) == list(en["segment"]) and list(zh["unit"]) == list(en["unit"])
    ws = load_workbook(a["kpis.xlsx"]).active
    col = [c.value for c in ws[1]].index("definition")
    assert all(CJK.search(row[col].value) for row in ws.iter_rows(min_row=2))


def test_index_kpi_table_shows_the_chinese_definition():
    from salesops_kit.kpis import REGISTRY
    from salesops_kit.report.pages import _headline_rows

    zh, en = _headline_rows(_kpis(), "zh"), _headline_rows(_kpis(), "en")
    assert [r["definition"] for r in zh] == [ZH_DEFINITIONS["win_rate"]]
    assert [(r["label"], r["value"]) for r in zh] == [("赢单率", "25.0%")]
    assert [r["definition"] for r in en] == [REGISTRY["win_rate"].definition]


# --- findings of the sample data ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results():
    """Every notebook's analysis results on the sample data (computed once; findings are built per test)."""
    from salesops_kit import forecast, funnel, monitor, reps
    from salesops_kit.data import audit as quality
    from salesops_kit.forecast import pipeline
    from salesops_kit.funnel import bottlenecks
    from salesops_kit.funnel.calibration import stage_calibration
    from salesops_kit.funnel.cycle import sales_cycle
    from salesops_kit.reps import drivers
    from salesops_kit.value import costs

    ds = salesops_kit.load_dataset(SAMPLE, mapping="canonical")
    r = {"ds": ds, "audit": quality.audit(ds), "cov": quality.coverage(ds, freq="M")}
    r["funnel"] = dict(stage_funnel=funnel.stage_funnel(ds), lead=funnel.lead_funnel(ds),
                       bottlenecks=bottlenecks(ds, segments=["lead_source", "team", "product", "region"]),
                       calibration=stage_calibration(ds), cycle=sales_cycle(ds))
    r["ue"] = costs.unit_economics(ds.orders, ds.marketing_spend, as_of=ds.as_of, n_boot=100)
    series = forecast.bookings_series(ds, partial="flag")
    r["forecast"] = (forecast.seasonal_profile(series), forecast.forecast(series, horizon=12),
                     forecast.backtest(series, horizon=6, folds=3, step=3),
                     pipeline.pipeline_forecast(ds.opportunities, as_of=ds.as_of, stage_history=ds.stage_history,
                                                stages=ds.stages, n_sims=200, seed=0, backtest_dates=4))
    card = reps.scorecard(ds)
    r["reps"] = dict(card=card, comparison=reps.compare_reps(ds, card=card, min_n=400),
                     drivers=drivers.response_drivers(ds))
    r["rv"] = monitor.review(ds, period="M")
    return r


def _all_findings(r):
    from salesops_kit import forecast, funnel, reps
    from salesops_kit.data import audit as quality

    return {"audit": quality.audit_findings(r["audit"], r["cov"]),
            "funnel": funnel.funnel_findings(**r["funnel"]),
            "costs": r["ue"].findings(),
            "forecast": forecast.findings(*r["forecast"]),
            "reps": reps.coaching_findings(r["ds"], min_n=400, **r["reps"]),
            "monitor": r["rv"].findings()}


@pytest.fixture(scope="module")
def en_zh(results):
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("SALESOPS_LANG", "en")
        en = _all_findings(results)
        mp.setenv("SALESOPS_LANG", "zh")
        zh = _all_findings(results)
    finally:
        mp.undo()
    return en, zh


_TEXT = ("subject", "value", "benchmark", "interval", "evidence", "suggestion")
# Words that stay as they are in a Chinese report: technical terms, units and abbreviations.
_KEEP = {"CAC", "LTV", "MASE", "sMAPE", "BH", "CSAT", "NPS", "CRM", "STL", "HAC", "Kruskal-Wallis", "Brier",
         "Fisher", "EWMA", "P10", "P90", "P10-P90", "Q1", "Q2", "Q3", "Q4", "q", "p", "z", "h", "pp", "csv",
         "combo", "theta", "ets", "arima", "seasonal_naive", "naive", "owner", "team", "all", "as_of",
         "quarantine_", "Gamma-Gamma", "BG", "NBD", "ID", "X", "u",
         "amount", "credits", "true",  # a mapping key the audit quotes as written (amount: {credits: true})
         "currency", "rates", "report", "XXX", "USD", "CNY",  # the mapping's currency block and codes, as written
         "kpi", "period", "segment", "target", "targets", "scale_max", "by_currency",  # column / attribute names
         "KPI", "ETS", "DOTM", "CES", "Theta",  # method names stay in Latin letters, as in the glossary
         "calendar", "country"}  # the mapping's calendar block, as written
_NAME_COLUMNS = ("owner", "team", "channel", "stage", "lead_source", "source", "product", "region", "cost_type")


def _data_words(ds) -> set[str]:
    """Every word of a name in the data (reps, teams, channels, stages, sources ...) and the table names."""
    words = set(ds.tables) | {f"quarantine_{n}" for n in ds.tables}
    for df in ds.tables.values():
        for c in _NAME_COLUMNS if df is not None else ():
            if c in df.columns:
                for v in df[c].dropna().astype(str).unique():
                    words.update(re.findall(r"[A-Za-z][\w'-]*", v))
    return words


def test_chinese_findings_are_chinese_on_the_sample_data(en_zh, results, monkeypatch):
    en, zh = en_zh
    monkeypatch.setenv("SALESOPS_LANG", "zh")  # rendering (metric names, titles) follows the language too
    allowed = _KEEP | _data_words(results["ds"])
    for nb in en:
        def key(f):
            return f.metric, f.severity, f.topic, str(f.q_value)
        assert len(zh[nb]) > 0 and sorted(map(key, zh[nb])) == sorted(map(key, en[nb])), nb  # the same findings
        for fz in zh[nb]:
            assert CJK.search(fz.evidence + fz.suggestion + fz.value + fz.benchmark + fz.interval), fz
            for field in _TEXT:
                text = getattr(fz, field)
                if (nb, field) == ("forecast", "evidence") and fz.metric == "forecast total":
                    text = text.split("：")[0]  # the forecast method's reason comes from forecast_models (English)
                if (nb, field) == ("audit", "evidence") and not text.startswith("原因："):
                    continue  # an example row from the data, quoted as it is
                left = set(re.findall(r"[A-Za-z][\w'-]*", text)) - allowed
                assert left == set(), f"{nb} {field}: {text!r} leaves English words {sorted(left)}"
        md = zh[nb].to_markdown()
        assert CJK.search(md.splitlines()[0]), md[:80]  # the title is Chinese too
        assert all(CJK.search(line) for line in md.splitlines()[2:]), md  # and every sentence


def test_english_findings_state_the_results(en_zh, results):
    """The English sentences are the ones the results imply (the wording is unchanged by translation)."""
    en, _ = en_zh
    ue = results["ue"]
    losing = ue.money_losing()
    costs_en = [f for f in en["costs"] if f.benchmark == "1.00 (break-even)"]
    assert len(costs_en) == len(losing) > 0
    for f, (_, r) in zip(costs_en, losing.iterrows(), strict=True):
        assert f.subject == f"channel {r['channel']}"
        assert f.interval == f"95% CI {r['ltv_cac_ci_low']:.2f}-{r['ltv_cac_ci_high']:.2f}"
        lost = ue.unrecovered_spend()[r["channel"]]  # spend its customers do not pay back (issue 15: the stake)
        assert f.evidence == (f"CAC {r['cac']:,.2f} vs LTV {r['ltv']:,.2f} over {ue.horizon_months} months, "
                              f"{int(r['new_customers']):,} new customers; {lost:,.0f} of its spend does not pay back")
        assert f.suggestion == "this channel loses money on every customer it acquires: cut or renegotiate its spend"
    cyc = results["funnel"]["cycle"].summary().iloc[0]
    f = next(f for f in en["funnel"] if f.metric == "median days from created to won")
    assert (f.subject, f.value) == ("sales cycle", f"{cyc['median_days_to_win']:.0f} days")
    assert f.interval == f"95% CI {cyc['ci_low']:.0f}–{cyc['ci_high']:.0f} days"
    days = f"{cyc['median_days_to_win']:.0f}"
    assert f.suggestion.startswith(f"plan pipeline coverage and forecasts on {days} days to win")
    rv = results["rv"]
    assert en["monitor"].title == f"KPI review {rv.name}"
    lead = en["monitor"][0]  # the company's revenue against target answers first
    assert lead.lead and lead.suggestion.startswith(f"head of sales to plan how {rv.next_name} closes the ")
    alerts = [f for f in en["monitor"] if f.benchmark.startswith("control limits")]
    assert alerts and all(f.suggestion.endswith(f"act in {rv.next_name}") or f"no action for {rv.next_name}"
                          in f.suggestion or f.suggestion.endswith("to confirm what worked and keep it")
                          for f in alerts)
    for nb, fs in en.items():  # English output has no Chinese in it
        assert not any(CJK.search(getattr(f, k)) for f in fs for k in _TEXT), nb


def test_change_sentences_in_both_languages(results, monkeypatch):
    from salesops_kit import monitor

    ch = results["rv"].changes
    row = next(r for r in ch.itertuples(index=False) if not r.note and r.change < 0 and not r.significant)
    spec = monitor.KPI_SPECS[row.kpi]
    monkeypatch.setenv("SALESOPS_LANG", "en")
    p = f"p = {row.p_value:.2g}" if row.p_value >= 0.001 else "p < 0.001"
    assert monitor.change_sentence(row, spec) == (f"{spec.label} fell from {monitor.fmt(row.base_value, spec.fmt)} to "
                                                  f"{monitor.fmt(row.value, spec.fmt)} (within normal variation, {p})")
    monkeypatch.setenv("SALESOPS_LANG", "zh")
    assert monitor.change_sentence(row, spec) == (f"{t(spec.label)}从 {monitor.fmt(row.base_value, spec.fmt)} 降至 "
                                                  f"{monitor.fmt(row.value, spec.fmt)}（属于正常波动，{p}）")
    noted = next((r for r in ch.itertuples(index=False) if r.note), None)
    if noted is not None:
        assert CJK.search(monitor.change_sentence(noted, monitor.KPI_SPECS[noted.kpi]))


def test_two_runs_give_identical_chinese_findings(results):
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("SALESOPS_LANG", "zh")
        a = [f.to_frame().to_csv() for f in _all_findings(results).values()]
        b = [f.to_frame().to_csv() for f in _all_findings(results).values()]
    finally:
        mp.undo()
    assert a == b
