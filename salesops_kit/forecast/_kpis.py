"""The seasonality and forecasting KPIs of a Dataset (see :mod:`salesops_kit.kpis`), computed from the results
of :mod:`.seasonal`, :mod:`.models` and :mod:`.pipeline`, beside them rather than inside."""

from __future__ import annotations

import pandas as pd

from ..data.currency import converted, needs_split, report_currency
from .check import plan_forecast
from .seasonal import bookings_series, forecast_window, history_window, monthly_series, seasonal_profile, total_interval

__all__ = ["kpi_rows"]


def kpi_rows(ds) -> list[dict]:
    """Seasonality and forecasting KPIs: seasonal indices, strength, 12-month forecast, backtest
    MASE, and the pipeline's expected bookings next quarter. [] when opportunities are missing.

    Amounts are in the report currency when the mapping gives rates. Deals in several currencies without rates
    are forecast per currency: every row is per ``currency=XXX`` segment (money rows in that code) and none
    totals currencies. Orders in several currencies without rates (no deals) leave the KPIs out.
    ``pipeline_expected_next_quarter`` is left out when the open deals are all expected to close before or after
    the next quarter (the forecast's headline says so; a 0 would read as an empty pipeline).
    """
    if ds.opportunities is None and ds.orders is None:
        return []
    if ds.opportunities is not None:
        from .pipeline import by_currency

        parts = by_currency(ds)
        if parts:
            return [r for c, sub in parts.items() for r in _rows(sub, c, f"currency={c}")]
    if needs_split(ds, "opportunities" if ds.opportunities is not None else "orders"):
        return []
    return _rows(converted(ds), report_currency(ds), "all")


def _rows(ds, code, segment: str) -> list[dict]:
    """The KPI rows of ``ds`` whose money is all in ``code`` (None: the dataset's single currency)."""
    money = {"currency": code} if code else {}
    rows: list[dict] = []
    ser = bookings_series(ds) if ds.opportunities is not None else monthly_series(ds.orders, as_of=ds.as_of)
    if len(ser):
        prof = seasonal_profile(ser)
        win = history_window(ser)
        for _, r in prof.monthly.iterrows():
            rows.append({"kpi": f"seasonal_index_m{int(r['season']):02d}", "value": r["index"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"], "window": win})
        if len(prof.monthly) == 12:
            for _, r in prof.quarterly.iterrows():
                rows.append({"kpi": f"seasonal_index_q{int(r['season'])}", "value": r["index"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"], "window": win})
        if len(prof.stats):
            rows.append({"kpi": "seasonality_strength", "value": prof.strength, "window": win})
        # the one backtest and the forecast it checks (notebook 03 shows the same): fewer complete months than the
        # horizon give no forecast (the notebook says so in one sentence)
        plan = plan_forecast(ser, horizon=12)
        if plan.forecast is not None and len(plan.forecast.table):
            fc = plan.forecast.table
            lo, hi = total_interval(fc)
            rows.append({"kpi": "forecast_next_12m_total", "value": fc["mean"].sum(), "ci_low": lo, "ci_high": hi,
                         "window": forecast_window(fc), **money})
        score = plan.score() if plan.forecast is not None else None
        if score is not None and pd.notna(score["mase"]):
            rows.append({"kpi": "forecast_backtest_mase", "value": float(score["mase"]),
                         "window": plan.backtest.window()})
    if ds.opportunities is not None:
        from .pipeline import pipeline_forecast

        try:
            pf = pipeline_forecast(ds.opportunities, as_of=ds.as_of, stage_history=ds.stage_history, stages=ds.stages,
                                   backtest_dates=0)
        except ValueError:
            pf = None
        q = pf.next_quarter if pf is not None else None
        if q is not None and (q["p90"] > 0 or not pf.open_deals):
            rows.append({"kpi": "pipeline_expected_next_quarter", "value": q["expected"], "window": q["quarter"],
                         **({"ci_low": q["p10"], "ci_high": q["p90"]} if pf.open_deals else {}), **money})
    for r in rows:
        r["segment"] = segment
    return rows
