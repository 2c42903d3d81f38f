"""Customers from orders: RFM summary, repeat purchase, acquisition cohorts and retention, churn,
and the simple CLV formula.

Row-level scans are written with narwhals, so every function accepts a pandas or Polars
(eager/lazy) frame or a DuckDB relation of orders and returns a small pandas result. Orders are
collapsed to one purchase per customer and calendar day (several orders on one day count as one
transaction, amounts summed) for the RFM summary, as in the BG/NBD literature.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import plain_dtypes, sql_ident
from ..engines.pandas_fast import group_agg
from ..stats import wilson_interval
from ..tools.results import Result
from ..tools.validation import check_option, require_columns

__all__ = [
    "TIME_UNITS", "rfm_summary", "customer_table", "repeat_purchase_rate", "cohort_retention", "CohortRetention",
    "retention_at", "churn", "simple_clv", "SimpleCLV",
]

#: days per time unit of rfm_summary (W = days/7 as in Fader-Hardie; M = average month)
TIME_UNITS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}
_DAY_NS = 86400.0


#: order fields the loader may withhold (set to missing, row kept): an order counts wherever the field it lacks is
#: not needed, so an analysis that needs one of them leaves out the orders without it (a refund's withheld amount
#: keeps it out of monetary value and order values, not out of the row account)
WITHHELD_ORDER_FIELDS = ("customer_id", "order_date", "amount")


def lazy_table(native, need, *, table="orders"):
    """``native`` (pandas, Polars, DuckDB, ...) as a narwhals LazyFrame, after checking it has the ``need`` columns.

    For orders, rows whose needed customer, date or amount was withheld by the loader are left out."""
    f = nw.from_native(native)
    require_columns(f, need, table=table)
    f = f.lazy() if hasattr(f, "lazy") else f
    needed = [c for c in WITHHELD_ORDER_FIELDS if c in need] if table == "orders" else []
    if needed:
        f = f.filter(~nw.any_horizontal(*[nw.col(c).is_null() for c in needed], ignore_nulls=False))
    return f


def collect_pandas(f) -> pd.DataFrame:
    """A narwhals frame as a new pandas frame, its dates naive ``datetime64[ns]`` on every engine (Spark hands back
    session-zone timestamps: :func:`~salesops_kit.engines.ops.plain_dtypes`)."""
    native = nw.to_native(f) if hasattr(f, "collect") else None
    if native is not None and nw.dependencies.is_duckdb_relation(native):
        # straight to pandas (narwhals' collect goes through Arrow or Polars first), timestamps made ns by DuckDB:
        # cheaper than pandas' astype after it (0.18 s of 2.2 s for 1.6M customers' first and last purchase)
        stamps = {c for c, t in zip(native.columns, native.types, strict=True) if str(t) == "TIMESTAMP"}
        if stamps:
            native = native.project(", ".join(
                f"CAST({sql_ident(c)} AS TIMESTAMP_NS) AS {sql_ident(c)}" if c in stamps else sql_ident(c)
                for c in native.columns))
        out = native.df()
    else:
        f = f.collect() if hasattr(f, "collect") else f
        out = f.to_pandas().copy(deep=False)  # never hand back (and later modify) the caller's frame
    return plain_dtypes(out, [c for c in out.columns if pd.api.types.is_datetime64_any_dtype(out[c].dtype)])


def as_day(v) -> pd.Timestamp | None:
    """A date as a midnight Timestamp (None stays None)."""
    return None if v is None else pd.Timestamp(v).normalize()


def in_days(expr):
    """A duration expression in days."""
    return expr.dt.total_seconds() / _DAY_NS


def max_date(f, col) -> pd.Timestamp | None:
    """The latest date of ``col`` (midnight), or None when there is none."""
    d = collect_pandas(f.select(nw.col(col).max().alias("m")))
    return None if d.empty or pd.isna(d["m"].iloc[0]) else pd.Timestamp(d["m"].iloc[0]).normalize()


# Backends whose narwhals group-by has no ordered ``first`` (PySpark, Spark Connect, SQLFrame).
_NO_ORDERED_FIRST = {nw.Implementation.PYSPARK, nw.Implementation.PYSPARK_CONNECT, nw.Implementation.SQLFRAME}


def rfm_summary(orders, *, calibration_end=None, holdout_end=None, freq: str = "W",
                customer_col: str = "customer_id", date_col: str = "order_date",
                amount_col: str = "amount") -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value (the BG/NBD / Gamma-Gamma inputs).

    Parameters
    ----------
    orders : pandas / Polars (eager or lazy) / DuckDB frame
        Columns ``customer_id, order_date, amount`` (names configurable).
    calibration_end : date-like, optional
        Last day of the calibration period (inclusive); default the last order day.
    holdout_end : date-like, optional
        Last day of the holdout period (inclusive); adds ``frequency_holdout``, ``duration_holdout``
        and ``monetary_value_holdout``.
    freq : {"W", "D", "M"}
        Time unit of ``recency``, ``T`` and ``duration_holdout`` (days/7, days, days/30.4375).

    Returns
    -------
    DataFrame sorted by ``customer_id`` with columns ``customer_id, frequency`` (purchase days after
    the first), ``recency`` (first to last purchase), ``T`` (first purchase to calibration end),
    ``monetary_value`` (mean value of the repeat purchase days, 0 without repeats), ``first_purchase,
    last_purchase, purchases, revenue`` [+ holdout columns]. Only customers whose first purchase is
    on or before ``calibration_end`` are included.
    """
    check_option("freq", freq, sorted(TIME_UNITS))
    unit = TIME_UNITS[freq]
    need = [customer_col, date_col, amount_col]
    # a purchase needs its customer, day and value: orders whose loader withheld one of them are left out
    f = lazy_table(orders, need)  # (leaves out the orders whose canonical customer, date or amount was withheld)
    other = [c for c in need if c not in WITHHELD_ORDER_FIELDS]  # columns named otherwise: filtered here
    if other:
        f = f.filter(~nw.any_horizontal(*[nw.col(c).is_null() for c in other], ignore_nulls=False))
    cal = as_day(calibration_end) or max_date(f, date_col)
    hold = as_day(holdout_end)
    if hold is not None and hold <= cal:
        raise ValueError(f"holdout_end ({hold.date()}) must be after calibration_end ({cal.date()}).")
    cols = ["customer_id", "frequency", "recency", "T", "monetary_value", "first_purchase", "last_purchase",
            "purchases", "revenue"]
    if hold is not None:
        cols += ["frequency_holdout", "duration_holdout", "monetary_value_holdout"]
    if cal is None:  # empty input
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    native = nw.to_native(orders, pass_through=True)  # a narwhals-wrapped pandas frame takes the fast path too
    if nw.dependencies.is_pandas_dataframe(native):  # same answer without narwhals' sort for first(order_by=)
        from ..engines.pandas_fast import rfm_pandas

        if native[need].isna().any(axis=None):
            native = native.dropna(subset=need)

        fast = rfm_pandas(native, customer_col=customer_col, date_col=date_col, amount_col=amount_col, cal=cal,
                          hold=hold, unit=unit)
        if fast is not None:
            return fast[cols]
    last_day = (hold if hold is not None else cal) + pd.Timedelta(days=1)  # later orders count nowhere below
    daily = (f.filter(nw.col(date_col) < nw.lit(last_day))
             .select(nw.col(customer_col).alias("customer_id"),
                      nw.col(date_col).dt.truncate("1d").alias("day"),
                      nw.col(amount_col).cast(nw.Float64).alias("amount"))
             .group_by("customer_id", "day").agg(nw.col("amount").sum()))
    out = _rfm_calibration(f, daily, cal=cal, unit=unit, filtered=hold is None)
    if hold is not None:
        out = _rfm_holdout(out, daily, cal=cal, hold=hold, unit=unit)
    for c in ("first_purchase", "last_purchase"):  # (collect_pandas hands back datetime64[ns] on every engine)
        if not pd.api.types.is_datetime64_dtype(out[c].dtype):
            out[c] = pd.to_datetime(out[c])
    out = out[cols]  # a new frame, numbered 0.. as collected and merged
    return out if isinstance(out.index, pd.RangeIndex) and out.index.start == 0 else out.reset_index(drop=True)


