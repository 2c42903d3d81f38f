"""Forecast methods and rolling-origin backtests (AutoETS, Theta, DOTM, CES, AutoARIMA, a combination; seasonal naive).

Public entry points (re-exported by :mod:`salesops_kit.forecast`):

- :func:`forecast`: ``mean`` and ``lower_<L>``/``upper_<L>`` per interval level, for ``ets``,
  ``theta``, ``dotm``, ``arima``, ``combo`` (the mean of ETS, ETS damped, Theta, DOTM and CES, intervals
  calibrated on real series), ``seasonal_naive``, or ``auto``: the combination, unless the series' own
  rolling-origin backtest shows a single member's MASE lower by ``AUTO_MARGIN`` (chosen on the development half
  of the M3 series, never on the series it is judged on) — combinations are the robust default (M3, M4).
- :func:`backtest`: MASE, sMAPE (percent, as in the M competitions) and interval coverage per
  method and horizon, over rolling origins.

Speed by design: ``auto`` chooses the ETS form and ARIMA orders once, on the whole history, and its backtest
refits those forms at the earlier origins (parameters re-estimated on the data before each origin; only the
choice of form has seen the later data). The single-method code is in :mod:`salesops_kit.forecast.members`.
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats.series import as_series
from ..tools.results import Result
from ..tools.validation import check_level, check_option, check_options
from .members import Fitter, available, snaive, summarise

__all__ = ["forecast", "Forecast", "backtest", "BacktestResult", "as_series", "season_length", "METHODS",
           "AUTO_MARGIN"]

METHODS = ("seasonal_naive", "ets", "theta", "dotm", "arima", "combo")
# A single member replaces the combination only when its backtest MASE is lower by this fraction. Chosen on the
# development half of the M3 monthly series (every third series, one backtest origin): choosing a member with a
# margin of 0, 0.1, 0.2, 0.3 or 0.5 did not beat always combining (dev sMAPE 13.31, 13.10, 12.50, 12.49, 12.49
# against 12.47), so None: never.
AUTO_MARGIN: float | None = None


# ------------------------------------------------------------------------------------------ inputs
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


# --------------------------------------------------------------------------------------- backtests
@dataclass(frozen=True, repr=False)
class BacktestResult(Result):
    """Rolling-origin backtest.

    Attributes
    ----------
    forecasts : DataFrame ``method, origin, h, period, actual, mean, lower_<L>, upper_<L>, scale``
        (``origin`` = last training period; ``scale`` = the training set's in-sample seasonal naive
        MAE used by MASE).
    by_horizon : DataFrame ``method, h, mase, smape, coverage_<L>..., n``.
    table : DataFrame (also ``summary()``) ``method, mase, smape, coverage_<L>..., n, rank`` (rank by MASE).
    """

    forecasts: pd.DataFrame
    by_horizon: pd.DataFrame
    table: pd.DataFrame
    levels: tuple[int, ...] = (80, 95)

    def headline(self) -> str:
        from ..i18n import tr  # in the report language

        if self.table.empty:
            return tr("No backtest: the series is too short for one rolling origin.")
        s = self.table.sort_values("rank")
        best = s.iloc[0]
        sn = s[s["method"] == "seasonal_naive"]
        if len(sn) and best["method"] != "seasonal_naive" and sn["mase"].iloc[0] > 0:
            return tr("Best in backtest: {method} (MASE {mase:.2f}, sMAPE {smape:.1f}%), {gain:.0%} lower MASE than "
                      "seasonal naive.", method=best["method"], mase=best["mase"], smape=best["smape"],
                      gain=1 - best["mase"] / sn["mase"].iloc[0])
        return tr("Best in backtest: {method} (MASE {mase:.2f}, sMAPE {smape:.1f}%).", method=best["method"],
                  mase=best["mase"], smape=best["smape"])

    @property
    def origins(self) -> list[pd.Timestamp]:
        """The last training period of each rolling origin, oldest first."""
        return sorted(pd.to_datetime(self.forecasts["origin"]).unique()) if len(self.forecasts) else []

    def window(self) -> str:
        """The held-back months the backtest scored and how: ``"2025-03 to 2025-11, 2 origins, 1-6 months
        ahead"`` ("" when it scored nothing)."""
        from ..i18n import tr

        if self.forecasts.empty or not {"period", "h", "origin"} <= set(self.forecasts.columns):
            return ""
        f, n = self.forecasts, len(self.origins)
        first, last, h = pd.Timestamp(f["period"].min()), pd.Timestamp(f["period"].max()), int(f["h"].max())
        if n == 1:
            return tr("{first:%Y-%m} to {last:%Y-%m}, 1 origin, 1-{h} months ahead", first=first, last=last, h=h)
        return tr("{first:%Y-%m} to {last:%Y-%m}, {n} origins, 1-{h} months ahead", first=first, last=last, n=n, h=h)

    def plot(self, ax=None, **kwargs):
        from ..plots.forecast import plot_backtest

        return plot_backtest(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.headline())}</p>" + self.table.round(4).to_html(index=False)


