"""Report language: English (default) or Chinese labels for KPI names, units, page titles, charts and findings.

The language is read from the environment variable ``SALESOPS_LANG`` (``en`` or ``zh``; ``zh_CN``,
``zh-Hans`` ... count as ``zh``). ``salesops report --lang zh`` sets it for the notebook kernels, which
inherit the environment, so the same notebooks draw Chinese chart labels and findings without changes.

``t(text)`` translates a label (unknown text comes back unchanged, so English is always a safe fallback);
``tr(template, **values)`` formats a findings sentence from its English ``str.format`` template (Chinese
templates in :mod:`salesops_kit.i18n._findings`); ``kpi_label(name)`` names a KPI, including families such as
``stage_conversion_Proposal_to_Negotiation``, and ``kpi_definition(name)`` gives its definition
(Chinese definitions in :mod:`salesops_kit.i18n._kpis`).
When a Chinese label reaches matplotlib, :func:`use_cjk_font` puts an installed CJK font first in
matplotlib's font list, or warns once, naming the package to install, instead of drawing empty boxes.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

from ._findings import ZH_LABELS, ZH_TEMPLATES

__all__ = ["LANG_ENV", "LANGS", "current_lang", "t", "tr", "kpi_label", "kpi_definition", "unit_label",
           "use_cjk_font", "CJK_FONT_NAMES", "CJKFontWarning"]

LANG_ENV = "SALESOPS_LANG"
LANGS = ("en", "zh")

# Fonts with CJK glyphs, in order of preference, as matplotlib's font manager names them.
CJK_FONT_NAMES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR", "Noto Sans SC",
    "Source Han Sans SC", "Source Han Sans CN", "Source Han Sans", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
    "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "Hiragino Sans GB", "Droid Sans Fallback",
    "AR PL UMing CN", "Arial Unicode MS",
)


class CJKFontWarning(UserWarning):
    """No installed font can draw Chinese characters in charts."""


def current_lang() -> str:
    """``"zh"`` when ``SALESOPS_LANG`` starts with ``zh`` (any case), else ``"en"``."""
    v = os.environ.get(LANG_ENV, "").strip().lower()
    return "zh" if v.startswith("zh") else "en"


def _norm_lang(lang: str | None) -> str:
    if lang is None:
        return current_lang()
    return "zh" if str(lang).lower().startswith("zh") else "en"


# --- the translation table (English text -> Chinese) -------------------------------------------------
ZH: dict[str, str] = {
    # report pages
    "salesops-kit report": "salesops-kit 分析报告",
    "Sales operations report": "销售运营分析报告",
    "As of": "数据截至",
    "mapping": "映射",
    "Headline KPIs": "核心指标",
    "Top findings": "主要发现",
    "Reports": "报告",
    "Report": "报告",
    "Data account": "数据清点",
    "Parameters": "参数",
    "Downloads": "下载",
    "notebook": "笔记本",
    "status": "状态",
    "seconds": "耗时（秒）",
    "note": "备注",
    "ok": "完成",
    "failed": "失败",
    "skipped": "跳过",
    "KPI": "指标",
    "segment": "细分",
    "value": "数值",
    "95% interval": "95% 区间",
    "interval (level in the definition)": "区间（置信水平见定义）",
    "unit": "单位",
    "definition": "定义",
    "table": "数据表",
    "files": "文件数",
    "rows_read": "读取行数",
    "rows_kept": "保留行数",
    "rows_quarantined": "隔离行数",
    "footer_lines": "页脚行数",
    "all": "全部",
    "No findings.": "暂无发现。",
    "No headline KPIs could be computed from this dataset.": "此数据集无法计算核心指标。",
    "Back to the index": "返回目录",
    "failed at cell": "出错单元格",
    "needs": "需要",
    "This report needs the table(s)": "此报告需要以下数据表",
    "This report needs at least one of the tables": "此报告至少需要以下数据表之一",
    "which this dataset does not have": "当前数据集中没有",
    "Add the export file(s) to the data folder and name them in the mapping:": "请把导出文件放入数据文件夹，并在映射文件中指定：",
    "Required columns": "必需列",
    "Optional columns": "可选列",
    "See data/README.md for the columns each table needs, and run salesops mapping suggest FILE for a draft mapping.":
        "各表所需列见 data/README.md；运行 salesops mapping suggest 文件名 可生成映射草稿。",
    "every KPI with its interval, unit and definition": "全部指标及其区间、单位与定义",
    "every finding of every notebook": "所有笔记本的全部发现",
    "rejected rows per table, with the reason": "每张表被隔离的行及原因",
    "what produced this report: input files and checksums, mapping, parameters, versions, run times":
        "本报告的来源：输入文件与校验和、映射、参数、版本、运行时间",
    "Reports that failed": "运行失败的报告",
    "KPIs that could not be computed": "无法计算的指标",
    "Interval": "区间",
    "(latest date in the data)": "（数据中的最晚日期）",
    "column in your export": "导出文件中的列名",
    # notebook titles
    "Data audit": "数据审计",
    "Funnel analysis": "漏斗分析",
    "Cost metrics": "成本指标",
    "Seasonality and forecasting": "季节性与预测",
    "Seasonality forecasting": "季节性与预测",
    "Rep coaching": "销售代表辅导",
    "Monitoring": "指标监控",
    "KPI monitoring": "指标监控",
    # units
    "rows": "行",
    "date": "日期",
    "rate": "比率",
    "share": "占比",
    "ratio": "比值",
    "days": "天",
    "hours": "小时",
    "months": "个月",
    "currency": "金额",
    "count": "个数",
    "deals": "笔商机",
    "reps": "名销售",
    "per month": "每月",
    "currency per month": "金额/月",
    "index": "指数",
    # KPI names (registry names -> labels)
    "win_rate": "赢单率",
    "win_rate_shrunk": "赢单率（收缩估计）",
    "lead_conversion_rate": "线索转化率",
    "lead_conversion_rate_shrunk": "线索转化率（收缩估计）",
    "sales_cycle_median_days": "销售周期中位数（天）",
    "sales_cycle_won_mean_days": "赢单平均周期（天，有偏）",
    "won_revenue": "赢单收入",
    "avg_won_deal_size": "平均赢单金额",
    "new_customers": "新客户数",
    "alerts": "警报数",
    "seasonality_strength": "季节性强度",
    "csat_satisfied_share": "满意客户占比",
    "nps": "净推荐值（NPS）",
    "deals_won": "赢单数",
    "deals_lost": "输单数",
    "deals_open": "进行中商机数",
    "lead_to_win_rate": "线索到赢单转化率",
    "retention_month_3": "第 3 个月留存率",
    "retention_month_12": "第 12 个月留存率",
    "cost_of_sales_ratio": "销售成本率",
    "customers": "位客户",
    "score": "分",
    "currency per customer": "金额/客户",
    "KPI units": "指标单位",
    "sales_velocity_per_month": "销售速度（每月）",
    "sales_velocity": "销售速度",
    "stage_conversion": "阶段转化率",
    "cumulative_conversion": "累计转化率",
    "cac": "获客成本（CAC）",
    "cac_blended": "综合获客成本",
    "clv_simple": "客户终身价值（简单法）",
    "clv_predictive_mean": "客户终身价值（预测均值）",
    "ltv_cac_ratio": "LTV:CAC 比值",
    "cac_payback_months": "CAC 回收期（月）",
    "repeat_purchase_rate": "复购率",
    "cost_of_sales": "销售成本",
    "seasonal_index": "季节指数",
    "forecast_next_12m_total": "未来 12 个月预测总额",
    "forecast_backtest_mase": "预测回测 MASE",
    "pipeline_expected_next_quarter": "下季度管道预期金额",
    "first_response_median_hours": "首次响应时间中位数（小时）",
    "reps_flagged": "被标记的销售代表数",
    "rows_opportunities": "商机行数",
    "rows_leads": "线索行数",
    "rows_orders": "订单行数",
    "bookings": "签约额",
    "open_pipeline": "在途管道",
    "average_deal_size": "平均成交金额",
    "csat_mean": "客户满意度均值",
    "quota_attainment": "配额完成率",
    # tables
    "opportunities": "商机",
    "stage_history": "阶段历史",
    "leads": "线索",
    "orders": "订单",
    "marketing_spend": "营销支出",
    "activities": "销售活动",
    "csat": "客户满意度",
    "quotas": "销售配额",
    # chart labels (plots/*.py wrap their label strings in t())
    "Win rate": "赢单率",
    "Conversion": "转化率",
    "Conversion rate": "转化率",
    "Stage": "阶段",
    "Stage conversion": "阶段转化率",
    "Deals": "商机数",
    "Deals reaching stage": "进入该阶段的商机数",
    "Lead source": "线索来源",
    "Channel": "渠道",
    "Month": "月份",
    "Bookings": "签约额",
    "Amount": "金额",
    "Revenue": "收入",
    "Forecast": "预测",
    "Actual": "实际",
    "Trend": "趋势",
    "Seasonal index": "季节指数",
    "Seasonality": "季节性",
    "Residual": "残差",
    "Days": "天数",
    "Days since created": "创建后天数",
    "Share still open": "仍未关闭的比例",
    "Share won": "赢单比例",
    "Cumulative incidence": "累积发生率",
    "Won": "赢单",
    "Lost": "输单",
    "Open": "进行中",
    "Rep": "销售代表",
    "Owner": "负责人",
    "Team": "团队",
    "Team average": "团队平均",
    "Funnel limits": "漏斗图控制限",
    "Number of deals": "商机数量",
    "Number of leads": "线索数量",
    "First response (hours)": "首次响应（小时）",
    "CAC": "获客成本",
    "LTV:CAC": "LTV:CAC",
    "Customers": "客户数",
    "Cohort": "同期群",
    "Months since acquisition": "获客后月数",
    "Retention": "留存率",
    "Spend": "支出",
    "Payback (months)": "回收期（月）",
    "Expected value": "期望价值",
    "Predicted": "预测值",
    "Observed": "观测值",
    "CSAT": "客户满意度",
    "Score": "得分",
    "Date": "日期",
    "Week": "周",
    "Quarter": "季度",
    "Year": "年",
    "Probability": "概率",
    "Expected": "期望",
    "Control limits": "控制限",
    "Alert": "警报",
    # notebook section titles (headings of the report pages)
    "Load": "加载数据",
    "Cost metrics: CAC, CLV, LTV:CAC and payback by channel": "成本指标：各渠道的 CAC、CLV、LTV:CAC 与回收期",
    "Kpi monitoring": "指标监控",
    "What was loaded?": "加载了哪些数据？",
    "What was rejected or flagged, and why?": "哪些行被拒绝或标记，原因是什么？",
    "What do the quarantined rows look like?": "被隔离的行是什么样的？",
    "Does every table cover the period?": "每张表都覆盖了分析期间吗？",
    "How did the loader read ambiguous values?": "加载器如何解读有歧义的值？",
    "Where do deals leak?": "商机在哪里流失？",
    'Does the answer depend on how "reached" is counted?': "结论是否取决于“到达”的计算方式？",
    "What is the win rate — by which definition?": "赢单率是多少——按哪种定义？",
    "How many leads does a won deal take?": "赢得一单需要多少线索？",
    "Which segments leak more than chance explains?": "哪些细分的流失超出了随机波动？",
    "Do the CRM's stage probabilities match reality?": "CRM 的阶段概率与实际相符吗？",
    "How long do deals sit in each stage, and which are stalled?": "商机在各阶段停留多久，哪些停滞了？",
    "How long does a deal take to win?": "赢得一单需要多长时间？",
    "Does the cycle differ by segment?": "销售周期在各细分之间有差异吗？",
    "How fast does the pipeline turn into revenue?": "管道转化为收入的速度有多快？",
    "Do customers come back?": "客户会回购吗？",
    "What is a customer worth by the simple formula?": "按简单公式，一位客户值多少？",
    "Can we trust a predictive CLV?": "预测型 CLV 可信吗？",
    "What does a new customer cost?": "获取一位新客户要花多少？",
    "Which channels pay back?": "哪些渠道能收回成本？",
    "If retention were contractual: how long do customers stay?": "如果是合约式留存：客户会留多久？",
    "How does each rep do, next to their team and the company?": "每位销售代表与其团队和公司相比表现如何？",
    "Which reps genuinely differ from the rest?": "哪些销售代表确实与其他人不同？",
    "What behaviour goes with the differences?": "这些差异伴随着哪些行为？",
    "Where in the funnel does each rep lose deals?": "每位销售代表在漏斗的哪个环节丢单？",
    "What happened this period?": "本期发生了什么？",
    "Which changes are real?": "哪些变化是真实的？",
    "Are we on target?": "是否达成目标？",
    "What moved outside its normal range?": "哪些指标超出了正常范围？",
    "How satisfied are customers?": "客户满意度如何？",
    "What will the next 12 months bring?": "未来 12 个月会怎样？",
    "When is the peak, and how big is it?": "高峰在何时，幅度多大？",
    # chart titles and axis labels used by salesops_kit/plots/*.py (exact strings)
    "Rows per period, each table scaled to its busiest period (white = no rows)": "各表每期行数（按各表最繁忙时期缩放；白色 = 无数据）",
    "rows (red: quarantined, orange: kept and flagged)": "行数（红色：已隔离；橙色：保留但已标记）",
    "Audit checks that found rows": "发现问题行的审计检查",
    "Coverage: no dated rows": "覆盖情况：没有带日期的行",
    "Audit: no rows quarantined or flagged": "审计：没有被隔离或标记的行",
    "share of cohort ordering": "同期群下单比例",
    "months since acquisition month": "获客月之后的月数",
    "acquisition cohort": "获客同期群",
    "Cohort retention": "同期群留存",
    "LTV = CAC (break-even)": "LTV = CAC（盈亏平衡）",
    "LTV = 3 × CAC": "LTV = 3 × CAC",
    "CAC per new customer": "每位新客户的获客成本",
    "LTV per new customer (95% CI)": "每位新客户的 LTV（95% 置信区间）",
    "CAC vs LTV by acquisition channel": "各获客渠道的 CAC 与 LTV",
    "CAC over time by channel": "各渠道获客成本随时间变化",
    "trailing 3-month CAC": "近 3 个月获客成本",
    "blended": "综合",
    "actual": "实际",
    "BG/NBD prediction": "BG/NBD 预测",
    "repeat purchases in the calibration period": "校准期内的复购次数",
    "mean purchases in the holdout period": "验证期内的平均购买次数",
    "Holdout check: predicted vs actual": "验证期检验：预测与实际",
    "P(alive)": "存活概率 P(alive)",
    "P(alive) for customers of age": "客户存活概率 P(alive)，客户年龄",
    "recency (time of the last purchase since the first)": "最近购买（末次购买距首次购买的时间）",
    "repeat purchases (frequency)": "复购次数（频率）",
    "sBG projection": "sBG 预测",
    "period": "期",
    "customers surviving": "留存客户数",
    "Retention: sBG survival projection": "留存：sBG 生存预测",
    "Cohort retention (no complete months)": "同期群留存（没有完整月份）",
    "CAC vs LTV (nothing to compare)": "CAC 与 LTV（无可比较数据）",
    "CAC over time (no data)": "获客成本随时间变化（无数据）",
    "Holdout calibration (no customers)": "验证期校准（无客户）",
    "Survival (no data)": "生存（无数据）",
    "observed": "观测值",
    "end of fitted periods": "拟合期结束",
    "deals that reached the stage": "进入该阶段的商机数",
    "Stage funnel": "阶段漏斗",
    "labels": "标签",
    "stage-to-stage": "逐阶段",
    "cumulative": "累计",
    "conversion": "转化率",
    "conversion − rest (pp)": "转化率 − 其余（百分点）",
    "Conversion vs the rest by segment (* = BH q < alpha)": "各细分与其余的转化率对比（* = BH q < alpha）",
    "days since the deal was created": "商机创建后的天数",
    "share of deals won by then": "截至当时的赢单比例",
    "Cumulative incidence of winning (open deals censored, lost deals competing)": "赢单累积发生率（进行中商机删失，输单为竞争事件）",
    "stated probability (CRM)": "CRM 填报概率",
    "realised win rate of closed deals that reached the stage": "进入该阶段且已关闭商机的实际赢单率",
    "Stage-probability calibration": "阶段概率校准",
    "Stage funnel (no deals)": "阶段漏斗（无商机）",
    "Conversion by segment (no cells)": "各细分转化率（无数据）",
    "Cumulative incidence of winning (no deals)": "赢单累积发生率（无商机）",
    "not judged (partial / low volume)": "未判定（不完整 / 样本量低）",
    "alert": "警报",
    "centre (trailing baseline)": "中心线（滚动基线）",
    "EWMA": "EWMA",
    "control limits": "控制限",
    "no data for": "无数据：",
    "no monitored KPI for": "没有受监控的指标：",
    "no KPI to show": "没有可显示的指标",
    "Scorecard": "计分卡",
    "shrunk 95% interval": "收缩后 95% 区间",
    "shrunk rate": "收缩后比率",
    "raw rate": "原始比率",
    "company": "公司整体",
    "(* = not enough data, not ranked)": "（* = 数据不足，不参与排名）",
    "Rep leaderboard": "销售代表排行榜",
    "shrunk towards the company": "向公司整体收缩",
    "95% limits": "95% 控制限",
    "99.8% limits": "99.8% 控制限",
    "trials (log scale)": "试验次数（对数刻度）",
    "all reps": "全部销售代表",
    "lead conversion": "线索转化率",
    "win rate (raw, 95% CI)": "赢单率（原始，95% 置信区间）",
    "win rate": "赢单率",
    "lead source": "线索来源",
    "owner": "负责人",
    "team": "团队",
    "region": "区域",
    "product": "产品",
    "channel": "渠道",
    "Backtest (series too short)": "回测（序列太短）",
    "Bookings expected from the open pipeline": "在途管道的预期签约额",
    "CRM weighted pipeline": "CRM 加权管道",
    "Forecast with intervals": "带区间的预测",
    "Observed, trend and detrended ratio": "观测值、趋势与去趋势比率",
    "P10-P90": "P10–P90",
    "Pipeline forecast (no open deals)": "管道预测（没有进行中的商机）",
    "STL decomposition (not enough history)": "STL 分解（历史数据不足）",
    "Seasonal index (not enough history)": "季节指数（历史数据不足）",
    "Seasonal subseries (line = years in order, red = mean)": "季节子序列（线 = 各年份依次，红色 = 均值）",
    "Seasonal subseries (no data)": "季节子序列（无数据）",
    "expected (learnt win rates)": "期望值（学习到的赢单率）",
    "history": "历史",
    "horizon (periods ahead)": "预测步长（向前期数）",
    "index (1 = trend)": "指数（1 = 趋势）",
    "trend (STL)": "趋势（STL）",
    "value / trend": "数值 / 趋势",
    "interval": "区间",
    "forecast": "预测",
    "Backtest": "回测",
    "by horizon": "按预测步长",
    "Seasonal index per quarter with 95% interval": "各季度季节指数（含 95% 区间）",
    "Seasonal index per month with 95% interval": "各月季节指数（含 95% 区间）",
    # findings sentence templates
    "vs": "对比",
    "No findings": "暂无发现",
    "Findings": "主要发现",
    "Caveats": "注意事项",
}


# Templates for labels with a variable part (stage names, segments): English pattern -> Chinese format.
ZH_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^(.+) → (.+) conversion$"), "{0} → {1} 转化率"),
    (re.compile(r"^weakest step (.+) → (.+)$"), "最薄弱环节 {0} → {1}"),
    (re.compile(r"^(.+) conversion$"), "{0} 转化率"),
    (re.compile(r"^(.+) by (lead source|owner|team|region|product|channel|segment)$"), "按{1}的{0}"),
    (re.compile(r"^(.+) \(vs last period\)$"), "{0}（环比上期）"),
    (re.compile(r"^(.+) \(vs a year earlier\)$"), "{0}（同比去年）"),
    (re.compile(r"^(.+) vs target$"), "{0}（对比目标）"),
)


def t(text: str, lang: str | None = None) -> str:
    """Translate a label into the report language (unknown text is returned unchanged).

    Matching is exact first, then case-insensitive, then the templates of :data:`ZH_PATTERNS` (whose
    variable parts are translated when the table knows them). When the result contains Chinese characters and
    matplotlib is already imported, the first call also makes sure charts can draw them
    (:func:`use_cjk_font`).
    """
    if not isinstance(text, str) or _norm_lang(lang) == "en":
        return text
    out = ZH.get(text)
    if out is None:
        out = _ZH_LOWER.get(text.lower())
    if out is None:
        out = _from_patterns(text)
    if out is not text and "matplotlib" in sys.modules:
        use_cjk_font()
    return out


def tr(template: str, /, lang: str | None = None, **values) -> str:
    """Format a findings sentence in the report language.

    ``template`` is the English ``str.format`` template with named placeholders (``"channel {channel}"``);
    in Chinese its entry of :data:`salesops_kit.i18n._findings.ZH_TEMPLATES` is formatted with the same
    ``values``, in English (or for a template the table does not know) the English one, so English output
    is exactly what the template says. Data values are passed as ``values``, never baked into a template;
    nothing is escaped here (findings are escaped when rendered).
    """
    if _norm_lang(lang) == "zh":
        zh = ZH_TEMPLATES.get(template)
        if zh is not None:
            return zh.format(**values)
    return template.format(**values)


def kpi_definition(name: str, lang: str | None = None, *, default: str | None = None) -> str:
    """The definition of a KPI (registry name or a member of a family such as
    ``stage_conversion_Proposal_to_Negotiation``) in the report language; the registry's English
    definition when no translation exists. A name the registry does not know raises ``KeyError``,
    or returns ``default`` when one is given."""
    from ..kpis import lookup

    try:
        d = lookup(name)
    except KeyError:
        if default is None:
            raise
        return default
    if _norm_lang(lang) == "zh":
        from ._kpis import ZH_DEFINITIONS

        return ZH_DEFINITIONS.get(d.name, d.definition)
    return d.definition


def _from_patterns(text: str) -> str:
    for pat, fmt in ZH_PATTERNS:
        m = pat.match(text)
        if m:
            return fmt.format(*(ZH.get(g, _ZH_LOWER.get(g.lower(), g)) for g in m.groups()))
    return text


for _k, _v in ZH_LABELS.items():  # findings labels (i18n_findings.py); the main table wins on a clash
    ZH.setdefault(_k, _v)

# Case-insensitive fallback; where keys differ only by case ("Days" label, "days" unit) the lowercase key wins.
_ZH_LOWER = {k.lower(): v for k, v in sorted(ZH.items(), key=lambda kv: kv[0] == kv[0].lower())}

# KPI families: registry names with a variable part, e.g. stage_conversion_Proposal_to_Negotiation.
_FAMILIES = (
    (re.compile(r"^stage_conversion_(.+)_to_(.+)$"), "stage_conversion", "{0} → {1}"),
    (re.compile(r"^cumulative_conversion_(.+)_to_(.+)$"), "cumulative_conversion", "{0} → {1}"),
    (re.compile(r"^seasonal_index_(q[1-4]|m\d{1,2})$"), "seasonal_index", "{0}"),
    (re.compile(r"^(.+)_change_pop$"), "change_pop", "{0}"),
    (re.compile(r"^(.+)_change_yoy$"), "change_yoy", "{0}"),
    (re.compile(r"^(.+)_attainment$"), "attainment", "{0}"),
    (re.compile(r"^rows_quarantined_(.+)$"), "rows_quarantined", "{0}"),
    (re.compile(r"^rows_(.+)$"), "rows", "{0}"),
    (re.compile(r"^date_min_(.+)$"), "date_min", "{0}"),
    (re.compile(r"^date_max_(.+)$"), "date_max", "{0}"),
)
_FAMILY_EN = {"change_pop": "{0} change vs previous period", "change_yoy": "{0} change vs a year earlier",
              "attainment": "{0} attainment"}
_FAMILY_ZH = {"change_pop": "{0} 环比变化", "change_yoy": "{0} 同比变化", "attainment": "{0} 目标达成率",
              "rows": "{0} 行数", "rows_quarantined": "{0} 隔离行数", "date_min": "{0} 最早日期",
              "date_max": "{0} 最晚日期"}


def kpi_label(name: str, lang: str | None = None) -> str:
    """A readable label for a KPI registry name: ``win_rate`` → ``win rate`` / ``赢单率``;
    families keep their variable part (``stage_conversion_Proposal_to_Negotiation`` →
    ``stage conversion Proposal → Negotiation``)."""
    lang = _norm_lang(lang)
    if lang == "zh" and name in ZH:
        return ZH[name]
    for pat, family, fmt in _FAMILIES:
        m = pat.match(name)
        if not m:
            continue
        if family in _FAMILY_EN:  # the variable part is itself a KPI name
            parts = [kpi_label(g, lang) for g in m.groups()]
            return (_FAMILY_ZH if lang == "zh" else _FAMILY_EN)[family].format(*parts)
        parts = [t(g, lang) for g in m.groups()]
        if lang == "zh" and family in _FAMILY_ZH:
            return _FAMILY_ZH[family].format(*parts)
        if lang == "zh" and family in ZH:
            return f"{ZH[family]} {fmt.format(*parts)}"
        return f"{family.replace('_', ' ')} {fmt.format(*parts)}"
    return name.replace("_", " ")


def unit_label(unit: str, lang: str | None = None) -> str:
    """The unit in the report language (``days`` → ``天``)."""
    return t(unit, lang) if unit else ""


# --- CJK fonts for matplotlib -------------------------------------------------------------------------
_FONT_STATE: dict[str, object] = {}


def use_cjk_font(*, warn: bool = True) -> str | None:
    """Put an installed CJK font first in matplotlib's sans-serif list; return its name.

    Looks for Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei, Microsoft YaHei, PingFang ... in
    matplotlib's font manager. When none is installed, warns once (:class:`CJKFontWarning`) naming the
    package to install, and returns None; charts then still draw, with boxes for Chinese characters.
    The lookup runs once per process.
    """
    if "font" in _FONT_STATE:
        return _FONT_STATE["font"]  # type: ignore[return-value]
    import matplotlib
    from matplotlib import font_manager

    found = _find_cjk(font_manager)
    if found is None:  # a font installed after matplotlib built its cache: register the system's CJK files
        for path in _system_cjk_font_files(font_manager):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
        found = _find_cjk(font_manager)
    _FONT_STATE["font"] = found
    if found:
        fam = list(matplotlib.rcParams["font.sans-serif"])
        matplotlib.rcParams["font.sans-serif"] = [found] + [f for f in fam if f != found]
        fam = list(matplotlib.rcParams["font.family"])
        if "sans-serif" not in fam:
            matplotlib.rcParams["font.family"] = ["sans-serif"] + fam
        matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    elif warn:
        warnings.warn(
            "No font with Chinese characters is installed, so Chinese chart labels would be drawn as empty "
            "boxes. Install one and re-run: on Debian/Ubuntu `sudo apt-get install fonts-noto-cjk` (or the "
            "smaller fonts-wqy-microhei), with conda `conda install -c conda-forge font-ttf-noto-cjk`, on "
            "Windows/macOS Microsoft YaHei / PingFang are built in. Then delete matplotlib's font cache "
            "(matplotlib.get_cachedir()) if the new font is not found.",
            CJKFontWarning,
            stacklevel=2,
        )
    return found


def _system_cjk_font_files(font_manager) -> list[str]:
    """Font files on the system whose names say they cover CJK (matplotlib's cache may predate them)."""
    pat = re.compile(r"wqy|noto\S*cjk|sourcehan|simhei|msyh|pingfang", re.I)
    return [p for p in sorted(font_manager.findSystemFonts()) if pat.search(p)]


def _find_cjk(font_manager) -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in CJK_FONT_NAMES if n in installed), None)
    if found is None:  # any other font whose name says it covers CJK
        found = next((n for n in sorted(installed) if re.search(r"CJK|Han Sans|WenQuanYi|YaHei|Hei\b", n)), None)
    return found


def _reset_font_state() -> None:
    """Forget the font lookup (tests)."""
    _FONT_STATE.clear()
