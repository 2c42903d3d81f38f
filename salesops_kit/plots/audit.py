"""Charts of the data audit: coverage over time per table, and rows caught per check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..i18n import t as tr
from ._base import get_ax

__all__ = ["plot_coverage", "plot_audit_bars"]


def plot_coverage(cov: pd.DataFrame, *, ax=None, cmap: str = "Blues", **kwargs):
    """Heatmap of rows per table per period, each table scaled to its own busiest period.

    Parameters
    ----------
    cov : output of :func:`salesops_kit.data.audit.coverage` (period, table, rows)
    ax : matplotlib Axes (new figure when None)
    cmap : colour map; ``kwargs`` go to ``ax.imshow``

    Returns
    -------
    Axes with one row per table (y tick labels = table names), periods along x; gaps (0 rows)
    are white, so missing months stand out.
    """
    new = ax is None
    ax = get_ax(ax, figsize=(10, 3.4))
    if new:
        ax.figure.set_layout_engine("constrained")
    if cov.empty:
        ax.set_title(tr("Coverage: no dated rows"))
        ax.set_axis_off()
        return ax
    wide = cov.pivot_table(index="table", columns="period", values="rows", aggfunc="sum", fill_value=0)
    order = list(dict.fromkeys(cov["table"]))
    wide = wide.loc[order]
    scaled = wide.div(wide.max(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    ax.imshow(scaled.to_numpy(), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest", **kwargs)
    ax.set_yticks(range(len(order)), labels=[f"{tr(t)} ({int(wide.loc[t].sum()):,})" for t in order])
    periods = pd.DatetimeIndex(wide.columns)
    step = max(1, len(periods) // 12)
    ticks = list(range(0, len(periods), step))
    ax.set_xticks(ticks, labels=[periods[i].strftime("%Y-%m") for i in ticks], rotation=45, ha="right")
    ax.set_title(tr("Rows per period, each table scaled to its busiest period (white = no rows)"))
    return ax


def plot_audit_bars(summary: pd.DataFrame, *, ax=None, **kwargs):
    """Horizontal bars of rows per (table, check) that found something, coloured by action.

    ``summary`` is :meth:`salesops_kit.data.audit.AuditResult.summary` (table, check, rows, action).
    """
    new = ax is None
    ax = get_ax(ax, figsize=(8, max(2.0, 0.35 * len(summary) + 1)))
    if new:
        ax.figure.set_layout_engine("constrained")
    if summary.empty:
        ax.set_title(tr("Audit: no rows quarantined or flagged"))
        ax.set_axis_off()
        return ax
    labels = [f"{tr(t)}: {tr(c)}" for t, c in zip(summary["table"], summary["check"], strict=True)]
    colors = ["#c0392b" if a == "quarantined" else "#e67e22" for a in summary["action"]]
    y = np.arange(len(summary))[::-1]
    ax.barh(y, summary["rows"].to_numpy(), color=colors, **kwargs)
    ax.set_yticks(y, labels=labels)
    ax.set_xlabel(tr("rows (red: quarantined, orange: kept and flagged)"))
    ax.set_title(tr("Audit checks that found rows"))
    return ax
