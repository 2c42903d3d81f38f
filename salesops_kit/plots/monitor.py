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

__all__ = ["plot_control_chart", "plot_kpi_small_multiples", "plot_scorecard_table", "plot_pareto",
           "plot_revenue_yoy_months", "plot_win_rates_by_source", "plot_revenue_shares"]

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


# ---- where the revenue comes from (issue 18, part 6) ---------------------------------------------------------

_THIS = "#2874a6"
_LAST = "#b3b6b7"


def plot_pareto(data, *, ax=None, **kwargs):
    """The Pareto (Lorenz) view of a :class:`salesops_kit.monitor.RevenueSources`: share of revenue against share
    of accounts (and of customers, when orders exist) ranked from the largest, with the top 20% marked and the
    line of equal shares for reference."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (5.5, 4.2)))
    pareto = data.pareto
    labels = {"accounts": tr("accounts (won revenue)"), "customers": tr("customers (order revenue)")}
    colours = {"accounts": _THIS, "customers": "#ca6f1e"}
    for kind, g in pareto.groupby("kind", sort=True):
        ax.plot(g["share_of_entities"], g["share_of_revenue"], color=colours.get(kind, _LINE), lw=1.8,
                label=labels.get(kind, tr(kind)))
        share = data.top.get(kind, (np.nan, 0))[0]
        if np.isfinite(share):
            ax.plot([0.2], [share], marker="o", color=colours.get(kind, _LINE))
            ax.annotate(f"{share:.0%}", (0.2, share), textcoords="offset points", xytext=(6, -12), fontsize=8,
                        color=colours.get(kind, _LINE))
    ax.plot([0, 1], [0, 1], color=_LIMIT, lw=1, ls=":", label=tr("equal shares"))
    ax.axvline(0.2, color=_LIMIT, lw=0.8, ls="--")
    pct = FuncFormatter(lambda v, _: f"{v:.0%}")
    ax.xaxis.set_major_formatter(pct)
    ax.yaxis.set_major_formatter(pct)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(tr("share of accounts or customers, largest first"), fontsize=9)
    ax.set_ylabel(tr("share of revenue"), fontsize=9)
    ax.set_title(kwargs.pop("title", _tr("Pareto view, {window}", window=data.window)), fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_revenue_yoy_months(data, *, ax=None, **kwargs):
    """Revenue per calendar month of a :class:`salesops_kit.monitor.RevenueSources` window (won revenue; order
    revenue when there are no deals) beside the same month a year earlier; the month still running at the as-of
    date is a hollow bar (never read as a drop)."""
    from ..i18n import current_lang, format_month

    ax = get_ax(ax, figsize=kwargs.pop("figsize", (10, 3.6)))
    m = data.months
    x = np.arange(len(m))
    w = 0.4
    ax.bar(x - w / 2, m["base"], width=w, color=_LAST, label=tr("same month a year earlier"))
    full = ~m["partial"].to_numpy(dtype=bool)
    ax.bar(x[full] + w / 2, m["revenue"][full], width=w, color=_THIS, label=tr("this year"))
    if (~full).any():
        ax.bar(x[~full] + w / 2, m["revenue"][~full], width=w, facecolor="white", edgecolor=_THIS, hatch="//",
               label=tr("partial period (not complete at the as-of date)"))
    zh = current_lang().startswith("zh")
    ax.set_xticks(x)
    ax.set_xticklabels([format_month(d, "zh") if zh else pd.Timestamp(d).strftime("%b %Y") for d in m["month"]],
                       rotation=45, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(_MoneyFormatter())
    code = data.currency if data.yoy.get("source") == "deals" else data.order_currency
    orders = data.yoy.get("source") == "orders"
    what = tr("order revenue") if orders else tr("won revenue")
    ax.set_ylabel(f"{what} ({code})" if code else what, fontsize=9)
    ax.set_title(kwargs.pop("title", tr("Order revenue by month against the same month a year earlier") if orders
                            else tr("Won revenue by month against the same month a year earlier")), fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_win_rates_by_source(data, *, ax=None, **kwargs):
    """Win rate with its 95% Wilson interval per product, region and account-size band of a
    :class:`salesops_kit.monitor.RevenueSources` (one row per level, grouped by dimension; a dimension with one level
    compares nothing and is left out), the company's win rate of the window dashed; a level flagged after the
    false-discovery correction is red."""
    rows = data.comparable("win_rate")  # dimensions with two levels or more
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 0.32 * max(len(rows), 3) + 1.2)))
    if not len(rows):
        ax.text(0.5, 0.5, tr("no closed deal"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    y = np.arange(len(rows))[::-1]
    flagged = (rows["q_win"] < data.alpha).to_numpy()
    colour = np.where(flagged, _ALERT, _LINE)
    # a Wilson bound at a rate of 0 or 1 can sit a rounding error past the rate: no negative error bar
    err = np.clip(np.vstack([rows["win_rate"] - rows["ci_low"], rows["ci_high"] - rows["win_rate"]]), 0.0, None)
    for yi, v, e0, e1, c in zip(y, rows["win_rate"], err[0], err[1], colour, strict=True):
        ax.errorbar(v, yi, xerr=[[e0], [e1]], fmt="o", color=c, capsize=3, ms=5)
    first = rows[rows["dimension"] == rows["dimension"].iloc[0]]
    overall = first["won"].sum() / first["closed"].sum()
    ax.axvline(overall, color=_LIMIT, ls="--", lw=1, label=_tr("all deals {rate:.0%}", rate=overall))
    ax.set_yticks(y)
    ax.set_yticklabels([f"{tr(d.replace('_', ' '))} · {tr(lv)}" for d, lv in zip(rows["dimension"], rows["level"],
                                                                               strict=True)], fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel(tr("win rate (95% interval)"), fontsize=9)
    ax.set_title(kwargs.pop("title", _tr("Win rate by product, region and account size, {window}",
                                         window=data.window)), fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_revenue_shares(data, *, ax=None, **kwargs):
    """Each dimension's revenue split as one 100% bar (deals: product, region, account size; orders: product) of a
    :class:`salesops_kit.monitor.RevenueSources`, the share printed on each part wide enough to hold it."""
    t = data.comparable("share")  # dimensions with two levels or more
    groups = list(dict.fromkeys(zip(t["source"], t["dimension"], strict=True)))
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 0.55 * max(len(groups), 2) + 1.0)))
    if not groups:
        ax.text(0.5, 0.5, tr("no revenue to split"), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    cmap = plt.get_cmap("tab20")
    names = []
    for i, (src, dim) in enumerate(groups):
        g = t[(t["source"] == src) & (t["dimension"] == dim)]
        left = 0.0
        for j, (lv, s) in enumerate(zip(g["level"], g["share"], strict=True)):
            ax.barh(i, s, left=left, color=cmap(j % 20), edgecolor="white")
            if s >= 0.08:
                ax.text(left + s / 2, i, f"{tr(lv)}\n{s:.0%}", ha="center", va="center", fontsize=7)
            left += s
        names.append(f"{tr('won revenue') if src == 'deals' else tr('order revenue')} · {tr(dim.replace('_', ' '))}")
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_title(kwargs.pop("title", _tr("Share of revenue, {window}", window=data.window)), fontsize=10)
    return ax
