"""Monthly series, seasonal profile, forecasts with calibrated intervals, backtests, KPIs.

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
           "BacktestResult", "as_series", "findings", "kpi_rows", "total_interval"]

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
    f = f.filter(~nw.col(date).is_null())
    if as_of is None:
        mx = _collect(f.select(nw.col(date).max()))
        if mx.empty or pd.isna(mx.iloc[0, 0]):
            return empty
        as_of = pd.Timestamp(mx.iloc[0, 0])
    as_of = pd.Timestamp(as_of)
    cutoff = (as_of.normalize() + pd.Timedelta(days=1)).to_pydatetime()
    f = f.filter(nw.col(date) < datetime(cutoff.year, cutoff.month, cutoff.day))
    v_expr = nw.lit(1.0) if value == "count" else nw.col(value).cast(nw.Float64).fill_null(0.0)
    g = _collect(f.with_columns(nw.col(date).dt.year().alias("_y"), nw.col(date).dt.month().alias("_m"),
                                v_expr.alias("_v"))
                 .group_by("_y", "_m").agg(nw.len().alias("n"), nw.col("_v").sum().alias("value")))
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
        t = pd.concat([self.quarterly, self.monthly], ignore_index=True)
        if t.empty:
            return "Not enough history for a seasonal profile."
        row = self.peak() if label is None else t[t["label"] == label].iloc[0]
        return _season_sentence(row, self.level)

    def headline(self) -> str:
        if self.monthly.empty:
            return "Not enough history for a seasonal profile."
        pk, tr = self.peak(), self.trough()
        sig = "significant" if self.p_value < 0.05 else "not significant"
        return (f"{_season_sentence(pk, self.level)}; {_season_sentence(tr, self.level)}. Seasonality strength "
                f"{self.strength:.2f} ({sig}, Kruskal-Wallis p = {self.p_value:.2g}).")

    def summary(self) -> pd.DataFrame:
        return pd.concat([self.quarterly.assign(kind="quarter"), self.monthly.assign(kind="month")],
                         ignore_index=True)[["kind", "season", "label", "index", "ci_low", "ci_high", "n_years"]]

    def plot(self, ax=None, **kwargs):
        from ..plots.forecast import plot_seasonal_index

        return plot_seasonal_index(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.headline())}</p>" + self.summary().round(4).to_html(index=False)


def _pct(x: float) -> str:
    return f"{(x - 1) * 100:+.0f}%"


def _season_sentence(row, level: float) -> str:
    word = "above" if row["index"] >= 1 else "below"
    s = f"{row['label']} runs {_pct(row['index'])} {word} trend"
    if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
        s += f" ({level:.0%} interval {_pct(row['ci_low'])} to {_pct(row['ci_high'])})"
    else:
        s += " (no interval: fewer than two years of that season)"
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


# ------------------------------------------------------------------------------------------ findings
def findings(profile: SeasonalProfile, fc: Forecast | pd.DataFrame | None = None, bt: BacktestResult | None = None,
             pf=None, *, lead_months: int = 3, currency: str = ""):
    """The notebook's Findings (number -> comparison -> decision) from the results.

    Parameters
    ----------
    profile : :func:`seasonal_profile` result; fc : :func:`forecast` result (or its table); bt : :func:`backtest`
        result; pf : :class:`~salesops_kit.forecast.pipeline.PipelineForecast`; lead_months : how far ahead of
        the peak quarter the ramp-up starts; currency : unit shown with amounts.
    """
    from ..findings import Findings

    cur = f" {currency}" if currency else ""
    out = []
    if not profile.quarterly.empty:
        out += _season_findings(profile, lead_months=lead_months)
    fc = fc.table if isinstance(fc, Forecast) else fc
    if fc is not None and len(fc):
        out += _forecast_findings(fc, cur)
    if bt is not None and not bt.table.empty:
        out += _backtest_findings(bt)
    if pf is not None and pf.next_quarter is not None:
        out += _pipeline_findings(pf, cur)
    return Findings(out, title="Seasonality and forecasting")


def _season_findings(profile: SeasonalProfile, *, lead_months: int) -> list:
    """The peak quarter (and when to ramp up for it), the weakest month and the trend."""
    from ..findings import Finding
    from ..i18n import t as _t
    from ..i18n import tr as _tr  # findings text in the report language ("tr" below is the trough)

    out = []
    lvl = f"{profile.level:.0%}"
    pk, tr = profile.peak(), profile.trough(by="month")
    st = profile.stats.iloc[0]
    ev = _tr("seasonality strength {strength:.2f}, Kruskal-Wallis p = {p:.2g}, {years} years of data",
             strength=st["strength"], p=st["p_value"], years=int(st["n_years"]))
    sig = pd.notna(pk["ci_low"]) and pk["ci_low"] > 1
    start = pd.Period(year=2000, quarter=int(pk["season"]), freq="Q").asfreq("M", "start")
    ramp = start - lead_months
    if sig:
        sug = _tr("Ramp marketing and capacity from {ramp} ({lead} months before {peak} starts in {start}); plan "
                  "{peak} at about {index} over trend", ramp=_t(MONTHS[ramp.month - 1]), lead=lead_months,
                  peak=pk["label"], start=_t(MONTHS[start.month - 1]), index=_pct(pk["index"]))
    else:
        sug = _tr("The {peak} peak is not established (interval includes 1): do not plan a ramp on it yet",
                  peak=pk["label"])
    out.append(Finding(subject=str(pk["label"]), metric="seasonal index",
                       value=_tr("{index} vs trend", index=_pct(pk["index"])),
                       interval=_tr("{level} interval {low} to {high}", level=lvl, low=_pct(pk["ci_low"]),
                                    high=_pct(pk["ci_high"])) if pd.notna(pk["ci_low"]) else "",
                       evidence=ev, suggestion=sug, topic="forecast", severity=3))
    month = _t(str(tr["label"]))
    out.append(Finding(subject=month, metric="seasonal index (weakest month)",
                       value=_tr("{index} vs trend", index=_pct(tr["index"])),
                       interval=_tr("{level} interval {low} to {high}", level=lvl, low=_pct(tr["ci_low"]),
                                    high=_pct(tr["ci_high"])) if pd.notna(tr["ci_low"]) else "",
                       suggestion=(_tr("Expect a dip in {month}: set targets and cash planning for it", month=month)
                                   if pd.notna(tr["ci_high"]) and tr["ci_high"] < 1 else
                                   _tr("{month} is the weakest month, but its interval includes the trend: treat "
                                       "the dip as likely, not certain", month=month)),
                       topic="forecast", severity=2))
    out.append(Finding(subject=_tr("trend"), metric="growth per year", value=f"{st['growth_per_year']:+.1%}",
                       interval=_tr("{level} interval {low:+.1%} to {high:+.1%}", level=lvl,
                                    low=st["growth_ci_low"], high=st["growth_ci_high"]),
                       evidence=_tr("quasi-Poisson trend with month effects, HAC interval"), topic="forecast",
                       severity=1.5))
    return out


def _forecast_findings(fc: pd.DataFrame, cur: str) -> list:
    """The forecast total with its interval."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    lo, hi = total_interval(fc)
    first, last = pd.Timestamp(fc["period"].iloc[0]), pd.Timestamp(fc["period"].iloc[-1])
    out.append(Finding(subject=_tr("{first:%Y-%m} to {last:%Y-%m}", first=first, last=last), metric="forecast total",
                       value=f"{fc['mean'].sum():,.0f}{cur}",
                       interval=_tr("80% interval {low:,.0f} to {high:,.0f}{currency} (sum of monthly bounds)",
                                    low=lo, high=hi, currency=cur),
                       evidence=_tr("method {method}: {reason}", method=fc.attrs.get("method", ""),
                                    reason=fc.attrs.get("reason", "")),
                       suggestion=_tr("Use the mean for the plan and the lower bound for committed spend"),
                       topic="forecast", severity=2.5))
    return out


