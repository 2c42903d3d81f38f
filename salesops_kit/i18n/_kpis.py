"""Chinese KPI definitions, keyed by the registry name of :mod:`salesops_kit.kpis` (families by their
family name, e.g. ``stage_conversion_{from}_to_{to}``), for :func:`salesops_kit.i18n.kpi_definition`.

Every registry entry has one (tests/i18n/test_i18n_findings.py checks it); a definition states the same
formula, window and interval as the English one in ``kpis.py`` — change both together.
"""

from __future__ import annotations

__all__ = ["ZH_DEFINITIONS"]

_TABLES = {"opportunities": "商机", "stage_history": "阶段历史", "leads": "线索", "orders": "订单",
           "marketing_spend": "营销支出", "activities": "销售活动", "csat": "客户满意度调查", "quotas": "销售配额"}
_MONTHS = ("1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月")
_W = ("窗口：从首个有营销支出的月份到数据截至日（as-of）前最后一个完整月份之间获取的客户；细分 channel=名称 "
      "指客户首笔订单的渠道。")

ZH_DEFINITIONS: dict[str, str] = {}

# --- data ---------------------------------------------------------------------------------------
for _t, _zh in _TABLES.items():
    _name = f"{_zh}表（{_t}）"
    ZH_DEFINITIONS[f"rows_{_t}"] = f"审计后保留的{_name}行数（读取行数减去隔离行数）。"
    ZH_DEFINITIONS[f"rows_quarantined_{_t}"] = f"被审计拒绝（隔离）的{_name}行数，每行都附有原因。"
    ZH_DEFINITIONS[f"date_min_{_t}"] = f"{_name}中的最早日期（按其主日期列），ISO 格式。"
    ZH_DEFINITIONS[f"date_max_{_t}"] = f"{_name}中的最晚日期（按其主日期列），ISO 格式。"

# --- funnel -------------------------------------------------------------------------------------
ZH_DEFINITIONS.update({
    "win_rate": "赢单率：已关闭商机中 赢单数 / (赢单数 + 输单数)（全部关闭期间）；不含进行中的商机；95% Wilson 区间。",
    "deals_won": "当前阶段为阶段模型中赢单阶段的商机数。",
    "deals_lost": "当前阶段为阶段模型中输单阶段的商机数。",
    "deals_open": "截至数据截至日（as-of）处于进行中阶段的商机数。",
    "won_revenue": "赢单商机的金额合计（金额为空的按 0 计）。",
    "avg_won_deal_size": "有金额的赢单商机的平均金额；95% 正态近似区间。",
    "lead_conversion_rate": "线索转化率：转化为商机的线索数 / 在数据截至日前至少 90 天创建的线索数（这些线索已有足够时间转化）；"
                            "95% Wilson 区间。",
    "lead_to_win_rate": "其商机最终赢单的线索数 / 在数据截至日前至少 90 天创建的线索数；95% Wilson 区间。",
    "stage_conversion_{from}_to_{to}": "阶段转化率：越过阶段 {from} 的商机数 / 到达该阶段且已不在该阶段进行中的商机数"
                                       "（进行中的商机不计入，也不算失败）；有阶段历史时按阶段历史计算（任意路径），否则推断；"
                                       "95% Wilson 区间。",
    "sales_cycle_median_days": "销售周期中位数：最终赢单的商机从创建到赢单的天数中位数，采用 Aalen-Johansen 赢单累积发生率，"
                               "进行中的商机在数据截至日删失，输单作为竞争事件；95% 自助法（bootstrap）区间。",
    "sales_cycle_won_mean_days": "仅按赢单商机计算的从创建到关闭的简单平均天数（即 CRM 仪表盘的常见口径）——有偏："
                                 "忽略了进行中的商机和将来较慢的赢单。",
    "sales_velocity_per_month": "销售速度：进行中商机数 × 已关闭商机赢单率 × 平均赢单金额 / 赢单周期中位数（天），"
                                "再乘以每月 30.44 天。",
})