def _rfm_calibration(f, daily, *, cal: pd.Timestamp, unit: float, filtered: bool = False) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer over the calibration period (narwhals scan);
    ``filtered``: ``daily`` has no day after ``cal`` already."""
    calib = daily if filtered else daily.filter(nw.col("day") < nw.lit(cal + pd.Timedelta(days=1)))
    aggs = [nw.col("day").min().alias("first_purchase"), nw.col("day").max().alias("last_purchase"),
            nw.len().alias("purchases"), nw.col("amount").sum().alias("revenue")]
    spark = f.implementation in _NO_ORDERED_FIRST
    if spark:  # Spark: the first day's amount by a join on the first day
        cust = calib.group_by("customer_id").agg(*aggs)
        first = (calib.join(cust.select("customer_id", "first_purchase"), on="customer_id")
                 .filter(nw.col("day") == nw.col("first_purchase"))  # one row: days are unique per customer
                 .select("customer_id", nw.col("amount").alias("first_amount")))
        cust = cust.join(first, on="customer_id")
    else:  # one pass: the first day's amount is an ordered aggregate (first by day)
        cust = _with_first_amount(calib, aggs)
    cust = cust.with_columns(frequency=nw.col("purchases") - 1)
    if not spark:  # (Spark has no duration-to-seconds in narwhals: computed below on the per-customer rows)
        cust = cust.with_columns(recency=in_days(nw.col("last_purchase") - nw.col("first_purchase")) / unit,
                                 T=in_days(nw.lit(cal) - nw.col("first_purchase")) / unit)
    cust = (cust.with_columns(monetary_value=nw.when(nw.col("frequency") > 0)
                              .then((nw.col("revenue") - nw.col("first_amount")) / nw.col("frequency")).otherwise(0.0))
            .sort("customer_id"))
    out = collect_pandas(cust)
    if spark:
        first, last = (pd.to_datetime(out[c]) for c in ("first_purchase", "last_purchase"))
        if first.dt.tz is not None:  # Spark hands timestamps back in its session time zone: keep the wall time
            first, last = first.dt.tz_localize(None), last.dt.tz_localize(None)
        out["recency"] = (last - first).dt.total_seconds() / _DAY_NS / unit
        out["T"] = (cal - first).dt.total_seconds() / _DAY_NS / unit
    out["frequency"] = out["frequency"].astype(int)
    out["purchases"] = out["purchases"].astype(int)
    return out


def _with_first_amount(calib, aggs):
    """``aggs`` per customer and the amount of the customer's first day (days are unique per customer), in one
    pass. The ordered ``first`` narwhals writes sorts every group: on DuckDB it cost 1.16x ``arg_min`` in the same
    query, and Polars' ``sort_by().first()`` ran at 0.85-0.93x the hand SQL (4M orders, benchmarks/RESULTS.md).
    The DuckDB and Polars branches spell out the same aggregates as ``aggs`` (first_purchase, last_purchase,
    purchases, revenue): change them together. Other engines get narwhals' ordered ``first``."""
    native = nw.to_native(calib)
    if calib.implementation is nw.Implementation.DUCKDB:
        return nw.from_native(native.aggregate(
            "customer_id, min(day) AS first_purchase, max(day) AS last_purchase, count(*) AS purchases, "
            "sum(amount) AS revenue, arg_min(amount, day) AS first_amount", "customer_id"))
    if calib.implementation is nw.Implementation.POLARS:
        import polars as pl

        return nw.from_native(native.group_by("customer_id").agg(
            pl.col("day").min().alias("first_purchase"), pl.col("day").max().alias("last_purchase"),
            pl.len().alias("purchases"), pl.col("amount").sum().alias("revenue"),
            pl.col("amount").sort_by("day").first().alias("first_amount")))
    return calib.group_by("customer_id").agg(*aggs, nw.col("amount").first(order_by="day").alias("first_amount"))


