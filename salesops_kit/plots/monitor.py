"""KPI-monitoring charts (issue 9): control chart of one KPI × segment, small multiples of trends with
their limits, and a scorecard table. Each returns the Axes it drew on (an array for small multiples)."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator

from ..i18n import t as tr
from ..i18n import tr as _tr
from ._base import draw_periods, get_ax

__all__ = ["plot_control_chart", "plot_kpi_small_multiples", "plot_scorecard_table"]

_ALERT = "#c0392b"
_LINE = "#2c3e50"
_LIMIT = "#7f8c8d"
_HEADER = "#aed6f1"
_STATUS_FILL = {"target met": "#abebc6", "target missed": "#f5b7b1"}


def _limits(data) -> pd.DataFrame:
    lim = data.limits if hasattr(data, "limits") else data
    if lim is None or not len(lim):
        return pd.DataFrame(columns=["kpi", "segment", "period"])
    return lim


class _MoneyFormatter(Formatter):
    """Amounts in thousands ("25k") when the axis spans at least 5,000, else in full: a one-point chart of 12,117
    labelled every tick "12k"."""

    def __call__(self, v, pos=None):
        lo, hi = self.axis.get_view_interval() if self.axis is not None else (0.0, 1e9)
        if abs(v) >= 10000 and abs(hi - lo) >= 5000:
            return f"{v / 1000:,.0f}k"
        return f"{v:,.0f}"


def _formatter(kpi: str):
    from ..stats.kpi_specs import KPI_SPECS, fmt

    f = KPI_SPECS[kpi].fmt if kpi in KPI_SPECS else "num"
    if f == "money":
        return _MoneyFormatter()
    return FuncFormatter(lambda v, _: fmt(v, f))


def plot_control_chart(data, *, kpi: str = "win_rate", segment: str = "all", ax=None, show_window: bool = True,
                  **kwargs):
    """One KPI × segment over time with its centre line and control limits.

    ``data`` is a :class:`salesops_kit.monitor.MonitorReview` (or its ``limits`` frame). Complete periods are
    joined dots; the period still running at the as-of date is hollow and unjoined, a low-volume period hollow
    grey (neither is judged); alerts are red; for an EWMA chart the EWMA line is drawn and the limits apply to
    it. The limits are drawn at the review's one alert rule, centre ± z*·sigma (``MonitorReview.z_star``), and
    labelled with it. The review window is shaded; money axes name the currency.
    """
    from ..stats.kpi_specs import KPI_SPECS

    lim = _limits(data)
    g = lim[(lim["kpi"] == kpi) & (lim["segment"] == segment)].sort_values("period")
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 3.5)))
    show_ylabel = kwargs.pop("ylabel", True)
    label = KPI_SPECS[kpi].label if kpi in KPI_SPECS else kpi
    ax.set_title(kwargs.pop("title", f"{tr(label)} · {tr(segment)}"), fontsize=kwargs.pop("title_size", 11))
    if g.empty:
        ax.text(0.5, 0.5, f"{tr('no data for')} {tr(label)} · {segment}", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    x = pd.to_datetime(g["period"])
    judged = g["testable"].astype(bool).to_numpy()
    partial = g["partial"].astype(bool).to_numpy() if "partial" in g else np.zeros(len(g), bool)
    alert = g["alert"].astype(bool).to_numpy() if "alert" in g else np.zeros(len(g), bool)
    ewma = (g["chart"] == "ewma").any()
    if ewma:
        ax.plot(x[~partial], g["stat"][~partial], color=_LINE, lw=1.5, label=tr("EWMA"))
    # complete periods joined, the period still running hollow and apart (never read as a crash)
    draw_periods(ax, x, g["value"], partial=partial, color=_LINE, lw=0.8 if ewma else 1.2,
                 alpha=0.5 if ewma else 1.0, label=tr("period"))
    low = ~judged & ~partial
    if low.any():
        ax.scatter(x[low], g["value"][low], facecolors="white", edgecolors=_LIMIT, s=14, zorder=3,
                   label=tr("low volume, not judged"))
    ax.scatter(x[alert], (g["stat"] if ewma else g["value"])[alert], color=_ALERT, s=36, zorder=4, label=tr("alert"))
    ax.step(x, g["center"], where="mid", color=_LIMIT, lw=1, ls="--", label=tr("centre (trailing baseline)"))
    if "lcl" in g:
        dfs = g["df"].dropna().to_numpy(dtype=float) if "df" in g else np.array([])  # the series' latest cut-off
        zstar = data.z_star(dfs[-1] if len(dfs) else np.inf) if hasattr(data, "z_star") else float("nan")
        limits = (_tr("control limits (|z| ≥ {z:.1f})", z=zstar) if np.isfinite(zstar) else tr("control limits"))
        ax.step(x, g["lcl"], where="mid", color=_LIMIT, lw=1, label=limits)
        ax.step(x, g["ucl"], where="mid", color=_LIMIT, lw=1)
    if show_window and hasattr(data, "window") and data.window:
        ax.axvspan(pd.Timestamp(data.window[0]) - pd.Timedelta(days=14), pd.Timestamp(data.window[-1]) +
                   pd.Timedelta(days=14), color="#f4f6f7", zorder=0)
    ax.yaxis.set_major_formatter(_formatter(kpi))
    code = segment.split("=", 1)[1] if segment.startswith("currency=") else getattr(data, "currency", "")
    if kpi in KPI_SPECS and KPI_SPECS[kpi].fmt == "money" and code and show_ylabel:
        ax.set_ylabel(code, fontsize=8)  # money says its currency (small multiples say it in the title)
    if kpi in KPI_SPECS and KPI_SPECS[kpi].fmt == "int":  # counts: whole-number ticks (no "2 2 1 1 0 0")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    elif kpi in KPI_SPECS and KPI_SPECS[kpi].fmt == "money":  # at most as many ticks as the labels can tell apart
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=2))
    loc = mdates.AutoDateLocator(minticks=3, maxticks=kwargs.pop("maxticks", 7))
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.tick_params(axis="x", labelsize=8)
    if kwargs.pop("legend", True):
        ax.legend(fontsize=7, loc="best")
    return ax


def plot_kpi_small_multiples(data, *, kpis=None, segment: str = "all", ncols: int = 3, axes=None, **kwargs):
    """Small multiples: one :func:`plot_control_chart` per KPI for ``segment`` (default all monitored KPIs
    that have data). Returns the array of Axes (unused panels switched off)."""
    lim = _limits(data)
    have = lim[lim["segment"] == segment]["kpi"].unique() if len(lim) else []
    from ..stats.kpi_specs import KPI_SPECS

    kpis = [k for k in (KPI_SPECS if kpis is None else kpis) if k in set(have)]
    n = max(len(kpis), 1)
    nrows = int(np.ceil(n / ncols))
    if axes is None:
        _, axes = plt.subplots(nrows, ncols, figsize=kwargs.pop("figsize", (4.2 * ncols, 2.6 * nrows)),
                               squeeze=False, sharex=True)
    flat = np.asarray(axes).ravel()
    for ax, kpi in zip(flat, kpis, strict=False):
        code = getattr(data, "currency", "") if kpi in KPI_SPECS and KPI_SPECS[kpi].fmt == "money" else ""
        title = tr(KPI_SPECS[kpi].label if kpi in KPI_SPECS else kpi) + (f" ({code})" if code else "")
        plot_control_chart(data, kpi=kpi, segment=segment, ax=ax, legend=False, title_size=9, maxticks=5,
                           title=title, ylabel=False)
    for ax in flat[len(kpis):]:
        ax.set_axis_off()
    if not kpis:
        flat[0].text(0.5, 0.5, f"{tr('no monitored KPI for')} {segment}", ha="center", va="center",
                     transform=flat[0].transAxes)
    return np.asarray(axes)


def plot_scorecard_table(data, *, segment: str = "all", ax=None, **kwargs):
    """The one-screen scorecard as a table figure (KPI, this period, last period, change, p, target,
    attainment, status, signal); alert rows in red."""
    sc = data.scorecard_text(segment) if hasattr(data, "scorecard_text") else data
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (11, 0.35 * len(sc) + 0.8)))
    ax.set_axis_off()
    if not len(sc):
        ax.text(0.5, 0.5, tr("no KPI to show"), ha="center", va="center", transform=ax.transAxes)
        return ax
    tab = ax.table(cellText=sc.to_numpy(), colLabels=list(sc.columns), loc="center", cellLoc="left")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.auto_set_column_width(list(range(sc.shape[1])))
    for j in range(sc.shape[1]):  # header row shaded, so the table reads as one block on a slide
        tab[0, j].set_facecolor(_HEADER)
        tab[0, j].set_text_props(weight="bold")
    status_col = list(sc.columns).index("status") if "status" in sc.columns else None
    for i, row in enumerate(sc.itertuples(index=False), start=1):
        status = str(row[status_col]) if status_col is not None else ""
        if status.startswith("alert"):
            for j in range(sc.shape[1]):
                tab[i, j].set_text_props(color=_ALERT)
        if status_col is not None and status in _STATUS_FILL:  # target met / missed at a glance
            tab[i, status_col].set_facecolor(_STATUS_FILL[status])
    if hasattr(data, "name"):
        ax.set_title(kwargs.pop("title", f"{tr('Scorecard')} {data.name} · {tr(segment)}"), fontsize=10)
    return ax
