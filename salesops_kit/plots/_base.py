"""Shared plotting helpers."""

from __future__ import annotations

import matplotlib.pyplot as plt


def get_ax(ax=None, *, figsize=(8, 4.5)):
    """Return ``ax`` or a new Axes on a new figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def draw_periods(ax, x, y, *, partial=None, color=None, label=None, marker="o", **kwargs):
    """A series of periods on ``ax`` with its partial periods (the month or quarter still running at the as-of
    date, or any period flagged in ``partial``) drawn apart: complete periods joined by a line, a partial period
    as a hollow marker that no line joins, so a half-finished month never reads as a crash. Returns the line."""
    import numpy as np

    x = list(x)
    y = np.asarray(y, dtype=float)
    part = np.zeros(len(x), bool) if partial is None else np.asarray(partial, dtype=bool)
    full = ~part
    line, = ax.plot([xi for xi, f in zip(x, full, strict=True) if f], y[full], marker=marker, color=color,
                    label=label, markersize=kwargs.pop("markersize", 3), **kwargs)
    if part.any():
        from ..i18n import t

        ax.plot([xi for xi, p in zip(x, part, strict=True) if p], y[part], linestyle="none", marker=marker,
                markerfacecolor="white", markeredgecolor=line.get_color(), markersize=6,
                label=t("partial period (not complete at the as-of date)"))
    return line
