"""KPI time series for monitoring (issue 9, private): row-level scans -> one row per KPI × segment × period.

:func:`kpi_series` (re-exported by :mod:`salesops_kit.monitor`) runs every scan below for a Dataset; the
monitored KPIs themselves are :data:`salesops_kit.stats.kpi_specs.KPI_SPECS`.

The row-level work (filters, per-day aggregation, the few raw values a bootstrap needs) runs through
narwhals, so pandas, Polars and DuckDB tables are accepted; days are rolled up to weeks, months or
quarters on the small daily result with pandas. Definitions are the registry's:

* ``win_rate`` = won / (won + lost) among deals closed in the period (``funnel.win_rate``, "closed");
  ``deals_won``, ``won_revenue`` (sum of won amounts), ``avg_won_deal_size`` by close date;
* ``lead_conversion_rate`` = leads with an opportunity / leads created in the period, only leads at
  least ``maturity_days`` old (``funnel.lead_funnel``); younger cohorts are marked partial;
* ``first_response_median_hours`` by lead creation date (``reps`` definition);
* ``new_customers`` = customers whose first order falls in the period, ``cac`` = spend in the period /
  new customers (months and quarters only);
* ``csat_mean``, ``csat_satisfied_share`` (score / scale_max >= 0.8, i.e. 4–5 of 5, as ``reps``) on
  answers whose scale is not 0–10; ``nps`` = promoters (9–10) − detractors (0–6) on 0–10 answers.
"""

from __future__ import annotations

import warnings

import narwhals as nw
import numpy as np
import pandas as pd

from ..engines.ops import (
    DUCKDB_DATES,
    as_pylit,
    columns,
    count_groups,
    count_true,
    lazy,
    period_expr,
    plain_dtypes,
    seconds_between,
    sql_ident,
)
from ..engines.ops import collect as _collect
from ..engines.pandas_fast import group_agg
from ..stats.kpi_specs import KPI_SPECS
from ..tools.validation import check_options, option_error

FREQ = {"W": "W-SUN", "M": "M", "Q": "Q"}
YEAR_LAG = {"W": 52, "M": 12, "Q": 4}
SERIES_COLUMNS = ["kpi", "kind", "segment", "period", "period_end", "partial", "days", "n", "successes",
                  "detractors", "total", "value", "ci_low", "ci_high", "unit_var", "low_volume", "values"]


OPP_SEGMENTS = ("team", "owner", "lead_source")
LEAD_SEGMENTS = {"source": "lead_source", "owner": "owner"}
ORDER_SEGMENTS = ("channel",)
CSAT_SEGMENTS = ("team", "owner")