# --- costs and CLV ------------------------------------------------------------------------------
ZH_DEFINITIONS.update({
    "new_customers": "首笔订单落在窗口内的客户数（获客渠道 = 首笔订单的渠道）。" + _W,
    "cac": "客户获取成本 CAC =（窗口内营销支出 + 销售支出）/ 窗口内新客户数；细分 all 为综合口径（全部支出）。"
           "没有新客户时为 NaN。" + _W,
    "clv_simple": "简单法客户终身价值 CLV = 平均订单金额 × 每年购买次数 × 预期生命周期（年，= 12 个月 / 流失率）× 毛利率，"
                  "基于数据截至日前最近 12 个月的订单（订单没有毛利列时毛利率取 1，即按收入计算的 CLV）。",
    "clv_predictive_mean": "新客户的平均预测客户终身价值 LTV：自首笔订单起 36 个月内的预期毛利（含首笔订单），"
                           "即截至数据截至日的实际毛利加上其余期间的 BG/NBD × Gamma-Gamma 预测，按每月 1% 折现；"
                           "按客户抽样的 95% 自助法置信区间。" + _W,
    "ltv_cac_ratio": "LTV:CAC = clv_predictive_mean / cac；按该渠道新客户抽样的 95% 自助法置信区间（支出视为已知）。"
                     "低于 1 表示该渠道每获取一位客户都在亏损。" + _W,
    "cac_payback_months": "CAC 回本周期 = CAC / 获客后前 12 个月每位新客户的月均毛利（实际 + 预测）。"
                          "毛利 <= 0 或没有新客户时为 NaN。" + _W,
    "repeat_purchase_rate": "复购率：数据截至日前 12 个月内下单 >= 2 次的客户数 / 下单 >= 1 次的客户数；Wilson 95% 置信区间。",
    "retention_month_3": "获客月同期群在获客月之后第 3 个月仍下单的客户占比，汇总所有第 3 个月在数据截至日前已完整的同期群；"
                         "Wilson 95% 置信区间。",
    "retention_month_12": "获客月同期群在获客月之后第 12 个月仍下单的客户占比，汇总所有第 12 个月在数据截至日前已完整的同期群；"
                          "Wilson 95% 置信区间。",
    "cost_of_sales_ratio": "销售成本率：窗口内销售成本（marketing_spend 中 cost_type 为 sales 的行）/ 订单收入；"
                           "按渠道时为该渠道的销售成本 / 该渠道客户的收入。" + _W,
})

# --- seasonality and forecasting ----------------------------------------------------------------
for _i, _m in enumerate(_MONTHS, 1):
    ZH_DEFINITIONS[f"seasonal_index_m{_i:02d}"] = (
        f"{_m}的季节指数：赢单金额 / STL 趋势（对数尺度），按年取几何平均，各月指数的平均值为 1；"
        "按各年比值计算 95% t 区间。1.30 表示高于趋势 30%。")
for _q in range(1, 5):
    ZH_DEFINITIONS[f"seasonal_index_q{_q}"] = (
        f"第 {_q} 季度（Q{_q}）的季节指数：该季度赢单金额 / 其 STL 趋势，在季度完整的年份上取几何平均，"
        "各季度指数的平均值为 1；按年份计算 95% t 区间。")
ZH_DEFINITIONS.update({
    "seasonality_strength": "季节性强度 = max(0, 1 - Var(残差) / Var(季节项 + 残差))，基于 STL 分解"
                            "（Wang, Smith & Hyndman 2006）：0 表示没有季节性，1 表示全部波动都来自季节性。",
    "forecast_next_12m_total": "最后一个完整月份之后 12 个月的每月赢单金额预测之和（预测方法 auto）；"
                               "区间 = 各月 80% 区间上下限之和（假设误差完全相关：偏保守）。",
    "forecast_backtest_mase": "auto 所选方法的滚动起点回测 MASE（绝对误差 / 各训练窗口内季节性朴素法的样本内 MAE）；"
                              "低于 1 表示优于样本内的季节性朴素法。",
    "pipeline_expected_next_quarter": "数据截至日仍在进行中的商机在下一个自然季度的预期赢单金额：赢单概率按阶段和商机存续天数"
                                      "从已关闭的历史商机中学习，关闭时间来自已赢单商机；区间为 2,000 次固定种子模拟的 P10–P90。",
})

