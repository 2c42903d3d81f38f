"""Seasonality and forecasting charts (issue 5): seasonal index with intervals, seasonal subseries,
STL decomposition, forecast fan chart, backtest errors by horizon, pipeline forecast. Each returns the Axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..i18n import t as tr
from ..tools.validation import renamed_keyword
from ._base import get_ax

__all__ = ["plot_seasonal_index", "plot_seasonal_subseries", "plot_decomposition", "plot_forecast_fan",
           "plot_backtest", "plot_pipeline_forecast"]


def plot_seasonal_index(profile, *, by: str = "month", ax=None, color="#4C72B0", **kwargs):
    """Seasonal index per month (or quarter) with its 95% interval; 1.0 = on trend.

    ``profile`` is a :class:`~salesops_kit.forecast.SeasonalProfile`.
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 3.8)))
    t = profile.quarterly if by == "quarter" else profile.monthly
    if t.empty:
        ax.set_title(tr("Seasonal index (not enough history)"))
        return ax
    x = np.arange(len(t))
    idx = t["index"].to_numpy(dtype=float)
    lo = t["ci_low"].to_numpy(dtype=float)
    hi = t["ci_high"].to_numpy(dtype=float)
    ax.bar(x, idx - 1, bottom=1, color=[color if v >= 1 else "#C44E52" for v in idx], alpha=0.8, **kwargs)
    ok = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(x[ok], idx[ok], yerr=[idx[ok] - lo[ok], hi[ok] - idx[ok]], fmt="none", ecolor="black", capsize=3,
                lw=1)
    ax.axhline(1, color="grey", lw=1)
    ax.set_xticks(x)
    ax.set_xticklabels([tr(lab) for lab in t["label"].astype(str)])
    ax.set_ylabel(tr("index (1 = trend)"))
    ax.set_title(tr(f"Seasonal index per {'quarter' if by == 'quarter' else 'month'} with 95% interval"))
    return ax


def plot_seasonal_subseries(series, *, ax=None, **kwargs):
    """Classic subseries plot: each month's values across years (a short line per month) with the
    month's mean as a horizontal bar. ``series``: ``period, value`` frame or a date-indexed Series."""
    from ..stats.series import as_series

    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 3.8)))
    y = as_series(series)
    if y.empty:
        ax.set_title(tr("Seasonal subseries (no data)"))
        return ax
    m = 12 if (y.index.freqstr or "M").startswith("M") else 4
    pos = (y.index.month if m == 12 else y.index.quarter).to_numpy()
    labels = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec") if m == 12 else (
        "Q1", "Q2", "Q3", "Q4")
    for s in range(1, m + 1):
        v = y.to_numpy()[pos == s]
        if not len(v):
            continue
        xs = s - 0.35 + 0.7 * np.arange(len(v)) / max(len(v) - 1, 1)
        ax.plot(xs, v, color="#4C72B0", lw=1.2, marker="o", ms=3, **kwargs)
        ax.hlines(v.mean(), s - 0.4, s + 0.4, color="#C44E52", lw=2)
    ax.set_xticks(range(1, m + 1))
    ax.set_xticklabels([tr(lab) for lab in labels])
    ax.set_ylabel(tr("value"))
    ax.set_title(tr("Seasonal subseries (line = years in order, red = mean)"))
    return ax


def plot_decomposition(profile, *, ax=None, **kwargs):
    """Observed values and the STL trend (left axis) with the detrended ratio (right axis)."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 3.8)))
    d = profile.decomposition
    if d.empty:
        ax.set_title(tr("STL decomposition (not enough history)"))
        return ax
    ax.plot(d["period"], d["value"], color="#4C72B0", lw=1.5, label=tr("observed"), **kwargs)
    ax.plot(d["period"], d["trend"], color="black", lw=2, label=tr("trend (STL)"))
    ax2 = ax.twinx()
    ax2.bar(d["period"], d["ratio"] - 1, bottom=1, width=20, color="#DD8452", alpha=0.35, label=tr("value / trend"))
    ax2.axhline(1, color="#DD8452", lw=0.8)
    ax2.set_ylabel(tr("value / trend"))
    ax.set_ylabel(tr("value"))
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(tr("Observed, trend and detrended ratio"))
    return ax


@renamed_keyword("levels", "level")
def plot_forecast_fan(history, fc: pd.DataFrame, *, ax=None, level=(80, 95), color="#4C72B0", **kwargs):
    """History and forecast mean with shaded intervals (darker = narrower level).

    ``level``: the interval level(s) in percent to shade, as in ``forecast(level=...)`` (``levels=`` is still
    accepted).

    ``history``: ``period, value`` frame or a date-indexed Series (None: the forecast alone); ``fc``: the
    result of :func:`salesops_kit.forecast.forecast` or its ``table``.
    """
    from ..stats.series import as_series

    fc = getattr(fc, "table", fc)
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 4)))
    y = as_series(history) if history is not None else ()
    if len(y):
        ax.plot(y.index.to_timestamp(), y.to_numpy(), color="black", lw=1.4, label=tr("history"))
    if len(fc):
        for i, lv in enumerate(sorted(np.atleast_1d(level).tolist(), reverse=True)):
            lo, hi = f"lower_{lv}", f"upper_{lv}"
            if lo in fc and hi in fc:
                ax.fill_between(fc["period"], fc[lo], fc[hi], color=color, alpha=0.18 + 0.17 * i, lw=0,
                                label=f"{lv}% {tr('interval')}")
        ax.plot(fc["period"], fc["mean"], color=color, lw=2, label=f"{tr('forecast')} ({fc.attrs.get('method', '')})",
                **kwargs)
    ax.set_ylabel(tr("value"))
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(tr("Forecast with intervals"))
    return ax


def plot_backtest(bt, *, metric: str = "mase", ax=None, **kwargs):
    """Backtest error by horizon, one line per method (``metric``: mase, smape or coverage_<L>)."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 3.8)))
    t = bt.by_horizon
    if t.empty:
        ax.set_title(tr("Backtest (series too short)"))
        return ax
    for meth, g in t.groupby("method", sort=True):
        ax.plot(g["h"], g[metric], marker="o", ms=3, lw=1.5, label=str(meth), **kwargs)
    ax.set_xlabel(tr("horizon (periods ahead)"))
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(f"{tr('Backtest')} {metric} {tr('by horizon')}")
    return ax


def plot_pipeline_forecast(pf, *, ax=None, color="#55A868", **kwargs):
    """Expected bookings per month from the open pipeline with P10-P90 bars, and the CRM weighted
    pipeline (amount x CRM probability by CRM close month) as markers."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 3.8)))
    t = pf.monthly
    if t.empty:
        ax.set_title(tr("Pipeline forecast (no open deals)"))
        return ax
    x = np.arange(len(t))
    ax.bar(x, t["expected"], color=color, alpha=0.8, label=tr("expected (learnt win rates)"), **kwargs)
    ax.errorbar(x, t["p50"], yerr=[t["p50"] - t["p10"], t["p90"] - t["p50"]], fmt="none", ecolor="black",
                capsize=3, lw=1, label=tr("P10-P90"))
    if t["crm_weighted"].notna().any():
        ax.plot(x, t["crm_weighted"], "D", color="#C44E52", label=tr("CRM weighted pipeline"))
    ax.set_xticks(x)
    ax.set_xticklabels(pd.to_datetime(t["month"]).dt.strftime("%Y-%m"), rotation=45)
    ax.set_ylabel(tr("bookings"))
    ax.legend(fontsize=8)
    ax.set_title(tr("Bookings expected from the open pipeline"))
    return ax