def collect(lf) -> pd.DataFrame:
    """``_funnel_scan.collect`` without pandas' false-positive SettingWithCopyWarning (the frame is new)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.SettingWithCopyWarning)
        return _collect(lf)


def check_period(period: str) -> str:
    p = str(period).upper()
    if p not in FREQ:
        raise option_error("period", period, {"W": "weeks from Monday", "M": "months", "Q": "quarters"})
    return p


def period_start(dates, period: str) -> pd.Series:
    """Start (midnight) of the calendar period containing each date."""
    if isinstance(dates, pd.Series) and pd.api.types.is_datetime64_dtype(dates.dtype) and not isinstance(
            dates.dtype, pd.DatetimeTZDtype):  # naive datetime64: numpy, no Period objects
        return pd.Series(_np_period(dates.to_numpy(), period, weeks=True), index=dates.index)
    return pd.Series(pd.to_datetime(dates)).dt.to_period(FREQ[period]).dt.start_time


def _np_period(d: np.ndarray, period: str, *, weeks: bool = False) -> np.ndarray:
    """Start of the month or quarter of naive datetime64 values, as datetime64[ns] (NaT kept); for weeks the
    Monday (``weeks=True``) or the day itself (the scans' cells: :func:`rollup` finds the week)."""
    if period in ("M", "Q"):
        m = d.astype("datetime64[M]")
        if period == "Q":
            mi = m.view(np.int64)
            m = np.where(np.isnat(m), m, (mi - mi % 3).view("datetime64[M]"))
        return m.astype("datetime64[ns]")
    day = d.astype("datetime64[D]")
    if weeks:  # 1970-01-01 was a Thursday: Monday = day - (days since epoch + 3) % 7
        di = day.view(np.int64)
        day = np.where(np.isnat(day), day, (di - (di + 3) % 7).view("datetime64[D]"))
    return day.astype("datetime64[ns]")


def _np_dates(s: pd.Series) -> np.ndarray | None:
    """A pandas column as naive datetime64[ns] values, or None when it is not naive datetime64 (the narwhals scan
    then runs)."""
    if not pd.api.types.is_datetime64_dtype(s.dtype) or isinstance(s.dtype, pd.DatetimeTZDtype):
        return None
    return s.to_numpy().astype("datetime64[ns]")


def _duckdb_dates(rel, *cols: str) -> bool:
    """Whether ``rel`` is a DuckDB relation whose ``cols`` are plain DATE / TIMESTAMP columns (the SQL scans)."""
    if not nw.dependencies.is_duckdb_relation(rel):
        return False
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    return all(types.get(c) in DUCKDB_DATES for c in cols)


_q = sql_ident


def _sql_period(col: str, period: str) -> str:
    """The cell key of a date column in DuckDB: the month or quarter start, the day for weeks."""
    unit = {"M": "month", "Q": "quarter", "W": "day"}[period]
    return f"CAST(date_trunc('{unit}', {_q(col)}) AS TIMESTAMP)"


def _sql_ts(ts) -> str:
    return f"TIMESTAMP '{pd.Timestamp(ts).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _nw_period(col: str, period: str) -> nw.Expr:
    """The cell key of a date column on any narwhals engine: the month or quarter start, the day for weeks."""
    return period_expr(col, period) if period in ("M", "Q") else nw.col(col).dt.truncate("1d")


def _fetched(df: pd.DataFrame, segs) -> pd.DataFrame:
    """A DuckDB result in :func:`collect`'s dtypes (``_day`` naive datetime64[ns], segments plain)."""
    if "_day" in df and df["_day"].dtype != "datetime64[ns]":
        df["_day"] = df["_day"].astype("datetime64[ns]")
    return plain_dtypes(df, list(segs))


def _cells(keys: dict, *, counts: dict | None = None, sums: dict | None = None) -> pd.DataFrame:
    """Rows (``n``), true flags (``counts``) and sums per distinct key combination of equal-length arrays, as float
    columns (:func:`engines.ops.count_groups`, numpy; a pandas group-by when its key space is too large)."""
    counts, sums = counts or {}, sums or {}
    g = count_groups(keys, counts=counts, sums=sums)
    if g is None:
        f = pd.DataFrame({**keys, **{c: np.asarray(v, dtype=float) for c, v in {**counts, **sums}.items()}})
        g = f.groupby(list(keys), dropna=False, sort=False).agg(
            n=(next(iter(keys)), "size"), **{c: (c, "sum") for c in [*counts, *sums]}).reset_index()
    for c in ("n", *counts, *sums):
        g[c] = g[c].astype("float64")
    return g


def period_end(starts, period: str) -> pd.Series:
    """Last day (midnight) of the period starting at each start."""
    return pd.Series(pd.to_datetime(starts)).dt.to_period(FREQ[period]).dt.end_time.dt.normalize()


def last_complete_period(as_of, period: str) -> pd.Timestamp:
    """Start of the last period whose last day is on or before ``as_of``."""
    p = pd.Timestamp(as_of).to_period(FREQ[period])
    if pd.Timestamp(as_of).normalize() >= p.end_time.normalize():
        return p.start_time
    return (p - 1).start_time


def shift_period(start: pd.Timestamp, period: str, k: int) -> pd.Timestamp:
    """Start of the period ``k`` periods before the one starting at ``start``."""
    return (pd.Timestamp(start).to_period(FREQ[period]) - k).start_time


def period_name(start, period: str = "M", lang: str | None = None) -> str:
    """A period as a manager reads it: ``November 2025``, ``Q4 2025``, ``week of 2025-11-03`` (Chinese:
    ``2025年11月``, ``2025年第4季度``, ``2025年11月3日当周``)."""
    from ..i18n import current_lang, format_date, format_month

    d = pd.Timestamp(start)
    zh = (lang or current_lang()).lower().startswith("zh")
    if period == "M":
        return format_month(d, "zh") if zh else d.strftime("%B %Y")
    if period == "Q":
        q = (d.month - 1) // 3 + 1
        return f"{d.year}年第{q}季度" if zh else f"Q{q} {d.year}"
    monday = d.to_period(FREQ["W"]).start_time
    return f"{format_date(monday, 'zh')}当周" if zh else f"week of {format_date(monday, 'en')}"


def kpi_windows(rv) -> dict[str, str]:
    """The window each kind of monitoring KPI row covers, in the report language: ``all`` (CSAT, NPS: every answer
    up to the as-of date), ``review`` (attainment: ``November 2025``), ``pop`` / ``yoy`` (a change: ``November
    2025 vs October 2025``) and ``alerts`` (``12 months to November 2025``). Findings quote the same words."""
    from ..i18n import tr

    before = {c: period_name(shift_period(rv.review, rv.period, k), rv.period) for c, k in
              (("pop", 1), ("yoy", YEAR_LAG[rv.period]))}
    return {"all": tr("all history"), "review": rv.name,
            **{c: tr("{period} vs {base}", period=rv.name, base=b) for c, b in before.items()},
            "alerts": tr("{n} months to {period}", n=len(rv.window), period=rv.name) if rv.period == "M" else
            tr("{n} periods to {period}", n=len(rv.window), period=rv.name)}


def parse_review(review, period: str) -> pd.Timestamp:
    """``"2025-11"``, ``"2025Q4"``, a date inside a week, or a Timestamp -> the period's start."""
    try:
        return pd.Period(str(review) if not isinstance(review, pd.Timestamp) else review, FREQ[period]).start_time
    except (ValueError, TypeError):
        try:
            return pd.Timestamp(review).to_period(FREQ[period]).start_time
        except (ValueError, TypeError):
            raise ValueError(f"review period {review!r} is not a {period} period; give e.g. '2025-11' (month), "
                             "'2025Q4' (quarter) or a date inside the week.") from None


def _grid(first: pd.Timestamp, last: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    return pd.period_range(first, last, freq=FREQ[period]).start_time


def _seg_label(col: str | None, value) -> str:
    return "all" if col is None else f"{col}={value}"


def _day_end(as_of) -> object:
    return as_pylit(pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1))


# ---- rolling daily aggregates up to periods --------------------------------------------------------

def rollup(daily: pd.DataFrame, *, kpi: str, kind: str, period: str, as_of, segments: dict[str, str],
           values: pd.DataFrame | None = None, immature_from=None, first=None) -> pd.DataFrame:
    """Daily aggregates -> series rows (``SERIES_COLUMNS``) overall and per segment column.

    ``daily`` has ``_day`` plus the segment columns and ``n`` (rows), ``s`` (sum of the KPI's 0/1 or
    amount), optionally ``d`` (detractors, NPS) and ``spend`` (CAC). ``values`` (``_day``, segment
    columns, ``x``) holds raw values for means, medians and sums. ``segments`` maps a column of
    ``daily`` to its label in ``segment`` (``source`` -> ``lead_source``). Periods run from the first
    with data (per segment) to the as-of period; a period not over at ``as_of`` (or younger than the
    maturity cut-off ``immature_from``) is ``partial``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if daily is None or len(daily) == 0:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    d = daily.copy()
    d["period"] = period_start(d["_day"], period).to_numpy()
    if values is not None and len(values):
        v = values.copy()
        v["period"] = period_start(v["_day"], period).to_numpy()
    else:
        v = None
    first = d["period"].min() if first is None else first
    grid = _grid(first, as_of, period)
    ends = period_end(grid, period).to_numpy()
    out = []
    for col in [None, *segments]:
        keys = ["period"] if col is None else [col, "period"]
        agg = [c for c in ("n", "s", "d", "spend") if c in d]
        g = d.groupby(keys, dropna=True)[agg].sum()
        # every segment's periods, from its first period with data (the company: ``first``) to as-of, built
        # for all segments at once: segments in sorted order, periods ascending within each
        if col is None:
            segs, starts = [None], np.array([np.datetime64(pd.Timestamp(first), "ns")])
        else:
            st = g.reset_index().groupby(col, sort=True)["period"].min()
            segs, starts = list(st.index), st.to_numpy(dtype="datetime64[ns]")
        if not len(segs):
            continue
        gridv = grid.to_numpy(dtype="datetime64[ns]")
        off = np.searchsorted(gridv, starts, side="left")
        m = len(gridv) - off
        pos = np.repeat(off, m) + (np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m))
        seg_rep = np.repeat(np.arange(len(segs)), m)
        per = gridv[pos]
        if col is None:
            gg = g.reindex(pd.DatetimeIndex(per, name="period"))
        else:
            keys_idx = pd.MultiIndex.from_arrays([st.index[seg_rep], per], names=keys)
            gg = g.reindex(keys_idx)
        labels = np.array([_seg_label(segments.get(col, col), sv) for sv in segs], dtype=object)
        frame = pd.DataFrame({"kpi": kpi, "kind": kind, "segment": labels[seg_rep],
                              "period": pd.DatetimeIndex(per), "period_end": ends[pos]})
        frame["partial"] = frame["period_end"] > as_of
        if immature_from is not None:
            frame["partial"] |= frame["period_end"] >= pd.Timestamp(immature_from)
        days_full = (frame["period_end"] - frame["period"]).dt.days + 1
        days_part = (as_of - frame["period"]).dt.days + 1
        frame["days"] = np.minimum(days_full, days_part).astype(float)
        frame["n"] = gg["n"].fillna(0).to_numpy(dtype=float)
        frame["successes"] = gg["s"].fillna(0).to_numpy(dtype=float) if kind in ("rate", "nps") else np.nan
        frame["detractors"] = gg["d"].fillna(0).to_numpy(dtype=float) if kind == "nps" else np.nan
        frame["total"] = gg["spend"].to_numpy(dtype=float) if "spend" in gg else \
            gg["s"].fillna(0).to_numpy(dtype=float) if "s" in gg else np.nan
        if v is not None:
            vg = _split_values(v, keys)
            empty = np.array([])
            frame["values"] = [np.asarray(vg.get(p if col is None else (segs[i], p), empty), dtype=float)
                               for i, p in zip(seg_rep, pd.DatetimeIndex(per), strict=True)]
        else:
            frame["values"] = None
        out.append(frame)
    res = pd.concat(out, ignore_index=True)
    return _values(res, kind)


def _split_values(v: pd.DataFrame, keys: list[str]) -> dict:
    """Raw values per group key (a tuple for several keys, the period alone for one), without a
    Python-level groupby loop."""
    vv = v.dropna(subset=keys)
    if not len(vv):
        return {}
    g = vv.groupby(keys, sort=True)
    codes = g.ngroup().to_numpy()
    x = vv["x"].to_numpy(dtype=float)
    order = np.lexsort((x, codes))  # sorted within each group: a bootstrap's draws must not depend on row order,
    x = x[order]                    # which a lazy engine (DuckDB) does not keep
    sizes = np.bincount(codes)
    parts = np.split(x, np.cumsum(sizes)[:-1])
    idx = g.size().index
    return dict(zip(idx, parts, strict=True))


def _values(f: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Fill ``value`` and its 95% interval from the sufficient statistics of each kind."""
    from scipy import stats as st

    from ..stats import nps_interval, wilson_interval

    n = f["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "rate":
            k = f["successes"].to_numpy(dtype=float)
            f["value"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
            lo, hi = wilson_interval(k, n)
            f["ci_low"], f["ci_high"] = lo, hi
        elif kind == "count":
            f["value"] = n
            f["ci_low"] = np.where(n > 0, st.chi2.ppf(0.025, 2 * n) / 2, 0.0)
            f["ci_high"] = st.chi2.ppf(0.975, 2 * n + 2) / 2
        elif kind == "nps":
            v, lo, hi = nps_interval(f["successes"], f["detractors"], n)
            f["value"], f["ci_low"], f["ci_high"] = v, lo, hi
        elif kind == "ratio":
            tot = f["total"].to_numpy(dtype=float)
            f["value"] = np.where(n > 0, tot / np.where(n > 0, n, 1), np.nan)
            # Poisson interval of the customer count, spend fixed
            f["ci_low"] = np.where(n > 0, tot / (st.chi2.ppf(0.975, 2 * n + 2) / 2), np.nan)
            f["ci_high"] = np.where(n > 0, tot / np.where(n > 0, st.chi2.ppf(0.025, 2 * n) / 2, 1), np.nan)
        else:
            stat = {"mean": np.mean, "median": np.median, "sum": np.sum}[kind]
            vals = f["values"]
            f["value"] = [float(stat(x)) if x is not None and len(x) else (0.0 if kind == "sum" else np.nan)
                          for x in vals]
            if kind == "mean":
                se = [float(np.std(x, ddof=1) / np.sqrt(len(x))) if x is not None and len(x) > 1 else np.nan
                      for x in vals]
                tq = st.t.ppf(0.975, np.maximum(n - 1, 1))
                f["ci_low"] = f["value"] - tq * np.asarray(se)
                f["ci_high"] = f["value"] + tq * np.asarray(se)
            elif kind == "sum":
                se = np.sqrt([float(np.sum(np.square(x))) if x is not None else np.nan for x in vals])
                f["ci_low"], f["ci_high"] = f["value"] - 1.96 * se, f["value"] + 1.96 * se
            else:
                from ..stats import median_ci

                ci = [median_ci(x)[1:] if x is not None and len(x) else (np.nan, np.nan) for x in vals]
                f["ci_low"] = [c[0] for c in ci]
                f["ci_high"] = [c[1] for c in ci]
    f["unit_var"] = np.nan
    if kind == "mean":
        f["unit_var"] = [float(np.var(x, ddof=1)) if x is not None and len(x) > 1 else np.nan for x in f["values"]]
    elif kind == "sum":  # the period's sum of squared amounts (compound-Poisson variance of the total)
        f["unit_var"] = [float(np.sum(np.square(x))) if x is not None else 0.0 for x in f["values"]]
    elif kind == "nps":
        with np.errstate(invalid="ignore", divide="ignore"):
            pp, pm = f["successes"] / f["n"], f["detractors"] / f["n"]
            f["unit_var"] = (pp + pm - (pp - pm) ** 2) * f["n"] / (f["n"] - 1)
    f["low_volume"] = False
    return f[SERIES_COLUMNS]


# ---- scans per table ------------------------------------------------------------------------------

def _present(lf, cols) -> list[str]:
    have = set(columns(lf))
    return [c for c in cols if c in have]


def opportunity_series(opps, *, stages, period: str, as_of, kpis, money_by: str | None = None) -> list[pd.DataFrame]:
    """win_rate, deals_won, won_revenue, avg_won_deal_size by close date, overall and per team / owner /
    lead source (those present). Months and quarters take won and lost counts from ``funnel.win_rate``;
    weeks (which it does not offer) use a daily scan with the same definition.

    ``money_by="currency"`` (deals in several currencies, no rates): the money KPIs are per ``currency=XXX``
    only, with no company, team, owner or source series (each would add amounts in different currencies)."""
    lf = lazy(opps, table="opportunities")
    names = columns(lf)
    segs = [c for c in OPP_SEGMENTS if c in names]
    out = []
    if period in ("M", "Q"):  # the funnel's own win rate (definition "closed"), finest cells, summed up
        from ..funnel.stages import win_rate

        w = win_rate(opps, by=segs, period=period, stages=stages).table
        w = w[pd.to_datetime(w["period"]) <= pd.Timestamp(as_of)]
        daily = w[segs].assign(_day=pd.to_datetime(w["period"]), n=(w["won"] + w["lost"]).astype(float),
                               s=w["won"].astype(float))
        daily = daily[daily["n"] > 0]
        dw = daily.assign(n=daily["s"])[lambda d: d["n"] > 0]
    else:  # weeks: the same definition from a daily scan
        daily = collect(_closed(lf, stages, as_of).group_by("_day", *segs, drop_null_keys=False)
                        .agg(n=nw.len(), s=nw.col("_won").sum()))
        dw = daily.assign(n=daily["s"])[lambda d: d["n"] > 0] if len(daily) else daily
    if not len(daily):
        return out
    first = period_start(pd.Series([daily["_day"].min()]), period).iloc[0]
    sm = {c: c for c in segs}
    if "win_rate" in kpis:
        out.append(rollup(daily, kpi="win_rate", kind="rate", period=period, as_of=as_of, segments=sm, first=first))
    if "deals_won" in kpis and len(dw):
        out.append(rollup(dw[["_day", *segs, "n"]], kpi="deals_won", kind="count", period=period, as_of=as_of,
                          segments=sm, first=first))
    if {"won_revenue", "avg_won_deal_size"} & set(kpis):
        msegs, msm = segs, sm
        if money_by is not None:
            msegs, msm = [money_by], {money_by: money_by}
        vals = _won_amounts(opps, lf, names, msegs, stages=stages, period=period, as_of=as_of, money_by=money_by)
        if len(vals):
            dv = _cells({"_day": vals["_day"].to_numpy(), **{c: vals[c].to_numpy() for c in msegs}})
            dv["s"] = 0.0
            for kpi, kind in (("won_revenue", "sum"), ("avg_won_deal_size", "mean")):
                if kpi in kpis:
                    part = rollup(dv, kpi=kpi, kind=kind, period=period, as_of=as_of, segments=msm, values=vals,
                                  first=first)
                    out.append(part if money_by is None else part[part["segment"] != "all"])
    return out


def _closed(lf, stages, as_of):
    """Deals closed (won or lost label) by the end of the as-of day, with ``_day`` (close day) and ``_won`` (0/1)."""
    closed = list(stages.won + stages.lost)
    lf = lf.filter(~nw.col("close_date").is_null() & (nw.col("close_date") < _day_end(as_of))
                   & nw.col("stage").is_in(closed))
    return lf.with_columns(_day=nw.col("close_date").dt.truncate("1d"),
                           _won=nw.col("stage").is_in(list(stages.won)).cast(nw.Int64))


def _won_amounts(opps, lf, names, segs, *, stages, period: str, as_of, money_by) -> pd.DataFrame:
    """Won deals with an amount, closed by the end of the as-of day: ``_day`` (the month or quarter start; the day
    for weeks), the segment columns and ``x`` (the amount). One pass over the loader's ``is_won`` where present (the
    won labels of ``stages`` otherwise): numpy on pandas, one statement on DuckDB, narwhals elsewhere."""
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    flags = "is_won" in names and money_by is None
    if flags and nw.dependencies.is_pandas_dataframe(opps):
        close = _np_dates(opps["close_date"])
        if close is not None:
            amount = opps["amount"].to_numpy(dtype="float64", na_value=np.nan)
            keep = np.flatnonzero(opps["is_won"].to_numpy(dtype=bool, na_value=False) & ~np.isnan(amount)
                                  & (close < np.datetime64(end.to_datetime64(), "ns")))
            v = pd.DataFrame({"_day": _np_period(close[keep], period),
                              **{c: opps[c].to_numpy()[keep] for c in segs}, "x": amount[keep]})
            return plain_dtypes(v, segs)
    if flags and _duckdb_dates(opps, "close_date"):
        sel = ", ".join([f"{_sql_period('close_date', period)} AS _day", *[_q(c) for c in segs],
                         "CAST(amount AS DOUBLE) AS x"])
        return _fetched(opps.filter(f"coalesce(is_won, false) AND close_date < {_sql_ts(end)} AND amount IS NOT NULL")
                        .project(sel).df(), segs)
    if flags:
        won = lf.filter(nw.col("is_won").fill_null(False) & ~nw.col("close_date").is_null()
                        & (nw.col("close_date") < _day_end(as_of)))
    else:
        won = _closed(lf, stages, as_of).filter(nw.col("_won") == 1)
    if money_by is not None:
        won = won.with_columns(nw.col(money_by).cast(nw.String).str.strip_chars().str.to_uppercase())
    return collect(won.filter(~nw.col("amount").is_null())
                   .select(_nw_period("close_date", period).alias("_day"), *segs, x=nw.col("amount")))


def lead_series(leads, *, period: str, as_of, kpis, maturity_days: int = 90) -> list[pd.DataFrame]:
    """lead_conversion_rate (mature leads only) and first_response_median_hours by lead creation date."""
    lf = lazy(leads, table="leads")
    have = columns(lf)
    segs = [c for c in LEAD_SEGMENTS if c in have]
    sm = {c: LEAD_SEGMENTS[c] for c in segs}
    out = []
    conv = [c for c in ("opportunity_id", "converted_date") if c in have]
    if "lead_conversion_rate" in kpis and conv:
        cutoff = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=int(maturity_days))
        daily = _lead_cells(leads, lf, segs, conv, period=period, as_of=as_of)
        if len(daily):
            out.append(rollup(daily, kpi="lead_conversion_rate", kind="rate", period=period, as_of=as_of,
                              segments=sm, immature_from=cutoff + pd.Timedelta(days=1)))
    if "first_response_median_hours" in kpis and "first_response_date" in have:
        lf = lf.filter(~nw.col("created_date").is_null() & (nw.col("created_date") < _day_end(as_of)))
        hrs = seconds_between(nw.col("created_date"), nw.col("first_response_date"), frame=lf) / 3600.0
        vals = collect(lf.filter(~nw.col("first_response_date").is_null())
                       .select(_nw_period("created_date", period).alias("_day"), *segs, x=hrs))
        if len(vals):
            dv = _cells({"_day": vals["_day"].to_numpy(), **{c: vals[c].to_numpy() for c in segs}})
            dv["s"] = 0.0
            out.append(rollup(dv, kpi="first_response_median_hours", kind="median", period=period, as_of=as_of,
                              segments=sm, values=vals))
    return out


def _lead_cells(leads, lf, segs, conv, *, period: str, as_of) -> pd.DataFrame:
    """Leads created by the end of the as-of day per cell (``_day``: month or quarter start, the day for weeks) and
    segment: ``n`` leads, ``s`` converted (an opportunity or a conversion date); numpy on pandas, one aggregate on
    DuckDB, one narwhals group-by elsewhere."""
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    if nw.dependencies.is_pandas_dataframe(leads):
        day = _np_dates(leads["created_date"])
        if day is not None:
            keep = np.flatnonzero(day < np.datetime64(end.to_datetime64(), "ns"))
            done = np.zeros(len(keep), dtype=bool)
            for c in conv:
                done |= pd.notna(leads[c].to_numpy()[keep])
            g = _cells({"_day": _np_period(day[keep], period), **{c: leads[c].to_numpy()[keep] for c in segs}},
                       counts={"s": done})
            return plain_dtypes(g, segs)
    if _duckdb_dates(leads, "created_date"):
        flag = " OR ".join(f"{_q(c)} IS NOT NULL" for c in conv)
        keys = [f"{_sql_period('created_date', period)} AS _day", *[_q(c) for c in segs]]
        g = leads.filter(f"created_date < {_sql_ts(end)}").aggregate(
            ", ".join([*keys, "count(*) AS n", f"count(*) FILTER (WHERE {flag}) AS s"])).df()
        for c in ("n", "s"):
            g[c] = g[c].astype("float64")
        return _fetched(g, segs)
    flag = nw.lit(False)
    for c in conv:
        flag = flag | ~nw.col(c).is_null()
    lf = lf.filter(~nw.col("created_date").is_null() & (nw.col("created_date") < _day_end(as_of)))
    # converted leads counted (a plain integer on every engine; DuckDB's sum of a cast flag is a HUGEINT that
    # reaches pandas as Decimal objects, one per day and segment)
    return collect(lf.with_columns(_day=_nw_period("created_date", period), _c=flag)
                   .group_by("_day", *segs, drop_null_keys=False).agg(n=nw.len(), s=count_true("_c", lf)))


#: the acquisition channel ``costs.cac`` gives customers whose first order has none (counted in the company only)
NO_CHANNEL = "(none)"


def order_series(orders, spend, *, period: str, as_of, kpis) -> list[pd.DataFrame]:
    """new_customers by first-order date (per acquisition channel) and CAC = spend / new customers.

    Months and quarters with spend take both from ``costs.cac`` (per channel, summed for the company; its
    customers without a channel count in the company only); weeks (no CAC: spend is monthly) and months without
    spend count first orders from a scan with the same definition."""
    lf = lazy(orders, table="orders")
    have = columns(lf)
    segs = [c for c in ORDER_SEGMENTS if c in have]
    sm = {c: c for c in segs}
    use_costs = (period in ("M", "Q") and spend is not None and "channel" in segs and row_count(spend) > 0)
    if use_costs:  # the cost module's CAC and new customers per channel (months, quarters): its scan is the one
        from ..value.costs import cac

        c = cac(spend, orders, by="channel", period=period, as_of=as_of)
        c = c[(c["scope"] == "channel") & (pd.to_datetime(c["period"]) <= pd.Timestamp(as_of))]
        chan = c["channel"].to_numpy(dtype=object)
        both = pd.DataFrame({"_day": pd.to_datetime(c["period"]).to_numpy(),
                             "channel": np.where(chan == NO_CHANNEL, None, chan),
                             "n": c["new_customers"].to_numpy(dtype=float), "s": 0.0,
                             "spend": c["spend"].to_numpy(dtype=float)})
        nc = both[both["n"] > 0][["_day", "channel", "n", "s"]]
        if not len(nc):
            return []
    else:
        nc, both = _first_orders(lf, segs, as_of=as_of), None
        if not len(nc):
            return []
    out = []
    if "new_customers" in kpis:
        out.append(rollup(nc, kpi="new_customers", kind="count", period=period, as_of=as_of, segments=sm))
    if "cac" in kpis and both is not None:
        out.append(rollup(both, kpi="cac", kind="ratio", period=period, as_of=as_of, segments={"channel": "channel"}))
    return out


def _first_orders(lf, segs, *, as_of) -> pd.DataFrame:
    """Customers per first-order day (and acquisition channel: the channel of the first order, the smallest on
    ties): ``_day, <segs>, n, s``."""
    lf = lf.filter(~nw.col("order_date").is_null() & (nw.col("order_date") < _day_end(as_of)))
    firsts = collect(lf.group_by("customer_id").agg(nw.col("order_date").min().alias("_first")))
    if segs:  # acquisition channel = channel of the first order
        ch = collect(group_agg(lf.select("customer_id", "order_date", *segs).join(
            lf.group_by("customer_id").agg(_first=nw.col("order_date").min()), on="customer_id")
            .filter(nw.col("order_date") == nw.col("_first")), ["customer_id"], str_min={c: c for c in segs}))
        firsts = firsts.merge(ch, on="customer_id", how="left")
    if not len(firsts):
        return firsts
    firsts["_day"] = pd.to_datetime(firsts["_first"]).dt.normalize()
    daily = firsts.groupby(["_day", *segs], dropna=False).size().rename("n").reset_index()
    daily["s"] = 0.0
    return daily


def csat_series(csat, *, period: str, as_of, kpis, owner_team: pd.DataFrame | None = None,
                satisfied_share: float = 0.8) -> list[pd.DataFrame]:
    """csat_mean and csat_satisfied_share on answers not on a 0–10 scale (scale_max default 5); nps on
    0–10 answers (promoters 9–10, detractors 0–6). Per owner, and per team through ``owner_team``
    (owner -> team from the opportunities)."""
    rows = _csat_rows(csat, period=period, as_of=as_of)
    segs = ["owner"] if "owner" in rows else []
    keys = {"_day": rows["_day"].to_numpy(), **({"owner": rows["owner"].to_numpy()} if segs else {})}
    if owner_team is not None and segs and len(rows):  # the owner's team, looked up once per distinct owner
        codes, owners = pd.factorize(keys["owner"])  # missing -> -1
        ot = owner_team.drop_duplicates("owner", keep="first")
        pos = pd.Index(ot["owner"]).get_indexer(owners)
        teams = np.append(np.where(pos >= 0, ot["team"].to_numpy(dtype=object)[np.clip(pos, 0, None)], np.nan)
                          if len(ot) else np.full(len(owners), np.nan, dtype=object), np.nan).astype(object)
        keys = {"_day": keys["_day"], "team": teams[codes], "owner": keys["owner"]}
        segs = ["team", "owner"]
    sm = {c: c for c in segs}
    x, scale = rows["x"].to_numpy(dtype=float), rows["_scale"].to_numpy(dtype=float)
    out = []
    cs = np.flatnonzero(scale != 10)
    if len(cs):
        with np.errstate(invalid="ignore", divide="ignore"):
            sat = x[cs] / scale[cs] >= satisfied_share
        ck = {k: v[cs] for k, v in keys.items()}
        daily = _cells(ck, counts={"s": sat})
        if "csat_mean" in kpis:
            vals = pd.DataFrame({**ck, "x": x[cs]})
            out.append(rollup(daily, kpi="csat_mean", kind="mean", period=period, as_of=as_of, segments=sm,
                              values=vals))
        if "csat_satisfied_share" in kpis:
            out.append(rollup(daily, kpi="csat_satisfied_share", kind="rate", period=period, as_of=as_of,
                              segments=sm))
    nps = np.flatnonzero(scale == 10)
    if "nps" in kpis and len(nps):
        daily = _cells({k: v[nps] for k, v in keys.items()}, counts={"s": x[nps] >= 9, "d": x[nps] <= 6})
        out.append(rollup(daily, kpi="nps", kind="nps", period=period, as_of=as_of, segments=sm))
    return out


def _csat_rows(csat, *, period: str, as_of) -> pd.DataFrame:
    """Answers with a score given by the end of the as-of day: ``_day`` (month or quarter start; the day for weeks),
    ``owner`` (when present), ``_scale`` (scale_max, 5 when missing) and ``x`` (the score); numpy on pandas, one
    statement on DuckDB, narwhals elsewhere."""
    lf = lazy(csat, table="csat")
    have = columns(lf)
    segs = ["owner"] if "owner" in have else []
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    if nw.dependencies.is_pandas_dataframe(csat):
        day = _np_dates(csat["survey_date"])
        if day is not None:
            score = csat["score"].to_numpy(dtype="float64", na_value=np.nan)
            keep = np.flatnonzero(~np.isnan(score) & (day < np.datetime64(end.to_datetime64(), "ns")))
            scale = (csat["scale_max"].to_numpy(dtype="float64", na_value=np.nan)[keep] if "scale_max" in have
                     else np.full(len(keep), 5.0))
            return plain_dtypes(pd.DataFrame({"_day": _np_period(day[keep], period),
                                              **{c: csat[c].to_numpy()[keep] for c in segs},
                                              "_scale": np.where(np.isnan(scale), 5.0, scale), "x": score[keep]}),
                                segs)
    if _duckdb_dates(csat, "survey_date"):
        scale = "coalesce(CAST(scale_max AS DOUBLE), 5.0)" if "scale_max" in have else "5.0"
        sel = ", ".join([f"{_sql_period('survey_date', period)} AS _day", *[_q(c) for c in segs],
                         f"{scale} AS _scale", "CAST(score AS DOUBLE) AS x"])
        return _fetched(csat.filter(f"score IS NOT NULL AND survey_date < {_sql_ts(end)}").project(sel).df(), segs)
    lf = lf.filter(~nw.col("survey_date").is_null() & ~nw.col("score").is_null()
                   & (nw.col("survey_date") < _day_end(as_of)))
    scale = nw.col("scale_max").fill_null(5.0) if "scale_max" in have else nw.lit(5.0)
    return collect(lf.select(_nw_period("survey_date", period).alias("_day"), *segs, _scale=scale,
                             x=nw.col("score")))


# ---- every monitored KPI -------------------------------------------------------------------------

CSAT_MIN_RESPONSES = 10


def kpi_series(ds, *, period: str = "M", kpis=None, maturity_days: int = 90,
               min_responses: int = CSAT_MIN_RESPONSES, min_n: int = 5) -> pd.DataFrame:
    """Every monitored KPI per period, overall (``segment = "all"``) and per segment.

    Parameters
    ----------
    ds : Dataset (``load_dataset``); missing tables just drop their KPIs.
    period : ``"W"`` (weeks from Monday), ``"M"`` or ``"Q"``.
    kpis : names from ``KPI_SPECS`` (default all).
    maturity_days : leads younger than this at ``as_of`` are not counted in lead conversion (their
        periods are ``partial``), as in ``funnel.lead_funnel``.
    min_responses, min_n : a CSAT/NPS period with fewer answers than ``min_responses`` (other means,
        medians and CAC: fewer than ``min_n`` observations) is ``low_volume``: shown, never alerted.

    Returns
    -------
    DataFrame ``kpi, kind, segment, period`` (start), ``period_end, partial, days`` (days covered up to
    ``as_of``), ``n`` (trials / observations / events / new customers), ``successes, detractors, total``
    (spend for CAC, sum for totals), ``value, ci_low, ci_high, low_volume, values`` (raw values of
    means, medians and totals), sorted by kpi, segment, period.
    """
    period = check_period(period)
    wanted = list(KPI_SPECS) if kpis is None else list(kpis)
    check_options("kpi", wanted, list(KPI_SPECS), hint="Only these KPIs are monitored.")
    as_of = ds.as_of
    parts: list[pd.DataFrame] = []
    money_by = None
    if getattr(ds, "mapping", None) is not None:  # a Dataset: money in the report currency, or per currency
        from ..data.currency import converted, needs_split

        ds = converted(ds)
        money_by = "currency" if needs_split(ds, "opportunities") else None
    opps = ds.opportunities
    if row_count(opps):
        parts += opportunity_series(opps, stages=ds.stages, period=period, as_of=as_of, kpis=wanted, money_by=money_by)
    if row_count(ds.leads):
        parts += lead_series(ds.leads, period=period, as_of=as_of, kpis=wanted, maturity_days=maturity_days)
    if row_count(ds.orders):
        parts += order_series(ds.orders, ds.marketing_spend, period=period, as_of=as_of, kpis=wanted)
    if row_count(ds.csat):
        parts += csat_series(ds.csat, period=period, as_of=as_of, kpis=wanted, owner_team=owner_teams(opps))
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    s = pd.concat(parts, ignore_index=True)
    table = s["kpi"].map(lambda k: KPI_SPECS[k].table)
    kind = s["kind"]
    need = np.where(table == "csat", min_responses, min_n)
    s["low_volume"] = kind.isin(["mean", "median", "nps", "ratio"]).to_numpy() & (s["n"].to_numpy() < need)
    s["low_volume"] |= (table == "csat").to_numpy() & (s["n"].to_numpy() < need)
    return s.sort_values(["kpi", "segment", "period"], kind="stable").reset_index(drop=True)


def row_count(table) -> int:
    """Rows of a table on any engine (0 for None): narwhals ``len`` in a select, as a LazyFrame has no ``len()``."""
    return 0 if table is None else int(lazy(table).select(nw.len()).collect().item())


def owner_teams(opps) -> pd.DataFrame | None:
    """owner -> team (the team of most of the owner's deals), or None without a team column."""
    if opps is None:
        return None
    lf = lazy(opps, table="opportunities")
    if "team" not in columns(lf):
        return None
    t = collect(lf.select("owner", "team").drop_nulls().group_by("owner", "team").agg(nw.len().alias("count")))
    t = t.sort_values(["owner", "count", "team"], ascending=[True, False, True], kind="stable")
    return t.drop_duplicates("owner")[["owner", "team"]].reset_index(drop=True)
