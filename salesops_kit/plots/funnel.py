"""Funnel charts (issue 3): stage funnel with intervals, conversion heatmap by segment,
cumulative incidence of winning, stage-probability calibration. Each returns the Axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, NullFormatter, PercentFormatter

from ..i18n import t as tr
from ._base import get_ax

__all__ = ["plot_funnel", "plot_conversion_heatmap", "plot_cumulative_incidence", "plot_calibration",
           "plot_pipeline_by_stage", "plot_coverage_history", "plot_pushed_share", "plot_loss_reasons",
           "plot_funnel_amounts"]


def plot_funnel(table: pd.DataFrame, *, rate: str = "conversion", ax=None, color="#4C72B0", **kwargs):
    """Horizontal bars of deals reaching each stage, each split into the deals that moved on, were lost there and
    are still open there, labelled with the step (or cumulative) conversion and its 95% interval.

    The label counts what the bar shows: the step conversion is moved on / (moved on + lost there), the dark part
    of the bar over its dark and red parts (open deals, grey, are not failures). ``table`` is
    ``StageFunnel.table`` without ``by`` columns (one row per stage); ``rate`` is "conversion" (to the next
    stage) or "cumulative".
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 4)))
    t = table.reset_index(drop=True)
    if not len(t):
        ax.set_title(tr("Stage funnel (no deals)"))
        ax.set_axis_off()
        return ax
    y = np.arange(len(t))[::-1]
    reached = t["reached"].astype(float).to_numpy()

    def part(col):
        return pd.to_numeric(t[col], errors="coerce").astype(float).to_numpy() if col in t else np.full(len(t), np.nan)

    advanced, lost, still_open = part("advanced"), part("lost"), part("open")
    split = np.isfinite(advanced) & np.isfinite(lost) & np.isfinite(still_open)
    moved = np.where(split, advanced, reached)  # the last (won) stage: the whole bar
    ax.barh(y, moved, color=color, alpha=0.85, label=tr("moved on (or won)"), **kwargs)
    ax.barh(y, np.where(split, lost, 0), left=moved, color="#DD8452", alpha=0.85, label=tr("lost at the stage"))
    ax.barh(y, np.where(split, still_open, 0), left=moved + np.where(split, lost, 0), color="#BBBBBB",
            label=tr("still open at the stage"))
    xmax = reached.max() if reached.max() > 0 else 1
    for yi, (_, r) in zip(y, t.iterrows(), strict=True):
        v, lo, hi = r[rate], r[f"{rate}_ci_low"], r[f"{rate}_ci_high"]
        label = f"{int(r['reached']):,}"
        if pd.notna(v):
            what = tr("of decided deals moved on") if rate == "conversion" else tr("of entrants")
            label += f"   {v:.0%} {what} (95% CI {lo:.0%}–{hi:.0%})"
        ax.text(r["reached"] + xmax * 0.01, yi, label, va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(t["stage"].astype(str))
    ax.set_xlim(0, xmax * 1.9)
    ax.set_xlabel(tr("deals that reached the stage"))
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(tr("Stage funnel: deals that reached each stage; label = moved on / (moved on + lost)")
                 if rate == "conversion" else tr("Stage funnel: deals that reached each stage; label = cumulative "
                                                  "conversion"), fontsize=10)
    return ax


def plot_conversion_heatmap(cells: pd.DataFrame, *, ax=None, cmap="RdBu", annotate: bool = True, **kwargs):
    """Heatmap of conversion minus the rest (percentage points) for segment × transition.

    ``cells`` is ``Bottlenecks.cells`` (optionally filtered to one segment column). Cells with
    q < alpha are marked with ``*``.
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 4)))
    if not len(cells):
        ax.set_title(tr("Conversion by segment (no cells)"))
        return ax
    seg = cells["segment"].astype(object).where(cells["segment"].notna(), tr("(blank)")).astype(str)
    c = cells.assign(label=cells["column"].astype(str) + "=" + seg)  # a blank segment value, not "nan"
    order = c.drop_duplicates("transition").sort_values("stage_index")["transition"].tolist()
    # reindex, not [order]: pivot_table drops a transition whose differences are all missing (too few deals)
    piv = c.pivot_table(index="label", columns="transition", values="difference", aggfunc="first").reindex(
        columns=order)
    sig = c.pivot_table(index="label", columns="transition", values="significant", aggfunc="first").reindex(
        index=piv.index, columns=order)
    vals = piv.to_numpy(float) * 100
    # no segment had enough deals at any step, or every difference rounds to 0 pp: no empty heatmap, no "+0" cells
    if not np.isfinite(vals).any() or not (np.abs(vals[np.isfinite(vals)]) >= 0.5).any():
        ax.set_title(tr("Conversion by segment (no cells)"))
        ax.set_axis_off()
        return ax
    lim = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 1.0
    im = ax.imshow(vals, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto", **kwargs)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(piv.index)))
    ax.set_yticklabels(piv.index, fontsize=8)
    if annotate:
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                if np.isfinite(vals[i, j]):
                    star = "*" if bool(sig.iloc[i, j]) is True else ""
                    num = "0" if abs(vals[i, j]) < 0.5 else f"{vals[i, j]:+.0f}"  # never "+0" or "-0"
                    ax.text(j, i, f"{num}{star}", ha="center", va="center", fontsize=7,
                            color="white" if abs(vals[i, j]) > 0.6 * lim else "black")
    ax.figure.colorbar(im, ax=ax, label=tr("conversion − rest (pp)"))
    ax.set_title(tr("Conversion vs the rest by segment (* = BH q < alpha)"))
    return ax


def plot_cumulative_incidence(result, *, ax=None, max_days: float | None = None, **kwargs):
    """Cumulative incidence of winning over days since creation (with 95% band), per segment.

    ``result`` is a ``SalesCycle`` (or its ``curves`` DataFrame); the dashed line marks each
    segment's median days to win.
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 4)))
    curves = result.curves if hasattr(result, "curves") else result
    by = list(getattr(result, "by", ()))
    summary = getattr(result, "table", None)  # a SalesCycle's per-segment table
    if not len(curves):
        ax.set_title(tr("Cumulative incidence of winning (no deals)"))
        return ax
    groups = curves.groupby(by, sort=True) if by else [((), curves)]
    for key, g in groups:
        label = " | ".join(map(str, key if isinstance(key, tuple) else (key,))) or tr("all deals")
        g = g[g["days"] <= max_days] if max_days is not None else g
        line = ax.step(g["days"], g["cif_won"], where="post", label=label, **kwargs)[0]
        if g["cif_won_ci_low"].notna().any():
            ax.fill_between(g["days"], g["cif_won_ci_low"], g["cif_won_ci_high"], step="post", alpha=0.15,
                            color=line.get_color())
        if summary is not None:
            keys = key if isinstance(key, tuple) else (key,)
            s = summary if not by else summary.merge(pd.DataFrame([dict(zip(by, keys, strict=True))]), on=by)
            if len(s) and pd.notna(s["median_days_to_win"].iloc[0]):
                ax.axvline(s["median_days_to_win"].iloc[0], ls="--", lw=0.8, color=line.get_color())
    ax.set_xlabel(tr("days since the deal was created"))
    ax.set_ylabel(tr("share of deals won by then"))
    ax.set_ylim(0, None)
    ax.set_title(tr("Cumulative incidence of winning (open deals censored, lost deals competing)"))
    ax.legend(fontsize=8)
    return ax


