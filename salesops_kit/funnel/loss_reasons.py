"""Loss reasons: why lost deals were lost, by stage, segment and rep, and the reasons that grew this period.

Read from ``opportunities.loss_reason`` (the CRM's loss-reason field, mapped in the built-in mappings). Definitions:

* the deals counted are the **lost** deals (current stage a lost stage of the stage model); a blank reason is
  counted as ``(no reason recorded)`` (:data:`NO_REASON`), never dropped, so shares add up to the lost deals;
* a reason's **share** is its lost deals / all lost deals (of the segment), with a 95% Wilson interval;
* **by segment**: the same shares within each value of ``lost_at_stage`` (the last open stage a lost deal
  reached), ``lead_source``, ``product``, ``region`` and ``owner`` when the table has them, with a chi-square test
  of independence of reason and segment per column (BH across the columns);
* **the reasons that grew**: lost deals by the quarter of their ``close_date``: the last complete quarter before
  ``as_of`` against the four quarters before it. Per recorded reason, its share of the quarter's lost deals
  against its share of the previous four quarters' (two-proportion test, Fisher's exact test for small counts,
  Newcombe interval of the change), Benjamini-Hochberg across reasons; a reason grew when its q-value is below
  ``alpha`` and its share went up. The amount lost to it in the quarter is the money behind it.

Row-level scans go through narwhals (pandas, Polars, DuckDB); what is collected is one row per reason x segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import narwhals as nw
import numpy as np
import pandas as pd

from ..data.schema import StageModel
from ..engines.ops import LOST, as_list, check_stages, collect, columns, lazy, outcome_code, require_columns
from ..stats import bh_adjust, chi_square_independence, rate_change_test, wilson_interval
from ..tools.results import Result

__all__ = ["LossReasons", "loss_reasons", "NO_REASON", "LOSS_SEGMENTS", "last_complete_quarter"]

#: what a lost deal without a reason is counted as (shown through the labels catalog)
NO_REASON = "(no reason recorded)"
#: the segment columns loss reasons are broken down by, when the opportunities have them
LOSS_SEGMENTS = ("lost_at_stage", "lead_source", "product", "region", "owner")
_REASON_COLS = ["reason", "lost", "share", "ci_low", "ci_high", "amount_lost"]
_SEG_COLS = ["column", "segment", "reason", "lost", "segment_lost", "share", "ci_low", "ci_high"]
_TEST_COLS = ["column", "segments", "statistic", "dof", "p_value", "q_value"]
_GROWTH_COLS = ["reason", "lost", "quarter_lost", "share", "base_lost", "base_quarters_lost", "base_share",
                "change", "change_ci_low", "change_ci_high", "p_value", "test", "q_value", "grew", "amount_lost"]


def last_complete_quarter(as_of) -> pd.Period:
    """The last calendar quarter that ended on or before the as-of day (as-of 2025-12-15 -> 2025Q3;
    2025-12-31 -> 2025Q4)."""
    day = pd.Timestamp(as_of).normalize()
    q = day.to_period("Q")
    return q if day == q.end_time.normalize() else q - 1


@dataclass(frozen=True, repr=False)
class LossReasons(Result):
    """Result of :func:`loss_reasons`.

    Attributes
    ----------
    table : per reason over all lost deals: ``reason, lost, share, ci_low, ci_high, amount_lost`` (also
        ``summary()``), largest first, ``(no reason recorded)`` last.
    by_segment : long: ``column, segment, reason, lost, segment_lost, share, ci_low, ci_high``.
    segment_tests : per segment column: chi-square test of reason x segment, ``q_value`` BH across columns.
    growth : per reason, the last complete quarter against the four before (see the module docstring).
    quarter, base : labels of the two windows (``2025-Q3``, ``2024-Q3 – 2025-Q2``); empty when not compared.
    growth_note : one sentence when the quarters cannot be compared (too few lost deals, no close dates).
    limitation : one sentence when there is nothing to measure (no loss_reason column, no lost deal).
    """

    table: pd.DataFrame
    by_segment: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_SEG_COLS))
    segment_tests: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_TEST_COLS))
    growth: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_GROWTH_COLS))
    quarter: str = ""
    base: str = ""
    alpha: float = 0.05
    currency: str | None = None
    limitation: str = ""
    growth_note: str = ""
    min_lost: int = 10

    @property
    def compared_columns(self) -> list[str]:
        """The segment columns with at least two segments of ``min_lost`` lost deals (the ones tested and shown)."""
        t = self.segment_tests
        return t.loc[t["p_value"].notna(), "column"].tolist() if len(t) else []

    @property
    def segment_note(self) -> str:
        """One sentence when no segment column has two segments with enough lost deals to compare."""
        from ..i18n import tr

        if self.limitation or self.compared_columns:
            return ""
        return tr("Too few lost deals per segment to compare reasons between segments ({min} lost deals in at least "
                  "two segments of a column needed).", min=self.min_lost)

    @property
    def grew(self) -> pd.DataFrame:
        """The reasons whose share of lost deals grew in the last complete quarter (after BH)."""
        g = self.growth
        return g[g["grew"].astype(bool)] if len(g) else g

    @property
    def no_reason(self) -> int:
        """Lost deals without a recorded reason."""
        t = self.table
        return int(t.loc[t["reason"] == NO_REASON, "lost"].sum()) if len(t) else 0

    def shown(self) -> pd.DataFrame:
        """``.table`` with the blank reason named in the report language (the reasons themselves are data: as
        written in the CRM)."""
        return self.table.assign(reason=reason_labels(self.table["reason"]))

    def shown_growth(self) -> pd.DataFrame:
        """``.growth`` for reading: ``reason, lost, share, base_share, change (+ci), q_value, amount_lost``."""
        g = self.growth[["reason", "lost", "share", "base_share", "change", "change_ci_low", "change_ci_high",
                         "q_value", "amount_lost"]]
        return g.assign(reason=reason_labels(g["reason"]))

    def growth_caption(self) -> str:
        from ..i18n import tr

        return tr("share of the deals lost in {quarter} by reason vs the four quarters before ({base})",
                  quarter=self.quarter, base=self.base)

    def share_table(self, column: str) -> pd.DataFrame:
        """One segment column as a table to read: a row per segment value with at least ``min_lost`` lost deals,
        its lost deals, and a column per reason holding the share with its 95% interval (``25.0% (22.1–28.2%)``);
        reasons in the order of ``.table``."""
        s = self.by_segment[(self.by_segment["column"] == column) & (self.by_segment["segment_lost"] >= self.min_lost)]
        if not len(s):
            return pd.DataFrame(columns=[column, "lost"])
        cell = [f"{v:.1%} ({lo:.1%}–{hi:.1%})" for v, lo, hi in zip(s["share"], s["ci_low"], s["ci_high"], strict=True)]
        wide = s.assign(_cell=cell).pivot_table(index="segment", columns="reason", values="_cell", aggfunc="first",
                                                 dropna=False)
        order = [r for r in self.table["reason"] if r in wide.columns]
        names = dict(zip(order, reason_labels(pd.Series(order)), strict=True))
        lost = s.groupby("segment", dropna=False)["segment_lost"].first()
        out = wide[order].fillna("0.0%").rename(columns=names).reset_index().rename(columns={"segment": column})
        out.insert(1, "lost", out[column].map(lost).astype("int64"))
        return out.sort_values("lost", ascending=False, kind="stable").reset_index(drop=True)

    def headline(self) -> str:
        from ..i18n import t as label
        from ..i18n import tr

        if self.limitation:
            return self.limitation
        t = self.table
        top = t[t["reason"] != NO_REASON]
        n = int(t["lost"].sum())
        if not len(top):
            return tr("{n:,} lost deals, none with a recorded reason.", n=n)
        r = top.iloc[0]
        s = tr("{n:,} lost deals; the most cited reason is {reason} ({share:.1%}).", n=n, reason=r["reason"],
               share=r["share"])
        if self.no_reason:
            more = tr("Lost deals without a recorded reason: {k:,}, counted as {label}.", k=self.no_reason,
                      label=label(NO_REASON))
            s += more if s.endswith("。") else " " + more  # Chinese sentences follow each other without a space
        return s

    def plot(self, ax=None, **kwargs):
        """Share of lost deals per reason with 95% intervals: the last complete quarter against the four before
        when they were compared, else all history (:func:`salesops_kit.plots.plot_loss_reasons`)."""
        from ..plots.funnel import plot_loss_reasons

        if len(self.growth):
            return plot_loss_reasons(self.growth, quarter=self.quarter, base=self.base, ax=ax, **kwargs)
        return plot_loss_reasons(self.table, ax=ax, **kwargs)


def reason_labels(reasons: pd.Series) -> list[str]:
    """Loss reasons as shown: the blank reason (:data:`NO_REASON`) in the report language, the others as the CRM
    wrote them (data, not labels)."""
    from ..i18n import t

    return [t(NO_REASON) if r == NO_REASON else r for r in reasons]


def _limited(sentence: str, alpha: float) -> LossReasons:
    return LossReasons(pd.DataFrame(columns=_REASON_COLS), alpha=alpha, limitation=sentence)


def loss_reasons(data, *, segments=None, stages: StageModel | None = None, as_of=None, alpha: float = 0.05,
                 min_lost: int = 10) -> LossReasons:
    """Lost deals by loss reason overall, per segment, and the reasons that grew in the last complete quarter.

    Parameters
    ----------
    data : Dataset or DataFrame
        ``opportunities`` with ``stage, loss_reason`` (+ ``close_date`` for the quarters, ``amount`` for the money
        lost, the segment columns). A Dataset brings the stage model, as-of date and report currency; a frame
        needs ``stages=`` and ``as_of=``.
    segments : columns to break reasons down by (default :data:`LOSS_SEGMENTS`, those present).
    alpha : false-discovery rate across reasons (growth) and across segment columns.
    min_lost : lost deals the quarter and the four quarters before each need before they are compared, and a
        segment needs before its reasons are shown and tested against the other segments'.

    Returns
    -------
    LossReasons
        Without a ``loss_reason`` column, or without lost deals, ``.limitation`` says so in one sentence. E.g.
        3 lost deals citing Price, 1 Competitor and 1 blank: Price 60%, Competitor 20%, (no reason recorded) 20%.
    """
    from ..data.dataset import Dataset
    from ..i18n import tr

    code, split = None, False
    if isinstance(data, Dataset):
        from ..data.currency import convert, needs_split, report_currency

        ds = data
        ds.require("opportunities", purpose="loss reasons")
        opps = convert(ds.opportunities, ds, "opportunities")
        stages = ds.stages if stages is None else stages
        as_of = ds.as_of if as_of is None else as_of
        split = needs_split(ds, "opportunities")
        code = None if split else report_currency(ds, "opportunities")
    else:
        opps = data
    check_stages(stages)
    o = lazy(opps)
    have = columns(o)
    if "loss_reason" not in have:
        return _limited(loss_reason_note("no_column"), alpha)
    require_columns(o, ["stage"], table="opportunities", purpose="loss reasons")
    segs = [c for c in (LOSS_SEGMENTS if segments is None else as_list(segments)) if c in have]
    if segments is not None:
        require_columns(o, as_list(segments), table="opportunities", purpose="loss reasons by segment")
    amount = nw.col("amount").cast(nw.Float64) if "amount" in have and not split else nw.lit(None, nw.Float64)
    reason = nw.col("loss_reason").cast(nw.String).str.strip_chars()
    reason = nw.when(reason.is_null() | (reason == "")).then(nw.lit(NO_REASON)).otherwise(reason)
    lost = o.filter(outcome_code(stages) == LOST).select(
        reason.alias("reason"), amount.alias("_amount"), *segs,
        *(["close_date"] if "close_date" in have else []))
    overall = collect(lost.group_by("reason").agg(nw.len().alias("lost"), nw.col("_amount").sum().alias("amount"),
                                                  nw.col("_amount").count().alias("_n_amount")))
    if not len(overall):
        return _limited(loss_reason_note("no_lost"), alpha)
    table = _shares(overall)
    by_segment, tests = _by_segments(lost, segs, min_lost)
    growth, quarter, base, note = pd.DataFrame(columns=_GROWTH_COLS), "", "", ""
    if "close_date" not in have:
        note = tr("No {column} column: the reasons cannot be placed in quarters.", column="close_date")
    elif as_of is None:
        raise TypeError("loss_reasons needs as_of= (the last complete quarter before it is compared) with a frame; "
                        "or pass a Dataset.")
    else:
        growth, quarter, base, note = _growth(lost, pd.Timestamp(as_of), alpha, min_lost)
    return LossReasons(table, by_segment=by_segment, segment_tests=tests, growth=growth, quarter=quarter, base=base,
                       alpha=float(alpha), currency=code if table["amount_lost"].notna().any() else None,
                       growth_note=note, min_lost=int(min_lost))


def loss_reason_note(key: str) -> str:
    """A sentence the notebook prints instead of a loss-reason view its data cannot support (report language).

    ``no_column``: no loss_reason column; ``no_lost``: no lost deal.
    """
    from ..i18n import tr

    if key == "no_column":
        return tr("No {column} column in opportunities: loss reasons need the CRM's loss-reason field (map it as "
                  "{key}).", column="loss_reason", key="tables.opportunities.columns.loss_reason")
    if key == "no_lost":
        return tr("No lost deal in this dataset: there are no loss reasons to count.")
    raise KeyError(f"no loss-reason note {key!r}; known: no_column, no_lost")


def _order(t: pd.DataFrame, count: str = "lost") -> pd.DataFrame:
    """Largest first, the blank reason last, ties by name."""
    return t.assign(_blank=t["reason"] == NO_REASON).sort_values(
        ["_blank", count, "reason"], ascending=[True, False, True], kind="stable").drop(columns="_blank")


def _shares(g: pd.DataFrame) -> pd.DataFrame:
    t = g.copy()
    t["lost"] = t["lost"].astype("int64")
    n = t["lost"].sum()
    t["share"] = t["lost"] / n
    lo, hi = wilson_interval(t["lost"].to_numpy(float), float(n))
    t["ci_low"], t["ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
    t["amount_lost"] = t["amount"].where(t["_n_amount"] > 0).astype(float)
    return _order(t)[_REASON_COLS].reset_index(drop=True)


def _by_segments(lost: nw.LazyFrame, segs: list[str], min_lost: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reason shares within each segment value, and a chi-square test of reason x segment per column over the
    segments with at least ``min_lost`` lost deals (no test with fewer than two such segments)."""
    parts, tests = [], []
    for col in segs:
        g = collect(lost.group_by(col, "reason", drop_null_keys=False).agg(nw.len().alias("lost")))
        g = g.rename(columns={col: "segment"})
        g["lost"] = g["lost"].astype("int64")
        g["segment_lost"] = g.groupby("segment", dropna=False)["lost"].transform("sum").astype("int64")
        g["share"] = g["lost"] / g["segment_lost"]
        lo, hi = wilson_interval(g["lost"].to_numpy(float), g["segment_lost"].to_numpy(float))
        g["ci_low"], g["ci_high"] = np.atleast_1d(lo), np.atleast_1d(hi)
        g.insert(0, "column", col)
        parts.append(g.sort_values(["segment", "lost", "reason"], ascending=[True, False, True], kind="stable",
                                   na_position="last"))
        known = g[g["segment"].notna() & (g["segment_lost"] >= min_lost)]
        cross = known.pivot_table(index="segment", columns="reason", values="lost", aggfunc="sum", fill_value=0)
        stat, p, dof = chi_square_independence(cross.to_numpy())
        tests.append({"column": col, "segments": int(known["segment"].nunique()), "statistic": stat, "dof": dof,
                      "p_value": p})
    seg = pd.concat(parts, ignore_index=True)[_SEG_COLS] if parts else pd.DataFrame(columns=_SEG_COLS)
    tt = pd.DataFrame(tests, columns=_TEST_COLS[:-1])
    tt["q_value"] = bh_adjust(tt["p_value"].to_numpy(float)) if len(tt) else []
    return seg, tt[_TEST_COLS]


