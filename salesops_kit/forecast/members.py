"""Forecast methods, one series at a time: seasonal naive, Theta, ETS, ARIMA and their combination.

Each returns a :class:`_Fc` (location and sd on the model scale, log or raw) that gives the mean and
any quantile on the original scale. :class:`Fitter` estimates ETS and ARIMA parameters once per
series and re-applies them at other origins by filtering only (the speed of ``forecast(auto)``).
Used by :mod:`salesops_kit.forecast.models` (``Fitter``, ``snaive``, ``summarise``, ``available``); not
re-exported by :mod:`salesops_kit.forecast`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st


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


def snaive(y: np.ndarray, h: int, m: int) -> _Fc:
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


class Fitter:
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
            out["seasonal_naive"] = snaive(y, h, self.m if self.seasonal else 1)
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


def summarise(fcs: dict[str, _Fc], method: str, levels) -> dict[str, np.ndarray]:
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


def available(fcs: dict[str, _Fc], method: str) -> bool:
    try:
        summarise(fcs, method, ())
        return True
    except KeyError:
        return False
