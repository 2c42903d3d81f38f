"""Forecast methods and rolling-origin backtests (statsmodels ETS, Theta, ARIMA; seasonal naive).

Public entry points (re-exported by :mod:`salesops_kit.forecast`):

- :func:`forecast`: ``mean`` and ``lower_<L>``/``upper_<L>`` per interval level, for ``ets``,
  ``theta``, ``arima``, ``combo`` (the equal-weight combination of the three, quantiles averaged),
  ``seasonal_naive``, or ``auto``: the method with the lowest rolling-origin MASE among the
  combination and its members, where a single member must beat the combination clearly (by
  ``AUTO_MARGIN``) to be chosen — combinations are the robust default (M4).
- :func:`backtest`: MASE, sMAPE (percent, as in the M competitions) and interval coverage per
  method and horizon, over rolling origins.

Speed by design: ETS and ARIMA parameters are estimated once per series (on the earliest backtest
window, which uses no data after that origin) and re-applied by filtering at later origins; the
final fit starts from them. ETS uses the heuristic initialisation (4 smoothing parameters to
estimate instead of 18). Positive series are modelled on the log scale by ETS and ARIMA (means
are bias-adjusted back-transforms); Theta handles multiplicative seasonality itself.
"""

from __future__ import annotations

import contextlib
import html
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["forecast", "backtest", "BacktestResult", "as_series", "season_length", "METHODS", "AUTO_MARGIN"]

METHODS = ("seasonal_naive", "ets", "theta", "arima", "combo")
AUTO_MARGIN = 0.30   # a single method must have >= 30% lower backtest MASE than the combination


