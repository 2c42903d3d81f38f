"""RFM segments: recency, frequency and monetary quintile scores and the named segments of the R x F grid, their
size and revenue share, and how customers moved between segments from one date to another.

Scores (1-5, 5 best) are quintiles: R of the days since the last purchase (most recent fifth = 5), F of the number
of purchase days, M of revenue, each the quintile of the value's average rank (``ceil(5 * rank / n)``), so tied
values share a score. (Public recipes rank frequency with ties broken by row order; with customer ids in
acquisition order that puts new one-purchase customers in F 2 and leaves "new customers" empty.)

The segment map is the 10-segment R x F grid (:data:`SEGMENT_MAP`; M is reported, not used), as taught in the
widely used CRM-analytics course material and its public RFM notebooks (regular expressions on the two-digit
"RF" score: ``[1-2][1-2]`` hibernating, ``[1-2][3-4]`` at risk, ``[1-2]5`` can't lose them, ``3[1-2]`` about to
sleep, ``33`` need attention, ``[3-4][4-5]`` loyal customers, ``41`` promising, ``51`` new customers,
``[4-5][2-3]`` potential loyalists, ``5[4-5]`` champions). This map has no separate "lost" segment: the oldest,
least frequent customers (R and F 1-2) are hibernating.

The heavy scans (:func:`.customers.rfm_summary` and the last-12-months revenue) run through narwhals on any engine;
scores and segments are computed on the small per-customer table.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import numpy as np
import pandas as pd

from ..tools.results import Result
from ..tools.validation import require_columns
from .customers import as_day, collect_pandas, lazy_table, max_date, rfm_summary

__all__ = ["SEGMENTS", "SEGMENT_MAP", "segment_of", "segment_label", "rfm_scores", "RFMSegments", "rfm_segments",
           "SegmentMigration", "segment_migration", "MIN_CUSTOMERS", "NOT_YET"]

#: segment names, best first (the order of tables and charts)
SEGMENTS = ("champions", "loyal customers", "potential loyalists", "new customers", "promising", "need attention",
            "about to sleep", "at risk", "can't lose them", "hibernating")
#: the R x F grid: SEGMENT_MAP[(r, f)] for r, f in 1..5
SEGMENT_MAP: dict[tuple[int, int], str] = {}
for _r in range(1, 6):
    for _f in range(1, 6):
        if _r <= 2:
            _s = "hibernating" if _f <= 2 else ("at risk" if _f <= 4 else "can't lose them")
        elif _r == 3:
            _s = "about to sleep" if _f <= 2 else ("need attention" if _f == 3 else "loyal customers")
        elif _r == 4:
            _s = "promising" if _f == 1 else ("potential loyalists" if _f <= 3 else "loyal customers")
        else:
            _s = "new customers" if _f == 1 else ("potential loyalists" if _f <= 3 else "champions")
        SEGMENT_MAP[(_r, _f)] = _s
#: quintile scores need at least this many customers (five per quintile)
MIN_CUSTOMERS = 25
#: the "from" of a customer acquired after the earlier date (segment_migration)
NOT_YET = "not yet a customer"


def segment_label(name: str) -> str:
    """A segment's name in the report language (catalog key ``RFM segment: <name>``, so "new customers" the segment
    is not translated as "new customers" the count); the English name when the catalog has no entry."""
    from ..i18n import t

    key = f"RFM segment: {name}"
    out = t(key)
    return name if out == key else out


def segment_of(r: int, f: int) -> str:
    """The segment of an R score and an F score (1-5)."""
    return SEGMENT_MAP[(int(r), int(f))]


def _quintile(values: pd.Series, *, higher_is_better: bool) -> np.ndarray:
    """Scores 1-5 (5 best): the quintile of each value's average rank, ``ceil(5 * rank / n)``; tied values share a
    rank and so a score (a tie is never split by row order, which would put the newest customers, whose ids come
    last, in a higher frequency quintile than older customers with as many purchases)."""
    v = values.astype(float)
    rank = (v if higher_is_better else -v).rank(method="average")
    return np.clip(np.ceil(5 * rank.to_numpy() / len(v)), 1, 5).astype(int)


def rfm_scores(customers: pd.DataFrame) -> pd.DataFrame:
    """R, F and M scores and the segment of each customer.

    ``customers``: ``customer_id, recency_days, purchases, revenue`` (one row per customer). Returns the rows sorted
    by customer id with ``r_score, f_score, m_score, segment`` added.
    """
    require_columns(customers, ["customer_id", "recency_days", "purchases", "revenue"], table="customers",
                    purpose="rfm_scores")
    if len(customers) < 5:
        raise ValueError(f"RFM quintile scores need at least 5 customers (got {len(customers)}).")
    c = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    c["r_score"] = _quintile(c["recency_days"].astype(float), higher_is_better=False)
    c["f_score"] = _quintile(c["purchases"], higher_is_better=True)
    c["m_score"] = _quintile(c["revenue"].astype(float), higher_is_better=True)
    c["segment"] = [segment_of(r, f) for r, f in zip(c["r_score"], c["f_score"], strict=True)]
    return c


@dataclass(frozen=True, repr=False)
class RFMSegments(Result):
    """Customers scored and segmented at ``as_of``: ``table`` one row per customer (``customer_id, recency_days,
    purchases, revenue, revenue_12m, r_score, f_score, m_score, segment``); :meth:`summary` one row per segment."""

    table: pd.DataFrame
    as_of: pd.Timestamp | None
    window_start: pd.Timestamp | None

    def summary(self) -> pd.DataFrame:
        """Per segment (best first, empty segments kept): ``segment, customers, customer_share, revenue_12m,
        revenue_share`` (of the revenue of the 12 months up to as-of), ``mean_recency_days, mean_purchases``."""
        t = self.table
        g = t.groupby("segment").agg(customers=("customer_id", "size"), revenue_12m=("revenue_12m", "sum"),
                                     mean_recency_days=("recency_days", "mean"), mean_purchases=("purchases", "mean"))
        g = g.reindex(list(SEGMENTS))
        g["customers"] = g["customers"].fillna(0).astype(int)
        g["revenue_12m"] = g["revenue_12m"].fillna(0.0)
        n, rev = int(g["customers"].sum()), float(g["revenue_12m"].sum())
        g["customer_share"] = g["customers"] / n if n else np.nan
        g["revenue_share"] = g["revenue_12m"] / rev if rev > 0 else np.nan
        g = g.reset_index().rename(columns={"index": "segment"})
        return g[["segment", "customers", "customer_share", "revenue_12m", "revenue_share", "mean_recency_days",
                  "mean_purchases"]]

    def share(self, segment: str) -> tuple[int, float]:
        """(customers, revenue share) of one segment."""
        s = self.summary().set_index("segment").loc[segment]
        return int(s["customers"]), float(s["revenue_share"])

    def headline(self) -> str:
        from ..i18n import tr

        if self.table.empty:
            return tr("No customer to segment.")
        n, share = self.share("champions")
        return tr("{n:,} {segment} ({cshare:.0%} of customers) bring {share:.0%} of the last 12 months' revenue.",
                  n=n, segment=segment_label("champions"), cshare=n / len(self.table), share=share)

    def grid(self) -> pd.DataFrame:
        """Customers per R score (rows, 5 first) x F score (columns 1-5)."""
        g = pd.crosstab(self.table["r_score"], self.table["f_score"]).reindex(index=[5, 4, 3, 2, 1],
                                                                           columns=[1, 2, 3, 4, 5], fill_value=0)
        return g.fillna(0).astype(int)

    def cells(self) -> pd.DataFrame:
        """One row per (``r_score``, ``f_score``) cell: its ``segment``, ``customers``, and its segment's
        ``customer_share`` and ``revenue_share`` (the chart's input)."""
        g = self.grid().stack().rename("customers").reset_index()
        g["segment"] = [segment_of(r, f) for r, f in zip(g["r_score"], g["f_score"], strict=True)]
        s = self.summary().set_index("segment")
        g = g.join(s[["customer_share", "revenue_share"]], on="segment")
        g["label"] = g["segment"].map(segment_label)
        return g

    def plot(self, ax=None, **kwargs):
        """The R x F grid with segment names and shares (:func:`salesops_kit.plots.plot_rfm_grid`)."""
        from ..plots.value import plot_rfm_grid

        return plot_rfm_grid(self.cells(), segments=SEGMENTS, ax=ax, **kwargs)


def _customers_at(orders, end: pd.Timestamp) -> pd.DataFrame:
    """Per customer up to ``end``: days since the last purchase, purchase days, revenue, revenue of the 12 months up
    to ``end`` (narwhals scans)."""
    f = lazy_table(orders, ["customer_id", "order_date", "amount"])
    f = f.filter(nw.col("order_date") < nw.lit(end + pd.Timedelta(days=1)))
    r = rfm_summary(f, calibration_end=end, freq="D")
    start = end - pd.DateOffset(months=12) + pd.Timedelta(days=1)
    recent = collect_pandas(f.filter(nw.col("order_date") >= nw.lit(start))
                            .select("customer_id", nw.col("amount").cast(nw.Float64).alias("revenue_12m"))
                            .group_by("customer_id").agg(nw.col("revenue_12m").sum()))
    out = pd.DataFrame({"customer_id": r["customer_id"],
                        "recency_days": (end - pd.to_datetime(r["last_purchase"])).dt.days.astype(int),
                        "purchases": r["purchases"].astype(int), "revenue": r["revenue"].astype(float)})
    out = out.merge(recent, on="customer_id", how="left")
    out["revenue_12m"] = out["revenue_12m"].fillna(0.0).astype(float)
    return out


def rfm_segments(orders, *, as_of=None) -> RFMSegments:
    """Score and segment every customer with orders up to ``as_of`` (default: the last order day).

    Raises ValueError when there are fewer than :data:`MIN_CUSTOMERS` customers (the notebook says so in one
    sentence)."""
    end = as_day(as_of) or max_date(lazy_table(orders, ["customer_id", "order_date", "amount"]), "order_date")
    if end is None:
        raise ValueError("rfm_segments: the orders table is empty.")
    c = _customers_at(orders, end)
    if len(c) < MIN_CUSTOMERS:
        raise ValueError(f"RFM segments need at least {MIN_CUSTOMERS} customers (5 per quintile); there are "
                         f"{len(c)} with orders up to {end.date()}.")
    return RFMSegments(rfm_scores(c), end, end - pd.DateOffset(months=12) + pd.Timedelta(days=1))


@dataclass(frozen=True, repr=False)
class SegmentMigration(Result):
    """Customers by segment at ``earlier`` (rows; :data:`NOT_YET` for customers acquired since) and at ``later``
    (columns): ``table`` long (``from_segment, to_segment, customers``); :meth:`matrix` the cross table."""

    table: pd.DataFrame
    earlier: pd.Timestamp
    later: pd.Timestamp

    def matrix(self) -> pd.DataFrame:
        rows = [s for s in (*SEGMENTS, NOT_YET) if s in set(self.table["from_segment"])]
        cols = [s for s in SEGMENTS if s in set(self.table["to_segment"])]
        m = self.table.pivot_table(index="from_segment", columns="to_segment", values="customers", aggfunc="sum",
                                   fill_value=0)
        return m.reindex(index=rows, columns=cols, fill_value=0).astype(int)

    def stayed(self, segment: str) -> tuple[int, int]:
        """(customers in ``segment`` at the earlier date, of them still in it at the later date)."""
        t = self.table[self.table["from_segment"] == segment]
        return int(t["customers"].sum()), int(t.loc[t["to_segment"] == segment, "customers"].sum())

    def plot(self, ax=None, **kwargs):
        """The migration matrix as row shares (:func:`salesops_kit.plots.plot_segment_migration`)."""
        from ..plots.value import plot_segment_migration

        m = self.matrix()
        m.index, m.columns = [segment_label(x) for x in m.index], [segment_label(x) for x in m.columns]
        return plot_segment_migration(m, ax=ax, **kwargs)

    def headline(self) -> str:
        from ..i18n import format_date, tr

        n, kept = self.stayed("champions")
        if not n:
            return tr("No champions on {date}.", date=format_date(self.earlier))
        return tr("Of the {n:,} {segment} on {date}, {kept:,} ({share:.0%}) still are.", n=n,
                  segment=segment_label("champions"), date=format_date(self.earlier), kept=kept, share=kept / n)


def segment_migration(orders, *, as_of=None, earlier=None) -> SegmentMigration:
    """Segments at ``earlier`` (default: ``as_of`` minus 12 months, the same season a year before) and at ``as_of``,
    each scored on the customers and quintiles of its own date; customers acquired in between come from
    :data:`NOT_YET`. Raises ValueError when either date has fewer than :data:`MIN_CUSTOMERS` customers."""
    end = as_day(as_of) or max_date(lazy_table(orders, ["customer_id", "order_date", "amount"]), "order_date")
    if end is None:
        raise ValueError("segment_migration: the orders table is empty.")
    start = as_day(earlier) if earlier is not None else end - pd.DateOffset(months=12)
    if start >= end:
        raise ValueError(f"earlier ({start.date()}) must be before as_of ({end.date()}).")
    now, then = rfm_segments(orders, as_of=end), rfm_segments(orders, as_of=start)
    m = now.table[["customer_id", "segment"]].merge(then.table[["customer_id", "segment"]], on="customer_id",
                                                    how="left", suffixes=("", "_then"))
    m["segment_then"] = m["segment_then"].fillna(NOT_YET)
    t = (m.groupby(["segment_then", "segment"]).size().rename("customers").reset_index()
         .rename(columns={"segment_then": "from_segment", "segment": "to_segment"}))
    return SegmentMigration(t, start, end)
