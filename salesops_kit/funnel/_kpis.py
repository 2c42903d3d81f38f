"""The funnel KPIs of a Dataset (see :mod:`salesops_kit.kpis`): rows computed from the funnel's results in
:mod:`.metrics`, :mod:`.stages` and :mod:`.cycle`, beside them rather than inside."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..engines.ops import columns, lazy
from ..stats import wilson_interval
from .cycle import sales_cycle
from .metrics import deal_totals, lead_funnel, sales_velocity
from .stages import stage_funnel

__all__ = ["kpi_rows", "KPI_SEGMENTS", "LEAD_SEGMENTS"]

KPI_SEGMENTS = (None, "owner", "lead_source")
LEAD_SEGMENTS = {"source": "lead_source", "owner": "owner"}


def _slug(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(label).strip().lower()).strip("_")


def _seg(col, value) -> str:
    return "all" if col is None else f"{col}={value}"


def kpi_rows(ds) -> list[dict]:
    """The funnel KPIs of a Dataset, overall and per owner and lead source (see ``salesops_kit.kpis``).

    Returns ``{kpi, segment, value, ci_low, ci_high}`` records; [] when the dataset has no opportunities.
    """
    if ds.opportunities is None:
        return []
    opps, stages = ds.opportunities, ds.stages
    have = set(columns(lazy(opps)))
    rows: list[dict] = []

    def add(kpi, seg, value, lo=np.nan, hi=np.nan):
        rows.append({"kpi": kpi, "segment": seg, "value": float(value) if value is not None else np.nan,
                     "ci_low": float(lo), "ci_high": float(hi)})

    for col in KPI_SEGMENTS:
        if col is not None and col not in have:
            continue
        by = [] if col is None else [col]
        tot = deal_totals(opps, by=by, stages=stages)
        cyc = sales_cycle(ds, by=by, detail=False)
        vel = sales_velocity(ds, by=by, cycle_summary=cyc.table).table
        fun = stage_funnel(ds, by=by).table
        for i, r in tot.iterrows():
            seg = _seg(col, r[col] if col else None)
            closed = r["won"] + r["lost"]
            lo, hi = wilson_interval(r["won"], closed)
            add("win_rate", seg, r["won"] / closed if closed else np.nan, lo, hi)
            add("deals_won", seg, r["won"])
            add("deals_lost", seg, r["lost"])
            add("deals_open", seg, r["open"])
            add("won_revenue", seg, r["won_amount"])
            n = r["won_amount_n"]
            if n:
                mean = r["won_amount"] / n
                sd = np.sqrt(max(r["won_amount_sq"] - n * mean**2, 0.0) / (n - 1)) if n > 1 else np.nan
                half = 1.959964 * sd / np.sqrt(n)
                add("avg_won_deal_size", seg, mean, mean - half, mean + half)
            v = vel.iloc[i] if not by else vel[vel[col] == r[col]].iloc[0]
            add("sales_velocity_per_month", seg, v["velocity_per_month"])
        for _, r in cyc.table.iterrows():
            seg = _seg(col, r[col] if col else None)
            add("sales_cycle_median_days", seg, r["median_days_to_win"], r["ci_low"], r["ci_high"])
            add("sales_cycle_won_mean_days", seg, r["naive_won_mean_days"])
        for _, r in fun[fun["next_stage"].notna()].iterrows():
            seg = _seg(col, r[col] if col else None)
            add(f"stage_conversion_{_slug(r['stage'])}_to_{_slug(r['next_stage'])}", seg, r["conversion"],
                r["conversion_ci_low"], r["conversion_ci_high"])
    if ds.leads is not None:
        lhave = set(columns(lazy(ds.leads, table="leads")))
        for lcol in (None, *LEAD_SEGMENTS):
            if lcol is not None and lcol not in lhave:
                continue
            lt = lead_funnel(ds, by=[] if lcol is None else [lcol]).table
            for _, r in lt.iterrows():
                seg = _seg(None if lcol is None else LEAD_SEGMENTS[lcol], r[lcol] if lcol else None)
                add("lead_conversion_rate", seg, r["lead_to_opportunity"], r["lead_to_opportunity_ci_low"],
                    r["lead_to_opportunity_ci_high"])
                if pd.notna(r["lead_to_win"]):
                    add("lead_to_win_rate", seg, r["lead_to_win"], r["lead_to_win_ci_low"], r["lead_to_win_ci_high"])
    return rows