@dataclass(frozen=True, repr=False)
class Forecast(Result):
    """Result of :func:`forecast`.

    Attributes
    ----------
    table : DataFrame ``period`` (Timestamp), ``h``, ``mean``, ``lower_<L>``, ``upper_<L>`` per level (also
        ``summary()``); its ``attrs`` repeat ``method``, ``reason`` and ``backtest`` so the frames of several
        series still concatenate.
    method : what produced it (the auto choice, a requested method or a fallback: naive, constant, none).
    reason : why: the auto choice or a fallback (empty, zero, constant or short series).
    backtest : auto's backtest summary as records ``method, mase, smape, coverage_<L>, n, rank``; None for
        other methods.
    level : the interval levels, in percent.
    """

    table: pd.DataFrame
    method: str
    reason: str
    backtest: list | None = None
    level: tuple[int, ...] = (80, 95)

    def headline(self) -> str:
        t = self.table
        if t.empty:
            return "No forecast: the series is empty."
        txt = f"{len(t)} periods ahead by {self.method}: total {t['mean'].sum():,.0f}"
        lv = min(self.level) if self.level else None
        if lv is not None and f"lower_{lv}" in t and f"upper_{lv}" in t:
            txt += (f" ({lv}% interval {t[f'lower_{lv}'].sum():,.0f}–{t[f'upper_{lv}'].sum():,.0f}, "
                    "sum of the per-period bounds)")
        return txt + "."

    def plot(self, ax=None, *, history=None, **kwargs):
        """Fan chart of the forecast, after ``history`` when given (:func:`salesops_kit.plots.plot_forecast_fan`)."""
        from ..plots.forecast import plot_forecast_fan

        return plot_forecast_fan(history, self, ax=ax, level=kwargs.pop("level", self.level), **kwargs)


def _origins(n: int, horizon: int, folds: int, step: int, min_train: int) -> list[int]:
    """Training lengths of the rolling origins, oldest first; each leaves ``horizon`` periods to test."""
    last = n - horizon
    return sorted(o for o in (last - step * k for k in range(folds)) if o >= min_train)


def _min_train(m: int, seasonal: bool) -> int:
    return 2 * m + 2 if seasonal else 10


def _run_backtest(y: np.ndarray, periods: pd.PeriodIndex, m: int, seasonal: bool, horizon: int, folds: int,
                  step: int, methods, levels, fitter: Fitter | None = None) -> BacktestResult:
    n = len(y)
    fitter = fitter or Fitter(y, m, seasonal)
    recs = []
    for o in _origins(n, horizon, folds, step, _min_train(m, seasonal)):
        fcs = fitter.forecasts(o, horizon, methods)
        train = y[:o]
        lag = m if (seasonal and o > m) else 1
        scale = np.mean(np.abs(train[lag:] - train[:-lag])) if o > lag else np.nan
        for meth in methods:
            try:
                s = summarise(fcs, meth, levels)
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
    levels = tuple(int(check_level(lv, percent=True, where="backtest")) for lv in np.atleast_1d(level))
    methods = tuple(check_options("method", methods, METHODS, where="backtest"))
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
        res = BacktestResult(f, res.by_horizon, res.table, res.levels)
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


