"""The seasonality and forecasting KPIs of a Dataset (see :mod:`salesops_kit.kpis`), computed from the results
of :mod:`.seasonal`, :mod:`.models` and :mod:`.pipeline`, beside them rather than inside."""

from __future__ import annotations

import pandas as pd

from ..data.currency import converted, needs_split, report_currency
from .seasonal import bookings_series, forecast, monthly_series, seasonal_profile, total_interval

__all__ = ["kpi_rows"]


def kpi_rows(ds) -> list[dict]:
    """Seasonality and forecasting KPIs: seasonal indices, strength, 12-month forecast, backtest
    MASE, and the pipeline's expected bookings next quarter. [] when opportunities are missing.

    Amounts are in the report currency when the mapping gives rates; over several currencies without rates the
    amount-based KPIs are left out (a total would add pesos to dollars; the load note says which block to add).
    """
    if ds.opportunities is None and ds.orders is None:
        return []
    split = needs_split(ds, "opportunities" if ds.opportunities is not None else "orders")
    code = None if split else report_currency(ds)
    ds = converted(ds)
    rows: list[dict] = []
    ser = bookings_series(ds) if ds.opportunities is not None else monthly_series(ds.orders, as_of=ds.as_of)
    if len(ser) and not split:
        prof = seasonal_profile(ser)
        for _, r in prof.monthly.iterrows():
            rows.append({"kpi": f"seasonal_index_m{int(r['season']):02d}", "value": r["index"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
        if len(prof.monthly) == 12:
            for _, r in prof.quarterly.iterrows():
                rows.append({"kpi": f"seasonal_index_q{int(r['season'])}", "value": r["index"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
        if len(prof.stats):
            rows.append({"kpi": "seasonality_strength", "value": prof.strength})
        fc = forecast(ser, horizon=12, level=(80, 95)).table
        if len(fc):
            total = fc["mean"].sum()
            lo, hi = total_interval(fc)
            rows.append({"kpi": "forecast_next_12m_total", "value": total, "ci_low": lo, "ci_high": hi,
                         **({"currency": code} if code else {})})
        bt = pd.DataFrame(fc.attrs.get("backtest") or [])
        if len(bt):
            best = bt.sort_values("mase").iloc[0]
            chosen = fc.attrs.get("method")
            sel = bt[bt["method"] == chosen]
            val = float(sel["mase"].iloc[0]) if len(sel) else float(best["mase"])
            rows.append({"kpi": "forecast_backtest_mase", "value": val})
    if ds.opportunities is not None and not split:
        try:
            from .pipeline import pipeline_forecast
        except ImportError:  # pipeline module not built yet
            return rows
        try:
            pf = pipeline_forecast(ds.opportunities, as_of=ds.as_of, stage_history=ds.stage_history, stages=ds.stages,
                                   backtest_dates=0)
            q = pf.next_quarter
            if q is not None:
                rows.append({"kpi": "pipeline_expected_next_quarter", "value": q["expected"],
                             "ci_low": q["p10"], "ci_high": q["p90"], **({"currency": code} if code else {})})
        except ValueError:
            pass
    return rows