def _quarter_label(p: pd.Period) -> str:
    return f"{p.year}-Q{p.quarter}"


def _growth(lost: nw.LazyFrame, as_of: pd.Timestamp, alpha: float, min_lost: int):
    """Per recorded reason: its share of the last complete quarter's lost deals against the four quarters before."""
    from ..i18n import tr

    q = last_complete_quarter(as_of)
    quarter, base = _quarter_label(q), f"{_quarter_label(q - 4)} – {_quarter_label(q - 1)}"
    start, mid, end = ((q - 4).start_time.to_pydatetime(), q.start_time.to_pydatetime(),
                       (q + 1).start_time.to_pydatetime())
    in_q = nw.col("close_date") >= mid
    window = lost.filter((nw.col("close_date") >= start) & (nw.col("close_date") < end))
    g = collect(window.with_columns(nw.when(in_q).then(nw.lit(1)).otherwise(nw.lit(0)).alias("_in_q"))
                .group_by("reason", "_in_q").agg(nw.len().alias("lost"), nw.col("_amount").sum().alias("amount"),
                                                 nw.col("_amount").count().alias("_n_amount")))
    n1 = int(g.loc[g["_in_q"] == 1, "lost"].sum()) if len(g) else 0
    n0 = int(g.loc[g["_in_q"] == 0, "lost"].sum()) if len(g) else 0
    if n1 < min_lost or n0 < min_lost:
        return (pd.DataFrame(columns=_GROWTH_COLS), "", "",
                tr("Too few lost deals to compare {quarter} with the four quarters before ({n1:,} and {n0:,} lost "
                   "deals with a close date; {min} each needed).", quarter=quarter, n1=n1, n0=n0, min=min_lost))
    cur = g[g["_in_q"] == 1].set_index("reason")
    prev = g[g["_in_q"] == 0].set_index("reason")
    rows = []
    for reason in sorted(set(cur.index) | set(prev.index)):
        k1 = int(cur["lost"].get(reason, 0))
        k0 = int(prev["lost"].get(reason, 0))
        r = rate_change_test(k1, n1, k0, n0) if reason != NO_REASON else {
            "value": k1 / n1, "base_value": k0 / n0, "change": k1 / n1 - k0 / n0, "ci_low": np.nan,
            "ci_high": np.nan, "p_value": np.nan, "test": "not tested"}
        has_amount = reason in cur.index and cur["_n_amount"].get(reason, 0) > 0
        rows.append({"reason": reason, "lost": k1, "quarter_lost": n1, "share": r["value"], "base_lost": k0,
                     "base_quarters_lost": n0, "base_share": r["base_value"], "change": r["change"],
                     "change_ci_low": r["ci_low"], "change_ci_high": r["ci_high"], "p_value": r["p_value"],
                     "test": r["test"], "amount_lost": float(cur["amount"].get(reason)) if has_amount else np.nan})
    t = pd.DataFrame(rows)
    t["q_value"] = bh_adjust(t["p_value"].to_numpy(float))
    t["grew"] = (t["q_value"] < alpha) & (t["change"] > 0)
    return _order(t)[_GROWTH_COLS].reset_index(drop=True), quarter, base, ""
