"""Chinese text of the findings: sentence templates for :func:`salesops_kit.i18n.tr` and extra labels.

``ZH_TEMPLATES`` maps an English ``str.format`` template, exactly as the topic modules pass it to ``tr``,
to its Chinese template with the same named placeholders (tests/i18n/test_i18n_findings.py walks the kit's
source and requires an entry for every literal template). Data values (rep, channel, stage names ...)
are placeholders, never part of a template. ``ZH_LABELS`` adds labels that reach the findings through
:func:`salesops_kit.i18n.t` (metric names, audit checks, test names, roles, months, empty-list messages);
``i18n`` merges it into its ``ZH`` table.
"""

from __future__ import annotations

__all__ = ["ZH_TEMPLATES", "ZH_LABELS"]

ZH_TEMPLATES: dict[str, str] = {
    # --- costs.UnitEconomics.findings ----------------------------------------------------------------
    "channel {channel}": "渠道 {channel}",
    "1.00 (break-even)": "1.00（盈亏平衡）",
    "3.00 (common target)": "3.00（常用目标值）",
    "95% CI {low:.2f}-{high:.2f}": "95% 置信区间 {low:.2f}–{high:.2f}",
    "CAC {cac:,.2f} vs LTV {ltv:,.2f} over {months} months, {n} new customers":
        "CAC {cac:,.2f}，{months} 个月 LTV {ltv:,.2f}，新客户 {n} 位",
    "this channel loses money on every customer it acquires: cut or renegotiate its spend":
        "该渠道每获取一位客户都在亏损：削减投放或重新谈判费用",
    "payback {months:.1f} months": "回本周期 {months:.1f} 个月",
    "room to scale spend here while watching marginal CAC": "可加大该渠道的投放，同时关注边际 CAC",
    "{months:.1f} months": "{months:.1f} 个月",
    "{months:.1f} months blended": "综合 {months:.1f} 个月",
    "CAC {cac:,.2f}, margin {margin:,.2f} per new customer per month in the first 12 months":
        "CAC {cac:,.2f}；前 12 个月每位新客户每月毛利 {margin:,.2f}",
    "fastest to pay back: first candidate for extra budget": "回本最快：追加预算的首选渠道",
    # --- drivers.coaching_findings and its evidence ---------------------------------------------------
    "rest of the company {rate}": "公司其他人 {rate}",
    "{successes}/{trials}; shrunk {shrunk}, 95% interval {low}-{high}":
        "{successes}/{trials}；收缩估计 {shrunk}，95% 区间 {low}–{high}",
    "ranked {rank} of {n} on the shrunk rate; above the rest of the company after false-discovery control":
        "按收缩后比率在 {n} 人中排名第 {rank}；经错误发现率控制后仍高于公司其他人",
    "above the rest of the company after false-discovery control": "经错误发现率控制后仍高于公司其他人",
    "recognise it and ask {rep} to walk the team through how they work their deals":
        "予以认可，并请 {rep} 向团队分享其推进商机的做法",
    "all reps": "全部销售代表",
    "{rate} when answered within 1 h": "1 小时内响应时为 {rate}",
    "{rate} after 24 h": "超过 24 小时响应时为 {rate}",
    "95% CI {fast_low}-{fast_high} vs {slow_low}-{slow_high}":
        "95% 置信区间 {fast_low}–{fast_high}，对比 {slow_low}–{slow_high}",
    "{fast} and {slow} leads; an association across the company, not proof that answering faster causes conversion":
        "线索分别为 {fast} 条和 {slow} 条；这是全公司范围内的相关性，并不能证明更快响应会带来转化",
    "keep a same-day response standard for new leads and watch the share answered after 24 h each month":
        "对新线索坚持当天响应的标准，并每月关注超过 24 小时才响应的线索占比",
    "reps with too little data": "数据不足的销售代表",
    "{n} rep under {min_n} trials on at least one metric": "{n} 名销售代表至少有一项指标的样本少于 {min_n} 个",
    "{n} reps under {min_n} trials on at least one metric": "{n} 名销售代表至少有一项指标的样本少于 {min_n} 个",
    "not ranked or tested there: {reps}": "这些指标上未参与排名和检验：{reps}",
    "do not rank or coach on those metrics yet; re-check when they have more closed deals and leads":
        "暂不在这些指标上排名或辅导；待其已关闭商机和线索增多后再复查",
    "No rep differs from the rest of the company at q < {alpha:g} on any metric.":
        "在 q < {alpha:g} 的水平下，没有销售代表在任何指标上与公司其他人存在显著差异。",
    "agree a same-day response target for new leads and review conversion in 30 days":
        "与其约定新线索当天响应的目标，30 天后复查转化率",
    "agree a 4-hour response target for new leads and review conversion in 30 days":
        "与其约定新线索 4 小时内响应的目标，30 天后复查转化率",
    "median first response {median} vs {company} company-wide; {late} of leads answered after 24 h or never vs "
    "{late_rest} for the rest ({q}); at the company's conversion per response band this mix predicts "
    "{expected}, {share} of the gap (an association, not proof of cause)":
        "首次响应时间中位数 {median}，全公司为 {company}；{late} 的线索超过 24 小时才响应或从未响应，其他人为 "
        "{late_rest}（{q}）；按全公司各响应时段的转化率，这一响应结构预计转化率为 {expected}，可解释差距的 "
        "{share}（相关性，并非因果证明）",
    "{per_lead:.1f} logged activities per lead vs {per_lead_rest:.1f} for the rest; this mix predicts {expected}, "
    "{share} of the gap (an association, not proof of cause)":
        "每条线索记录的活动 {per_lead:.1f} 次，其他人为 {per_lead_rest:.1f} 次；这一活动结构预计转化率为 "
        "{expected}，可解释差距的 {share}（相关性，并非因果证明）",
    "agree a follow-up cadence for new leads and review conversion in 30 days":
        "与其约定新线索的跟进节奏，30 天后复查转化率",
    "median first response {median} vs {company} company-wide; neither response time nor logged activity "
    "accounts for the gap":
        "首次响应时间中位数 {median}，全公司为 {company}；响应时间和记录的活动量都无法解释这一差距",
    "review a sample of recent unconverted leads with the rep to find the cause; re-check in 30 days":
        "与该销售代表一起抽查近期未转化的线索，找出原因；30 天后复查",
    "{per_deal:.1f} activities per deal vs {per_deal_company:.1f} company-wide":
        "每笔商机活动 {per_deal:.1f} 次，全公司为 {per_deal_company:.1f} 次",
    "activity data not available": "无活动数据",
    "review lost deals and the open pipeline with the rep in deal reviews; re-check in 30 days":
        "在商机评审中与该销售代表复盘输单和在途管道；30 天后复查",
    "CSAT mean {mean:.2f} vs {company:.2f} company-wide": "客户满意度均值 {mean:.2f}，全公司为 {company:.2f}",
    "read the low-score answers with the rep and check them against recent months; re-check in 30 days":
        "与该销售代表一起阅读低分反馈，并与近几个月对比；30 天后复查",
    "review with the rep; re-check in 30 days": "与该销售代表一起复盘；30 天后复查",
    # --- forecast.findings -------------------------------------------------------------------------
    "seasonality strength {strength:.2f}, Kruskal-Wallis p = {p:.2g}, {years} years of data":
        "季节性强度 {strength:.2f}，Kruskal-Wallis 检验 p = {p:.2g}，{years} 年数据",
    "Ramp marketing and capacity from {ramp} ({lead} months before {peak} starts in {start}); plan {peak} at "
    "about {index} over trend":
        "从{ramp}起加大营销投入、扩充产能（{peak} 始于{start}，提前 {lead} 个月）；{peak} 按较趋势约 {index} 规划",
    "The {peak} peak is not established (interval includes 1): do not plan a ramp on it yet":
        "{peak} 的高峰尚未确立（区间包含 1）：暂不要据此提前加大投入",
    "{index} vs trend": "较趋势 {index}",
    "{level} interval {low} to {high}": "{level} 区间 {low} 至 {high}",
    "Expect a dip in {month}: set targets and cash planning for it": "预计{month}会出现低谷：据此设定目标并安排资金计划",
    "{month} is the weakest month, but its interval includes the trend: treat the dip as likely, not certain":
        "{month}是最弱的月份，但其区间包含趋势值：低谷可能出现，但并不确定",
    "trend": "趋势",
    "{level} interval {low:+.1%} to {high:+.1%}": "{level} 区间 {low:+.1%} 至 {high:+.1%}",
    "quasi-Poisson trend with month effects, HAC interval": "含月份效应的拟泊松趋势模型，HAC 稳健区间",
    "{first:%Y-%m} to {last:%Y-%m}": "{first:%Y-%m} 至 {last:%Y-%m}",
    "80% interval {low:,.0f} to {high:,.0f}{currency} (sum of monthly bounds)":
        "80% 区间 {low:,.0f} 至 {high:,.0f}{currency}（各月区间上下限之和）",
    "method {method}: {reason}": "方法 {method}：{reason}",
    "Use the mean for the plan and the lower bound for committed spend": "用均值做计划，用下限确定承诺性支出",
    "{gain:.0%} lower MASE than seasonal naive ({n} rolling origins)":
        "MASE 比季节性朴素法低 {gain:.0%}（{n} 个滚动起点）",
    "Forecast with {method}; keep seasonal naive as the sanity check": "使用 {method} 进行预测；保留季节性朴素法作为合理性检验",
    "next best {method} MASE {mase:.2f} ({n} rolling origins)": "次优方法 {method} 的 MASE 为 {mase:.2f}（{n} 个滚动起点）",
    "{n} rolling origins": "{n} 个滚动起点",
    "No model beats last year's same month on this history: plan from seasonal naive and revisit when more "
    "years are available":
        "在现有历史数据上，没有模型优于去年同月：先按季节性朴素法做计划，待有更多年份的数据后再评估",
    "{evidence}; sMAPE {smape:.1f}%": "{evidence}；sMAPE {smape:.1f}%",
    "seasonal naive {mase:.2f}": "季节性朴素法 {mase:.2f}",
    "in {covered} of {n} past quarters the booked amount fell inside P10-P90":
        "过去 {n} 个季度中有 {covered} 个季度的实际签约额落在 P10–P90 区间内",
    "CRM weighted pipeline {amount:,.0f}{currency}": "CRM 加权管道 {amount:,.0f}{currency}",
    "P10 {p10:,.0f} to P90 {p90:,.0f}{currency}": "P10 {p10:,.0f} 至 P90 {p90:,.0f}{currency}",
    "Close the gap between this and the top-down forecast with new pipeline": "用新增管道弥补该预期与自上而下预测之间的差距",
    # --- funnel_metrics.funnel_findings ------------------------------------------------------------
    "{column} = {segment}": "{column} = {segment}",
    "{rate} for the other deals": "其他商机为 {rate}",
    "95% CI {low}–{high}": "95% 置信区间 {low}–{high}",
    "{advanced} of {decided} decided deals advanced; difference {diff:+.1f} pp (95% CI {diff_low:+.1f} to "
    "{diff_high:+.1f}), {test} test, BH across {cells} cells":
        "{decided} 笔已有结果的商机中 {advanced} 笔进入下一阶段；差异 {diff:+.1f} 个百分点（95% 置信区间 "
        "{diff_low:+.1f} 至 {diff_high:+.1f}），{test}检验，对 {cells} 个单元格做 BH 校正",
    "review how {segment} deals are handled at {stage} (fit, offer, hand-off) before adding more of them to "
    "the pipeline":
        "在向管道加入更多 {segment} 商机之前，先检查它们在 {stage} 阶段的处理方式（匹配度、报价、交接）",
    "all segments": "所有细分",
    "no segment significantly below": "没有显著偏低的细分",
    "{cells} transition × segment cells tested": "共检验 {cells} 个“阶段转换 × 细分”单元格",
    "treat segment differences in this funnel as noise; do not reallocate on them":
        "将该漏斗中的细分差异视为随机波动；不要据此重新分配资源",
    "stage funnel": "阶段漏斗",
    "{rate} median of the other steps": "其他环节的中位数 {rate}",
    "{advanced} of {decided} decided deals advanced; {open} still open there are not counted as failures; "
    "closed win rate {win}":
        "{decided} 笔已有结果的商机中 {advanced} 笔进入下一阶段；仍停留在该阶段的 {open} 笔进行中商机不计为失败；"
        "已关闭商机的赢单率 {win}",
    "put pipeline reviews and coaching on the {stage} stage first": "优先在 {stage} 阶段开展管道评审和辅导",
    "sales cycle": "销售周期",
    "{days:.0f} days": "{days:.0f} 天",
    "{days:.0f} days naive won-only mean (biased)": "仅按赢单计算的简单平均 {days:.0f} 天（有偏）",
    "95% CI {low:.0f}–{high:.0f} days": "95% 置信区间 {low:.0f}–{high:.0f} 天",
    "{open} open deals censored at {as_of}, {lost} lost deals competing; eventual win probability {p}":
        "{open} 笔进行中商机在 {as_of} 删失，{lost} 笔输单作为竞争事件；最终赢单概率 {p}",
    "plan pipeline coverage and forecasts on {days:.0f} days to win": "按 {days:.0f} 天的赢单周期规划管道覆盖和预测",
    "plan pipeline coverage and forecasts on {days:.0f} days to win; the CRM's won-only average understates it":
        "按 {days:.0f} 天的赢单周期规划管道覆盖和预测；CRM 只按赢单计算的平均值低估了周期",
    "plan pipeline coverage and forecasts on {days:.0f} days to win; the CRM's won-only average overstates it":
        "按 {days:.0f} 天的赢单周期规划管道覆盖和预测；CRM 只按赢单计算的平均值高估了周期",
    "stage {stage}": "阶段 {stage}",
    "{p:.0%} stated": "填报 {p:.0%}",
    "{rate} realised among {closed} closed deals": "{closed} 笔已关闭商机的实际值 {rate}",
    "Brier score {stated:.3f} with stated vs {empirical:.3f} with realised stage probabilities":
        "Brier 分数：按填报概率为 {stated:.3f}，按实际阶段概率为 {empirical:.3f}",
    "set the {stage} probability to about {p:.0%} in the CRM": "在 CRM 中把 {stage} 阶段的概率调整为约 {p:.0%}",
    "leads": "线索",
    "lead → opportunity {to_opportunity}, opportunity → won {to_win}":
        "线索 → 商机 {to_opportunity}，商机 → 赢单 {to_win}",
    "{leads:,} leads at least {days} days old": "{leads:,} 条创建至少 {days} 天的线索",
    "about {n:.0f} leads are needed per won deal": "每赢一单约需 {n:.0f} 条线索",
    # --- monitor.alert_findings / review_findings and their helpers ------------------------------
    "{value} in {period}": "{period} 为 {value}",
    "expected {low}–{high} (3-sigma {chart} range)": "预期 {low}–{high}（{chart} 3σ 范围）",
    "{n} period(s) below the control limits of the trailing baseline (centre {centre}; z = {z:.1f}, alert "
    "threshold after false-discovery control |z| ≥ {zstar:.1f})":
        "{n} 个周期低于滚动基线的控制下限（中心线 {centre}；z = {z:.1f}，经错误发现率控制后的警报阈值 "
        "|z| ≥ {zstar:.1f}）",
    "{n} period(s) above the control limits of the trailing baseline (centre {centre}; z = {z:.1f}, alert "
    "threshold after false-discovery control |z| ≥ {zstar:.1f})":
        "{n} 个周期高于滚动基线的控制上限（中心线 {centre}；z = {z:.1f}，经错误发现率控制后的警报阈值 "
        "|z| ≥ {zstar:.1f}）",
    "{who} to find the cause and act within the next period": "{who}：查明原因，并在下一周期内采取行动",
    "{who} to confirm what worked and keep it": "{who}：确认哪些做法有效，并继续保持",
    "Alerts, {n} period(s) to {label}": "截至 {label} 的 {n} 个周期内的警报",
    "No KPI moved outside its control limits in the {n} period(s) to {label}.":
        "截至 {label} 的 {n} 个周期内，没有指标超出控制限。",
    "{value} last period": "上期 {value}",
    "{value} a year earlier": "去年同期 {value}",
    "change 95% CI {low} to {high}": "变化的 95% 置信区间 {low} 至 {high}",
    "change 95% CI {low:+.1f} to {high:+.1f} pts": "变化的 95% 置信区间 {low:+.1f} 至 {high:+.1f} 个百分点",
    "{test}, p = {p:.2g}": "{test}，p = {p:.2g}",
    "{who} to explain the drop at the next review": "{who}：在下次评审时说明此次下降的原因",
    "{who} to explain the rise at the next review": "{who}：在下次评审时说明此次上升的原因",
    "target {target} ({source})": "目标 {target}（{source}）",
    "attainment {attainment:.0%} in {label}": "{label} 目标达成率 {attainment:.0%}",
    "{who} to plan the gap into next period": "{who}：把差额纳入下一周期的计划",
    "KPI review {label}": "{label} 指标评审",
    "No alert, no significant change and no missed target in {label}.": "{label} 没有警报、没有显著变化，也没有未达成的目标。",
    "head of sales": "销售负责人",
    "head of customer success": "客户成功负责人",
    "head of {function}": "{function}负责人",
    "{rep}'s {role}": "{rep} 的{role}",
    " (team {team})": "（{team} 团队）",
    "the {role} of team {team}": "{team} 团队的{role}",
    "the {role} responsible for {column} {value}": "负责{column} {value} 的{role}",
    # monitor_changes.change_sentence
    "{label}: {note}": "{label}：{note}",
    "{label} rose from {base} to {value} ({judged})": "{label}从 {base} 升至 {value}（{judged}）",
    "{label} fell from {base} to {value} ({judged})": "{label}从 {base} 降至 {value}（{judged}）",
    "{label} held from {base} to {value} ({judged})": "{label}持平：{base} 与 {value}（{judged}）",
    "within normal variation, {p}": "属于正常波动，{p}",
    # --- quality.audit_findings --------------------------------------------------------------------
    "{read:,} rows read": "共读取 {read:,} 行",
    "{check} ({rows:,})": "{check}（{rows:,}）",
    "reasons: {reasons}": "原因：{reasons}",
    "review quarantine_{table}.csv, fix at the source or in the mapping, reload":
        "检查 quarantine_{table}.csv，在源系统或映射中修正后重新加载",
    "{rows:,} rows kept and flagged": "{rows:,} 行已保留并标记",
    "{n} periods in its range": "其日期范围内共 {n} 个周期",
    "first: {months}": "最早的几个：{months}",
    "check whether the export is complete for those periods": "检查这些周期的导出数据是否完整",
    "ask the owners to update or close these deals before forecasting": "预测前请负责人更新或关闭这些商机",
    "treat these close dates as placeholders in cycle and forecast analyses": "在周期和预测分析中把这些关闭日期视为占位值",
    "check as_of, or remove the later export from the folder": "检查 as_of，或从数据文件夹中移除较晚的导出文件",
    "check whether a file was loaded twice": "检查是否有文件被重复加载",
    "review the flagged rows": "检查被标记的行",
}