def plot_calibration(table: pd.DataFrame, *, ax=None, **kwargs):
    """Stated stage probability (x) against realised win rate with 95% interval (y), one point per stage;
    the diagonal is perfect calibration. ``table`` is ``Calibration.table``."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (5, 5)))
    t = table.dropna(subset=["realised_win_rate", "stated_probability"])
    if not len(t):  # no stage with both a stated and a realised probability: no empty chart
        ax.set_title(tr("Stage-probability calibration (nothing to compare)"))
        ax.set_axis_off()
        return ax
    x = t["stated_probability"].to_numpy(float)
    y = t["realised_win_rate"].to_numpy(float)
    err = np.vstack([y - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - y])
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, **kwargs)
    for xi, yi, s in zip(x, y, t["stage"].astype(str), strict=True):
        if np.isfinite(xi):
            ax.annotate(s, (xi, yi), textcoords="offset points", xytext=(5, -10), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(tr("stated probability (CRM)"))
    ax.set_ylabel(tr("realised win rate of closed deals that reached the stage"))
    ax.set_title(tr("Stage-probability calibration"))
    return ax


def plot_pipeline_by_stage(table: pd.DataFrame, *, currency: str | None = None, ax=None, **kwargs):
    """Open pipeline per open stage in money: the open amount, and beside it the amount weighted by the CRM's
    probabilities and by the stages' historical win rates (a weighting the data cannot give is not drawn), each bar
    labelled with its amount, the open bar with its deal count. ``table`` is ``PipelineByStage.table``."""
    from ..i18n import format_money
    from ..i18n import tr as template

    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 3.5)))
    t = table.reset_index(drop=True)
    if not len(t) or not t["open_amount"].notna().any():
        ax.set_title(tr("Open pipeline by stage (no open amount)"))
        ax.set_axis_off()
        return ax
    bars = [("open_amount", tr("open amount"), "#4C72B0"),
            ("weighted_crm", tr("weighted by the CRM's probability"), "#DD8452"),
            ("weighted_historical", tr("weighted by the stage's historical win rate"), "#55A868")]
    bars = [b for b in bars if b[0] in t and t[b[0]].notna().any()]
    y = np.arange(len(t))[::-1]
    h = 0.8 / len(bars)
    xmax = float(t["open_amount"].max())
    for i, (col, label, color) in enumerate(bars):
        yy = y + (len(bars) - 1) / 2 * h - i * h
        vals = pd.to_numeric(t[col], errors="coerce").astype(float).to_numpy()
        ax.barh(yy, np.nan_to_num(vals), height=h, color=color, label=label)
        for yi, v, n in zip(yy, vals, t["open_deals"], strict=True):
            if np.isfinite(v):
                text = format_money(v, currency)
                if col == "open_amount":
                    text += " · " + template("{n:,} deals", n=int(n))
                ax.text(v + xmax * 0.01, yi, text, va="center", fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels(t["stage"].astype(str))
    ax.set_xlim(0, xmax * 1.45)
    ax.set_xticks([])
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(tr("Open pipeline by stage, as of the as-of date"), fontsize=10)
    return ax


def plot_funnel_amounts(table: pd.DataFrame, *, currency: str | None = None, ax=None, **kwargs):
    """The stage funnel in money: per open stage, the amount of the deals that reached it and, inside it, the amount
    of those won since, each bar labelled with its amount. ``table`` is ``FunnelAmounts.table``."""
    from ..i18n import format_money

    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 3.5)))
    t = table.reset_index(drop=True)
    if not len(t) or not t["reached_amount"].notna().any() or not (t["reached_amount"] > 0).any():
        ax.set_title(tr("Stage funnel in money (no amount)"))
        ax.set_axis_off()
        return ax
    y = np.arange(len(t))[::-1]
    reached = t["reached_amount"].astype(float).to_numpy()
    won = t["won_amount"].astype(float).fillna(0.0).to_numpy()
    ax.barh(y, reached, color="#4C72B0", label=tr("amount of deals that reached the stage"))
    ax.barh(y, won, height=0.5, color="#55A868", label=tr("of which won"))
    xmax = float(np.nanmax(reached))
    for yi, r, w in zip(y, reached, won, strict=True):
        ax.text(r + xmax * 0.01, yi, format_money(r, currency), va="center", fontsize=7)
        if w > 0.2 * xmax:  # inside the won bar, at its end
            ax.text(w - xmax * 0.01, yi, format_money(w, currency), va="center", ha="right", fontsize=7,
                    color="white")
    ax.set_yticks(y)
    ax.set_yticklabels(t["stage"].astype(str))
    ax.set_xlim(0, xmax * 1.3)
    ax.set_xticks([])
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False)
    ax.set_title(tr("Stage funnel in money"), fontsize=10)
    return ax


def plot_coverage_history(history: pd.DataFrame, needed: pd.DataFrame | None = None, *,
                          current: pd.DataFrame | None = None, ax=None, **kwargs):
    """Each team's past quota periods: pipeline coverage on the as-of date's day of the period (x, log scale)
    against the share of quota the period reached (y); the line at 100% is making quota. A team's coverage now is a
    dashed vertical line in its colour, and the coverage its periods needed (when estimated) a dotted one.
    ``history``, ``needed`` and ``current`` are ``Coverage.history``, ``.needed`` and ``.table``."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (8, 4)))
    h = history[(history["team"] != "company") & history["coverage"].notna() & (history["coverage"] > 0)]
    if not len(h):
        ax.set_title(tr("Coverage and attainment of past quota periods (none)"))
        ax.set_axis_off()
        return ax
    nd = needed.set_index("team") if needed is not None and len(needed) else None
    cur = current.set_index("team") if current is not None and len(current) else None
    for team, g in h.groupby("team", sort=True):
        pts = ax.scatter(g["coverage"], g["attainment"], s=18, label=str(team), alpha=0.8)
        color = pts.get_facecolor()[0]
        if cur is not None and team in cur.index:
            row = cur.loc[team]
            row = row[row["level"] == "team"].iloc[0] if isinstance(row, pd.DataFrame) else row
            if np.isfinite(row["coverage"]) and row["coverage"] > 0:
                ax.axvline(row["coverage"], color=color, ls="--", lw=1)
        if nd is not None and team in nd.index and np.isfinite(nd.loc[team, "needed_coverage"]):
            ax.axvline(nd.loc[team, "needed_coverage"], color=color, ls=":", lw=1)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    lo, hi = float(h["coverage"].min()), float(h["coverage"].max())
    ticks = [v for v in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16) if lo / 1.5 <= v <= hi * 1.5] or [1]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # no 6×10⁻¹ between the labelled ticks
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(tr("pipeline coverage of the quota still to win, on the as-of date's day of the period"))
    ax.set_ylabel(tr("share of quota the period reached"))
    ax.set_title(tr("Past quota periods: coverage and attainment (dashed: coverage now)"), fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_pushed_share(table: pd.DataFrame, *, label: str = "owner", overall: float | None = None, ax=None, **kwargs):
    """Share of deals whose close date was pushed, one row per ``label`` (a rep, a team, a stage) with its 95%
    interval; rows flagged by the test (``flagged``) in red, the overall share as a dotted line. ``table`` is
    ``Slippage.table`` (or ``.by_team``, ``.by_stage`` with ``label="stage"``)."""
    t = table.dropna(subset=["pushed_share"]).reset_index(drop=True)
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 1 + 0.32 * max(len(t), 1))))
    if not len(t):
        ax.set_title(tr("Share of deals pushed (no deal to show)"))
        ax.set_axis_off()
        return ax
    y = np.arange(len(t))
    v = t["pushed_share"].to_numpy(float)
    err = np.vstack([v - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - v])
    flagged = t["flagged"].astype(bool).to_numpy() if "flagged" in t else np.zeros(len(t), dtype=bool)
    for mask, color in ((~flagged, "#4C72B0"), (flagged, "#C44E52")):
        if mask.any():
            ax.errorbar(v[mask], y[mask], xerr=err[:, mask], fmt="o", capsize=3, color=color, **kwargs)
    if overall is not None and np.isfinite(overall):
        ax.axvline(overall, color="grey", lw=0.8, ls=":", label=tr("all deals"))
        ax.legend(fontsize=8, loc="upper right")
    ax.set_yticks(y, t[label].astype(str).tolist())
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, None)
    ax.set_xlabel(tr("share of deals whose close date was pushed (95% CI)"))
    ax.set_title(tr("Share of deals pushed (red: differs from the rest after BH)"), fontsize=10)
    return ax


