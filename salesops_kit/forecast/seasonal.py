"""Monthly series, seasonal profile, forecasts with calibrated intervals, backtests (findings prose in
:mod:`._findings`, KPI rows in :mod:`._kpis`).

The decision this module serves: "every year Q3 is strong, so we ramp in Q2" — measured with its
uncertainty, forecast with intervals that cover, and proven against simple baselines by backtest.

- :func:`monthly_series` scans orders or won deals (narwhals: pandas, Polars, DuckDB, ...) into a
  complete monthly (or quarterly) series; missing months are zeros; a partial last period is
  dropped (default) or flagged, never silently treated as complete.
- :func:`seasonal_profile` (STL, statsmodels): seasonal index per month and quarter with 95%
  intervals from the per-year detrended ratios, strength of seasonality with a Kruskal-Wallis
  test, trend growth per year with a HAC interval, and the analyst's sentence.
- :func:`forecast` / :func:`backtest` live in :mod:`salesops_kit.forecast.models` and are
  re-exported here; the pipeline forecast is :mod:`salesops_kit.forecast.pipeline`.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import narwhals as nw
import numpy as np
import pandas as pd
from scipy import stats as _st

from ..tools.results import Result
from ..tools.validation import check_level, check_option, require_columns
from .models import BacktestResult, Forecast, as_series, backtest, forecast, season_length

__all__ = ["monthly_series", "bookings_series", "seasonal_profile", "SeasonalProfile", "forecast", "backtest",
           "BacktestResult", "as_series", "total_interval", "history_window", "forecast_window", "quarter_label"]

_SERIES_COLUMNS = ["period", "value", "n", "complete"]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------------------------- series
def _collect(frame) -> pd.DataFrame:
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    return frame.to_pandas()


def monthly_series(table, *, date: str = "order_date", value: str = "amount", freq: str = "M",
                   as_of=None, partial: str = "drop") -> pd.DataFrame:
    """Total (or count) per calendar month or quarter, with zeros for empty periods.

    Parameters
    ----------
    table : DataFrame-like (pandas, Polars eager/lazy, DuckDB relation, ... via narwhals)
        Row-level table, e.g. ``orders`` or won ``opportunities``.
    date : str
        Date column that places a row in a period (``order_date``, ``close_date``).
    value : str
        ``"count"`` counts rows; any other value names the numeric column to sum (``"amount"``).
    freq : {"M", "Q"}
        Monthly or quarterly periods.
    as_of : date-like, optional
        Analysis date: rows after it are ignored, and the period containing it is complete only if
        ``as_of`` is its last day. Default: the latest date in the table (so the last period is
        treated as partial unless that date is the period's last day).
    partial : {"drop", "flag"}
        What to do with an incomplete last period: drop it (default) or keep it with
        ``complete=False`` (models in this module ignore flagged periods).

    Returns
    -------
    DataFrame sorted by ``period``: ``period`` (Timestamp, first day of the month/quarter),
    ``value`` (float, rounded to 4 decimals), ``n`` (rows in the period), ``complete`` (bool). Periods run from
    the first period with a row to the period of ``as_of``; missing periods have value 0 and n 0. Empty
    input gives an empty frame with these columns.
    """
    freq = str(freq).upper()[:1]
    check_option("freq", freq, {"M": "monthly", "Q": "quarterly"}, where="monthly_series")
    check_option("partial", partial, ("drop", "flag"), where="monthly_series")
    empty = pd.DataFrame({"period": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                          "n": pd.Series(dtype="int64"), "complete": pd.Series(dtype=bool)})
    if table is None:
        return empty
    f = nw.from_native(table)
    cols = f.collect_schema().names()
    require_columns(cols, [date] + ([] if value == "count" else [value]), table="the table", purpose="monthly_series",
                    hint="Set date= to the table's date column and value= to 'count' or the amount column.")
    if as_of is None:
        mx = _collect(f.select(nw.col(date).max()))  # (the maximum skips missing dates)
        if mx.empty or pd.isna(mx.iloc[0, 0]):
            return empty
        as_of = pd.Timestamp(mx.iloc[0, 0])
    as_of = pd.Timestamp(as_of)
    cutoff = (as_of.normalize() + pd.Timedelta(days=1)).to_pydatetime()
    native = nw.to_native(table, pass_through=True)
    g = _months_pandas(native, date, value, cutoff)
    if g is None:
        g = _months_polars(native, date, value, cutoff)
    if g is None:  # (on pandas a narwhals filter copies the frame: the numpy scan above filters nothing)
        f = f.filter(~nw.col(date).is_null() & (nw.col(date) < datetime(cutoff.year, cutoff.month, cutoff.day)))
        v_expr = nw.lit(1.0) if value == "count" else nw.col(value).cast(nw.Float64).fill_null(0.0)
        g = _collect(f.with_columns(nw.col(date).dt.truncate("1mo").alias("_p"), v_expr.alias("_v"))
                     .group_by("_p").agg(nw.len().alias("n"), nw.col("_v").sum().alias("value")))  # one key
        p = pd.to_datetime(g.pop("_p"))
        g["_y"], g["_m"] = p.dt.year.to_numpy(), p.dt.month.to_numpy()
    if g.empty:
        return empty
    per = pd.PeriodIndex([pd.Period(year=int(y), month=int(m), freq="M")
                          for y, m in zip(g["_y"], g["_m"], strict=True)])
    if freq == "Q":
        per = per.asfreq("Q")
    g = pd.DataFrame({"p": per, "value": g["value"].astype(float).to_numpy(), "n": g["n"].astype("int64").to_numpy()})
    g = g.groupby("p").agg(value=("value", "sum"), n=("n", "sum"))
    # Engines add a period's amounts in different orders, so their sums differ in the last bits, which the
    # seasonal decomposition magnifies (1e-15 in, 1e-4 out): totals are kept to 1/10,000 of the unit, so
    # pandas, Polars and DuckDB give the same series, run after run.
    g["value"] = g["value"].round(4)
    last = as_of.to_period(freq)
    full = pd.period_range(g.index.min(), last, freq=freq)
    g = g.reindex(full, fill_value=0)
    complete = np.ones(len(g), dtype=bool)
    complete[-1] = as_of.normalize() >= last.end_time.normalize()
    out = pd.DataFrame({"period": full.to_timestamp(), "value": g["value"].to_numpy(dtype=float),
                        "n": g["n"].to_numpy(dtype="int64"), "complete": complete})
    if partial == "drop":
        out = out[out["complete"]]
    return out.reset_index(drop=True)


def _months_pandas(df, date: str, value: str, cutoff) -> pd.DataFrame | None:
    """:func:`monthly_series`'s scan on a pandas frame in numpy (``_y, _m, n, value`` per month with rows before
    ``cutoff``; one ``bincount`` over the months): None for another engine or dates that are not naive datetime64."""
    if not nw.dependencies.is_pandas_dataframe(df):
        return None
    s = df[date]
    if not pd.api.types.is_datetime64_dtype(s.dtype) or isinstance(s.dtype, pd.DatetimeTZDtype):
        return None
    d = s.to_numpy().astype("datetime64[ns]")
    keep = np.flatnonzero(~np.isnat(d) & (d < np.datetime64(pd.Timestamp(cutoff).to_datetime64(), "ns")))
    if not len(keep):
        return pd.DataFrame({"_y": [], "_m": [], "n": [], "value": []})
    months = d[keep].astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    lo = int(months.min())
    v = None if value == "count" else np.nan_to_num(df[value].to_numpy(dtype="float64", na_value=np.nan)[keep])
    n = np.bincount(months - lo)
    tot = n.astype(float) if v is None else np.bincount(months - lo, weights=v, minlength=len(n))
    at = np.flatnonzero(n)
    return pd.DataFrame({"_y": (at + lo) // 12 + 1970, "_m": (at + lo) % 12 + 1, "n": n[at], "value": tot[at]})


_PER_DAY = {"ns": 86_400_000_000_000, "us": 86_400_000_000, "ms": 86_400_000}


def _months_polars(frame, date: str, value: str, cutoff) -> pd.DataFrame | None:
    """:func:`monthly_series`'s scan on a Polars frame: rows and totals per day as an integer day number (a group-by
    on an integer key; truncating to months in Polars was 1.25x DuckDB's date_trunc), the days summed into months in
    pandas (about 30 rows each). None for another engine or a date that is not a naive Date / Datetime."""
    if not (nw.dependencies.is_polars_lazyframe(frame) or nw.dependencies.is_polars_dataframe(frame)):
        return None
    import polars as pl

    lf = frame.lazy()
    dtype = lf.collect_schema()[date]
    if dtype == pl.Date:
        day = pl.col(date).cast(pl.Int64)
    elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None and dtype.time_unit in _PER_DAY:
        day = pl.col(date).cast(pl.Int64) // _PER_DAY[dtype.time_unit]  # floor: days before 1970 stay whole
    else:
        return None
    v = pl.lit(1.0) if value == "count" else pl.col(value).cast(pl.Float64).fill_null(0.0)
    d = (lf.filter(pl.col(date).is_not_null() & (pl.col(date) < cutoff))
         .group_by(day.alias("_d")).agg(pl.len().alias("n"), v.sum().alias("value")).collect().to_pandas())
    month = pd.to_datetime(d["_d"].to_numpy().astype("datetime64[D]")).to_period("M")
    g = d.groupby(month).agg(n=("n", "sum"), value=("value", "sum"))
    return pd.DataFrame({"_y": g.index.year, "_m": g.index.month, "n": g["n"].to_numpy(),
                         "value": g["value"].to_numpy()})


def bookings_series(ds, *, value: str = "amount", freq: str = "M", partial: str = "drop") -> pd.DataFrame:
    """Monthly series of won deals by close date (won stages from ``ds.stages``, never from names).

    See :func:`monthly_series` for the columns. Returns an empty frame when the dataset has no
    opportunities.
    """
    opp = ds.opportunities
    if opp is None:
        return monthly_series(None)
    won = list(ds.stages.won)
    f = nw.from_native(opp)
    f = f.filter(nw.col("stage").is_in(won))
    return monthly_series(f.to_native(), date="close_date", value=value, freq=freq, as_of=ds.as_of, partial=partial)


# --------------------------------------------------------------------------------- seasonal profile
@dataclass(frozen=True, repr=False)
class SeasonalProfile(Result):
    """Result of :func:`seasonal_profile`.

    Attributes
    ----------
    decomposition : DataFrame ``period, value, trend, seasonal, remainder, ratio`` (``ratio`` =
        value / trend, the per-period detrended ratio; on the log scale for multiplicative fits).
    monthly : DataFrame ``season`` (1..m), ``label``, ``index`` (1.00 = on trend), ``ci_low``,
        ``ci_high``, ``n_years`` — the seasonal index per month (or per quarter for quarterly input).
    quarterly : DataFrame ``season`` (1..4), ``label`` (Q1..Q4), ``index``, ``ci_low``, ``ci_high``,
        ``n_years`` (empty when the input is not monthly or quarterly).
    stats : DataFrame, one row: ``strength`` (Wang-Smith-Hyndman, 0..1), ``kw_statistic``,
        ``p_value`` (Kruskal-Wallis test of the detrended values grouped by season),
        ``growth_per_year``, ``growth_ci_low``, ``growth_ci_high`` (trend growth of the mean: quasi-Poisson
        GLM on time + season dummies, HAC interval),
        ``multiplicative``, ``n_periods``, ``n_years``.
    level : float
    """

    decomposition: pd.DataFrame
    monthly: pd.DataFrame
    quarterly: pd.DataFrame
    stats: pd.DataFrame
    level: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def strength(self) -> float:
        return float(self.stats["strength"].iloc[0]) if len(self.stats) else float("nan")

    @property
    def p_value(self) -> float:
        return float(self.stats["p_value"].iloc[0]) if len(self.stats) else float("nan")

    def peak(self, by: str = "quarter") -> pd.Series:
        t = self.quarterly if by == "quarter" and len(self.quarterly) else self.monthly
        return t.loc[t["index"].idxmax()] if len(t) else pd.Series(dtype=object)

    def trough(self, by: str = "quarter") -> pd.Series:
        t = self.quarterly if by == "quarter" and len(self.quarterly) else self.monthly
        return t.loc[t["index"].idxmin()] if len(t) else pd.Series(dtype=object)

    def sentence(self, label: str | None = None) -> str:
        """``"Q3 runs +31% above trend (95% interval +22% to +40%)"`` for a season label
        (default: the peak quarter, or peak month when there are no quarters)."""
        from ..i18n import tr as _tr

        t = pd.concat([self.quarterly, self.monthly], ignore_index=True)
        if t.empty:
            return _tr("Not enough history for a seasonal profile.")
        row = self.peak() if label is None else t[t["label"] == label].iloc[0]
        return _season_sentence(row, self.level)

    def headline(self) -> str:
        from ..i18n import tr as _tr  # in the report language

        if self.monthly.empty:
            return _tr("Not enough history for a seasonal profile.")
        pk, tr = self.peak(), self.trough()
        sig = _tr("significant") if self.p_value < 0.05 else _tr("not significant")
        return _tr("{peak}; {trough}. Seasonality strength {strength:.2f} ({sig}, Kruskal-Wallis p = {p:.2g}).",
                   peak=_season_sentence(pk, self.level), trough=_season_sentence(tr, self.level),
                   strength=self.strength, sig=sig, p=self.p_value)

    def summary(self) -> pd.DataFrame:
        return pd.concat([self.quarterly.assign(kind="quarter"), self.monthly.assign(kind="month")],
                         ignore_index=True)[["kind", "season", "label", "index", "ci_low", "ci_high", "n_years"]]

    def plot(self, ax=None, **kwargs):
        from ..plots.forecast import plot_seasonal_index

        return plot_seasonal_index(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.headline())}</p>" + self.summary().round(4).to_html(index=False)


def pct_vs_trend(x: float) -> str:
    """A seasonal index as its change against the trend: 1.31 -> ``"+31%"``."""
    return f"{(x - 1) * 100:+.0f}%"


def _season_sentence(row, level: float) -> str:
    from ..i18n import t as _t  # in the report language
    from ..i18n import tr as _tr

    label, pct = _t(str(row["label"])), pct_vs_trend(row["index"])
    s = (_tr("{label} runs {pct} above trend", label=label, pct=pct) if row["index"] >= 1 else
         _tr("{label} runs {pct} below trend", label=label, pct=pct))
    if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
        s += _tr(" ({level:.0%} interval {low} to {high})", level=level, low=pct_vs_trend(row["ci_low"]),
                 high=pct_vs_trend(row["ci_high"]))
    else:
        s += _tr(" (no interval: fewer than two years of that season)")
    return s


def _index_table(keys: np.ndarray, logratio: np.ndarray, labels, m: int, level: float) -> pd.DataFrame:
    """Per-season mean of per-year log ratios -> index with a t interval over years."""
    rows = []
    for s in range(1, m + 1):
        x = logratio[keys == s]
        x = x[np.isfinite(x)]
        n = len(x)
        mu = x.mean() if n else np.nan
        if n >= 2:
            se = x.std(ddof=1) / np.sqrt(n)
            tq = _st.t.ppf(0.5 + level / 2, n - 1)
            lo, hi = mu - tq * se, mu + tq * se
        else:
            lo = hi = np.nan
        rows.append({"season": s, "label": labels[s - 1], "index": np.exp(mu), "ci_low": np.exp(lo),
                     "ci_high": np.exp(hi), "n_years": n})
    out = pd.DataFrame(rows, columns=["season", "label", "index", "ci_low", "ci_high", "n_years"])
    # convention of ratio-to-trend indices: they average 1 over the year
    norm = out["index"].mean()
    if np.isfinite(norm) and norm > 0:
        out[["index", "ci_low", "ci_high"]] = out[["index", "ci_low", "ci_high"]] / norm
    return out


def seasonal_profile(series, *, level: float = 0.95, robust: bool = True) -> SeasonalProfile:
    """Seasonal index per month and quarter with intervals, strength and significance of seasonality.

    STL (statsmodels, robust) on log values when the series is positive (a multiplicative
    profile: an index of 1.31 means 31% above trend), on the raw values otherwise (index = 1 +
    deviation / mean trend). Each year gives one detrended ratio per month (value / trend) and per
    quarter (quarter total / quarter trend); the index is their geometric mean across years and the
    interval a t-interval over years, so it widens honestly when there are few years.

    Parameters
    ----------
    series : output of :func:`monthly_series` (``period``, ``value``[, ``complete``]) or a pandas
        Series with a monthly/quarterly DatetimeIndex or PeriodIndex. Incomplete periods are ignored.
    level : float
        Interval level (default 0.95).

    Returns
    -------
    :class:`SeasonalProfile`. Fewer than two full seasons gives empty tables and a note.
    """
    from statsmodels.tsa.seasonal import STL

    level = check_level(level, where="seasonal_profile")
    y = as_series(series)
    m = season_length(y)
    empty_idx = pd.DataFrame(columns=["season", "label", "index", "ci_low", "ci_high", "n_years"])
    stats_cols = ["strength", "kw_statistic", "p_value", "growth_per_year", "growth_ci_low", "growth_ci_high",
                  "multiplicative", "n_periods", "n_years"]
    if len(y) < 2 * m or m < 2 or np.nanstd(y.to_numpy()) == 0:
        note = ("fewer than two full seasons" if len(y) < 2 * m else "constant series")
        return SeasonalProfile(pd.DataFrame(columns=["period", "value", "trend", "seasonal", "remainder", "ratio"]),
                               empty_idx, empty_idx.copy(), pd.DataFrame(columns=stats_cols), level,
                               (f"No seasonal profile: {note} ({len(y)} periods).",))
    v = y.to_numpy(dtype=float)
    mult = bool((v > 0).all())
    z = np.log(v) if mult else v
    res = STL(pd.Series(z, index=y.index.to_timestamp()), period=m, robust=robust).fit()
    trend, seas, rem = res.trend.to_numpy(), res.seasonal.to_numpy(), res.resid.to_numpy()
    if mult:
        lr = z - trend                                     # log(value / trend)
        ratio = np.exp(lr)
        trend_level = np.exp(trend)
    else:
        scale = np.mean(np.abs(trend)) or 1.0
        ratio = 1 + (v - trend) / scale
        lr = np.log(np.clip(ratio, 1e-9, None))
        trend_level = trend
    pos = (y.index.month if m == 12 else y.index.quarter).to_numpy()
    labels = MONTHS if m == 12 else tuple(f"Q{i}" for i in range(1, 5))
    monthly = _index_table(pos, lr, labels, m, level)
    # quarterly index: per year, log(quarter total / quarter trend); only whole quarters
    if m == 12:
        q = pd.DataFrame({"year": y.index.year, "q": y.index.quarter, "v": v if mult else ratio * scale,
                          "t": trend_level if mult else np.full(len(v), scale)})
        qg = q.groupby(["year", "q"]).agg(v=("v", "sum"), t=("t", "sum"), k=("v", "size")).reset_index()
        qg = qg[qg["k"] == 3]
        qlr = np.log(np.clip(qg["v"].to_numpy() / qg["t"].to_numpy(), 1e-9, None))
        quarterly = _index_table(qg["q"].to_numpy(), qlr, tuple(f"Q{i}" for i in range(1, 5)), 4, level)
    else:
        quarterly = monthly.copy()
    # strength (Wang, Smith & Hyndman 2006) and a Kruskal-Wallis test of detrended values by season
    strength = float(max(0.0, 1 - np.var(rem) / np.var(seas + rem))) if np.var(seas + rem) > 0 else 0.0
    groups = [lr[pos == s] for s in range(1, m + 1) if (pos == s).sum() > 0]
    try:
        kw = _st.kruskal(*groups)
        kw_stat, p = float(kw.statistic), float(kw.pvalue)
    except ValueError:
        kw_stat, p = float("nan"), float("nan")
    # trend growth per year: quasi-Poisson GLM (log link; the mean, not the log, grows) of the value
    # on time + one dummy per season, HAC standard errors; OLS on levels when values go negative
    g_lo, g_hi, g = _growth(v, pos, m, level)
    st = pd.DataFrame([{"strength": strength, "kw_statistic": kw_stat, "p_value": p,
                        "growth_per_year": g, "growth_ci_low": g_lo, "growth_ci_high": g_hi,
                        "multiplicative": mult, "n_periods": len(v), "n_years": int(np.ceil(len(v) / m))}],
                      columns=stats_cols)
    dec = pd.DataFrame({"period": y.index.to_timestamp(), "value": v, "trend": trend_level,
                        "seasonal": np.exp(seas) if mult else seas, "remainder": np.exp(rem) if mult else rem,
                        "ratio": ratio})
    notes = () if mult else ("Series has zero or negative periods: additive STL, index = 1 + deviation / mean trend.",)
    return SeasonalProfile(dec, monthly, quarterly, st, level, notes)


def _growth(v: np.ndarray, pos: np.ndarray, m: int, level: float) -> tuple[float, float, float]:
    """Trend growth per year with a HAC interval: ``(low, high, estimate)``."""
    from statsmodels.genmod import families  # the modules, not statsmodels.api (all of statsmodels)
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.regression.linear_model import OLS

    n = len(v)
    t = np.arange(n) / m
    dummies = (pos[:, None] == np.arange(2, m + 1)[None, :]).astype(float)
    X = np.column_stack([np.ones(n), t, dummies])
    hac = {"cov_type": "HAC", "cov_kwds": {"maxlags": max(1, m // 4)}}
    if (v >= 0).all():
        scale = v.mean() or 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # perfect fits (noise-free inputs) warn about separation
            fit = GLM(v / scale, X, family=families.Poisson()).fit(scale="X2", **hac)
        b, (lo, hi) = fit.params[1], fit.conf_int(alpha=1 - level)[1]
        return float(np.expm1(lo)), float(np.expm1(hi)), float(np.expm1(b))
    fit = OLS(v, X).fit(**hac)
    mu = np.mean(v)
    b, (lo, hi) = fit.params[1], fit.conf_int(alpha=1 - level)[1]
    return float(lo / mu), float(hi / mu), float(b / mu)


def history_window(series) -> str:
    """The complete months a series covers, ``"2023-01 to 2025-11"`` ("" when none): the window of the seasonal
    KPIs and findings."""
    from ..i18n import tr

    y = as_series(series)
    if not len(y):
        return ""
    return tr("{first:%Y-%m} to {last:%Y-%m}", first=y.index[0].to_timestamp(), last=y.index[-1].to_timestamp())


def forecast_window(fc: Forecast | pd.DataFrame) -> str:
    """The months a forecast covers, ``"2025-12 to 2026-11"`` ("" when empty)."""
    from ..i18n import tr

    fc = fc.table if isinstance(fc, Forecast) else fc
    if fc is None or not len(fc):
        return ""
    return tr("{first:%Y-%m} to {last:%Y-%m}", first=pd.Timestamp(fc["period"].iloc[0]),
              last=pd.Timestamp(fc["period"].iloc[-1]))


def quarter_label(q) -> str:
    """A quarter as a manager reads it: ``"2025 Q4"`` (from a Period, a Timestamp or ``"2025Q4"``)."""
    p = q if isinstance(q, pd.Period) else pd.Period(q, freq="Q")
    return f"{p.year} Q{p.quarter}"


def total_interval(fc: Forecast | pd.DataFrame, level: int = 80) -> tuple[float, float]:
    """Interval for the sum over the horizon from per-month intervals, assuming the monthly forecast
    errors are perfectly correlated (conservative: the sum of the bounds) — stated in the KPI.

    ``fc`` is a :func:`forecast` result or its table."""
    fc = fc.table if isinstance(fc, Forecast) else fc
    lo, hi = f"lower_{level}", f"upper_{level}"
    if lo not in fc or hi not in fc:
        return float("nan"), float("nan")
    return float(fc[lo].sum()), float(fc[hi].sum())
