"""Cost and CLV charts (issue 4): cohort retention heatmap, CAC vs LTV per channel with intervals,
monthly CAC trend, holdout calibration, P(alive) over frequency × recency, sBG survival.
Each returns the Axes it drew on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..i18n import t as tr
from ._base import get_ax

__all__ = ["plot_retention_heatmap", "plot_cac_vs_ltv", "plot_cac_trend", "plot_holdout_calibration",
           "plot_p_alive_matrix", "plot_survival", "plot_estimates"]


def plot_retention_heatmap(cohorts, *, segment: str = "all", max_months: int | None = 24, ax=None, cmap="Blues",
                           annotate: bool | None = None, **kwargs):
    """Cohort × month-since-acquisition heatmap of retention (complete months only).

    ``cohorts`` is a :class:`salesops_kit.value.customers.CohortRetention` or its ``table``. Month 0
    (100% by definition) is left out.
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 5)))
    t = cohorts.table if hasattr(cohorts, "table") else cohorts
    t = t[(t["segment"] == segment) & t["complete"] & (t["month"] >= 1)]
    if max_months is not None:
        t = t[t["month"] <= max_months]
    if t.empty:
        ax.set_title(tr("Cohort retention (no complete months)"))
        return ax
    piv = t.pivot(index="cohort_month", columns="month", values="retention").sort_index()
    vals = piv.to_numpy(float)
    im = ax.imshow(np.ma.masked_invalid(vals), aspect="auto", cmap=cmap, vmin=0,
                   vmax=max(np.nanmax(vals), 1e-9), **kwargs)
    ax.set_xticks(range(len(piv.columns)))
    ax.set_xticklabels([str(c) for c in piv.columns], fontsize=7)
    step = max(1, len(piv) // 18)
    ax.set_yticks(range(0, len(piv), step))
    ax.set_yticklabels([pd.Timestamp(i).strftime("%Y-%m") for i in piv.index[::step]], fontsize=7)
    if annotate is None:
        annotate = vals.size <= 150
    if annotate:
        for (i, j), v in np.ndenumerate(vals):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=6)
    ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label=tr("share of cohort ordering"))
    ax.set_xlabel(tr("months since acquisition month"))
    ax.set_ylabel(tr("acquisition cohort"))
    ax.set_title(f"{tr('Cohort retention')} ({tr(segment)})")
    return ax


def _place_labels(ax, x, y, labels, *, fontsize=8, near_px=40):
    """Label each point so that no label overlaps another label or a point, inside the axes. A point alone gets its
    label beside it; points closer than ``near_px`` pixels form a group whose labels stand in a column to the right
    of the group, in the order of the points' heights, each joined to its point by a thin leader line.
    Deterministic; no dependency (adjustText is not required)."""
    from matplotlib.text import Text

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.c_[x, y])
    box = ax.get_window_extent(renderer)
    r = 4 * fig.dpi / 72  # a marker's half size in pixels
    markers = [(px - r, py - r, px + r, py + r) for px, py in pts]
    placed: list[tuple[float, float, float, float]] = []
    to_pt = 72 / fig.dpi

    def free(bb):
        if bb[0] < box.x0 or bb[2] > box.x1 or bb[1] < box.y0 or bb[3] > box.y1:
            return False
        return not any(bb[0] < o[2] and o[0] < bb[2] and bb[1] < o[3] and o[1] < bb[3] for o in placed + markers)

    def put(i, dx, dy, ha, va, line, force=False):
        txt = ax.annotate(labels[i], (x[i], y[i]), textcoords="offset points", xytext=(dx, dy), ha=ha, va=va,
                          fontsize=fontsize,
                          arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6} if line else None)
        txt.update_positions(renderer)
        e = Text.get_window_extent(txt, renderer)  # the text alone (an annotation's extent includes its leader)
        bb = (e.x0, e.y0, e.x1, e.y1)
        if force or free(bb):
            placed.append(bb)
            return True
        txt.remove()
        return False

    # groups of nearby points (single linkage)
    group = list(range(len(pts)))
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            if np.hypot(*(pts[j] - pts[i])) < near_px:
                gi, gj = group[i], group[j]
                group = [gi if g == gj else g for g in group]
    line_h = 1.5 * fontsize / to_pt  # pixels between two labels of a column
    ring = [(6, 6, "left", "bottom"), (6, -6, "left", "top"), (-6, 6, "right", "bottom"), (-6, -6, "right", "top"),
            (0, 9, "center", "bottom"), (0, -9, "center", "top")]
    for g in sorted(set(group)):
        members = sorted((i for i in range(len(pts)) if group[i] == g), key=lambda i: (-pts[i][1], labels[i]))
        if len(members) == 1:
            i = members[0]
            if not any(put(i, *spot, line=False) for spot in ring):
                put(i, *ring[0], line=False, force=True)
            continue
        col_x = max(pts[i][0] for i in members) + 3 * r + 14
        top = float(np.mean([pts[i][1] for i in members])) + line_h * (len(members) - 1) / 2
        for k, i in enumerate(members):
            dx, dy = (col_x - pts[i][0]) * to_pt, (top - k * line_h - pts[i][1]) * to_pt
            if not put(i, dx, dy, "left", "center", line=True):
                put(i, dx, dy + 0.5 * line_h * to_pt, "left", "center", line=True, force=True)
    return ax


