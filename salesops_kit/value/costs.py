"""Cost metrics: CAC (blended and per channel), predictive LTV per new customer, LTV:CAC with
bootstrap intervals, CAC payback, cost of sales (the cost notebook's findings prose is in :mod:`._findings`,
its KPI rows in :mod:`._kpis`).

Definitions (also in the KPI registry):

* new customer = a customer whose first order falls in the period, attributed to the ``channel`` of
  that first order;
* CAC = (marketing + sales spend in the period) / new customers in the period; per channel and
  blended (all spend, including channels without attributed customers), monthly and trailing 3 months;
* LTV = expected gross margin of a new customer over ``horizon_months`` from the first order, first
  order included: margin already observed + BG/NBD × Gamma-Gamma prediction for the rest of the
  horizon (× the channel's margin rate), discounted monthly;
* LTV:CAC = mean LTV of the channel's new customers / CAC (95% bootstrap interval over customers);
* CAC payback months = CAC / (gross margin per new customer per month over the first 12 months);
* cost of sales = sales cost / revenue.

Divisions that cannot be made (no spend, no new customers, non-positive margin) give NaN with a
``*_reason`` column, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import seconds_between
from ..tools.exceptions import MissingColumnsError
from ..tools.results import Result
from ..tools.validation import check_option
from . import clv as _clv
from .customers import as_day, collect_pandas, customer_table, lazy_table, rfm_summary

__all__ = ["cac", "new_customers", "predictive_ltv", "unit_economics", "UnitEconomics", "cost_of_sales"]

WEEKS_PER_MONTH = 365.25 / 12 / 7


def _acquisitions(customers_or_orders, as_of=None) -> pd.DataFrame:
    names = nw.from_native(customers_or_orders).collect_schema().names()
    if "order_date" in names:
        fast = _acquired(customers_or_orders, names, as_of)
        return fast if fast is not None else customer_table(customers_or_orders, as_of=as_of)
    if {"customer_id", "first_order", "channel"} <= set(names):
        c = collect_pandas(lazy_table(customers_or_orders, ["customer_id", "first_order", "channel"]))
        return c.assign(first_order=pd.to_datetime(c["first_order"]))
    raise MissingColumnsError("cac: pass orders (customer_id, order_date, amount[, channel]) or a customer table "
                              f"(customer_id, first_order, channel); found columns {names}.", table="orders",
                              missing=["order_date"], available=names)


def _acquired(orders, names, as_of) -> pd.DataFrame | None:
    """``customer_id, first_order, channel`` of every customer as :func:`customer_table` gives them (first order
    day; the smallest channel among that day's orders, ``"(none)"`` without one; orders missing their customer, date
    or amount left out, orders after ``as_of`` ignored) without its revenue and margin sums: the scan CAC needs.
    pandas in numpy, DuckDB as one statement; None otherwise (the caller runs ``customer_table``)."""
    end = None if as_of is None else as_day(as_of) + pd.Timedelta(days=1)
    if nw.dependencies.is_pandas_dataframe(orders):
        d = orders["order_date"]
        if not pd.api.types.is_datetime64_dtype(d.dtype) or isinstance(d.dtype, pd.DatetimeTZDtype):
            return None
        if "channel" in names and orders["channel"].dtype != object:
            return None
        day = d.to_numpy().astype("datetime64[ns]")
        cust = orders["customer_id"].to_numpy()
        keep = pd.notna(cust) & ~np.isnat(day) & orders["amount"].notna().to_numpy()
        if end is not None:
            keep &= day < np.datetime64(end.to_datetime64(), "ns")
        keep = np.flatnonzero(keep)
        codes, uniq = pd.factorize(cust[keep])
        day = day[keep]
        first = pd.Series(day).groupby(codes, sort=True).min().to_numpy()  # codes 0..k-1, all present
        at_first = np.flatnonzero(day == first[codes])
        channel = np.full(len(uniq), "(none)", dtype=object)
        if "channel" in names:
            rank, labels = pd.factorize(orders["channel"].to_numpy()[keep][at_first], sort=True)  # missing -> -1
            best = pd.Series(np.where(rank < 0, np.nan, rank)).groupby(codes[at_first], sort=True).min()
            ok = best.notna().to_numpy()
            channel[best.index.to_numpy()[ok]] = np.asarray(labels, dtype=object)[best.to_numpy()[ok].astype(int)]
        return pd.DataFrame({"customer_id": uniq, "first_order": first.astype("datetime64[ns]"),
                             "channel": channel.astype(str)})
    pq = _acquired_polars(orders, names, as_of)
    if pq is not None:
        out = pq.collect().to_pandas()
        out["first_order"] = pd.to_datetime(out["first_order"]).astype("datetime64[ns]")
        out["channel"] = out["channel"].fillna("(none)").astype(str)
        return out
    sql = _acquired_sql(orders, names, as_of) if nw.dependencies.is_duckdb_relation(orders) else None
    if sql is not None:
        out = orders.query("__salesops_orders", sql).df()
        out["first_order"] = pd.to_datetime(out["first_order"]).astype("datetime64[ns]")
        out["channel"] = out["channel"].fillna("(none)").astype(str)
        return out
    return None


def _acquired_sql(rel, names, as_of) -> str | None:
    """:func:`_acquired` as one DuckDB statement over the relation named ``__salesops_orders`` (None for an
    order date that is not a DATE or TIMESTAMP)."""
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    if types.get("order_date") not in ("TIMESTAMP", "DATE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return None
    end = None if as_of is None else as_day(as_of) + pd.Timedelta(days=1)
    ch = "CAST(channel AS VARCHAR)" if "channel" in names else "CAST(NULL AS VARCHAR)"
    cut = f" AND order_date < TIMESTAMP '{end.strftime('%Y-%m-%d %H:%M:%S')}'" if end is not None else ""
    return f"""
        WITH o AS (SELECT customer_id, order_date AS d, {ch} AS ch FROM __salesops_orders
                   WHERE customer_id IS NOT NULL AND order_date IS NOT NULL AND amount IS NOT NULL{cut}),
             f AS (SELECT customer_id, min(d) AS first_order FROM o GROUP BY customer_id)
        SELECT f.customer_id, f.first_order, min(o.ch) AS channel
        FROM o JOIN f ON o.customer_id = f.customer_id AND o.d = f.first_order
        GROUP BY f.customer_id, f.first_order"""


def _polars_orders(orders, as_of, *, units):
    """The orders that can acquire a customer (customer, date and amount present; on or before ``as_of``) as a Polars
    LazyFrame; None when ``orders`` is not a Polars frame or its order date is not a naive Date or a Datetime in one
    of ``units``."""
    if not (nw.dependencies.is_polars_lazyframe(orders) or nw.dependencies.is_polars_dataframe(orders)):
        return None
    import polars as pl

    lf = orders.lazy()
    dtype = lf.collect_schema()["order_date"]
    if not (dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None
                                 and dtype.time_unit in units)):
        return None
    keep = pl.col("customer_id").is_not_null() & pl.col("order_date").is_not_null() & pl.col("amount").is_not_null()
    if as_of is not None:
        keep = keep & (pl.col("order_date") < (as_day(as_of) + pd.Timedelta(days=1)).to_pydatetime())
    return lf.filter(keep)


def _acquired_polars(orders, names, as_of):
    """:func:`_acquired` in Polars (a LazyFrame of ``customer_id, first_order, channel``; the channel the smallest
    among the orders at the first order's time, null without one), as the DuckDB statement does it: first order
    time per customer, joined back to find that time's orders. None
    when ``orders`` is not a Polars frame or its order date is not a naive Date/Datetime."""
    lf = _polars_orders(orders, as_of, units=("ns", "us", "ms"))
    if lf is None:
        return None
    import polars as pl

    ch = pl.col("channel").cast(pl.String) if "channel" in names else pl.lit(None, dtype=pl.String)
    o = lf.select("customer_id", "order_date", channel=ch)
    first = o.group_by("customer_id").agg(first_order=pl.col("order_date").min())
    # the orders at each customer's first order time, joined back (a filter inside the aggregation was 2.5x slower)
    return (o.join(first, left_on=["customer_id", "order_date"], right_on=["customer_id", "first_order"])
            .group_by("customer_id").agg(first_order=pl.col("order_date").first(), channel=pl.col("channel").min()))


#: microseconds from 0001-01-01 to 1970-01-01: first-order keys count from year 1, so they are never negative
_KEY_OFFSET_US = 62_135_596_800_000_000
#: channels a first-order key can carry: (microseconds of 9999-12-31 from year 1 + 1) x (channels + 1) < 2**63
_KEY_MAX_CHANNELS = 28


def _first_order_keys(orders, names, as_of):
    """Each customer's first order time and channel as one integer, for counting acquisitions in Polars with one
    group-by instead of :func:`_acquired_polars`' join (2.1x faster at 4M orders): ``key = microseconds from year 1
    * (channels + 1) + the channel's rank`` (channels in sorted order, a missing channel last), so the smallest key
    is the first order time and, among that time's orders, the smallest channel. Returns ``(customer_id, key)``
    LazyFrame, channels + 1 and the sorted channels; None where the keys do not apply (not Polars; an order date
    with nanoseconds, which microseconds could tie; more than :data:`_KEY_MAX_CHANNELS` channels)."""
    f = _polars_orders(orders, as_of, units=("us", "ms"))
    if f is None:
        return None
    import polars as pl

    cats: list[str] = []
    if "channel" in names:
        seen = f.select(pl.col("channel").cast(pl.String).unique()).collect().to_series().to_list()
        cats = sorted(v for v in seen if v is not None)
        if len(cats) > _KEY_MAX_CHANNELS:
            return None
    k = len(cats) + 1
    rank = (pl.col("channel").cast(pl.String).cast(pl.Enum(cats)).to_physical().cast(pl.Int64).fill_null(k - 1)
            if cats else pl.lit(k - 1, dtype=pl.Int64))
    us = pl.col("order_date").cast(pl.Datetime("us")).cast(pl.Int64) + _KEY_OFFSET_US
    return f.group_by("customer_id").agg(key=(us * k + rank).min()), k, cats


def _new_customers_polars(orders, names, period: str, as_of) -> pd.DataFrame | None:
    """:func:`new_customers` counted in Polars (months, quarters): no per-customer rows to pandas."""
    import polars as pl

    unit = {"M": "1mo", "Q": "1q"}[period]
    keyed = _first_order_keys(orders, names, as_of) if "order_date" in names else None
    if keyed is not None:
        lf, k, cats = keyed
        g = (lf.select(period=((pl.col("key") // k) - _KEY_OFFSET_US).cast(pl.Datetime("us")).dt.truncate(unit),
                       rank=pl.col("key") % k)
             .group_by("period", "rank").agg(new_customers=pl.len()).collect().to_pandas())
        g["channel"] = np.asarray([*cats, "(none)"], dtype=object)[g.pop("rank").to_numpy()]
        g = g.groupby(["period", "channel"], as_index=False)["new_customers"].sum()  # a channel named "(none)"
        g["period"] = g["period"].astype("datetime64[ns]")
        g["new_customers"] = g["new_customers"].astype("int64")
        return g.sort_values(["period", "channel"]).reset_index(drop=True)
    a = _acquired_polars(orders, names, as_of) if "order_date" in names else None
    if a is None:
        return None
    g = a.group_by(pl.col("first_order").cast(pl.Datetime("ns")).dt.truncate(unit).alias("period"),
                   pl.col("channel").fill_null("(none)")).agg(new_customers=pl.len()).collect().to_pandas()
    g["period"] = g["period"].astype("datetime64[ns]")
    g["new_customers"] = g["new_customers"].astype("int64")
    return g.sort_values(["period", "channel"]).reset_index(drop=True)


def _period(s: pd.Series, period: str) -> pd.Series:
    check_option("period", period, ("M", "Q"))
    return pd.to_datetime(s).dt.to_period(period).dt.to_timestamp()


def new_customers(customers_or_orders, *, period: str = "M", as_of=None) -> pd.DataFrame:
    """New customers per period and acquisition channel: ``period, channel, new_customers``."""
    if nw.dependencies.is_duckdb_relation(customers_or_orders) and period in ("M", "Q"):
        names = customers_or_orders.columns
        sql = _acquired_sql(customers_or_orders, names, as_of) if "order_date" in names else None
        if sql is not None:  # counted where the orders are: no per-customer rows to pandas
            unit = {"M": "month", "Q": "quarter"}[period]
            g = customers_or_orders.query("__salesops_orders", f"""
                SELECT CAST(date_trunc('{unit}', first_order) AS TIMESTAMP) AS period,
                       coalesce(channel, '(none)') AS channel, count(*) AS new_customers
                FROM ({sql}) GROUP BY ALL""").df()
            g["period"] = g["period"].astype("datetime64[ns]")
            g["new_customers"] = g["new_customers"].astype("int64")
            return g.sort_values(["period", "channel"]).reset_index(drop=True)
    if period in ("M", "Q"):
        g = _new_customers_polars(customers_or_orders, nw.from_native(customers_or_orders).collect_schema().names(),
                                  period, as_of)
        if g is not None:
            return g
    c = _acquisitions(customers_or_orders, as_of)
    if c.empty:
        return pd.DataFrame({"period": pd.Series(dtype="datetime64[ns]"), "channel": pd.Series(dtype=object),
                             "new_customers": pd.Series(dtype=int)})
    c = c.assign(period=_period(c["first_order"], period))
    g = c.groupby(["period", "channel"], sort=True).size().rename("new_customers").reset_index()
    return g


def _cac_reason(spend: float, n: float) -> tuple[float, str]:
    if n > 0:
        return spend / n, ("" if spend > 0 else "no spend recorded: CAC 0 (organic)")
    return np.nan, ("no spend and no new customers" if spend == 0 else "spend but no new customers")


def cac(spend, customers_or_orders, *, by: str | None = "channel", period: str = "M", as_of=None) -> pd.DataFrame:
    """Customer acquisition cost per period, per channel and blended, monthly and trailing three periods.

    Parameters
    ----------
    spend : DataFrame
        marketing_spend: ``month, channel, spend[, cost_type]`` (cost_type marketing / sales).
    customers_or_orders : DataFrame
        orders (``customer_id, order_date, amount[, channel]``) or a customer table
        (``customer_id, first_order, channel``).
    by : "channel" or None
        None gives the blended rows only.

    Returns
    -------
    DataFrame with ``scope`` (channel / blended), ``channel`` ("all" when blended), ``period,
    spend, marketing_spend, sales_spend, new_customers, cac, cac_reason, spend_3m,
    new_customers_3m, cac_3m, cac_3m_reason``; every period from the first to the last with spend
    or acquisitions (up to ``as_of``), sorted.
    """
    s = collect_pandas(lazy_table(spend, ["month", "channel", "spend"], table="marketing_spend"))
    cols = ["scope", "channel", "period", "spend", "marketing_spend", "sales_spend", "new_customers", "cac",
            "cac_reason", "spend_3m", "new_customers_3m", "cac_3m", "cac_3m_reason"]
    s["period"] = _period(s["month"], period)
    if as_of is not None:
        s = s[s["period"] <= _period(pd.Series([as_day(as_of)]), period).iloc[0]]
    ct = s["cost_type"].astype(str).str.lower() if "cost_type" in s else pd.Series("marketing", index=s.index)
    s = s.assign(channel=s["channel"].astype(str), marketing_spend=np.where(ct == "sales", 0.0, s["spend"]),
                 sales_spend=np.where(ct == "sales", s["spend"], 0.0))
    sp = s.groupby(["period", "channel"], sort=True)[["spend", "marketing_spend", "sales_spend"]].sum().reset_index()
    nc = new_customers(customers_or_orders, period=period, as_of=as_of)
    t = sp.merge(nc, on=["period", "channel"], how="outer")
    if t.empty:
        return pd.DataFrame(columns=cols)
    freq = "MS" if period == "M" else "QS"
    periods = pd.date_range(t["period"].min(), t["period"].max(), freq=freq)
    frames = []
    levels = ([("channel", ch, t[t["channel"] == ch]) for ch in sorted(t["channel"].unique())] if by else [])
    levels.append(("blended", "all", t))
    for scope, ch, d in levels:
        g = d.groupby("period")[["spend", "marketing_spend", "sales_spend", "new_customers"]].sum(min_count=0)
        g = g.reindex(periods, fill_value=0.0).fillna(0.0)
        g.index.name = "period"
        g = g.reset_index().assign(scope=scope, channel=ch)
        g["spend_3m"] = g["spend"].rolling(3, min_periods=3).sum()
        g["new_customers_3m"] = g["new_customers"].rolling(3, min_periods=3).sum()
        r = [_cac_reason(a, b) for a, b in zip(g["spend"], g["new_customers"], strict=True)]
        g["cac"], g["cac_reason"] = [x[0] for x in r], [x[1] for x in r]
        r3 = [(np.nan, "fewer than 3 periods of history") if np.isnan(a) else _cac_reason(a, b)
              for a, b in zip(g["spend_3m"], g["new_customers_3m"], strict=True)]
        g["cac_3m"], g["cac_3m_reason"] = [x[0] for x in r3], [x[1] for x in r3]
        frames.append(g)
    out = pd.concat(frames, ignore_index=True)
    out["new_customers"] = out["new_customers"].astype(int)
    out["scope"] = pd.Categorical(out["scope"], ["channel", "blended"])
    out = out.sort_values(["scope", "channel", "period"], kind="stable")
    out["scope"] = out["scope"].astype(str)
    return out[cols].reset_index(drop=True)


def predictive_ltv(orders, *, as_of=None, horizon_months: int = 36, monthly_discount_rate: float = 0.01,
                   margin_rate: float | None = None, payback_basis_months: int = 12, spend_model: str = "auto"):
    """Expected gross margin of every customer over ``horizon_months`` from the first order.

    Months already lived are the customer's observed margin; the rest of the horizon is predicted
    with a BG/NBD (purchases) and Gamma-Gamma (order value) model fitted on all customers
    (weekly rfm_summary to ``as_of``), times the margin rate of the customer's channel
    (Σ margin / Σ amount; ``margin_rate`` or 1 without a margin column). Month k (k = 1..horizon)
    is discounted by ``(1 + monthly_discount_rate) ** (k - 1)``.

    ``spend_model``: the value of a predicted order. ``"gamma_gamma"`` (each customer's Gamma-Gamma expected order
    value), ``"average_order_value"`` (the observed average order value of the customer's channel) or ``"auto"``
    (Gamma-Gamma unless its independence assumption fails, :func:`~salesops_kit.value.clv.gamma_gamma_independence`).

    Returns
    -------
    (DataFrame, dict)
        Per customer ``customer_id, channel, first_order, age_months, observed_margin, predicted_margin,
        ltv, margin_first_{payback_basis_months}m`` (undiscounted) and the cumulative mean curve is
        in ``df.attrs["curve"]`` (``channel, month, cumulative_margin``); the dict holds the fits
        (``bgnbd``, ``gamma_gamma``), the independence check (``spend_check``), the order-value model used
        (``spend_model``) and margin rates per channel.
    """
    check_option("spend_model", spend_model, ("auto", "gamma_gamma", "average_order_value"))
    f = lazy_table(orders, ["customer_id", "order_date", "amount"])
    names = f.collect_schema().names()
    end = as_day(as_of) or as_day(collect_pandas(f.select(nw.col("order_date").max()))["order_date"].iloc[0])
    ct = customer_table(orders, as_of=end)
    rfm = rfm_summary(f.filter(nw.col("order_date") < nw.lit(end + pd.Timedelta(days=1))), calibration_end=end,
                      freq="W").set_index("customer_id").reindex(ct["customer_id"])
    bg = _clv.fit_bgnbd(rfm["frequency"], rfm["recency"], rfm["T"])
    rep = (rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)
    gg = _clv.fit_gamma_gamma(rfm.loc[rep, "frequency"], rfm.loc[rep, "monetary_value"])
    independence = _clv.gamma_gamma_independence(rfm["frequency"], rfm["monetary_value"])
    use_gg = spend_model == "gamma_gamma" or (spend_model == "auto" and independence.passed)
    mr = _margin_rates(ct, names, margin_rate)
    has_margin = "margin" in names
    chan_mr = ct["channel"].map(mr).fillna(1.0).to_numpy()
    pos, ks, o_val = _observed_by_month(f, ct, end=end, horizon_months=horizon_months, has_margin=has_margin,
                                        chan_mr=chan_mr)
    x, tx, T = rfm["frequency"].to_numpy(), rfm["recency"].to_numpy(), rfm["T"].to_numpy()
    if use_gg:
        spend = gg.conditional_expected_spend(x, np.where(rep, rfm["monetary_value"], 0.0))
    else:  # the observed average value of a purchase (one per customer-day, as BG/NBD counts) of the channel
        per = pd.DataFrame({"channel": ct["channel"].to_numpy(), "revenue": rfm["revenue"].to_numpy(dtype=float),
                            "purchases": rfm["purchases"].to_numpy(dtype=float)}).groupby("channel").sum()
        spend = ct["channel"].map(per["revenue"] / per["purchases"]).to_numpy(dtype=float)
    age = T  # weeks since first order
    ltv, observed, predicted, basis, curve_df = _margin_by_month(
        bg, ct, x, tx, T, unit=spend * chan_mr, pos=pos, ks=ks, o_val=o_val, horizon=int(horizon_months),
        monthly_discount_rate=monthly_discount_rate, payback_basis_months=payback_basis_months)
    out = pd.DataFrame({"customer_id": ct["customer_id"].to_numpy(), "channel": ct["channel"].to_numpy(),
                        "first_order": ct["first_order"].to_numpy(), "age_months": age / WEEKS_PER_MONTH,
                        "observed_margin": observed, "predicted_margin": predicted, "ltv": ltv,
                        f"margin_first_{payback_basis_months}m": basis})
    out.attrs["curve"] = curve_df
    return out, {"bgnbd": bg, "gamma_gamma": gg, "margin_rate": mr, "as_of": end, "spend_check": independence,
                 "spend_model": "gamma_gamma" if use_gg else "average_order_value"}


def _margin_rates(ct: pd.DataFrame, names: list[str], margin_rate: float | None) -> dict:
    """Σ margin / Σ revenue per acquisition channel; ``margin_rate`` (or 1) for every channel without margins."""
    if "margin" in names and ct["margin"].notna().any():
        return (ct.groupby("channel")["margin"].sum() / ct.groupby("channel")["revenue"].sum()).to_dict()
    return {ch: (1.0 if margin_rate is None else float(margin_rate)) for ch in ct["channel"].unique()}


def _observed_by_month(f, ct: pd.DataFrame, *, end: pd.Timestamp, horizon_months: int, has_margin: bool,
                       chan_mr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed margin per customer and month since the first order (scanned in the engine: one row per
    customer x month comes back): ``(customer position in ct, month index k, margin)``."""
    o = f.filter(nw.col("order_date") < nw.lit(end + pd.Timedelta(days=1))).select(
        nw.col("customer_id"), nw.col("order_date"),
        (nw.col("margin") if has_margin else nw.col("amount")).cast(nw.Float64).alias("value"))
    firsts = o.group_by("customer_id").agg(nw.col("order_date").min().alias("_first"))
    o = collect_pandas(o.join(firsts, on="customer_id")
                       .with_columns(k=(seconds_between(nw.col("_first"), nw.col("order_date"), frame=o) / 86400.0
                                        / (WEEKS_PER_MONTH * 7)).floor())
                       .filter(nw.col("k") < horizon_months)
                       .group_by("customer_id", "k").agg(nw.col("value").sum()))
    o["k"] = o["k"].astype(int)
    pos = pd.Index(ct["customer_id"]).get_indexer(o["customer_id"])
    o_val = o["value"].to_numpy() * chan_mr[pos] if not has_margin else o["value"].to_numpy()
    return pos, o["k"].to_numpy(), o_val


def _margin_by_month(bg, ct: pd.DataFrame, x, tx, T, *, unit: np.ndarray, pos, ks, o_val, horizon: int,
                     monthly_discount_rate: float, payback_basis_months: int):
    """Month by month over the horizon: observed plus BG/NBD x Gamma-Gamma predicted margin per customer.
    Returns ``(discounted ltv, observed, predicted, undiscounted first-months margin, cumulative mean curve
    per channel)``."""
    n, H = len(ct), horizon
    age = T  # weeks since first order
    disc = (1 + monthly_discount_rate) ** -np.arange(H)
    ltv = np.zeros(n)
    observed = np.zeros(n)
    predicted = np.zeros(n)
    basis = np.zeros(n)
    ch_codes, ch_names = pd.factorize(ct["channel"], sort=True)
    curve = np.zeros((len(ch_names), H))
    prev = np.zeros(n)
    for k in range(1, H + 1):
        sel = ks == k - 1
        obs_k = np.bincount(pos[sel], weights=o_val[sel], minlength=n)
        cur = bg.conditional_expected_purchases(np.maximum(k * WEEKS_PER_MONTH - age, 0.0), x, tx, T)
        pred_k = unit * (cur - prev)
        prev = cur
        month_val = obs_k + pred_k
        ltv += month_val * disc[k - 1]
        observed += obs_k
        predicted += pred_k
        if k <= payback_basis_months:
            basis += month_val
        curve[:, k - 1] = np.bincount(ch_codes, weights=month_val, minlength=len(ch_names))
    counts = np.bincount(ch_codes, minlength=len(ch_names)).astype(float)
    cum = np.cumsum(curve, axis=1) / np.maximum(counts, 1)[:, None]
    curve_df = pd.DataFrame({"channel": np.repeat(np.asarray(ch_names, dtype=str), H),
                             "month": np.tile(np.arange(1, H + 1), len(ch_names)),
                             "cumulative_margin": cum.ravel()})
    return ltv, observed, predicted, basis, curve_df


def _boot_mean_ci(v: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    v = np.asarray(v, dtype=float)
    if len(v) < 2:
        return np.nan, np.nan
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, int(2e6 // len(v)))
    for i in range(0, n_boot, step):
        m = min(step, n_boot - i)
        means[i:i + m] = v[rng.integers(0, len(v), (m, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def cost_of_sales(spend, orders, *, start=None, end=None, by: str | None = "channel") -> pd.DataFrame:
    """Sales cost / revenue per channel and overall for months in ``[start, end]``.

    Sales cost is the spend with ``cost_type == "sales"``; revenue is the order amount of the
    channel's customers. Returns ``segment, sales_cost, revenue, cost_of_sales_ratio, reason``.
    """
    s = collect_pandas(lazy_table(spend, ["month", "channel", "spend"], table="marketing_spend"))
    o = collect_pandas(lazy_table(orders, ["order_date", "amount"]).select(
        nw.col("order_date"), nw.col("amount").cast(nw.Float64),
        *([nw.col("channel").cast(nw.String)] if "channel" in nw.from_native(orders).collect_schema().names() else [])))
    sm = pd.to_datetime(s["month"])
    if start is not None:
        lo = as_day(start)
        s, o = s[sm >= lo.to_period("M").to_timestamp()], o[o["order_date"] >= lo]
    if end is not None:
        hi = as_day(end) + pd.Timedelta(days=1)
        s, o = s[pd.to_datetime(s["month"]) < hi], o[o["order_date"] < hi]
    has_ct = "cost_type" in s
    sales = s[s["cost_type"].astype(str).str.lower() == "sales"] if has_ct else s.iloc[0:0]
    segs = [("all", sales["spend"].sum(), o["amount"].sum())]
    if by and "channel" in o:
        for ch in sorted(set(s["channel"].astype(str)) | set(o["channel"].astype(str))):
            segs.append((f"channel={ch}", sales.loc[sales["channel"].astype(str) == ch, "spend"].sum(),
                         o.loc[o["channel"] == ch, "amount"].sum()))
    rows = []
    for seg, c, r in segs:
        if not has_ct:
            val, why = np.nan, "marketing_spend has no cost_type column: sales cost unknown"
        elif r > 0:
            val, why = c / r, ""
        else:
            val, why = np.nan, "no revenue in the window"
        rows.append({"segment": seg, "sales_cost": float(c), "revenue": float(r), "cost_of_sales_ratio": val,
                     "reason": why})
    return pd.DataFrame(rows, columns=["segment", "sales_cost", "revenue", "cost_of_sales_ratio", "reason"])


@dataclass(frozen=True, repr=False)
class UnitEconomics(Result):
    """CAC, LTV, LTV:CAC and payback per channel (``table``; the blended row has channel ``all``).

    ``table`` columns: ``channel, new_customers, spend, cac, cac_reason, ltv, ltv_ci_low, ltv_ci_high,
    ltv_cac, ltv_cac_ci_low, ltv_cac_ci_high, ltv_cac_reason, margin_rate, monthly_margin,
    payback_months, payback_reason, breakeven_month``. ``customers`` is the per-customer LTV table,
    ``curve`` the mean cumulative margin per new customer by month, ``monthly_cac`` the output of
    :func:`cac`, ``models`` the BG/NBD and Gamma-Gamma fits.
    """

    table: pd.DataFrame
    customers: pd.DataFrame
    curve: pd.DataFrame
    monthly_cac: pd.DataFrame
    window: tuple
    horizon_months: int
    models: dict = field(repr=False, compare=False)
    settings: dict = field(default_factory=dict, repr=False, compare=False)  # the call's arguments, for reuse

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    def money_losing(self) -> pd.DataFrame:
        """Channels whose LTV:CAC interval lies entirely below 1."""
        t = self.table[self.table["channel"] != "all"]
        return t[t["ltv_cac_ci_high"] < 1].sort_values("ltv_cac")

    def unrecovered_spend(self) -> pd.Series:
        """Per channel, the spend its new customers do not pay back over the horizon:
        max(0, spend − new customers × LTV), in the money unit of the inputs (0 where LTV covers CAC)."""
        t = self.table[self.table["channel"] != "all"].set_index("channel")
        if "spend" not in t:
            return pd.Series(0.0, index=t.index)
        gap = (t["spend"] - t["new_customers"] * t["ltv"]).where(t["ltv"].notna(), 0.0)
        return gap.clip(lower=0.0)

    def window_label(self, lang: str | None = None) -> str:
        """The acquisition window the LTV:CAC, CAC and payback figures cover, e.g.
        "customers acquired 2023-01 to 2025-11" (the window of these KPIs' rows in kpis.csv)."""
        from ..i18n import format_month, tr

        lo, hi = self.window if len(self.window) == 2 else (None, None)
        if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
            return ""
        return tr("customers acquired {start} to {end}", lang=lang, start=format_month(lo, lang),
                  end=format_month(hi, lang))

    def best_payback(self) -> pd.Series | None:
        t = self.table[(self.table["channel"] != "all") & self.table["payback_months"].notna()]
        return None if t.empty else t.sort_values(["payback_months", "channel"]).iloc[0]

    def headline(self) -> str:
        b = self.table[self.table["channel"] == "all"]
        if b.empty or pd.isna(b["ltv_cac"].iloc[0]):
            return "Blended LTV:CAC not computable."
        return (f"blended LTV:CAC {b['ltv_cac'].iloc[0]:.2f} (CAC {b['cac'].iloc[0]:,.2f}, "
                f"LTV {b['ltv'].iloc[0]:,.2f} over {self.horizon_months} months)")

    def plot(self, ax=None, **kwargs):
        from ..plots.costs import plot_cac_vs_ltv

        return plot_cac_vs_ltv(self.table, ax=ax, **kwargs)

    def findings(self, **checks):
        """Findings: the answer (blended LTV:CAC against the 3:1 target), money-losing channels, channels with
        LTV:CAC above 3, the best payback channel (:func:`~salesops_kit.value._findings.unit_economics_findings`;
        ``checks``: ``holdout=``, ``survival=``, ``retention=`` model checks to report)."""
        from ._findings import unit_economics_findings

        return unit_economics_findings(self, **checks)

    def table_for_reading(self, currency: str | None = None):
        """Per channel: new customers, CAC, LTV, LTV:CAC with its interval and payback, as a table to read."""
        from ..tools.tables import show_table

        t = self.table.assign(channel=self.table["channel"].replace({"all": "all channels"}))
        t = t[["channel", "new_customers", "spend", "cac", "ltv", "ltv_cac", "ltv_cac_ci_low", "ltv_cac_ci_high",
               "payback_months", "breakeven_month"]].rename(columns={
            "spend": "acquisition spend", "cac": "CAC", "ltv": "LTV", "ltv_cac": "LTV:CAC",
            "ltv_cac_ci_low": "LTV:CAC 95% CI low", "ltv_cac_ci_high": "LTV:CAC 95% CI high",
            "payback_months": "payback (months)", "breakeven_month": "cumulative margin covers CAC in month"})
        money = {c: currency for c in ("acquisition spend", "CAC", "LTV")} if currency else {}
        return show_table(t, units=money, decimals={"LTV:CAC": 2, "LTV:CAC 95% CI low": 2, "LTV:CAC 95% CI high": 2,
                                                    "payback (months)": 1, "CAC": 2, "LTV": 2,
                                                    "acquisition spend": 0})

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.table_for_reading()._repr_html_()


def unit_economics(orders, spend, *, as_of=None, start=None, end=None, horizon_months: int = 36,
                   monthly_discount_rate: float = 0.01, margin_rate: float | None = None,
                   n_boot: int = 1000, seed: int = 0, spend_model: str = "auto") -> UnitEconomics:
    """LTV:CAC and payback per acquisition channel.

    Customers acquired in ``[start, end]`` (default: the first month with spend to the last complete
    month before ``as_of``) are compared with the spend of the same months. LTV comes from
    :func:`predictive_ltv`; the LTV:CAC interval is a percentile bootstrap over the channel's new
    customers (spend treated as known). ``spend_model``: see :func:`predictive_ltv`.
    """
    s = collect_pandas(lazy_table(spend, ["month", "channel", "spend"], table="marketing_spend"))
    ltv, models = predictive_ltv(orders, as_of=as_of, horizon_months=horizon_months,
                                 monthly_discount_rate=monthly_discount_rate, margin_rate=margin_rate,
                                 spend_model=spend_model)
    as_of_ts = models["as_of"]
    months = pd.to_datetime(s["month"]).dt.to_period("M").dt.to_timestamp()
    lo = as_day(start) or (months.min() if len(months) else as_of_ts.to_period("M").to_timestamp())
    last_complete = (as_of_ts + pd.Timedelta(days=1)).to_period("M").to_timestamp() - pd.Timedelta(days=1)
    hi = as_day(end) or last_complete
    cm = cac(s, ltv[["customer_id", "first_order", "channel"]], period="M", as_of=hi)
    new = ltv[(ltv["first_order"] >= lo) & (ltv["first_order"] < hi + pd.Timedelta(days=1))]
    sw = s[(months >= lo.to_period("M").to_timestamp()) & (months <= hi)]
    basis = "margin_first_12m"
    rows = []
    chans = sorted(set(sw["channel"].astype(str)) | set(new["channel"]))
    for i, ch in enumerate(chans + ["all"]):
        c = new if ch == "all" else new[new["channel"] == ch]
        sp = float(sw["spend"].sum() if ch == "all" else sw.loc[sw["channel"].astype(str) == ch, "spend"].sum())
        n = len(c)
        cac_v, cac_why = _cac_reason(sp, n)
        lv = float(c["ltv"].mean()) if n else np.nan
        llo, lhi = _boot_mean_ci(c["ltv"].to_numpy(), n_boot=n_boot, seed=seed + i)
        mm = float(c[basis].mean()) / 12 if n else np.nan
        if not n:
            ratio, rlo, rhi, why = np.nan, np.nan, np.nan, "no new customers"
        elif cac_v == 0:
            ratio, rlo, rhi, why = np.nan, np.nan, np.nan, "no spend: LTV:CAC undefined (organic)"
        else:
            ratio, rlo, rhi, why = lv / cac_v, llo / cac_v, lhi / cac_v, ("negative margin" if lv < 0 else "")
        if not n or np.isnan(cac_v):
            pb, pwhy = np.nan, cac_why or "no new customers"
        elif cac_v == 0:
            pb, pwhy = np.nan, "no spend: nothing to pay back (organic)"
        elif mm <= 0:
            pb, pwhy = np.nan, "non-positive margin per customer: never pays back"
        else:
            pb, pwhy = cac_v / mm, ""
        cur = ltv.attrs["curve"]
        if ch != "all" and n and not np.isnan(cac_v):
            cc = cur[(cur["channel"] == ch) & (cur["cumulative_margin"] >= cac_v)]
            be = float(cc["month"].min()) if len(cc) else np.nan
        else:
            be = np.nan
        mrate = models["margin_rate"].get(ch, np.nan) if ch != "all" else (
            float(np.nansum([models["margin_rate"].get(k, np.nan) * (new["channel"] == k).sum() for k in chans]) /
                  max(len(new), 1)))
        rows.append({"channel": ch, "new_customers": n, "spend": sp, "cac": cac_v, "cac_reason": cac_why,
                     "ltv": lv, "ltv_ci_low": llo, "ltv_ci_high": lhi, "ltv_cac": ratio, "ltv_cac_ci_low": rlo,
                     "ltv_cac_ci_high": rhi, "ltv_cac_reason": why, "margin_rate": mrate, "monthly_margin": mm,
                     "payback_months": pb, "payback_reason": pwhy, "breakeven_month": be})
    settings = {"as_of": as_day(as_of), "start": as_day(start), "end": as_day(end), "horizon_months": horizon_months,
                "monthly_discount_rate": monthly_discount_rate, "margin_rate": margin_rate, "n_boot": n_boot,
                "seed": seed, "spend_model": spend_model}
    return UnitEconomics(table=pd.DataFrame(rows), customers=ltv, curve=ltv.attrs["curve"], monthly_cac=cm,
                         window=(lo, hi), horizon_months=horizon_months, models=models, settings=settings)
