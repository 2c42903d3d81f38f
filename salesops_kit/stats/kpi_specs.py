"""The monitored KPIs: how each is tested and charted (``kind``, ``direction``, ``chart``) and shown
(``label``, display format), and the display formatter.

It sits below the topics so that the monitoring topic (:mod:`salesops_kit.monitor`) and its charts
(:mod:`salesops_kit.plots.monitor`, which may import no topic) read one table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KPISpec", "KPI_SPECS", "fmt"]


@dataclass(frozen=True)
class KPISpec:
    """How a KPI is monitored: ``kind`` picks the change test and the control chart, ``direction`` is +1
    when higher is better (-1 for CAC and response time), ``owner`` names who acts on an alert."""

    name: str
    kind: str  # rate | count | sum | mean | median | ratio | nps
    direction: int
    table: str
    label: str
    fmt: str  # pct | money | int | num | hours | score | nps
    owner: str
    chart: str = ""  # control chart: p | u | cp | xbar | ewma ("" = by kind, see control.CHART_OF_KIND)
    log: bool = False  # EWMA on the log scale (right-skewed KPIs: response times)


KPI_SPECS: dict[str, KPISpec] = {s.name: s for s in (
    KPISpec("win_rate", "rate", 1, "opportunities", "win rate", "pct", "sales manager"),
    KPISpec("deals_won", "count", 1, "opportunities", "deals won", "int", "sales manager"),
    KPISpec("won_revenue", "sum", 1, "opportunities", "won revenue", "money", "sales manager"),
    KPISpec("avg_won_deal_size", "mean", 1, "opportunities", "average won deal size", "money", "sales manager",
            "ewma"),  # deal amounts are heavy-tailed: an X̄-chart of small-month means over-alarms upwards
    KPISpec("lead_conversion_rate", "rate", 1, "leads", "lead conversion", "pct", "sales manager"),
    KPISpec("first_response_median_hours", "median", -1, "leads", "median first response", "hours",
            "sales manager", log=True),
    KPISpec("new_customers", "count", 1, "orders", "new customers", "int", "marketing lead"),
    KPISpec("cac", "ratio", -1, "orders", "CAC", "money", "marketing lead"),
    KPISpec("csat_mean", "mean", 1, "csat", "CSAT mean", "score", "customer success manager"),
    KPISpec("csat_satisfied_share", "rate", 1, "csat", "CSAT share satisfied", "pct", "customer success manager"),
    KPISpec("nps", "nps", 1, "csat", "NPS", "nps", "customer success manager"),
)}


def fmt(v, kind: str) -> str:
    """Display formatting by KPI format (only at display time)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "money":  # Chinese pages: 万 / 亿 from 100,000 on (i18n.format_money)
        from ..i18n import format_money

        return format_money(v, "", None)
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "hours":
        return f"{v:.1f} h"
    if kind == "score":
        return f"{v:.2f}"
    if kind == "nps":
        return f"{v * 100:+.0f}"
    return f"{v:.3g}"