ZH_LABELS: dict[str, str] = {
    # finding metrics and titles used by the notebooks (Finding.metric, Findings.title)
    "rows quarantined": "隔离行数",
    "repeated row (table without ids)": "重复行（无 ID 的表）",
    "default close date (last day of creation month)": "默认关闭日期（创建当月最后一天）",
    "open deal past close date": "已过关闭日期的进行中商机",
    "median days from created to won": "从创建到赢单的天数中位数",
    "win probability": "赢单概率",
    "lead → won": "线索 → 赢单",
    "CAC payback": "CAC 回收期",
    "CSAT share satisfied": "客户满意占比",
    "lead conversion by first-response time": "按首次响应时间的线索转化率",
    "not enough data": "数据不足",
    "Data audit findings": "数据审计发现",
    "Funnel findings": "漏斗分析发现",
    "Rep coaching findings": "销售代表辅导发现",
    "Seasonality findings": "季节性与预测发现",
    "Forecast findings": "预测发现",
    "Monitoring findings": "指标监控发现",
    "KPI monitoring findings": "指标监控发现",
    "Cost metrics findings": "成本指标发现",
    # monitoring KPI labels (monitor.KPI_SPECS)
    "deals won": "赢单数",
    "won revenue": "赢单收入",
    "average won deal size": "平均赢单金额",
    "median first response": "首次响应时间中位数",
    "new customers": "新客户数",
    "CSAT mean": "客户满意度均值",
    "NPS": "净推荐值（NPS）",
    # metric names of findings (Finding.metric is translated by t() when rendered)
    "seasonal index (weakest month)": "季节指数（最弱月份）",
    "growth per year": "年增长率",
    "forecast total": "预测总额",
    "backtest MASE": "回测 MASE",
    "bookings expected from open deals": "在途商机的预期签约额",
    "stage conversion vs the rest": "阶段转化率（与其余商机对比）",
    "periods without rows": "无数据的周期数",
    "date after as_of": "日期晚于 as_of",
    # audit checks (quarantine reasons)
    "malformed line": "格式错误的行",
    "missing required value": "缺少必填值",
    "unparseable date": "无法解析的日期",
    "unparseable number": "无法解析的数字",
    "unknown stage": "未知阶段",
    "negative amount": "负金额",
    "close before created": "关闭日期早于创建日期",
    "order without customer": "缺少客户的订单",
    "exact duplicate row": "完全重复的行",
    "conflicting duplicate id": "ID 重复且内容冲突",
    # statistical tests named in findings
    "chi-square": "卡方",
    "fisher": "Fisher 精确",
    "two-proportion chi-square": "两比例卡方检验",
    "two-proportion Fisher exact": "两比例 Fisher 精确检验",
    "two-proportion (no variation)": "两比例检验（无变异）",
    "Poisson exact (conditional binomial)": "泊松精确检验（条件二项）",
    "Poisson exact on new customers per unit of spend": "单位支出新客户数的泊松精确检验",
    "bootstrap (mean)": "自助法（均值）",
    "bootstrap (median)": "自助法（中位数）",
    "compound-Poisson z": "复合泊松 z 检验",
    "NPS z (multinomial variance)": "NPS z 检验（多项分布方差）",
    # notes of monitor.changes
    "no data for this period": "本期无数据",
    "no data for the comparison period": "对比期无数据",
    "partial period (not over at the as-of date, or leads not yet mature)": "不完整周期（截至数据日期尚未结束，或线索尚未成熟）",
    "low volume: too few observations to compare": "样本量低：观测太少，无法比较",
    "no variation in either period": "两个周期均无变异",
    # control charts, roles, target sources
    "p-chart": "p 控制图",
    "u-chart": "u 控制图",
    "compound-Poisson": "复合泊松控制图",
    "X̄-chart": "X̄ 控制图",
    "sales manager": "销售经理",
    "marketing lead": "市场负责人",
    "customer success manager": "客户成功经理",
    "marketing": "市场",
    "targets file": "目标文件",
    "quotas": "销售配额",
    "lead_source": "线索来源",
    "lead source": "线索来源",
    # month abbreviations (forecast findings)
    "Jan": "1月", "Feb": "2月", "Mar": "3月", "Apr": "4月", "May": "5月", "Jun": "6月",
    "Jul": "7月", "Aug": "8月", "Sep": "9月", "Oct": "10月", "Nov": "11月", "Dec": "12月",
    # empty-list messages and titles of Findings blocks
    "No channel stands out.": "没有表现突出的渠道。",
    "No funnel findings: too little data to say anything.": "暂无漏斗分析发现：数据太少，无法得出结论。",
    "Every row was kept, no check flagged anything and no period is empty.": "所有行均已保留，没有检查标记任何问题，也没有空缺的周期。",
    "n/a": "无",
}