def plot_cac_vs_ltv(table: pd.DataFrame, *, ax=None, include_blended: bool = True, currency: str | None = None,
                    **kwargs):
    """CAC (x) against mean LTV per new customer (y) per channel, LTV 95% interval as error bars,
    with the LTV = CAC (break-even) and LTV = 3 × CAC lines; each point labelled where no label overlaps another.

    ``table`` is :attr:`salesops_kit.value.costs.UnitEconomics.table`; ``currency`` the code written on the axes.
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 5)))
    t = table if include_blended else table[table["channel"] != "all"]
    t = t[t["cac"].notna() & t["ltv"].notna()]
    if t.empty:
        ax.set_title(tr("CAC vs LTV (nothing to compare)"))
        return ax
    x, y = t["cac"].to_numpy(float), t["ltv"].to_numpy(float)
    err = np.vstack([y - t["ltv_ci_low"].to_numpy(float), t["ltv_ci_high"].to_numpy(float) - y])
    colors = ["#C44E52" if r < 1 else ("#55A868" if r > 3 else "#4C72B0") for r in t["ltv_cac"].fillna(np.inf)]
    ax.errorbar(x, y, yerr=np.nan_to_num(err), fmt="none", ecolor="0.5", capsize=3, lw=1)
    ax.scatter(x, y, c=colors, s=50, zorder=3, **kwargs)
    top = max(np.nanmax(x), 1e-9) * 1.15
    xs = np.array([0, top])
    ax.plot(xs, xs, ls="--", color="#C44E52", lw=1, label=tr("LTV = CAC (break-even)"))
    ax.plot(xs, 3 * xs, ls=":", color="#55A868", lw=1, label=tr("LTV = 3 × CAC"))
    ax.set_xlim(0, top)
    ax.set_ylim(min(0, np.nanmin(y) * 1.1), max(np.nanmax(t["ltv_ci_high"]), np.nanmax(y)) * 1.2)
    unit = f" ({currency})" if currency else ""
    ax.set_xlabel(tr("CAC per new customer") + unit)
    ax.set_ylabel(tr("LTV per new customer (95% CI)") + unit)
    ax.set_title(tr("CAC vs LTV by acquisition channel"))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    names = [tr("blended") if ch == "all" else ch for ch in t["channel"].astype(str)]
    return _place_labels(ax, x, y, names)


def plot_cac_trend(monthly: pd.DataFrame, *, column: str = "cac_3m", ax=None, as_of=None, currency: str | None = None,
                   **kwargs):
    """Monthly (or trailing 3-month) CAC per channel over time; ``monthly`` is the output of
    :func:`salesops_kit.value.costs.cac`. The blended line is drawn thicker; the month still running at ``as_of``
    is a hollow marker no line joins (:func:`~salesops_kit.plots._base.draw_periods`)."""
    from ._base import draw_periods

    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 4.5)))
    if monthly.empty:
        ax.set_title(tr("CAC over time (no data)"))
        return ax
    end = None if as_of is None else pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    first_partial = True
    for (scope, ch), g in monthly.groupby(["scope", "channel"], sort=True):
        g = g[g[column].notna()]
        if g.empty:
            continue
        blended = scope == "blended"
        part = (g["period"] + pd.offsets.MonthBegin(1) > end).to_numpy() if end is not None else None
        line = draw_periods(ax, g["period"], g[column], partial=part, color="k" if blended else None,
                            label=tr("blended") if blended else str(ch), lw=2.5 if blended else 1.2, marker="",
                            **kwargs)
        if part is not None and part.any():
            ax.lines[-1].set_marker("o")
            if not first_partial:
                ax.lines[-1].set_label("_nolegend_")
            first_partial = False
        del line
    unit = f" ({currency})" if currency else ""
    ax.set_ylabel(tr("trailing 3-month CAC" if column == "cac_3m" else "CAC") + unit)
    ax.set_title(tr("CAC over time by channel"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_holdout_calibration(bins: pd.DataFrame, *, ax=None, **kwargs):
    """Mean holdout purchases, actual vs BG/NBD prediction, per calibration-frequency bin
    (``HoldoutCheck.bins``)."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 4)))
    if bins.empty:
        ax.set_title(tr("Holdout calibration (no customers)"))
        return ax
    xs = np.arange(len(bins))
    ax.plot(xs, bins["actual_mean"], marker="o", label=tr("actual"), **kwargs)
    ax.plot(xs, bins["predicted_mean"], marker="s", ls="--", label=tr("BG/NBD prediction"))
    ax.set_xticks(xs)
    ax.set_xticklabels(bins["frequency_bin"].astype(str))
    ax.set_xlabel(tr("repeat purchases in the calibration period"))
    ax.set_ylabel(tr("mean purchases in the holdout period"))
    ax.set_title(tr("Holdout check: predicted vs actual"))
    ax.legend(fontsize=8)
    return ax