def _rfm_holdout(out: pd.DataFrame, daily, *, cal: pd.Timestamp, hold: pd.Timestamp, unit: float) -> pd.DataFrame:
    """Adds the holdout purchases (after ``cal``, up to ``hold``) to the calibration summary."""
    in_holdout = (nw.col("day") > nw.lit(cal)) & (nw.col("day") < nw.lit(hold + pd.Timedelta(days=1)))
    h = collect_pandas(daily.filter(in_holdout).group_by("customer_id")
                       .agg(frequency_holdout=nw.len(), revenue_holdout=nw.col("amount").sum()))
    out = out.merge(h, on="customer_id", how="left")
    out["frequency_holdout"] = out["frequency_holdout"].fillna(0).astype(int)
    out["monetary_value_holdout"] = np.where(out["frequency_holdout"] > 0,
                                             out["revenue_holdout"] / out["frequency_holdout"].clip(lower=1), 0.0)
    out["duration_holdout"] = (hold - cal).days / unit
    return out


def customer_table(orders, *, as_of=None, customer_col: str = "customer_id", date_col: str = "order_date",
                   amount_col: str = "amount", channel_col: str = "channel", margin_col: str = "margin"
                   ) -> pd.DataFrame:
    """One row per customer: acquisition date and month, acquisition channel, orders, revenue, margin.

    The acquisition channel is the ``channel`` of the customer's first order (smallest value on ties);
    ``channel`` is ``"(none)"`` when the orders have no channel column, ``margin`` NaN without a margin
    column. Orders after ``as_of`` are ignored.

    Returns columns ``customer_id, first_order, cohort_month, channel, orders, revenue, margin``.
    """
    f = lazy_table(orders, [customer_col, date_col, amount_col]).filter(~nw.col(customer_col).is_null())
    names = f.collect_schema().names()  # (an order without customer, withheld on load, is in no customer row)
    if as_of is not None:
        f = f.filter(nw.col(date_col) < nw.lit(as_day(as_of) + pd.Timedelta(days=1)))
    sel = [nw.col(customer_col).alias("customer_id"), nw.col(date_col).alias("d"),
           nw.col(amount_col).cast(nw.Float64).alias("amount"),
           (nw.col(channel_col).cast(nw.String) if channel_col in names else nw.lit("(none)")).alias("channel"),
           (nw.col(margin_col).cast(nw.Float64) if margin_col in names else nw.lit(None, nw.Float64)).alias("margin")]
    o = f.select(*sel)
    agg = o.group_by("customer_id").agg(first_order=nw.col("d").min(), orders=nw.len(),
                                         revenue=nw.col("amount").sum(), margin=nw.col("margin").sum(),
                                         margin_n=nw.col("margin").count())
    ch = group_agg(o.join(agg.select("customer_id", "first_order"), on="customer_id")
                   .filter(nw.col("d") == nw.col("first_order")), ["customer_id"], str_min={"channel": "channel"})
    out = collect_pandas(agg.join(ch, on="customer_id", how="left"))
    cols = ["customer_id", "first_order", "cohort_month", "channel", "orders", "revenue", "margin"]
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("first_order", "cohort_month") else float)
                             for c in cols})
    out["first_order"] = pd.to_datetime(out["first_order"])
    out["cohort_month"] = out["first_order"].dt.to_period("M").dt.to_timestamp()
    out["channel"] = out["channel"].fillna("(none)").astype(str)
    out["orders"] = out["orders"].astype(int)
    out["margin"] = np.where(out["margin_n"] > 0, out["margin"], np.nan)
    return out[cols].sort_values("customer_id", kind="stable").reset_index(drop=True)