def _forecast_impl(series, *, horizon: int = 12, method: str = "auto", level=(80, 95), folds: int = 2,
                   given: BacktestResult | None = None) -> pd.DataFrame:
    """See :func:`forecast`."""
    levels = tuple(int(check_level(lv, percent=True, where="forecast")) for lv in np.atleast_1d(level))
    check_option("method", method, ("auto",) + METHODS, where="forecast")
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
        return _carry_forward(y, fut, h, levels, deg)
    seasonal = len(y) >= 2 * m
    reason = filled + ("" if seasonal else (f"fewer than two seasons ({len(y)} < {2 * m} periods): non-seasonal "
                                            "models only. "))
    unit = _scale(y)
    y = y / unit                     # models run on unit-sized data; results are scaled back below
    if len(y) < 10:
        s = {k: v * unit for k, v in summarise({"naive": snaive(y, h, 1)}, "naive", levels).items()}
        out = _frame(fut, s, levels)
        out.attrs.update(method="naive", reason=reason + f"only {len(y)} periods: naive forecast (last value).",
                         backtest=None)
        return out
    fitter = Fitter(y, m, seasonal)
    bt_summary = None
    chosen = method
    # the final fit first: it chooses the ETS form and ARIMA orders that auto's backtest refits at earlier origins
    fcs = fitter.forecasts(len(y), h, ("combo",) if method == "auto" else (method,), refit=True)
    if method == "auto":
        chosen, why, bt_summary = _auto_method(y, y_s.index, m, seasonal, h=h, folds=folds, levels=levels,
                                               fitter=fitter, given=given)
        reason += why
    if not available(fcs, chosen):
        prev = chosen
        fcs = fitter.forecasts(len(y), h, ("combo", "seasonal_naive"), refit=True)
        chosen = next(k for k in ("combo", "ets", "theta", "arima", "seasonal_naive") if available(fcs, k))
        reason += f" {prev} could not be fitted, so {chosen} is used instead."
    if fitter.failed:
        reason += " Dropped: " + "; ".join(f"{k} ({v})" for k, v in sorted(fitter.failed.items())) + "."
    summ = {k: v * unit for k, v in summarise(fcs, chosen, levels).items()}
    if (y >= 0).all():  # a non-negative quantity: truncate the predictive law at 0
        summ = {k: np.maximum(v, 0.0) for k, v in summ.items()}
    out = _frame(fut, summ, levels)
    if not reason:
        reason = f"method={chosen} as requested."
    # attrs hold plain records (not a DataFrame) so pd.concat of forecast frames can compare them
    out.attrs.update(method=chosen, reason=reason.strip(),
                     backtest=None if bt_summary is None else bt_summary.to_dict("records"))
    return out


def _carry_forward(y: np.ndarray, fut: pd.PeriodIndex, h: int, levels, deg: str) -> pd.DataFrame:
    """The forecast of a series no model can be fitted to: its last value, with zero-width intervals."""
    if len(y) == 0:
        out = pd.DataFrame(columns=["period", "h", "mean"] + [
            c for lv in levels for c in (f"lower_{lv}", f"upper_{lv}")])
    else:
        v = np.full(h, y[-1])
        out = _frame(fut, {"mean": v, **{f"{b}_{lv}": v for lv in levels for b in ("lower", "upper")}}, levels)
    from ..i18n import t, tr  # in the report language

    out.attrs.update(method="constant" if len(y) else "none",
                     reason=tr("{what}: no model can be fitted; the last value is carried forward with zero-width "
                               "intervals.", what=t(deg)), backtest=None)
    return out