def plot_p_alive_matrix(fit, *, max_frequency: int | None = None, T: float | None = None, rfm=None, ax=None,
                        cmap="viridis", time_unit: str = "weeks", **kwargs):
    """P(alive) for a customer of age ``T`` over frequency (rows) × recency (columns) from a BG/NBD fit.

    ``T`` defaults to the largest ``T`` in ``rfm`` (or 52), ``max_frequency`` to the 99th percentile
    of ``rfm.frequency`` (or 20). ``time_unit``: the unit of ``T`` and recency ("weeks", "days" or "months"), written
    on the axis and in the title.
    """
    units = {"weeks": tr("weeks"), "days": tr("days"), "months": tr("months")}
    if time_unit not in units:
        raise ValueError(f"time_unit must be one of {sorted(units)}, got {time_unit!r}.")
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 5)))
    if T is None:
        T = float(rfm["T"].max()) if rfm is not None and len(rfm) else 52.0
    if max_frequency is None:
        max_frequency = int(np.ceil(rfm["frequency"].quantile(0.99))) if rfm is not None and len(rfm) else 20
    max_frequency = max(int(max_frequency), 1)
    f = np.arange(max_frequency + 1)
    r = np.linspace(0, T, 60)
    F, R = np.meshgrid(f, r, indexing="ij")
    P = fit.p_alive(F.ravel(), np.where(F.ravel() == 0, 0.0, R.ravel()), np.full(F.size, T)).reshape(F.shape)
    im = ax.imshow(P, origin="lower", aspect="auto", cmap=cmap, vmin=0, vmax=1,
                   extent=(0, T, -0.5, max_frequency + 0.5), **kwargs)
    ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label=tr("P(alive)"))
    ax.set_xlabel(f"{tr('recency: time from the first purchase to the last')} ({units[time_unit]})")
    ax.set_ylabel(tr("repeat purchases (frequency)"))
    ax.set_title(f"{tr('P(alive) for customers of age')} {T:.0f} {units[time_unit]}")
    return ax


def plot_survival(projection: pd.DataFrame, *, fitted_periods: int | None = None, ax=None, xlabel: str | None = None,
                  title: str | None = None, **kwargs):
    """sBG survival projection (``SBGFit.project(..., observed=...)``) against observed survivors.

    ``xlabel``/``title`` (already translated) replace the generic "period" axis and title."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 4)))
    if projection.empty:
        ax.set_title(tr("Survival (no data)"))
        return ax
    if "observed" in projection:
        ax.plot(projection["period"], projection["observed"], "o-", color="k", label=tr("observed"))
    ax.plot(projection["period"], projection["expected_survivors"], ls="--", label=tr("sBG projection"), **kwargs)
    if fitted_periods is not None:
        ax.axvline(fitted_periods, color="0.6", ls=":", lw=1, label=tr("end of fitted periods"))
    ax.set_xlabel(xlabel or tr("period"))
    ax.set_ylabel(tr("customers surviving"))
    ax.set_title(title or tr("Retention: sBG survival projection"))
    ax.legend(fontsize=8)
    return ax


def plot_estimates(table: pd.DataFrame, *, value: str = "estimate", label: str = "param", low: str = "ci_low",
                   high: str = "ci_high", title: str | None = None, ax=None, **kwargs):
    """One dot per row of ``table`` at ``value``, named by ``label``, with ``low``–``high`` whiskers when the
    table has them: a fitted model's ``summary()`` (parameters and intervals), a simple CLV table
    (``value="clv", label="segment"``)."""
    t = table.reset_index(drop=True)
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (6, 1 + 0.45 * max(len(t), 1))))
    y = np.arange(len(t))
    v = pd.to_numeric(t[value], errors="coerce").to_numpy(dtype=float) if len(t) else np.array([])
    if low in t and high in t and len(t):
        err = [v - t[low].to_numpy(dtype=float), t[high].to_numpy(dtype=float) - v]
        ax.errorbar(v, y, xerr=err, fmt="o", capsize=3, **kwargs)
    else:
        ax.plot(v, y, "o", **kwargs)
    ax.set_yticks(y, t[label].astype(str).tolist() if len(t) else [])
    ax.invert_yaxis()
    ax.set_xlabel(tr(value))
    if title:
        ax.set_title(title)
    return ax
