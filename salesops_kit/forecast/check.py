"""The forecast a manager plans on, checked first (issue 15): ONE rolling-origin backtest (one set of parameters,
derived from the series' length only) feeds the notebook's table and chart, the forecast's choice, the findings
and the KPI rows, so the backtest MASE is the same number everywhere.

The check: the forecast's method against seasonal naive (last year's same month) on the held-back months, and
its 80% interval's coverage of them. A method that does not beat seasonal naive is not used: the plan is seasonal
naive's forecast, and the finding says so. An 80% interval that covered less than ``MIN_COVERAGE_80`` of at least
``MIN_BACKTEST_POINTS`` held-back months is never recommended as a bound for committed spend.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .limits import forecast_limit
from .models import METHODS, BacktestResult, Forecast, as_series, backtest, forecast, season_length

__all__ = ["BACKTEST_HORIZON", "BACKTEST_FOLDS", "MIN_BACKTEST_POINTS", "MIN_COVERAGE_80", "ForecastPlan",
           "backtest_params", "plan_forecast"]

BACKTEST_HORIZON = 6   # months ahead scored at each origin (shorter when the history leaves fewer)
BACKTEST_FOLDS = 3     # origins at most, half a test window apart
# the lower bound is recommended for committed spend only when the backtest checked the interval on at least
# this many held-back points and it covered at least 70% of them (80% +- 10)
MIN_BACKTEST_POINTS = 12
MIN_COVERAGE_80 = 0.70


def backtest_params(series) -> dict:
    """The one backtest's parameters for ``series``: ``horizon`` (6 months, fewer when the history after the
    first origin's two seasons of training is shorter), ``folds`` (3) and ``step`` (half the horizon)."""
    y = as_series(series)
    m = season_length(y)
    min_train = 2 * m + 2 if len(y) >= 2 * m else 10
    h = max(1, min(BACKTEST_HORIZON, len(y) - min_train))
    return {"horizon": h, "folds": BACKTEST_FOLDS, "step": max(1, (h + 1) // 2)}


@dataclass(frozen=True)
class ForecastPlan:
    """Result of :func:`plan_forecast`.

    Attributes
    ----------
    backtest : the one :class:`BacktestResult` (every method of ``METHODS``).
    model : the ``auto`` forecast (None when the series is too short: ``note`` says why).
    forecast : what to plan on: ``model``, or seasonal naive's forecast when the model did not beat it.
    note : the sentence saying why there is no forecast ("" when there is one).
    """

    backtest: BacktestResult
    model: Forecast | None
    forecast: Forecast | None
    note: str = ""

    def _row(self, method: str) -> dict | None:
        t = self.backtest.table
        r = t[t["method"] == method] if len(t) else t
        return r.iloc[0].to_dict() if len(r) else None

    @property
    def checked(self) -> bool:
        """The model and seasonal naive were both scored by the backtest."""
        return (self.model is not None and self._row(self.model.method) is not None
                and self._row("seasonal_naive") is not None)

    @property
    def beats_baseline(self) -> bool | None:
        """The model's backtest MASE is below seasonal naive's (None: not checked)."""
        if not self.checked:
            return None
        return bool(self._row(self.model.method)["mase"] < self._row("seasonal_naive")["mase"])

    @property
    def fell_back(self) -> bool:
        return self.beats_baseline is False

    @property
    def method(self) -> str:
        return self.forecast.method if self.forecast is not None else ""

    def score(self, method: str | None = None) -> dict | None:
        """The backtest row (``mase, smape, coverage_80, coverage_95, n``) of ``method`` (default: the plan's)."""
        return self._row(method or self.method)

    def bound_reliable(self) -> bool:
        """The plan's 80% interval covered at least ``MIN_COVERAGE_80`` of at least ``MIN_BACKTEST_POINTS``
        held-back months."""
        s = self.score()
        return bool(s is not None and s["n"] >= MIN_BACKTEST_POINTS and pd.notna(s.get("coverage_80"))
                    and s["coverage_80"] >= MIN_COVERAGE_80)

    def check_table(self) -> pd.DataFrame:
        """The check shown before the forecast: the model and seasonal naive on the same held-back months."""
        keep = [m for m in dict.fromkeys([self.model.method if self.model is not None else "", "seasonal_naive"])
                if m and self._row(m) is not None]
        t = self.backtest.table
        cols = ["method", "mase", "smape", "coverage_80", "coverage_95", "n"]
        return t[t["method"].isin(keep)][[c for c in cols if c in t]].reset_index(drop=True)

    def headline(self) -> str:
        """One sentence: the check's verdict and what is planned on."""
        from ..i18n import tr

        if self.forecast is None:
            return self.note
        if not self.checked:
            return tr("No backtest could score the forecast on this history: it is shown unchecked.")
        m, sn = self.score(self.model.method), self.score("seasonal_naive")
        s = tr("Backtest ({window}): {method} MASE {mase:.2f} vs seasonal naive {base:.2f}",
               window=self.backtest.window(), method=self.model.method, mase=m["mase"], base=sn["mase"])
        if self.fell_back:
            s += tr(": the model does not beat last year's same month, so the plan below is seasonal naive's")
        else:
            s += tr(": the model beats last year's same month")
        cov = self.score()
        s += tr("; its 80% interval covered {cov:.0%} of {n} held-back months", cov=cov["coverage_80"],
                n=int(cov["n"]))
        if cov["n"] < MIN_BACKTEST_POINTS:
            s += tr(" (too few to trust its bounds)")
        elif not self.bound_reliable():
            s += tr(" (far below 80%: its bounds are not reliable)")
        return s + "."


def plan_forecast(series, *, horizon: int = 12, level=(80, 95)) -> ForecastPlan:
    """Backtest first, then forecast: ONE rolling-origin backtest of every method (:func:`backtest_params`), the
    ``auto`` forecast judged on that same backtest, and seasonal naive's forecast instead when the model did not
    beat it there. A series with fewer complete months than ``horizon`` gets no forecast (``note`` says why)."""
    bt = backtest(series, methods=METHODS, level=level, **backtest_params(series))
    note = forecast_limit(series, horizon)
    if note:
        return ForecastPlan(bt, None, None, note)
    model = forecast(series, horizon=horizon, method="auto", level=level, backtest=bt)
    plan = ForecastPlan(bt, model, model)
    if plan.fell_back:
        from ..i18n import tr

        used = forecast(series, horizon=horizon, method="seasonal_naive", level=level)
        why = tr("{model} did not beat seasonal naive in the backtest (MASE {mase:.2f} vs {base:.2f}): seasonal naive "
                 "(last year's same month) is used.", model=model.method, mase=plan.score(model.method)["mase"],
                 base=plan.score("seasonal_naive")["mase"])
        used.table.attrs.update(reason=why, backtest=model.backtest)
        used = Forecast(used.table, used.method, why, model.backtest, used.level)
        plan = ForecastPlan(bt, model, used)
    return plan
