"""The result protocol every analysis result follows.

A result is a small (usually frozen dataclass) object holding the tables an analysis computed. Each
subclass of :class:`Result` offers the same five things:

* ``summary()`` — always a method — the main table as a new DataFrame (by default a copy of ``.table``);
* ``headline()`` — one sentence with the number that matters;
* ``plot(ax=None, **kwargs)`` — a matplotlib Axes; the chart lives in :mod:`salesops_kit.plots` and is
  imported inside the method, so computing a result never imports matplotlib;
* ``__repr__`` — short: the class name and the headline (or the summary's shape);
* ``_repr_html_`` — the headline and the summary table as HTML, escaped, for notebooks.

Subclasses that are dataclasses are declared with ``repr=False`` so the dataclass machinery does not
replace the short ``__repr__`` with one that prints every table.
"""

from __future__ import annotations

import html

import pandas as pd

from .tables import show_table

__all__ = ["Result"]


class Result:
    """Base class of the kit's analysis results (see the module docstring for the protocol)."""

    __slots__ = ()

    #: the name shown in bold by ``_repr_html_``; defaults to the class name
    title: str | None = None

    def summary(self) -> pd.DataFrame:
        """The main table of the result, as a new DataFrame."""
        table = getattr(self, "table", None)
        if isinstance(table, pd.DataFrame):
            return table.copy()
        raise NotImplementedError(f"{type(self).__name__} has no .table; it must define summary().")

    def headline(self) -> str:
        """One sentence about the result (subclasses say the number that matters)."""
        rows = len(self.summary())
        return f"{self._title()}: {rows:,} row{'s' if rows != 1 else ''}."

    def plot(self, ax=None, **kwargs):
        """Draw the result on ``ax`` (a new figure when None) and return the Axes."""
        raise NotImplementedError(f"{type(self).__name__} has no chart; use .summary() for its table.")

    def _title(self) -> str:
        return self.title or type(self).__name__

    def _shape(self) -> str:
        try:
            r, c = self.summary().shape
        except Exception:  # noqa: BLE001 - a repr must not raise
            return "no table"
        return f"{r} rows x {c} columns"

    def __repr__(self) -> str:
        try:
            text = self.headline()
        except Exception:  # noqa: BLE001 - a repr must not raise
            text = self._shape()
        return f"{type(self).__name__}({text})"

    def _repr_html_(self) -> str:
        try:
            head = self.headline()
        except Exception:  # noqa: BLE001
            head = self._shape()
        table = self.summary()
        body = show_table(table)._repr_html_() if len(table.columns) else ""  # built for reading: no index, no NaN
        return f"<p><b>{html.escape(self._title())}</b>: {html.escape(head)}</p>" + body