def plot_loss_reasons(table: pd.DataFrame, *, quarter: str = "", base: str = "", ax=None, **kwargs):
    """Share of lost deals per loss reason with 95% intervals. With ``quarter`` (``LossReasons.growth``): the last
    complete quarter beside the four quarters before (``base``), reasons that grew marked in red; else one bar per
    reason over all history (``LossReasons.table``)."""
    from ..stats import wilson_interval

    t = table.reset_index(drop=True)
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 1 + 0.45 * max(len(t), 1))))
    if not len(t):
        ax.set_title(tr("Loss reasons (no lost deal)"))
        ax.set_axis_off()
        return ax
    y = np.arange(len(t))[::-1].astype(float)
    names = [tr(r) if r == "(no reason recorded)" else str(r) for r in t["reason"]]  # reasons are data
    if quarter:
        h = 0.38
        for col, k, n, color, dy in (("base_share", "base_lost", "base_quarters_lost", "#BBBBBB", -h / 2),
                                     ("share", "lost", "quarter_lost", "#4C72B0", h / 2)):
            v = t[col].to_numpy(float)
            lo, hi = wilson_interval(t[k].to_numpy(float), t[n].to_numpy(float))
            colors = [("#C44E52" if g else color) if col == "share" else color for g in t["grew"].astype(bool)]
            ax.barh(y + dy, v, height=h, color=colors,
                    xerr=np.vstack([v - np.atleast_1d(lo), np.atleast_1d(hi) - v]), capsize=2, **kwargs)
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="#4C72B0", label=quarter), Patch(color="#BBBBBB", label=base),
                           Patch(color="#C44E52", label=tr("grew"))], fontsize=8, loc="lower right")
        ax.set_title(tr("Share of lost deals by reason: last complete quarter vs the four before (red: grew)"),
                     fontsize=10)
    else:
        v = t["share"].to_numpy(float)
        ax.barh(y, v, height=0.6, color="#4C72B0",
                xerr=np.vstack([v - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - v]), capsize=2,
                **kwargs)
        ax.set_title(tr("Share of lost deals by reason (all history)"), fontsize=10)
    ax.set_yticks(y, names)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(tr("share of lost deals (95% CI)"))
    return ax
