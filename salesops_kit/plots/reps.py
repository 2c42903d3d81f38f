"""Rep-coaching charts (issue 6): leaderboard with shrunk intervals, funnel plot, per-rep stage
conversion heatmap, response time vs conversion, win-rate bars. Each returns the Axes it drew on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..i18n import t as tr
from ..tools.validation import option_error
from ._base import get_ax

__all__ = ["plot_rep_leaderboard", "plot_rep_funnel", "plot_rep_stage_heatmap", "plot_response_conversion",
           "plot_win_rate_bars"]

_STATUS_COLOR = {"below": "#c0392b", "above": "#1e8449", "in line": "#34495e", "not enough data": "#aab7b8"}


def _metric_rows(comparison, metric: str) -> pd.DataFrame:
    t = comparison.table if hasattr(comparison, "table") else comparison
    rows = t[t["metric"] == metric]
    if rows.empty:
        raise option_error("metric", metric, sorted(set(t["metric"])), hint="Those are the comparison's metrics.")
    return rows


def plot_rep_leaderboard(comparison, *, metric: str = "win_rate", ax=None, **kwargs):
    """Reps ranked by shrunk rate with 95% posterior intervals; raw rate as an open circle.

    ``comparison`` is a :class:`salesops_kit.reps.RepComparison` (or its ``table``). Reps with
    "not enough data" are drawn grey at the bottom, unranked; the company rate is a dashed line.
    """
    rows = _metric_rows(comparison, metric)
    rows = rows.assign(_r=rows["rank"].fillna(np.inf)).sort_values(["_r", "owner"], ascending=[False, False])
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, max(3, 0.35 * len(rows) + 1))))
    y = np.arange(len(rows))
    colors = [_STATUS_COLOR.get(s, "#34495e") for s in rows["status"]]
    ax.hlines(y, rows["shrunk_low"], rows["shrunk_high"], colors=colors, lw=2, label=tr("shrunk 95% interval"))
    ax.scatter(rows["shrunk_rate"], y, c=colors, s=30, zorder=3, label=tr("shrunk rate"))
    ax.scatter(rows["rate"], y, facecolors="none", edgecolors="#7f8c8d", s=30, zorder=3, label=tr("raw rate"))
    ax.axvline(rows["company_rate"].iloc[0], color="#7f8c8d", ls="--", lw=1, label=tr("company"))
    labels = [f"{o}  (n={int(n)})" + ("" if e else " *") for o, n, e in zip(rows["owner"], rows["trials"],
                                                                               rows["eligible"], strict=True)]
    ax.set_yticks(y, labels)
    name = _metric_name(metric)
    ax.set_xlabel(f"{name} {tr('(* = not enough data, not ranked)')}")
    ax.set_title(kwargs.pop("title", f"{tr('Rep leaderboard')}: {name}, "
                                     f"{tr('shrunk towards the company')}"))
    ax.xaxis.set_major_formatter(_pct_formatter())
    # below the axes: inside, it covered the bottom reps' intervals
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4, fontsize=8, frameon=False)
    return ax


def _metric_name(metric: str) -> str:
    """``win_rate`` -> "win rate" in the report language (never the snake_case name on a chart)."""
    return tr(metric) if tr(metric) != metric else tr(metric.replace("_", " "))


def plot_rep_funnel(comparison, *, metric: str = "win_rate", ax=None, **kwargs):
    """Funnel plot: each rep's raw rate against its number of trials, with 95% and 99.8% control
    limits around the company rate (exact binomial, Spiegelhalter)."""
    from ..stats import funnel_limits

    rows = _metric_rows(comparison, metric)
    rows = rows[rows["trials"] > 0]
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 4.5)))
    p0 = float(rows["company_rate"].iloc[0])
    nmax = max(float(rows["trials"].max()) * 1.1, 10)
    grid = np.unique(np.round(np.geomspace(2, nmax, 200)))
    lim = funnel_limits(grid, p0)
    ax.plot(grid, lim["low_95"], color="#e67e22", lw=1, label=tr("95% limits"))
    ax.plot(grid, lim["high_95"], color="#e67e22", lw=1)
    ax.plot(grid, lim["low_99.8"], color="#c0392b", lw=1, ls="--", label=tr("99.8% limits"))
    ax.plot(grid, lim["high_99.8"], color="#c0392b", lw=1, ls="--")
    ax.axhline(p0, color="#7f8c8d", lw=1, label=tr("company"))
    colors = [_STATUS_COLOR.get(s, "#34495e") for s in rows["status"]]
    ax.scatter(rows["trials"], rows["rate"], c=colors, s=28, zorder=3)
    shown = [r for r in rows.sort_values("rate").itertuples(index=False)
             if r.status != "in line" or r.funnel_band != "inside 95%"]
    for i, r in enumerate(shown):  # neighbours alternate above and below their point, so names do not overlap
        ax.annotate(str(r.owner), (r.trials, r.rate), fontsize=7, xytext=(4, 3 if i % 2 else -9),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(tr("trials (log scale)"))
    ax.set_ylabel(_metric_name(metric))
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title(kwargs.pop("title", f"{tr('Funnel plot')}: {_metric_name(metric)} {tr('by rep')}"))
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_rep_stage_heatmap(stage_table: pd.DataFrame, *, ax=None, annotate: bool = True, counts=None, **kwargs):
    """Per-rep stage-to-stage conversion as a heatmap.

    ``stage_table`` is :func:`salesops_kit.reps.stage_conversion_by_rep` output: one row per rep,
    one column per transition ("Prospecting → Qualification", ...), values in [0, 1]. ``counts`` (the same
    shape, ``stage_conversion_by_rep(ds, value="decided")``) adds each cell's number of decided deals to its
    label, so a 100% of one deal reads as such. Transitions no rep has data for are left out.
    """
    data = stage_table.set_index("owner") if "owner" in stage_table.columns else stage_table
    data = data.loc[:, data.notna().any(axis=0)] if data.shape[1] else data
    n = None
    if counts is not None:
        n = (counts.set_index("owner") if "owner" in counts.columns else counts).reindex(index=data.index,
                                                                                            columns=data.columns)
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (1.4 * max(data.shape[1], 1) + 3, 0.35 * len(data) + 1.5)))
    vals = data.to_numpy(dtype=float)
    im = ax.imshow(vals, aspect="auto", cmap=kwargs.pop("cmap", "RdYlGn"), vmin=0, vmax=1)
    ax.set_xticks(range(data.shape[1]), [str(c) for c in data.columns], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(data)), [str(i) for i in data.index], fontsize=8)
    if annotate:
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                if np.isfinite(vals[i, j]):
                    label = f"{vals[i, j]:.0%}"
                    if n is not None and pd.notna(n.iat[i, j]):
                        label += f"\nn={int(n.iat[i, j])}"
                    ax.text(j, i, label, ha="center", va="center", fontsize=7)
    ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    ax.set_title(kwargs.pop("title", tr("Stage conversion by rep")))
    return ax


def plot_response_conversion(drivers, *, owners=(), ax=None, **kwargs):
    """Lead conversion by first-response band (company, 95% Wilson intervals), with the named reps'
    own band rates overlaid. ``drivers`` is a :class:`salesops_kit.reps.drivers.Drivers`."""
    b = drivers.by_response
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 4)))
    x = np.arange(len(b))
    ax.bar(x, b["rate"], color="#aeb6bf", label=tr("all reps"))
    ax.errorbar(x, b["rate"], yerr=[b["rate"] - b["rate_low"], b["rate_high"] - b["rate"]], fmt="none",
                ecolor="#2c3e50", capsize=3)
    bands = list(b["response_band"].astype(str))
    rr = drivers.by_rep_response
    for i, o in enumerate(owners):
        r = rr[rr["owner"] == o].set_index(rr.loc[rr["owner"] == o, "response_band"].astype(str))
        r = r.reindex(bands)
        ax.plot(x + 0.1 * (i + 1), r["rate"], marker="o", lw=1, label=str(o))
    ax.set_xticks(x, [f"{tr(s)}\n(n={n})" for s, n in zip(bands, b["leads"], strict=True)], fontsize=8)
    ax.set_ylabel(tr("lead conversion"))
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title(kwargs.pop("title", tr("Lead conversion by first-response time (association)")))
    ax.legend(fontsize=8)
    return ax


def plot_win_rate_bars(table: pd.DataFrame, *, ax=None, **kwargs):
    """Raw win rate per rep with 95% Wilson intervals (scorecard table), company rate dashed."""
    t = table[pd.to_numeric(table["win_rate"], errors="coerce").notna()].sort_values("owner")
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 4)))
    x = np.arange(len(t))
    r = t["win_rate"].astype(float)
    ax.bar(x, r, color="#5d6d7e")
    ax.errorbar(x, r, yerr=[r - t["win_rate_low"].astype(float), t["win_rate_high"].astype(float) - r],
                fmt="none", ecolor="#17202a", capsize=3)
    if len(t):
        ax.axhline(float(t["win_rate_company"].iloc[0]), color="#c0392b", ls="--", lw=1, label=tr("company"))
        ax.legend(fontsize=8)
    ax.set_xticks(x, [str(o) for o in t["owner"]], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(tr("win rate (raw, 95% CI)"))
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.set_title(kwargs.pop("title", tr("Win rate by rep (raw)")))
    return ax


def _pct_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)
