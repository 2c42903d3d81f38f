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


def plot_seasonal_subseries(series, *, ax=None, unit: str = "", **kwargs):
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
    ax.set_ylabel(_unit_label("amount", unit) if unit else tr("value"))
    _plain_numbers(ax)
    ax.set_title(tr("Seasonal subseries (line = years in order, red = mean)"))
    return ax


def _unit_label(text: str, unit: str) -> str:
    return f"{tr(text)} ({unit})" if unit else tr(text)


def _plain_numbers(ax):
    """Amounts on the y-axis as 1,200,000, never as 1.2 with a "1e6" offset."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def plot_decomposition(profile, *, ax=None, unit: str = "", **kwargs):
    """Observed values and the STL trend (top panel) and the detrended ratio value / trend (bottom panel): two
    panels, never two y-axes on one. ``ax``: two Axes (top, bottom), or one (the top panel only), or None (a new
    figure with both). Returns the top Axes. ``unit``: the amounts' unit (a currency code) for the axis."""
    import matplotlib.pyplot as plt

    figsize = kwargs.pop("figsize", (9, 4.5))
    if ax is None:
        _, (top, bottom) = plt.subplots(2, 1, figsize=figsize, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    elif isinstance(ax, (list, tuple, np.ndarray)):
        top, bottom = ax[0], ax[1]
    else:
        top, bottom = ax, None
    d = profile.decomposition
    if d.empty:
        top.set_title(tr("STL decomposition (not enough history)"))
        if bottom is not None:
            bottom.set_visible(False)
        return top
    top.plot(d["period"], d["value"], color="#4C72B0", lw=1.5, label=tr("observed"), **kwargs)
    top.plot(d["period"], d["trend"], color="black", lw=2, label=tr("trend (STL)"))
    top.set_ylabel(_unit_label("amount", unit))
    _plain_numbers(top)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(tr("Observed and trend; below, value / trend"))
    if bottom is not None:
        r = d["ratio"].to_numpy(dtype=float)
        bottom.bar(d["period"], r - 1, bottom=1, width=20, color=np.where(r >= 1, "#4C72B0", "#C44E52"), alpha=0.6)
        bottom.axhline(1, color="grey", lw=0.8)
        bottom.set_ylabel(tr("value / trend"))
    return top


@renamed_keyword("levels", "level")
def plot_forecast_fan(history, fc: pd.DataFrame, *, ax=None, level=(80, 95), color="#4C72B0", unit: str = "",
                      **kwargs):
    """History and forecast mean with shaded intervals (darker = narrower level).

    ``level``: the interval level(s) in percent to shade, as in ``forecast(level=...)`` (``levels=`` is still
    accepted). ``unit``: the amounts' unit (a currency code) for the axis.

    ``history``: ``period, value[, complete]`` frame (a :func:`~salesops_kit.forecast.monthly_series` with
    ``partial="flag"``: its partial last period is drawn hollow and unjoined, never as a crash) or a date-indexed
    Series (None: the forecast alone); ``fc``: the result of :func:`salesops_kit.forecast.forecast` or its
    ``table``.
    """
    from ..stats.series import as_series
    from ._base import draw_periods

    fc = getattr(fc, "table", fc)
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 4)))
    if isinstance(history, pd.DataFrame) and {"period", "value"} <= set(history.columns):
        h = history.sort_values("period")
        part = ~h["complete"].astype(bool) if "complete" in h else None
        if len(h):
            draw_periods(ax, pd.to_datetime(h["period"]), h["value"], partial=part, color="black", markersize=2,
                         lw=1.4, label=tr("history"))
    else:
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
    ax.set_ylabel(_unit_label("amount", unit) if unit else tr("value"))
    _plain_numbers(ax)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(tr("Forecast with intervals"))
    return ax


def plot_backtest(bt, *, methods=("combo", "seasonal_naive"), ax=None, unit: str = "", **kwargs):
    """The backtest, readably: one panel per rolling origin, the held-back actuals (black) against the forecasts of
    ``methods`` only (default the combination the forecast uses and seasonal naive, the baseline; the others are
    in the table), with the first method's 80% band. ``ax``: one Axes per origin, or None (a new figure). Returns
    the first panel's Axes."""
    import matplotlib.pyplot as plt

    f = bt.forecasts
    if f.empty:
        ax = get_ax(ax[0] if isinstance(ax, (list, tuple, np.ndarray)) else ax, figsize=kwargs.pop("figsize",
                                                                                                  (8, 3.8)))
        ax.set_title(tr("Backtest (series too short)"))
        return ax
    shown = [m for m in methods if m in set(f["method"])] or [sorted(set(f["method"]))[0]]
    origins = sorted(f["origin"].unique())
    if ax is None:
        _, axes = plt.subplots(1, len(origins), figsize=kwargs.pop("figsize", (4 * len(origins) + 1, 3.5)),
                               sharey=True, squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        origins = origins[-len(axes):]
    colors = {"combo": "#4C72B0", "seasonal_naive": "#DD8452"}
    for a, o in zip(axes, origins, strict=False):
        g = f[f["origin"] == o]
        act = g[g["method"] == shown[0]].sort_values("period")
        a.plot(act["period"], act["actual"], color="black", marker="o", ms=3, lw=1.5, label=tr("actual"))
        for k, m in enumerate(shown):
            gm = g[g["method"] == m].sort_values("period")
            c = colors.get(m, f"C{k}")
            if k == 0 and {"lower_80", "upper_80"} <= set(gm.columns):
                a.fill_between(gm["period"], gm["lower_80"], gm["upper_80"], color=c, alpha=0.18, lw=0,
                               label=f"{m} 80% {tr('interval')}")
            a.plot(gm["period"], gm["mean"], color=c, lw=1.5, ls="-" if k == 0 else "--", label=str(m), **kwargs)
        a.set_title(f"{tr('data to')} {pd.Timestamp(o):%Y-%m}", fontsize=10)
        a.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes[0].set_ylabel(_unit_label("amount", unit) if unit else tr("value"))
    _plain_numbers(axes[0])
    axes[0].legend(fontsize=8, loc="best")
    return axes[0]


def plot_pipeline_forecast(pf, *, ax=None, color="#55A868", unit: str = "", **kwargs):
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
    ax.set_ylabel(_unit_label("bookings", unit))
    _plain_numbers(ax)
    ax.legend(fontsize=8)
    ax.set_title(tr("Bookings expected from the open pipeline"))
    return ax
