"""The slippage and loss-reason KPIs of a Dataset (see :mod:`salesops_kit.kpis`), computed from the results of
:mod:`.slippage` and :mod:`.loss_reasons`, beside them rather than inside; called by the funnel's ``kpi_rows``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .loss_reasons import loss_reasons
from .slippage import slippage

__all__ = ["history_kpi_rows"]

ALL_HISTORY = "all history"


def history_kpi_rows(ds, *, slip=None, reasons=None) -> list[dict]:
    """``{kpi, segment, value, ci_low, ci_high, window}`` records: pushed_deal_share (all, owner=, team=),
    pushes_per_deal, days_pushed_median, win_rate_pushed, win_rate_not_pushed (without deal_history: none);
    loss_reason_share (reason=) and loss_reason_share_quarter (reason=, the last complete quarter) (without
    loss_reason: none). ``slip`` / ``reasons``: results already computed for the dataset."""
    if ds.opportunities is None:
        return []
    rows: list[dict] = []

    def add(kpi, seg, value, lo=np.nan, hi=np.nan, window=ALL_HISTORY):
        if value is None or pd.isna(value):
            return
        rows.append({"kpi": kpi, "segment": seg, "value": float(value), "ci_low": float(lo), "ci_high": float(hi),
                     "window": window})

    s = slip if slip is not None else (slippage(ds) if ds.table("deal_history") is not None else None)
    if s is not None and len(s.overall):  # no push at all is a share of 0, still a KPI
        r = s.overall.iloc[0]
        add("pushed_deal_share", "all", r["pushed_share"], r["ci_low"], r["ci_high"])
        add("pushes_per_deal", "all", r["pushes_per_deal"])
        add("days_pushed_median", "all", r["days_pushed_median"], r["days_pushed_median_ci_low"],
            r["days_pushed_median_ci_high"])
        for col, t in (("owner", s.table), ("team", s.by_team)):
            for _, x in t.iterrows():
                add("pushed_deal_share", f"{col}={x[col]}", x["pushed_share"], x["ci_low"], x["ci_high"])
        for _, x in s.outcome.iterrows():
            kpi = "win_rate_pushed" if x["group"] == "pushed" else "win_rate_not_pushed"
            add(kpi, "all", x["win_rate"], x["ci_low"], x["ci_high"])
    lr = reasons if reasons is not None else loss_reasons(ds)
    if not lr.limitation:
        for _, x in lr.table.iterrows():
            add("loss_reason_share", f"reason={x['reason']}", x["share"], x["ci_low"], x["ci_high"])
        if len(lr.growth):
            lo, hi = _wilson(lr.growth)
            for i, (_, x) in enumerate(lr.growth.iterrows()):
                add("loss_reason_share_quarter", f"reason={x['reason']}", x["share"], lo[i], hi[i], window=lr.quarter)
    return rows


def _wilson(g: pd.DataFrame):
    from ..stats import wilson_interval

    lo, hi = wilson_interval(g["lost"].to_numpy(float), g["quarter_lost"].to_numpy(float))
    return np.atleast_1d(lo), np.atleast_1d(hi)
