"""Shared plotting helpers."""

from __future__ import annotations

import matplotlib.pyplot as plt


def get_ax(ax=None, *, figsize=(8, 4.5)):
    """Return ``ax`` or a new Axes on a new figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax
