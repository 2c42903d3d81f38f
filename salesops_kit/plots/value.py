"""Customer-value charts (issue 18): the RFM segment grid (R x F with segment names) and the concentration of the
predicted customer value. Each returns the Axes it drew on; no topic module is imported (the data come in)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from matplotlib.ticker import PercentFormatter

from ..i18n import t, tr
from ._base import get_ax

__all__ = ["plot_rfm_grid", "plot_value_concentration", "plot_segment_migration"]

_PALETTE = ("#1b7837", "#5aae61", "#a6dba0", "#d9f0d3", "#e7d4e8", "#fee08b", "#fdae61", "#f46d43", "#d73027",
            "#bababa")


def plot_rfm_grid(cells: pd.DataFrame, *, segments=None, ax=None, **kwargs):
    """The R x F segment grid: recency score (rows, 5 = most recent at the top) by frequency score (columns), each
    segment's cells in one colour and labelled once with its name, share of customers and share of revenue.

    ``cells``: one row per (``r_score``, ``f_score``) with ``segment``, ``customers`` and, per segment,
    ``customer_share`` and ``revenue_share``, optionally ``label`` (the name shown; ``RFMSegments.cells()``);
    ``segments``: the segment order (colours).
    """
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (9, 7.5)))
    order = list(segments) if segments is not None else list(dict.fromkeys(cells["segment"]))
    colour = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(order)}
    for _, c in cells.iterrows():
        x, y = int(c["f_score"]) - 1, int(c["r_score"]) - 1
        ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour[c["segment"]], edgecolor="white", linewidth=2))
        ax.text(x + 0.05, y + 0.05, f"{int(c['customers']):,}", ha="left", va="bottom", fontsize=7, color="#333333")
    for seg, g in cells.groupby("segment", sort=False):
        # a rectangle of cells is labelled at its centre; another shape in its cell nearest the centre
        cx, cy = float(np.mean(g["f_score"])) - 0.5, float(np.mean(g["r_score"])) - 0.5
        if len(g) != g["r_score"].nunique() * g["f_score"].nunique():
            near = g.loc[((g["f_score"] - 0.5 - cx) ** 2 + (g["r_score"] - 0.5 - cy) ** 2).idxmin()]
            cx, cy = float(near["f_score"]) - 0.5, float(near["r_score"]) - 0.5
        first = g.iloc[0]
        name = str(first["label"]) if "label" in g else t(str(seg))
        ax.text(cx, cy + 0.18, name, ha="center", va="center", fontsize=8, fontweight="bold")
        ax.text(cx, cy - 0.12, tr("{c:.0%} of customers\n{r:.0%} of revenue", c=first["customer_share"],
                                  r=first["revenue_share"]), ha="center", va="center", fontsize=7)
    ax.set_xlim(0, 5)
    ax.set_ylim(0, 5)
    ax.set_xticks(np.arange(5) + 0.5)
    ax.set_xticklabels([str(i) for i in range(1, 6)])
    ax.set_yticks(np.arange(5) + 0.5)
    ax.set_yticklabels([str(i) for i in range(1, 6)])
    ax.set_xlabel(t("frequency score (5 = most purchases)"))
    ax.set_ylabel(t("recency score (5 = most recent)"))
    ax.set_title(t("RFM segments (customers per cell; revenue of the last 12 months)"))
    ax.set_aspect("equal")
    for s in ax.spines.values():
        s.set_visible(False)
    return ax


def plot_value_concentration(value, *, ax=None, **kwargs):
    """Cumulative share of the predicted customer value against the share of customers, ranked by predicted value
    (a Lorenz-type curve), with the top tenth marked. ``value``: a frame with ``clv`` sorted descending (or a
    result with ``.table``)."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (7, 4.5)))
    tb = value.table if hasattr(value, "table") else value
    v = np.clip(tb["clv"].to_numpy(dtype=float), 0, None)
    if not len(v) or v.sum() <= 0:
        ax.set_title(t("Predicted customer value (none)"))
        return ax
    x = np.arange(1, len(v) + 1) / len(v)
    y = np.cumsum(v) / v.sum()
    ax.plot(np.r_[0, x], np.r_[0, y], color="#1b7837")
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label=t("equal value per customer"))
    k = max(int(np.ceil(0.1 * len(v))), 1)
    ax.scatter([x[k - 1]], [y[k - 1]], color="#1b7837", zorder=3)
    ax.annotate(tr("top 10% of customers: {s:.0%} of the value", s=y[k - 1]), (x[k - 1], y[k - 1]),
                xytext=(12, -14), textcoords="offset points", fontsize=8)
    ax.set_xlabel(t("share of customers, ranked by predicted value"))
    ax.set_ylabel(t("share of predicted value"))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(t("Concentration of the predicted customer value"))
    return ax


def plot_segment_migration(matrix: pd.DataFrame, *, ax=None, **kwargs):
    """Where each earlier segment's customers are now: ``matrix`` (customers, earlier segments as rows, current as
    columns, names as shown; ``SegmentMigration.plot()``) drawn as row shares, each cell annotated with its
    customers."""
    ax = get_ax(ax, figsize=kwargs.pop("figsize", (10, 6)))
    counts = matrix.to_numpy(dtype=float)
    if not counts.size or counts.sum() == 0:
        ax.set_title(t("Segment migration (no customers)"))
        return ax
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    im = ax.imshow(share, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(counts):
        if v:
            ax.text(j, i, f"{int(v):,}", ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.6 else "#222222")
    ax.set_xticks(range(counts.shape[1]))
    ax.set_xticklabels([str(c) for c in matrix.columns], rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(counts.shape[0]))
    ax.set_yticklabels([str(r) for r in matrix.index], fontsize=8)
    ax.set_xlabel(t("segment now"))
    ax.set_ylabel(t("segment a year before"))
    ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label=t("share of the earlier segment"))
    ax.set_title(t("Segment migration (customers; colour: share of the row)"))
    return ax