# --- reps ---------------------------------------------------------------------------------------
ZH_DEFINITIONS.update({
    "win_rate_shrunk": "销售代表的赢单率（已关闭商机中 赢单数 / (赢单数 + 输单数)），用跨销售代表以最大似然拟合的"
                       "经验贝叶斯 Beta-二项先验向公司整体收缩；区间 = 95% 后验区间。",
    "lead_conversion_rate_shrunk": "销售代表的线索转化率（转化为商机的线索数 / 创建至少 90 天的线索数），用跨销售代表拟合的"
                                   "经验贝叶斯 Beta-二项先验向公司整体收缩；区间 = 95% 后验区间。",
    "first_response_median_hours": "从线索创建到销售代表首次响应的小时数中位数，基于创建至少 90 天且已响应的线索。",
    "quota_attainment": "配额完成率：在销售代表完整配额期内赢单的收入 / 这些配额之和。",
    "csat_mean": "关于该销售代表的满意度调查回答的平均 CSAT 分数（按问卷本身的量表）；区间 = 95% Student t 区间。",
    "reps_flagged": "在赢单率、线索转化率或客户满意占比上低于公司其他人的销售代表数，判定标准为 Benjamini-Hochberg "
                    "q < 0.05（双侧 Fisher 精确检验，仅含样本至少 30 个的销售代表）。",
})

# --- monitoring ---------------------------------------------------------------------------------
ZH_DEFINITIONS.update({
    "csat_satisfied_share": "满意客户占比：得分 / scale_max >= 0.8（1–5 分量表中的 4–5 分）的 CSAT 回答数 / 非 0–10 分量表的"
                            "回答数，统计截至数据截至日的全部回答；95% Wilson 区间。",
    "nps": "净推荐值 NPS，基于 0–10 分的回答（scale_max 为 10）：(推荐者 9–10 分 - 贬损者 0–6 分) / 回答数，统计截至"
           "数据截至日的全部回答（按常用的 -100..100 显示时乘以 100）；由多项分布方差得到的 95% 正态区间。",
    "{kpi}_change_pop": "受监控指标从上一个月到评审月（数据截至日时最后一个完整月份）的环比变化：以该指标的单位表示的差值"
                        "（比率在 [0, 1] 内）；变化的 95% 区间来自与指标类型相适应的检验（比率用 Newcombe，计数用精确泊松"
                        "检验，均值和中位数用自助法，合计值用复合泊松，NPS 用多项分布）。每期的定义见 salesops_kit.monitor。",
    "{kpi}_change_yoy": "受监控指标从去年同月到评审月（数据截至日时最后一个完整月份）的同比变化；单位与区间同 {kpi}_change_pop。",
    "{kpi}_attainment": "评审月该指标的目标达成率 = 实际值 / 目标值（越低越好的指标，如 CAC、响应时间，为 目标值 / 实际值）；"
                        "目标来自 targets.csv（kpi, segment, period, target）和销售配额（赢单收入）。",
    "alerts": "截至评审月的 12 个月内超出控制限的 指标 × 细分 × 月份 数据点个数（比率用 p 控制图，计数用 u 控制图，"
              "合计值用复合泊松控制图，CSAT/NPS 用 X-bar 控制图，其他连续指标用 EWMA；以滚动 12 个月为基线，计数和合计值"
              "考虑季节性暴露量），对所有参与判定的点做 Benjamini-Hochberg 校正，q < 0.05。",
})