def _segment(df: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series("all", index=df.index)
    return by + "=" + df[by].astype(str)


def repeat_purchase_rate(orders, *, window_start=None, window_end=None, by: str | None = None,
                         customer_col: str = "customer_id", date_col: str = "order_date") -> pd.DataFrame:
    """Share of customers with at least two orders among customers ordering in a stated window.

    Parameters
    ----------
    window_start, window_end : date-like, optional
        Inclusive window (default: the whole data). Orders outside it are ignored.
    by : str, optional
        A column of the orders to split on (e.g. ``"channel"``; its first value per customer is used).

    Returns
    -------
    DataFrame with ``segment, window_start, window_end, customers, repeat_customers,
    repeat_purchase_rate, ci_low, ci_high`` (Wilson 95%), one row per segment, sorted.
    """
    need = [customer_col, date_col] + ([by] if by else [])
    f = lazy_table(orders, need)
    if window_start is not None:
        f = f.filter(nw.col(date_col) >= nw.lit(as_day(window_start)))
    if window_end is not None:
        f = f.filter(nw.col(date_col) < nw.lit(as_day(window_end) + pd.Timedelta(days=1)))
    f = f.select(nw.col(customer_col).alias("customer_id"), *([nw.col(by).cast(nw.String)] if by else []))
    c = collect_pandas(group_agg(f, ["customer_id"], nw.len().alias("n"), str_min={by: by} if by else None))
    c["segment"] = _segment(c, by)
    g = c.groupby("segment", sort=True).agg(customers=("n", "size"),
                                            repeat_customers=("n", lambda s: int((s >= 2).sum())))
    g = g.reset_index()
    lo, hi = wilson_interval(g["repeat_customers"].to_numpy(), g["customers"].to_numpy())
    g["repeat_purchase_rate"] = np.where(g["customers"] > 0, g["repeat_customers"] / g["customers"].clip(lower=1),
                                         np.nan)
    g["ci_low"], g["ci_high"] = lo, hi
    g["window_start"] = as_day(window_start)
    g["window_end"] = as_day(window_end)
    return g[["segment", "window_start", "window_end", "customers", "repeat_customers", "repeat_purchase_rate",
              "ci_low", "ci_high"]]


@dataclass(frozen=True, repr=False)
class CohortRetention(Result):
    """Acquisition-month cohorts: ``table`` (long) has one row per segment × cohort × month since
    acquisition with ``cohort_size, active_customers, retention, ci_low, ci_high, revenue,
    revenue_per_customer, cumulative_revenue_per_customer, complete`` (month fully observed)."""

    table: pd.DataFrame
    as_of: pd.Timestamp | None

    def matrix(self, value: str = "retention", segment: str = "all") -> pd.DataFrame:
        """Wide cohort × month matrix of ``value`` for complete months (NaN where not yet observed)."""
        t = self.table[(self.table["segment"] == segment) & self.table["complete"]]
        return t.pivot(index="cohort_month", columns="month", values=value).sort_index()

    def summary(self) -> pd.DataFrame:
        return retention_at(self, months=(1, 3, 6, 12))

    def headline(self) -> str:
        r = retention_at(self, months=(3,))
        r = r[r["segment"] == "all"]
        if r.empty or pd.isna(r["retention"].iloc[0]):
            return "Not enough history for month-3 retention."
        return f"month-3 retention {r['retention'].iloc[0]:.1%} over {int(r['customers'].iloc[0])} customers"

    def plot(self, ax=None, **kwargs):
        from ..plots.costs import plot_retention_heatmap

        return plot_retention_heatmap(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.summary().round(4).to_html(index=False)


def cohort_retention(orders, *, as_of=None, by: str | None = None, max_months: int | None = None,
                     customer_col: str = "customer_id", date_col: str = "order_date",
                     amount_col: str = "amount") -> CohortRetention:
    """Cohort retention matrix: share of an acquisition-month cohort ordering in month m after acquisition.

    Month 0 is the acquisition month (retention 1 by definition). A month is ``complete`` when it
    ended on or before ``as_of`` (default: the last order day); incomplete months are kept but
    flagged, and :func:`retention_at` ignores them. ``by`` splits cohorts by an order column taken
    from the customer's first order (e.g. ``"channel"``); ``segment`` is then ``channel=NAME``.
    """
    need = [customer_col, date_col, amount_col] + ([by] if by else [])
    f = lazy_table(orders, need)
    as_of_ts = as_day(as_of) or max_date(f, date_col)
    cols = ["segment", "cohort_month", "month", "cohort_size", "active_customers", "retention", "ci_low", "ci_high",
            "revenue", "revenue_per_customer", "cumulative_revenue_per_customer", "complete"]
    if as_of_ts is None:
        return CohortRetention(pd.DataFrame(columns=cols), None)
    # an order without date or customer (withheld on load) counts as revenue elsewhere, not in cohorts
    f = f.filter((nw.col(date_col) < nw.lit(as_of_ts + pd.Timedelta(days=1))) & ~nw.col(customer_col).is_null())
    o = f.select(nw.col(customer_col).alias("customer_id"), nw.col(amount_col).cast(nw.Float64).alias("amount"),
                 (nw.col(date_col).dt.year() * 12 + nw.col(date_col).dt.month() - 1).alias("mi"),
                 *([nw.col(by).cast(nw.String).alias("seg")] if by else []))
    first = o.group_by("customer_id").agg(c0=nw.col("mi").min())
    j = o.join(first, on="customer_id")
    if by:
        segs = group_agg(j.filter(nw.col("mi") == nw.col("c0")), ["customer_id"], str_min={"seg": "seg"})
        j = j.drop("seg").join(segs, on="customer_id")
    keys = ["c0", "m"] + (["seg"] if by else [])
    cm = collect_pandas(j.with_columns(m=nw.col("mi") - nw.col("c0")).group_by(*keys)
                  .agg(active_customers=nw.col("customer_id").n_unique(), revenue=nw.col("amount").sum()))
    if cm.empty:
        return CohortRetention(pd.DataFrame(columns=cols), as_of_ts)
    cm["segment"] = (by + "=" + cm["seg"].astype(str)) if by else "all"
    as_of_mi = as_of_ts.year * 12 + as_of_ts.month - 1
    last_complete = as_of_mi - (0 if as_of_ts.is_month_end else 1)
    # full grid so months without any order show 0 retention
    size = cm[cm["m"] == 0].set_index(["segment", "c0"])["active_customers"]
    rows = []
    for (seg, c0), n in size.items():
        top = as_of_mi + 1 - c0
        top = max(top if max_months is None else min(top, max_months + 1), 1)
        rows.append(pd.DataFrame({"segment": seg, "c0": c0, "m": np.arange(top), "cohort_size": n}))
    grid = pd.concat(rows, ignore_index=True)
    t = grid.merge(cm[["segment", "c0", "m", "active_customers", "revenue"]], on=["segment", "c0", "m"], how="left")
    t["active_customers"] = t["active_customers"].fillna(0).astype(int)
    t["revenue"] = t["revenue"].fillna(0.0)
    t["retention"] = t["active_customers"] / t["cohort_size"]
    t["ci_low"], t["ci_high"] = wilson_interval(t["active_customers"].to_numpy(), t["cohort_size"].to_numpy())
    t["revenue_per_customer"] = t["revenue"] / t["cohort_size"]
    t = t.sort_values(["segment", "c0", "m"], kind="stable")
    t["cumulative_revenue_per_customer"] = t.groupby(["segment", "c0"])["revenue_per_customer"].cumsum()
    t["complete"] = (t["c0"] + t["m"]) <= last_complete
    t["cohort_month"] = pd.to_datetime({"year": t["c0"] // 12, "month": t["c0"] % 12 + 1, "day": 1})
    t = t.rename(columns={"m": "month"})
    t["month"] = t["month"].astype(int)
    return CohortRetention(t[cols].reset_index(drop=True), as_of_ts)


def retention_at(cohorts: CohortRetention, *, months=(3, 12)) -> pd.DataFrame:
    """Pooled retention in month m over all cohorts observed through m (complete months only).

    Returns ``segment, month, cohorts, customers, active_customers, retention, ci_low, ci_high``;
    retention is NaN (with ``cohorts`` 0) when no cohort is old enough.
    """
    t = cohorts.table
    out = []
    for seg in sorted(t["segment"].unique()) if len(t) else []:
        ts = t[t["segment"] == seg]
        for m in months:
            s = ts[(ts["month"] == m) & ts["complete"]]
            n, k = int(s["cohort_size"].sum()), int(s["active_customers"].sum())
            lo, hi = wilson_interval(k, n)
            out.append({"segment": seg, "month": int(m), "cohorts": len(s), "customers": n, "active_customers": k,
                        "retention": k / n if n else np.nan, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(out, columns=["segment", "month", "cohorts", "customers", "active_customers", "retention",
                                      "ci_low", "ci_high"])


def churn(orders, *, as_of=None, window_months: int = 12, by: str | None = None,
          customer_col: str = "customer_id", date_col: str = "order_date") -> pd.DataFrame:
    """Churn: share of customers active in the previous window who did not order in the last one.

    With ``W = window_months``: active = ordered in ``(as_of − 2W, as_of − W]``; churned = no order in
    ``(as_of − W, as_of]``. ``expected_lifespan_windows = 1 / churn_rate`` (geometric lifetime).

    Returns ``segment, window_months, active_customers, churned, churn_rate, ci_low, ci_high,
    expected_lifespan_years, reason`` (reason says why a rate is NaN).
    """
    need = [customer_col, date_col] + ([by] if by else [])
    f = lazy_table(orders, need)
    end = as_day(as_of) or max_date(f, date_col)
    cols = ["segment", "window_months", "active_customers", "churned", "churn_rate", "ci_low", "ci_high",
            "expected_lifespan_years", "reason"]
    if end is None:
        return pd.DataFrame(columns=cols)
    mid = end - pd.DateOffset(months=window_months)
    start = end - pd.DateOffset(months=2 * window_months)
    one = pd.Timedelta(days=1)
    flags = f.with_columns(
        prev=((nw.col(date_col) >= nw.lit(start + one)) & (nw.col(date_col) < nw.lit(mid + one))).cast(nw.Int64),
        last=((nw.col(date_col) >= nw.lit(mid + one)) & (nw.col(date_col) < nw.lit(end + one))).cast(nw.Int64),
        **({"_seg": nw.col(by).cast(nw.String)} if by else {}))
    flags = flags.select(nw.col(customer_col).alias("customer_id"), "prev", "last", *(["_seg"] if by else []))
    c = collect_pandas(group_agg(flags, ["customer_id"], nw.col("prev").max(), nw.col("last").max(),
                           str_min={by: "_seg"} if by else None))
    c["segment"] = _segment(c, by)
    c = c[c["prev"] == 1]
    segs = sorted(set(c["segment"])) or (["all"] if by is None else [])
    out = []
    for seg in segs:
        s = c[c["segment"] == seg]
        n, k = len(s), int((s["last"] != 1).sum())
        lo, hi = wilson_interval(k, n)
        rate = k / n if n else np.nan
        reason = "" if n and k else ("no customers active in the previous window" if not n else
                                     "no churn observed: lifespan unbounded")
        life = (window_months / 12) / rate if (n and k) else np.nan
        out.append({"segment": seg, "window_months": window_months, "active_customers": n, "churned": k,
                    "churn_rate": rate, "ci_low": lo, "ci_high": hi, "expected_lifespan_years": life, "reason": reason})
    return pd.DataFrame(out, columns=cols)


@dataclass(frozen=True, repr=False)
class SimpleCLV(Result):
    """Simple CLV = average order value × purchases per year × expected lifespan in years × margin rate.

    ``table``: one row per segment with every input and the result; ``inputs``: one row per segment ×
    input with ``value`` and ``how`` (how the input was computed).
    """

    table: pd.DataFrame
    inputs: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def headline(self) -> str:
        r = self.table[self.table["segment"] == "all"]
        if r.empty or pd.isna(r["clv"].iloc[0]):
            return "Simple CLV not computable (see reason)."
        return f"simple CLV {r['clv'].iloc[0]:,.2f} per customer"

    def plot(self, ax=None, **kwargs):
        """Simple CLV per segment (:func:`salesops_kit.plots.plot_estimates`)."""
        from ..plots.costs import plot_estimates

        return plot_estimates(self.table, value="clv", label="segment", ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.inputs.round(4).to_html(index=False)


def simple_clv(orders, *, as_of=None, window_months: int = 12, margin_rate: float | None = None,
               by: str | None = None) -> SimpleCLV:
    """The CLV formula analysts know, with each input shown.

    Over the last ``window_months`` before ``as_of``: AOV = revenue / orders; purchases per year =
    orders / active customers × 12 / window_months; lifespan = window / churn rate (see
    :func:`churn`); margin rate = Σ margin / Σ amount (orders.margin), else ``margin_rate``, else 1
    (a revenue CLV, flagged). ``by`` (e.g. ``"channel"``) adds one row per segment.
    """
    f = lazy_table(orders, ["customer_id", "order_date", "amount"])
    names = f.collect_schema().names()
    end = as_day(as_of) or max_date(f, "order_date")
    cols = ["segment", "active_customers", "orders", "revenue", "average_order_value", "purchases_per_year",
            "churn_rate", "expected_lifespan_years", "margin_rate", "clv", "reason"]
    if end is None:
        return SimpleCLV(pd.DataFrame(columns=cols), pd.DataFrame(columns=["segment", "input", "value", "how"]))
    start = end - pd.DateOffset(months=window_months) + pd.Timedelta(days=1)
    has_margin = "margin" in names
    w = f.filter((nw.col("order_date") >= nw.lit(start)) & (nw.col("order_date") < nw.lit(end + pd.Timedelta(days=1))))
    seg_cols = [by] if by else []
    if by:
        require_columns(names, [by], table="orders", purpose=f"by={by!r}")
    w = w.with_columns(_amt=nw.col("amount").cast(nw.Float64),
                       _mar=nw.col("margin").cast(nw.Float64) if has_margin else nw.lit(None, nw.Float64),
                       **{f"_s_{c}": nw.col(c).cast(nw.String) for c in seg_cols})
    cust = collect_pandas(group_agg(
        w, ["customer_id"], nw.len().alias("n"), nw.col("_amt").sum().alias("rev"), nw.col("_mar").sum().alias("mar"),
        nw.col("_mar").count().alias("mar_n"), str_min={c: f"_s_{c}" for c in seg_cols}))
    cust["mar"] = np.where(cust["mar_n"] > 0, cust["mar"], np.nan)
    ch = churn(orders, as_of=end, window_months=window_months)
    chs = churn(orders, as_of=end, window_months=window_months, by=by) if by else ch.iloc[0:0]
    groups = [("all", cust)] + ([(f"{by}={v}", g) for v, g in cust.groupby(by, sort=True)] if by else [])
    rows, inputs = [], []
    for seg, g in groups:
        crow = (ch if seg == "all" else chs[chs["segment"] == seg])
        n_c, n_o, rev = len(g), int(g["n"].sum()), float(g["rev"].sum())
        aov = rev / n_o if n_o else np.nan
        ppy = n_o / n_c * 12 / window_months if n_c else np.nan
        rate = float(crow["churn_rate"].iloc[0]) if len(crow) else np.nan
        life = float(crow["expected_lifespan_years"].iloc[0]) if len(crow) else np.nan
        if has_margin and rev > 0 and g["mar"].notna().any():
            mr, how_m = float(g["mar"].sum()) / rev, "Σ orders.margin / Σ orders.amount in the window"
        elif margin_rate is not None:
            mr, how_m = float(margin_rate), "given margin_rate"
        else:
            mr, how_m = 1.0, "no margin data: revenue CLV (margin rate 1)"
        value = aov * ppy * life * mr
        reason = "" if np.isfinite(value) else (
            "no orders in the window" if not n_o else (str(crow["reason"].iloc[0]) if len(crow) else "no churn data"))
        if mr < 0:
            reason = "negative margin: each customer loses money"
        rows.append({"segment": seg, "active_customers": n_c, "orders": n_o, "revenue": rev,
                     "average_order_value": aov, "purchases_per_year": ppy, "churn_rate": rate,
                     "expected_lifespan_years": life, "margin_rate": mr, "clv": value, "reason": reason})
        win = f"{start.date()}..{end.date()}"
        inputs += [
            {"segment": seg, "input": "average_order_value", "value": aov, "how": f"revenue / orders, {win}"},
            {"segment": seg, "input": "purchases_per_year", "value": ppy,
             "how": f"orders / active customers × 12/{window_months}, {win}"},
            {"segment": seg, "input": "expected_lifespan_years", "value": life,
             "how": f"{window_months / 12:g} year(s) / churn rate (customers active in the previous {window_months} "
                    f"months who did not order in the last {window_months})"},
            {"segment": seg, "input": "margin_rate", "value": mr, "how": how_m},
            {"segment": seg, "input": "clv", "value": value,
             "how": "AOV × purchases per year × lifespan × margin rate"},
        ]
    return SimpleCLV(pd.DataFrame(rows, columns=cols),
                     pd.DataFrame(inputs, columns=["segment", "input", "value", "how"]))


def survivors_by_period(orders, *, as_of=None, period_months: int = 3, periods: int | None = None,
                        customer_col: str = "customer_id", date_col: str = "order_date") -> pd.DataFrame:
    """Customers still ordering at each period after acquisition (an sBG input for non-contractual data).

    A customer "survives" to period t (t = 0, 1, ...; periods of ``period_months`` from the first
    order) when they order in period t or later. Cohorts are pooled over customers whose first
    ``periods`` periods all ended by ``as_of`` (default: the largest ``periods`` with at least
    one-third of the customers eligible). Returns ``period, survivors, customers``.
    Caveat: a live customer who simply has not ordered again yet counts as lost, so the last
    periods understate survival; contractual data (cancellations) has no such bias.
    """
    f = lazy_table(orders, [customer_col, date_col])
    end = as_day(as_of) or max_date(f, date_col)
    if end is None:
        return pd.DataFrame(columns=["period", "survivors", "customers"])
    c = collect_pandas(f.filter(nw.col(date_col) < nw.lit(end + pd.Timedelta(days=1)))
                 .group_by(nw.col(customer_col).alias("customer_id"))
                 .agg(nw.col(date_col).min().alias("first"), nw.col(date_col).max().alias("last")))
    first, last = pd.to_datetime(c["first"]), pd.to_datetime(c["last"])
    days = period_months * 365.25 / 12
    age_periods = np.floor((end - first).dt.total_seconds() / 86400 / days).astype(int)
    last_period = np.floor((last - first).dt.total_seconds() / 86400 / days).astype(int)
    if periods is None:
        counts = np.array([(age_periods >= p).sum() for p in range(int(age_periods.max()) + 2)])
        ok = np.nonzero(counts >= len(c) / 3)[0]
        periods = int(ok.max()) if len(ok) else 0
    elig = age_periods >= periods
    t = np.arange(periods + 1)
    surv = [(last_period[elig] >= k).sum() for k in t]
    return pd.DataFrame({"period": t, "survivors": np.asarray(surv, dtype=int), "customers": int(elig.sum())})
