"""Funnel bottlenecks that survive significance testing.

For every stage transition (k → next) and every segment column (lead source, team, product,
region, …), each segment's conversion is compared with the rest of the deals on a 2×2 table
(advanced / not advanced among deals whose fate at k is known): Pearson chi-square, or Fisher's
exact test when an expected count is below 5. Benjamini–Hochberg controls the false-discovery rate
across *all* transition × segment cells at once. A bottleneck is a cell whose conversion is below
the rest with ``q < alpha``; its effect size is the difference in conversion (Newcombe 95%
interval), the ratio and Cohen's h.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import as_list, columns, lazy, resolve, sort_out
from ..stats import bh_adjust, cohens_h, newcombe_diff_interval, two_proportion_test
from ..tools.results import Result
from .stages import stage_funnel

__all__ = ["Bottlenecks", "bottlenecks", "DEFAULT_SEGMENTS"]

DEFAULT_SEGMENTS = ("lead_source", "team", "product", "region")

CELL_COLUMNS = ["transition", "from_stage", "to_stage", "stage_index", "column", "segment", "advanced", "decided",
                "conversion", "ci_low", "ci_high", "rest_advanced", "rest_decided", "rest_conversion", "difference",
                "difference_ci_low", "difference_ci_high", "ratio", "cohens_h", "test", "p_value", "q_value",
                "significant", "below_rest"]


@dataclass(frozen=True, repr=False)
class Bottlenecks(Result):
    """Result of :func:`bottlenecks`.

    Attributes
    ----------
    cells : DataFrame, one row per (transition, segment column, segment value):
        ``transition, from_stage, to_stage, stage_index, column, segment, advanced, decided,
        conversion, ci_low, ci_high, rest_advanced, rest_decided, rest_conversion, difference,
        difference_ci_low, difference_ci_high, ratio, cohens_h, test, p_value, q_value,
        significant, below_rest``; sorted by q-value.
    flagged : the cells significantly below the rest (``q < alpha`` and ``difference < 0``).
    alpha : the false-discovery rate.
    segments : the segment columns compared.
    funnel_type : how "reached" was counted ("any_path" or "in_order").
    """

    cells: pd.DataFrame
    flagged: pd.DataFrame
    alpha: float
    segments: tuple[str, ...]
    funnel_type: str = "any_path"

    def summary(self) -> pd.DataFrame:
        return self.flagged.copy()

    def __repr__(self) -> str:
        return f"Bottlenecks({self.headline()})"

    @property
    def tested(self) -> int:
        """Transition × segment cells that were tested (decided deals in the segment and in the rest)."""
        return int(self.cells["p_value"].notna().sum()) if len(self.cells) else 0

    @property
    def limitation(self) -> str | None:
        """One sentence (in the report language) when no segment can be compared with the rest, else None."""
        from ..i18n import tr

        if not self.segments:
            return tr("The export has none of the segment columns ({columns}): there is nothing to compare.",
                      columns=", ".join(DEFAULT_SEGMENTS))
        if not self.tested:
            return tr("No segment of {columns} could be compared with the rest at any step (a single value, too few "
                      "decided deals, or no deal known to have failed a step): nothing could be tested.",
                      columns=", ".join(self.segments))
        return None

    def headline(self) -> str:
        from ..i18n import tr

        if self.limitation:
            return self.limitation
        if not len(self.flagged):
            return tr("No segment converts significantly below the rest at any transition ({cells} cells tested, "
                      "BH q < {alpha}).", cells=self.tested, alpha=f"{self.alpha:g}")
        r = self.flagged.iloc[0]
        return tr("{n} bottleneck(s); strongest: {column}={segment} at {transition} converts {rate} vs {rest} for "
                  "the rest ({q}).", n=len(self.flagged), column=r["column"], segment=r["segment"],
                  transition=r["transition"], rate=f"{r['conversion']:.1%}", rest=f"{r['rest_conversion']:.1%}",
                  q="q < 0.001" if r["q_value"] < 0.001 else f"q = {r['q_value']:.3f}")

    @property
    def chart_limitation(self) -> str | None:
        """One sentence when the heatmap would show nothing (no tested cell, or every difference rounds to 0 pp):
        the notebook draws no chart then."""
        from ..i18n import tr

        if self.limitation:
            return self.limitation
        d = self._chart_cells()["difference"].astype(float)
        if not (d.abs() * 100 >= 0.5).any():
            return tr("Every tested segment converts within half a point of the rest at every step: no chart.")
        return None

    def _chart_cells(self) -> pd.DataFrame:
        tested = self.cells[self.cells["p_value"].notna()]  # an untested cell (too few deals) says nothing
        column = (self.flagged["column"].iloc[0] if len(self.flagged)
                  else tested["column"].iloc[0] if len(tested) else (self.segments[0] if self.segments else None))
        return tested[tested["column"] == column]

    def plot(self, ax=None, **kwargs):
        from ..plots.funnel import plot_conversion_heatmap

        return plot_conversion_heatmap(self._chart_cells(), ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html
        from ..tools import show_table

        return (f"<p><b>Bottlenecks</b>: {escape_html(self.headline())}</p>"
                + show_table(self.flagged)._repr_html_())


def bottlenecks(opportunities, *, stage_history=None, segments=None, stages: StageModel | None = None,
                alpha: float = 0.05, funnel_type: str = "any_path", min_decided: int = 1,
                use_history: bool = True) -> Bottlenecks:
    """Stage transitions where a segment converts significantly below the rest.

    Parameters
    ----------
    opportunities : DataFrame (pandas / Polars / DuckDB) or Dataset
        ``opportunity_id, stage`` (+ ``lost_at_stage``) and the segment columns.
    stage_history : DataFrame, optional (a Dataset brings its own); see :func:`~salesops_kit.funnel.stage_funnel`.
    segments : list of column names, optional
        Default: those of ``lead_source, team, product, region`` that the table has.
    stages : StageModel (default: the Dataset's)
    alpha : false-discovery rate for Benjamini–Hochberg across every transition × segment cell.
    funnel_type : "any_path" or "in_order" (with history).
    min_decided : cells with fewer decided deals than this are not tested (NaN p-value).

    Returns
    -------
    Bottlenecks
    """
    opps, history, stages, _ = resolve(opportunities, stages=stages)
    if stage_history is not None:
        history = stage_history
    if not use_history:
        history = None
    have = columns(lazy(opps))
    segs = [c for c in DEFAULT_SEGMENTS if c in have] if segments is None else as_list(segments)
    rows = []
    for column in segs:
        t = stage_funnel(opps, stage_history=history, by=column, stages=stages, funnel_type=funnel_type,
                         use_history=history is not None).table
        t = t[t["next_stage"].notna()]
        if not len(t):
            continue
        t = t.assign(decided=t["reached"].astype(int) - t["open"].astype(int), advanced=t["advanced"].astype(int))
        for (k, frm, to), g in t.groupby(["stage_index", "stage", "next_stage"], sort=True):
            tot_a, tot_d = int(g["advanced"].sum()), int(g["decided"].sum())
            for _, r in g.iterrows():
                a, d = int(r["advanced"]), int(r["decided"])
                ra, rd = tot_a - a, tot_d - d
                if d >= min_decided and rd > 0:
                    p, test = two_proportion_test(a, d, ra, rd)
                else:
                    p, test = np.nan, "none"
                rows.append({"transition": f"{frm} → {to}", "from_stage": frm, "to_stage": to, "stage_index": int(k),
                             "column": column, "segment": r[column], "advanced": a, "decided": d,
                             "conversion": r["conversion"], "ci_low": r["conversion_ci_low"],
                             "ci_high": r["conversion_ci_high"], "rest_advanced": ra, "rest_decided": rd,
                             "test": test, "p_value": p})
    cells = pd.DataFrame(rows, columns=[c for c in CELL_COLUMNS if c not in ("difference", "difference_ci_low",
                                                                             "difference_ci_high", "ratio", "cohens_h",
                                                                             "q_value", "significant", "below_rest",
                                                                             "rest_conversion")])
    if len(cells):
        with np.errstate(invalid="ignore", divide="ignore"):
            cells["rest_conversion"] = cells["rest_advanced"] / cells["rest_decided"].where(cells["rest_decided"] > 0)
            cells["difference"] = cells["conversion"] - cells["rest_conversion"]
            lo, hi = newcombe_diff_interval(cells["advanced"], cells["decided"], cells["rest_advanced"],
                                            cells["rest_decided"])
            cells["difference_ci_low"], cells["difference_ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
            cells["ratio"] = cells["conversion"] / cells["rest_conversion"].where(cells["rest_conversion"] > 0)
            cells["cohens_h"] = cohens_h(cells["conversion"].to_numpy(float), cells["rest_conversion"].to_numpy(float))
        cells["q_value"] = bh_adjust(cells["p_value"].to_numpy(float))
        cells["significant"] = cells["q_value"] < alpha
        cells["below_rest"] = cells["difference"] < 0
    else:
        for c in CELL_COLUMNS:
            if c not in cells:
                cells[c] = pd.Series(dtype=float)
    cells = sort_out(cells[CELL_COLUMNS], ["q_value", "stage_index", "column", "segment"])
    flagged = cells[cells["significant"].astype(bool) & cells["below_rest"].astype(bool)].reset_index(drop=True)
    return Bottlenecks(cells, flagged, float(alpha), tuple(segs), funnel_type)