def _backtest_findings(bt: BacktestResult) -> list:
    """The backtest winner against seasonal naive."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    sm = bt.table.set_index("method")
    best = bt.table.iloc[0]
    n_orig = bt.forecasts["origin"].nunique()
    if "seasonal_naive" in sm.index and best["method"] != "seasonal_naive":
        base = sm.loc["seasonal_naive", "mase"]
        ev = _tr("{gain:.0%} lower MASE than seasonal naive ({n} rolling origins)", gain=1 - best["mase"] / base,
                 n=n_orig)
        sug = _tr("Forecast with {method}; keep seasonal naive as the sanity check", method=best["method"])
    elif best["method"] == "seasonal_naive":
        others = bt.table[bt.table["method"] != "seasonal_naive"]
        nxt = others.iloc[0] if len(others) else None
        ev = (_tr("next best {method} MASE {mase:.2f} ({n} rolling origins)", method=nxt["method"],
                  mase=nxt["mase"], n=n_orig) if nxt is not None
              else _tr("{n} rolling origins", n=n_orig))
        sug = _tr("No model beats last year's same month on this history: plan from seasonal naive and revisit "
                  "when more years are available")
    else:
        ev, sug = _tr("{n} rolling origins", n=n_orig), ""
    out.append(Finding(subject=str(best["method"]), metric="backtest MASE", value=f"{best['mase']:.2f}",
                       benchmark=_tr("seasonal naive {mase:.2f}", mase=sm.loc["seasonal_naive", "mase"]) if
                       "seasonal_naive" in sm.index else "",
                       evidence=_tr("{evidence}; sMAPE {smape:.1f}%", evidence=ev, smape=best["smape"]),
                       suggestion=sug, topic="forecast", severity=2))
    return out


def _pipeline_findings(pf, cur: str) -> list:
    """Next quarter's bookings expected from the open pipeline."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    q = pf.next_quarter
    ev = ""
    if len(pf.backtest):
        ev = _tr("in {covered} of {n} past quarters the booked amount fell inside P10-P90",
                 covered=int(pf.backtest["covered_p10_p90"].sum()), n=len(pf.backtest))
    bench = (_tr("CRM weighted pipeline {amount:,.0f}{currency}", amount=q["crm_weighted"], currency=cur)
             if pd.notna(q.get("crm_weighted")) else "")
    out.append(Finding(subject=str(q["quarter"]), metric="bookings expected from open deals",
                       value=f"{q['expected']:,.0f}{cur}", benchmark=bench,
                       interval=_tr("P10 {p10:,.0f} to P90 {p90:,.0f}{currency}", p10=q["p10"], p90=q["p90"],
                                    currency=cur), evidence=ev,
                       suggestion=_tr("Close the gap between this and the top-down forecast with new pipeline"),
                       topic="forecast", severity=1))
    return out