def _auto_method(y: np.ndarray, index, m: int, seasonal: bool, *, h: int, folds: int, levels, fitter: Fitter,
                 given: BacktestResult | None = None) -> tuple[str, str, pd.DataFrame]:
    """``method="auto"``: the combination, unless a single member's backtest MASE beats it by ``AUTO_MARGIN``.
    Returns ``(method, the reason, the backtest table)``. ``given``: a backtest already run on this series (the
    one the notebook shows), used instead of running another, so every number quotes one computation."""
    if given is not None:
        bt = given
        bh = int(bt.forecasts["h"].max()) if len(bt.forecasts) else 0
    else:
        bh = max(1, min(h, m, len(y) - _min_train(m, seasonal)))
        cands = ("combo", "ets", "theta", "dotm", "seasonal_naive")   # the members come free with the combination
        bt = _run_backtest(y, index, m, seasonal, bh, folds, bh, cands, levels, fitter=fitter)
    from ..i18n import tr  # the reason is shown in findings and pages: in the report language

    if bt.table.empty or not np.isfinite(bt.table["mase"]).any():
        return "combo", tr("too short for a backtest origin: mean of ETS, ETS damped, Theta, DOTM and CES."), bt.table
    sc = bt.table.set_index("method")["mase"].dropna()
    singles = sc.reindex([k for k in ("ets", "theta", "dotm") if k in sc.index])  # the combination's members
    best = singles.idxmin() if len(singles) else "combo"
    if "combo" not in sc.index:
        return best, tr("backtest: the combination could not be scored; {best} has the lowest MASE.", best=best), \
            bt.table
    origins = tr("backtest ({n} origin(s), h=1..{h})", n=bt.forecasts["origin"].nunique(), h=bh)
    if AUTO_MARGIN is None:
        return "combo", tr("{origins}: mean of ETS, ETS damped, Theta, DOTM and CES, MASE {combo:.3f} (best single "
                           "member {best} {mase:.3f}); on other series no margin made choosing one member better "
                           "than combining.",
                           origins=origins, combo=sc["combo"], best=best, mase=sc[best]), bt.table
    if best != "combo" and sc[best] < (1 - AUTO_MARGIN) * sc["combo"]:
        return best, tr("{origins}: {best} MASE {mase:.3f} beats the combination's {combo:.3f} by more than "
                        "{margin:.0%}.", origins=origins, best=best, mase=sc[best], combo=sc["combo"],
                        margin=AUTO_MARGIN), bt.table
    return "combo", tr("{origins}: combination MASE {combo:.3f} vs best single method {best} {mase:.3f}; no member "
                       "beats it by {margin:.0%}, so the combination is kept.", origins=origins, combo=sc["combo"],
                       best=best, mase=sc[best], margin=AUTO_MARGIN), bt.table


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


def forecast(series, *, horizon: int = 12, method: str = "auto", level=(80, 95), folds: int = 2,
             backtest: BacktestResult | None = None) -> Forecast:
    """Forecast the next ``horizon`` periods with intervals.

    Parameters
    ----------
    series : :func:`monthly_series` output (incomplete periods ignored) or a date-indexed Series.
    method : {"auto", "combo", "ets", "theta", "dotm", "arima", "seasonal_naive"}
        ``auto`` fits the combination and its members, backtests them on ``folds`` rolling origins (test
        windows of one season; the coverage of its intervals is in ``.backtest``) and keeps the combination
        unless a member's MASE is ``AUTO_MARGIN`` lower (``None``: always the combination).
    level : interval levels in percent.
    backtest : a :func:`backtest` of this same series: ``auto`` judges on it instead of running its own (so the
        reason and ``.backtest`` quote the table the notebook shows); ignored by the other methods.

    Returns
    -------
    :class:`Forecast`: ``.table`` holds ``period`` (Timestamp), ``h``, ``mean``, ``lower_<L>``, ``upper_<L>``
    per level; ``.method`` (what produced it), ``.reason`` (why: the auto choice or a fallback — empty,
    zero, constant or short series), ``.backtest`` (auto's backtest summary as a list of records
    ``method, mase, smape, coverage_<L>, n, rank``; None for other methods); the table's ``attrs`` hold
    the same three. An empty series gives an empty table.
    """
    with _blas_single_thread():
        out = _forecast_impl(series, horizon=horizon, method=method, level=level, folds=folds, given=backtest)
    return Forecast(out, str(out.attrs.get("method", "")), str(out.attrs.get("reason", "")),
                    out.attrs.get("backtest"), tuple(int(lv) for lv in np.atleast_1d(level)))