# ------------------------------------------------------------------------------------------ inputs
def as_series(x) -> pd.Series:
    """A float Series on a monthly/quarterly PeriodIndex from a :func:`monthly_series` frame
    (``period``, ``value``[, ``complete``]; incomplete periods dropped) or a pandas Series with a
    DatetimeIndex / PeriodIndex (frequency inferred; gaps filled with 0)."""
    if isinstance(x, pd.DataFrame):
        miss = [c for c in ("period", "value") if c not in x]
        if miss:
            raise ValueError(f"series frame lacks column(s) {miss}; pass forecast.monthly_series output "
                             "(period, value, complete) or a pandas Series with a date index.")
        if "complete" in x:
            x = x[x["complete"].astype(bool)]
        s = pd.Series(x["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(x["period"]))
    elif isinstance(x, pd.Series):
        s = x.astype(float)
    else:
        raise TypeError(f"expected a DataFrame (period, value) or a Series, got {type(x).__name__}.")
    if len(s) == 0:
        return pd.Series(dtype=float, index=pd.PeriodIndex([], freq="M"))
    idx = s.index
    if not isinstance(idx, pd.PeriodIndex):
        idx = pd.DatetimeIndex(idx)
        freq = pd.infer_freq(idx) if len(idx) >= 3 else None
        code = "Q" if (freq or "").startswith(("Q", "BQ")) else "M"
        idx = idx.to_period(code)
    s = pd.Series(s.to_numpy(dtype=float), index=idx).groupby(level=0).sum(min_count=1).sort_index()  # NaN stays NaN
    full = pd.period_range(s.index.min(), s.index.max(), freq=s.index.freq)
    return s.reindex(full, fill_value=0.0)


def _fill_missing(y: np.ndarray) -> tuple[np.ndarray, str]:
    """Interpolate missing values (NaN) linearly; the note says how many."""
    bad = ~np.isfinite(y)
    if not bad.any() or bad.all():
        return y, ""
    x = np.arange(len(y))
    out = y.copy()
    out[bad] = np.interp(x[bad], x[~bad], y[~bad])
    return out, f"{int(bad.sum())} missing value(s) interpolated. "


def season_length(y: pd.Series) -> int:
    f = getattr(y.index, "freqstr", "") or ""
    return 4 if f.startswith("Q") else 12


# ------------------------------------------------------------------------------- single forecasts
@dataclass
class _Fc:
    """One forecast on the original scale: mean and a normal (or log-normal) predictive law."""

    mu: np.ndarray      # location on the model scale
    sd: np.ndarray      # predictive sd on the model scale
    log: bool

    def mean(self) -> np.ndarray:
        return np.exp(self.mu + self.sd**2 / 2) if self.log else self.mu

    def quantile(self, q: float) -> np.ndarray:
        v = self.mu + _st.norm.ppf(q) * self.sd
        return np.exp(v) if self.log else v


def _snaive(y: np.ndarray, h: int, m: int) -> _Fc:
    n = len(y)
    if n <= m:
        m = 1
    idx = n - m + (np.arange(h) % m)
    e = y[m:] - y[:-m]
    sigma = np.sqrt(np.mean(e**2)) if len(e) else 0.0
    k = np.arange(h) // m
    return _Fc(y[idx], sigma * np.sqrt(k + 1), False)


def _theta(y: np.ndarray, h: int, m: int, seasonal: bool) -> _Fc:
    """statsmodels ThetaModel. Seasonality is removed first with robust STL factors (log scale for
    positive series; non-robust for speed) instead of ThetaModel's classical decomposition, which is erratic with fewer
    than three seasons (one ratio per month); forecasts and bounds are reseasonalised."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    n = len(y)
    fac = np.zeros(h) if seasonal else None
    x = y
    if seasonal:
        from statsmodels.tsa.seasonal import STL

        pos = bool((y > 0).all())
        z = np.log(y) if pos else y
        seas = STL(pd.Series(z, index=pd.RangeIndex(n)), period=m).fit().seasonal.to_numpy()
        last = seas[n - m:]                                   # the last full season of factors
        fut = last[np.arange(h) % m]
        x = y / np.exp(seas) if pos else y - seas
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ThetaModel(pd.Series(x, index=pd.RangeIndex(n)), period=1, deseasonalize=False).fit()
        mu = np.asarray(res.forecast(h))
        pi = res.prediction_intervals(h, alpha=0.05)
    sd = (np.asarray(pi["upper"]) - np.asarray(pi["lower"])) / (2 * _st.norm.ppf(0.975))
    if seasonal and pos:
        fac = np.exp(fut)
        return _Fc(mu * fac, np.maximum(sd, 0) * fac, False)
    if seasonal:
        return _Fc(mu + fut, np.maximum(sd, 0), False)
    return _Fc(mu, np.maximum(sd, 0), False)


def _ets_model(z, m, seasonal):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    z = pd.Series(np.asarray(z, dtype=float), index=pd.RangeIndex(len(z)))
    return ETSModel(z, error="add", trend="add", damped_trend=True, seasonal="add" if seasonal else None,
                    seasonal_periods=m if seasonal else None, initialization_method="heuristic")


def _ets_fc(res, h) -> tuple[np.ndarray, np.ndarray]:
    pr = res.get_prediction(start=res.nobs, end=res.nobs + h - 1)
    # statsmodels scales by the in-sample MSE (divided by n); correct the degrees of freedom for the
    # smoothing parameters and the data-derived initial states (level, trend, m seasonals), else the
    # intervals undercover on short series (checked on simulated ETS series in the tests)
    mod = res.model
    k = len(res.params) + 1 + int(mod.has_trend) + (mod.seasonal_periods if mod.has_seasonal else 0)
    n = res.nobs
    df = np.sqrt(n / (n - k)) if n > k + 2 else 1.0
    return np.asarray(pr.predicted_mean), np.sqrt(np.asarray(pr.forecast_variance)) * df


def _arima_parts(m, seasonal):
    order = (0, 1, 1)
    sorder = (0, 1, 1, m) if seasonal else (0, 0, 0, 0)
    return order, sorder


def _arima_fit(z, m, seasonal, start_params=None):
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    order, sorder = _arima_parts(m, seasonal)
    mod = SARIMAX(z, order=order, seasonal_order=sorder, simple_differencing=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mod.fit(disp=False, start_params=start_params, maxiter=50)


def _arima_fc(res, z, m, seasonal, h) -> tuple[np.ndarray, np.ndarray]:
    """Forecast the differenced series, integrate back; variance from the psi weights of the
    integrated model (the exact h-step variance given the past)."""
    from statsmodels.tsa.arima_process import arma2ma

    w = np.asarray(res.get_forecast(h).predicted_mean)
    diff = np.array([1.0, -1.0])
    if seasonal:
        sd = np.zeros(m + 1)
        sd[0], sd[m] = 1.0, -1.0
        diff = np.convolve(diff, sd)
    # z_t = w_t - sum_{j>=1} diff_j z_{t-j}
    hist = list(z)
    out = []
    for i in range(h):
        val = w[i] - sum(diff[j] * hist[-j] for j in range(1, len(diff)))
        hist.append(val)
        out.append(val)
    p = res.params
    names = list(res.model.param_names)
    theta = p[names.index("ma.L1")] if "ma.L1" in names else 0.0
    ma = np.array([1.0, theta])
    if seasonal and f"ma.S.L{m}" in names:
        sma = np.zeros(m + 1)
        sma[0], sma[m] = 1.0, p[names.index(f"ma.S.L{m}")]
        ma = np.convolve(ma, sma)
    psi = arma2ma(diff, ma, lags=h)
    sigma2 = p[names.index("sigma2")]
    var = sigma2 * np.cumsum(psi**2)
    return np.asarray(out), np.sqrt(var)


class _Fitter:
    """Fits ETS / ARIMA once, re-applies their parameters at other origins (filtering only)."""

    def __init__(self, y: np.ndarray, m: int, seasonal: bool):
        self.y, self.m, self.seasonal = y, m, seasonal
        self.log = bool((y > 0).all())
        self.z = np.log(y) if self.log else y
        self.ets_params = None
        self.arima_params = None
        self.failed: dict[str, str] = {}

    def _ets(self, n: int, h: int, refit: bool) -> _Fc:
        z = self.z[:n]
        mod = _ets_model(z, self.m, self.seasonal)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.ets_params is None:
                res = mod.fit(disp=False, maxiter=200)
                self.ets_params = res.params
            elif refit:
                res = mod.fit(disp=False, start_params=self.ets_params, maxiter=60)
            else:
                res = mod.smooth(self.ets_params)
        mu, sd = _ets_fc(res, h)
        return _Fc(mu, sd, self.log)

    def _arima(self, n: int, h: int, refit: bool) -> _Fc:
        z = self.z[:n]
        if self.arima_params is None or refit:
            res = _arima_fit(z, self.m, self.seasonal, start_params=self.arima_params)
            if self.arima_params is None:
                self.arima_params = res.params
        else:
            from statsmodels.tsa.statespace.sarimax import SARIMAX

            order, sorder = _arima_parts(self.m, self.seasonal)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = SARIMAX(z, order=order, seasonal_order=sorder, simple_differencing=True).filter(
                    self.arima_params)
        mu, sd = _arima_fc(res, z, self.m, self.seasonal, h)
        return _Fc(mu, sd, self.log)

    def forecasts(self, n: int, h: int, methods, refit: bool = False) -> dict[str, _Fc]:
        """Forecasts from the first ``n`` observations for each method in ``methods``."""
        y = self.y[:n]
        out: dict[str, _Fc] = {}
        need = set(methods)
        if "combo" in need:
            need |= {"ets", "theta", "arima"}
        if "seasonal_naive" in need:
            out["seasonal_naive"] = _snaive(y, h, self.m if self.seasonal else 1)
        calls = {"theta": lambda: _theta(y, h, self.m, self.seasonal), "ets": lambda: self._ets(n, h, refit),
                 "arima": lambda: self._arima(n, h, refit)}
        for k in ("theta", "ets", "arima"):
            if k not in need:
                continue
            try:  # a member that cannot be fitted on a user's series is dropped (and named), not fatal
                fc = calls[k]()
            except (ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError) as e:
                self.failed[k] = f"{type(e).__name__}: {e}"
                continue
            if np.all(np.isfinite(fc.mu)) and np.all(np.isfinite(fc.sd)):
                out[k] = fc
            else:
                self.failed[k] = "non-finite forecast"
        return out


def _summarise(fcs: dict[str, _Fc], method: str, levels) -> dict[str, np.ndarray]:
    """Mean and bounds per level on the original scale; ``combo`` averages members' means and
    quantiles (Vincentization)."""
    members = [k for k in ("ets", "theta", "arima") if k in fcs] if method == "combo" else [method]
    if not members or any(k not in fcs for k in members):
        raise KeyError(method)
    out = {"mean": np.mean([fcs[k].mean() for k in members], axis=0)}
    for lv in levels:
        a = (1 - lv / 100) / 2
        out[f"lower_{lv}"] = np.mean([fcs[k].quantile(a) for k in members], axis=0)
        out[f"upper_{lv}"] = np.mean([fcs[k].quantile(1 - a) for k in members], axis=0)
    return out


def _available(fcs: dict[str, _Fc], method: str) -> bool:
    try:
        _summarise(fcs, method, ())
        return True
    except KeyError:
        return False


# --------------------------------------------------------------------------------------- backtests
@dataclass(frozen=True)
class BacktestResult:
    """Rolling-origin backtest.

    Attributes
    ----------
    forecasts : DataFrame ``method, origin, h, period, actual, mean, lower_<L>, upper_<L>, scale``
        (``origin`` = last training period; ``scale`` = the training set's in-sample seasonal naive
        MAE used by MASE).
    by_horizon : DataFrame ``method, h, mase, smape, coverage_<L>..., n``.
    summary : DataFrame ``method, mase, smape, coverage_<L>..., n, rank`` (rank by MASE).
    """

    forecasts: pd.DataFrame
    by_horizon: pd.DataFrame
    summary: pd.DataFrame
    levels: tuple[int, ...] = (80, 95)

    def headline(self) -> str:
        if self.summary.empty:
            return "No backtest: the series is too short for one rolling origin."
        s = self.summary.sort_values("rank")
        best = s.iloc[0]
        txt = f"Best in backtest: {best['method']} (MASE {best['mase']:.2f}, sMAPE {best['smape']:.1f}%)"
        sn = s[s["method"] == "seasonal_naive"]
        if len(sn) and best["method"] != "seasonal_naive" and sn["mase"].iloc[0] > 0:
            txt += f", {1 - best['mase'] / sn['mase'].iloc[0]:.0%} lower MASE than seasonal naive"
        return txt + "."

    def plot(self, ax=None, **kwargs):
        from .plots.forecast import backtest_plot

        return backtest_plot(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.headline())}</p>" + self.summary.round(4).to_html(index=False)


def _origins(n: int, horizon: int, folds: int, step: int, min_train: int) -> list[int]:
    """Training lengths of the rolling origins, oldest first; each leaves ``horizon`` periods to test."""
    last = n - horizon
    return sorted(o for o in (last - step * k for k in range(folds)) if o >= min_train)


def _min_train(m: int, seasonal: bool) -> int:
    return 2 * m + 2 if seasonal else 10


def _run_backtest(y: np.ndarray, periods: pd.PeriodIndex, m: int, seasonal: bool, horizon: int, folds: int,
                  step: int, methods, levels, fitter: _Fitter | None = None) -> BacktestResult:
    n = len(y)
    fitter = fitter or _Fitter(y, m, seasonal)
    recs = []
    for o in _origins(n, horizon, folds, step, _min_train(m, seasonal)):
        fcs = fitter.forecasts(o, horizon, methods)
        train = y[:o]
        lag = m if (seasonal and o > m) else 1
        scale = np.mean(np.abs(train[lag:] - train[:-lag])) if o > lag else np.nan
        for meth in methods:
            try:
                s = _summarise(fcs, meth, levels)
            except KeyError:          # the method could not be fitted at this origin
                continue
            for i in range(horizon):
                r = {"method": meth, "origin": periods[o - 1].to_timestamp(), "h": i + 1,
                     "period": periods[o + i].to_timestamp(), "actual": y[o + i], "mean": s["mean"][i]}
                for lv in levels:
                    r[f"lower_{lv}"], r[f"upper_{lv}"] = s[f"lower_{lv}"][i], s[f"upper_{lv}"][i]
                r["scale"] = scale
                recs.append(r)
    cov = [f"coverage_{lv}" for lv in levels]
    fc_cols = ["method", "origin", "h", "period", "actual", "mean"] + [
        c for lv in levels for c in (f"lower_{lv}", f"upper_{lv}")] + ["scale"]
    f = pd.DataFrame(recs, columns=fc_cols)
    if f.empty:
        e1 = pd.DataFrame(columns=["method", "h", "mase", "smape", *cov, "n"])
        return BacktestResult(f, e1, pd.DataFrame(columns=["method", "mase", "smape", *cov, "n", "rank"]),
                              tuple(levels))
    err = (f["actual"] - f["mean"]).abs()
    den = f["actual"].abs() + f["mean"].abs()
    f = f.assign(_ase=np.where(f["scale"] > 0, err / f["scale"], np.nan),
                 _smape=np.where(den > 0, 200 * err / den.where(den > 0, 1), 0.0))
    for lv in levels:
        f[f"coverage_{lv}"] = ((f["actual"] >= f[f"lower_{lv}"] - 1e-9) & (f["actual"] <= f[f"upper_{lv}"] + 1e-9)
                               ).astype(float)
    agg = {"mase": ("_ase", "mean"), "smape": ("_smape", "mean"), **{c: (c, "mean") for c in cov},
           "n": ("_ase", "size")}
    byh = f.groupby(["method", "h"]).agg(**agg).reset_index()
    summ = f.groupby("method").agg(**agg).reset_index()
    summ["rank"] = summ["mase"].rank(method="min").astype("Int64")
    summ = summ.sort_values(["rank", "method"]).reset_index(drop=True)
    return BacktestResult(f[fc_cols], byh.sort_values(["method", "h"]).reset_index(drop=True), summ, tuple(levels))


def _degenerate(y: np.ndarray) -> str | None:
    if len(y) == 0:
        return "empty series"
    if np.all(y == 0):
        return "all periods are zero"
    if np.nanstd(y) == 0:
        return "constant series"
    return None


def _backtest_impl(series, *, horizon: int = 12, folds: int = 3, step: int | None = None, methods=METHODS,
             level=(80, 95)) -> BacktestResult:
    """See :func:`backtest`."""
    y_s = as_series(series)
    levels = tuple(int(lv) for lv in np.atleast_1d(level))
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"backtest: unknown method(s) {bad}; choose from {', '.join(METHODS)}.")
    m = season_length(y_s)
    y, _ = _fill_missing(y_s.to_numpy(dtype=float))
    seasonal = len(y) >= 2 * m
    if _degenerate(y) is not None:
        methods = ("seasonal_naive",)
    sc = _scale(y)
    res = _run_backtest(y / sc, y_s.index, m, seasonal, int(horizon), int(folds), int(step or horizon), methods,
                        levels)
    if sc != 1.0 and len(res.forecasts):   # models ran on y / scale (optimisers like unit-sized data)
        f = res.forecasts.copy()
        cols = ["actual", "mean", "scale"] + [c for lv in res.levels for c in (f"lower_{lv}", f"upper_{lv}")]
        f[cols] = f[cols] * sc
        res = BacktestResult(f, res.by_horizon, res.summary, res.levels)
    return res


def _scale(y: np.ndarray) -> float:
    a = np.abs(y[np.isfinite(y)])
    s = float(a.mean()) if len(a) else 1.0
    # a power of two: scaling is exact in floating point (hand-checked values stay exact)
    return float(2.0 ** np.round(np.log2(s))) if s > 0 and np.isfinite(s) else 1.0


# ---------------------------------------------------------------------------------------- forecast
def _frame(periods, s: dict, levels) -> pd.DataFrame:
    cols = {"period": periods.to_timestamp(), "h": np.arange(1, len(periods) + 1), "mean": s["mean"]}
    for lv in levels:
        cols[f"lower_{lv}"] = s[f"lower_{lv}"]
        cols[f"upper_{lv}"] = s[f"upper_{lv}"]
    return pd.DataFrame(cols)


def _forecast_impl(series, *, horizon: int = 12, method: str = "auto", level=(80, 95), folds: int = 2) -> pd.DataFrame:
    """See :func:`forecast`."""
    levels = tuple(int(lv) for lv in np.atleast_1d(level))
    allowed = ("auto",) + METHODS
    if method not in allowed:
        raise ValueError(f"forecast: method={method!r}; choose from {', '.join(allowed)}.")
    y_s = as_series(series)
    m = season_length(y_s)
    y, filled = _fill_missing(y_s.to_numpy(dtype=float))
    h = int(horizon)
    if len(y_s):
        fut = pd.period_range(y_s.index[-1] + 1, periods=h, freq=y_s.index.freq)
    else:
        fut = pd.PeriodIndex([], freq="M")
    deg = _degenerate(y)
    if deg is not None:
        if len(y) == 0:
            out = pd.DataFrame(columns=["period", "h", "mean"] + [
                c for lv in levels for c in (f"lower_{lv}", f"upper_{lv}")])
        else:
            v = np.full(h, y[-1])
            out = _frame(fut, {"mean": v, **{f"{b}_{lv}": v for lv in levels for b in ("lower", "upper")}}, levels)
        out.attrs.update(method="constant" if len(y) else "none",
                         reason=f"{deg}: no model can be fitted; the last value is carried forward with "
                                "zero-width intervals.", backtest=None)
        return out
    seasonal = len(y) >= 2 * m
    reason = filled + ("" if seasonal else (f"fewer than two seasons ({len(y)} < {2 * m} periods): non-seasonal "
                                            "models only. "))
    unit = _scale(y)
    y = y / unit                     # models run on unit-sized data; results are scaled back below
    if len(y) < 10:
        s = {k: v * unit for k, v in _summarise({"naive": _snaive(y, h, 1)}, "naive", levels).items()}
        out = _frame(fut, s, levels)
        out.attrs.update(method="naive", reason=reason + f"only {len(y)} periods: naive forecast (last value).",
                         backtest=None)
        return out
    fitter = _Fitter(y, m, seasonal)
    bt_summary = None
    chosen = method
    if method == "auto":
        bh = max(1, min(h, m, len(y) - _min_train(m, seasonal)))
        cands = ("combo", "ets", "theta", "arima")
        bt = _run_backtest(y, y_s.index, m, seasonal, bh, folds, bh, cands, levels, fitter=fitter)
        bt_summary = bt.summary
        if bt.summary.empty or not np.isfinite(bt.summary["mase"]).any():
            chosen = "combo"
            reason += "too short for a backtest origin: equal-weight combination of ETS, Theta and ARIMA."
        else:
            sc = bt.summary.set_index("method")["mase"].dropna()
            singles = sc.drop("combo", errors="ignore")
            best = singles.idxmin() if len(singles) else "combo"
            if "combo" not in sc.index:
                chosen = best
                reason += f"backtest: the combination could not be scored; {best} has the lowest MASE."
            elif best != "combo" and sc[best] < (1 - AUTO_MARGIN) * sc["combo"]:
                chosen = best
                reason += (f"backtest ({bt.forecasts['origin'].nunique()} origin(s), h=1..{bh}): {best} MASE "
                           f"{sc[best]:.3f} beats the combination's {sc['combo']:.3f} by more than "
                           f"{AUTO_MARGIN:.0%}.")
            else:
                chosen = "combo"
                reason += (f"backtest ({bt.forecasts['origin'].nunique()} origin(s), h=1..{bh}): combination MASE "
                           f"{sc['combo']:.3f} vs best single method {best} {sc[best]:.3f}; no member beats it by "
                           f"{AUTO_MARGIN:.0%}, so the combination is kept.")
    fcs = fitter.forecasts(len(y), h, (chosen,), refit=True)
    if not _available(fcs, chosen):
        prev = chosen
        fcs = fitter.forecasts(len(y), h, ("combo", "seasonal_naive"), refit=True)
        chosen = "combo" if _available(fcs, "combo") else "seasonal_naive"
        reason += f" {prev} could not be fitted, so {chosen} is used instead."
    if fitter.failed:
        reason += " Dropped: " + "; ".join(f"{k} ({v})" for k, v in sorted(fitter.failed.items())) + "."
    summ = {k: v * unit for k, v in _summarise(fcs, chosen, levels).items()}
    if (y >= 0).all():  # a non-negative quantity: truncate the predictive law at 0
        summ = {k: np.maximum(v, 0.0) for k, v in summ.items()}
    out = _frame(fut, summ, levels)
    if not reason:
        reason = f"method={chosen} as requested."
    # attrs hold plain records (not a DataFrame) so pd.concat of forecast frames can compare them
    out.attrs.update(method=chosen, reason=reason.strip(),
                     backtest=None if bt_summary is None else bt_summary.to_dict("records"))
    return out


# ------------------------------------------------------------------------------ BLAS thread limits
_CTRL = None


def _blas_single_thread():
    """Limit BLAS to one thread while fitting: the state-space models make thousands of tiny matrix
    calls, and a threaded BLAS makes each one slower (about 6-15x on a busy 2-core machine). Uses
    threadpoolctl when installed; otherwise a no-op."""
    global _CTRL
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    if _CTRL is None:
        import scipy.linalg  # noqa: F401  (load scipy's BLAS so the controller sees it)
        from statsmodels.tsa.statespace import sarimax  # noqa: F401

        _CTRL = ThreadpoolController()
    return _CTRL.limit(limits=1, user_api="blas")


def backtest(series, *, horizon: int = 12, folds: int = 3, step: int | None = None, methods=METHODS,
             level=(80, 95)) -> BacktestResult:
    """Rolling-origin backtest: MASE, sMAPE and interval coverage per method and horizon.

    Origins are ``n - horizon - step*k`` for ``k = 0..folds-1`` (``step`` defaults to
    ``horizon``, i.e. non-overlapping test windows); an origin needs at least two seasons + 2
    periods of training. MASE scales absolute errors by the training window's in-sample seasonal
    naive MAE; sMAPE = ``200 |y - f| / (|y| + |f|)`` (percent, 0 when both are 0).

    Parameters
    ----------
    series : :func:`monthly_series` output or a date-indexed Series.
    methods : subset of ``seasonal_naive, ets, theta, arima, combo``.

    Returns
    -------
    :class:`BacktestResult` (empty tables when no origin fits).
    """
    with _blas_single_thread():
        return _backtest_impl(series, horizon=horizon, folds=folds, step=step, methods=methods, level=level)


def forecast(series, *, horizon: int = 12, method: str = "auto", level=(80, 95), folds: int = 2) -> pd.DataFrame:
    """Forecast the next ``horizon`` periods with intervals.

    Parameters
    ----------
    series : :func:`monthly_series` output (incomplete periods ignored) or a date-indexed Series.
    method : {"auto", "combo", "ets", "theta", "arima", "seasonal_naive"}
        ``auto`` backtests ``combo, ets, theta, arima`` on ``folds`` rolling origins (test windows
        of one season) and keeps the combination unless a member's MASE is ``AUTO_MARGIN`` lower.
    level : interval levels in percent.

    Returns
    -------
    DataFrame ``period`` (Timestamp), ``h``, ``mean``, ``lower_<L>``, ``upper_<L>`` per level.
    ``.attrs``: ``method`` (what produced it), ``reason`` (why: the auto choice or a fallback —
    empty, zero, constant or short series), ``backtest`` (auto's backtest summary as a list of
    records ``method, mase, smape, coverage_<L>, n, rank``; None for other methods).
    Empty series gives an empty frame.
    """
    with _blas_single_thread():
        return _forecast_impl(series, horizon=horizon, method=method, level=level, folds=folds)