# ---------------------------------------------------------------------------------------------- KPIs
def kpi_rows(ds) -> list[dict]:
    """Seasonality and forecasting KPIs: seasonal indices, strength, 12-month forecast, backtest
    MASE, and the pipeline's expected bookings next quarter. [] when opportunities are missing."""
    if ds.opportunities is None and ds.orders is None:
        return []
    rows: list[dict] = []
    ser = bookings_series(ds) if ds.opportunities is not None else monthly_series(ds.orders, as_of=ds.as_of)
    if len(ser):
        prof = seasonal_profile(ser)
        for _, r in prof.monthly.iterrows():
            rows.append({"kpi": f"seasonal_index_m{int(r['season']):02d}", "value": r["index"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
        if len(prof.monthly) == 12:
            for _, r in prof.quarterly.iterrows():
                rows.append({"kpi": f"seasonal_index_q{int(r['season'])}", "value": r["index"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
        if len(prof.stats):
            rows.append({"kpi": "seasonality_strength", "value": prof.strength})
        fc = forecast(ser, horizon=12, level=(80, 95)).table
        if len(fc):
            total = fc["mean"].sum()
            lo, hi = total_interval(fc)
            rows.append({"kpi": "forecast_next_12m_total", "value": total, "ci_low": lo, "ci_high": hi})
        bt = pd.DataFrame(fc.attrs.get("backtest") or [])
        if len(bt):
            best = bt.sort_values("mase").iloc[0]
            chosen = fc.attrs.get("method")
            sel = bt[bt["method"] == chosen]
            val = float(sel["mase"].iloc[0]) if len(sel) else float(best["mase"])
            rows.append({"kpi": "forecast_backtest_mase", "value": val})
    if ds.opportunities is not None:
        try:
            from .pipeline import pipeline_forecast
        except ImportError:  # pipeline module not built yet
            return rows
        try:
            pf = pipeline_forecast(ds.opportunities, as_of=ds.as_of, stage_history=ds.stage_history, stages=ds.stages,
                                   backtest_dates=0)
            q = pf.next_quarter
            if q is not None:
                rows.append({"kpi": "pipeline_expected_next_quarter", "value": q["expected"],
                             "ci_low": q["p10"], "ci_high": q["p90"]})
        except ValueError:
            pass
    return rows


def total_interval(fc: Forecast | pd.DataFrame, level: int = 80) -> tuple[float, float]:
    """Interval for the sum over the horizon from per-month intervals, assuming the monthly forecast
    errors are perfectly correlated (conservative: the sum of the bounds) — stated in the KPI.

    ``fc`` is a :func:`forecast` result or its table."""
    fc = fc.table if isinstance(fc, Forecast) else fc
    lo, hi = f"lower_{level}", f"upper_{level}"
    if lo not in fc or hi not in fc:
        return float("nan"), float("nan")
    return float(fc[lo].sum()), float(fc[hi].sum())
