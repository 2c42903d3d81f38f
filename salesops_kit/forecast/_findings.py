"""The seasonality and forecasting notebook's findings (number -> comparison -> decision), written from the
results of :mod:`.seasonal`, :mod:`.models` and :mod:`.pipeline` only: the prose lives here, beside the
computations, never inside them."""

from __future__ import annotations

import pandas as pd

from .models import BacktestResult, Forecast
from .seasonal import MONTHS, SeasonalProfile, pct_vs_trend, total_interval

__all__ = ["findings"]


def findings(profile: SeasonalProfile, fc: Forecast | pd.DataFrame | None = None, bt: BacktestResult | None = None,
             pf=None, *, lead_months: int = 3, currency: str = "", pipeline_currency: str | None = None):
    """The notebook's Findings (number -> comparison -> decision) from the results.

    Parameters
    ----------
    profile : :func:`seasonal_profile` result; fc : :func:`forecast` result (or its table); bt : :func:`backtest`
        result; pf : :class:`~salesops_kit.forecast.pipeline.PipelineForecast`; lead_months : how far ahead of
        the peak quarter the ramp-up starts; currency : unit shown with amounts; pipeline_currency : unit of the
        pipeline's amounts when it differs (deals in several currencies without rates: each section its own).
    """
    from ..findings import Findings

    cur = f" {currency}" if currency else ""
    out = []
    if not profile.quarterly.empty:
        out += _season_findings(profile, lead_months=lead_months)
    fc = fc.table if isinstance(fc, Forecast) else fc
    if fc is not None and len(fc):
        out += _forecast_findings(fc, cur, bt)
    if bt is not None and not bt.table.empty:
        out += _backtest_findings(bt)
    if pf is not None and pf.windows():  # no finding from a quarter no open deal is expected to close in
        out += _pipeline_findings(pf, cur if pipeline_currency is None else
                                  (f" {pipeline_currency}" if pipeline_currency else ""))
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
                  peak=pk["label"], start=_t(MONTHS[start.month - 1]), index=pct_vs_trend(pk["index"]))
    else:
        sug = _tr("The {peak} peak is not established (interval includes 1): do not plan a ramp on it yet",
                  peak=pk["label"])
    out.append(Finding(subject=str(pk["label"]), metric="seasonal index",
                       value=_tr("{index} vs trend", index=pct_vs_trend(pk["index"])),
                       interval=_tr("{level} interval {low} to {high}", level=lvl, low=pct_vs_trend(pk["ci_low"]),
                                    high=pct_vs_trend(pk["ci_high"])) if pd.notna(pk["ci_low"]) else "",
                       evidence=ev, suggestion=sug, topic="forecast", severity=3))
    month = _t(str(tr["label"]))
    out.append(Finding(subject=month, metric="seasonal index (weakest month)",
                       value=_tr("{index} vs trend", index=pct_vs_trend(tr["index"])),
                       interval=_tr("{level} interval {low} to {high}", level=lvl, low=pct_vs_trend(tr["ci_low"]),
                                    high=pct_vs_trend(tr["ci_high"])) if pd.notna(tr["ci_low"]) else "",
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


def _backtest_coverage(fc: pd.DataFrame, bt: BacktestResult | None, level: int = 80) -> tuple[float, int]:
    """How often the forecast method's ``level``% interval covered the held-back points in a backtest: the forecast's
    own (auto) backtest or ``bt``, whichever scored more points; ``(coverage, points)``, ``(nan, 0)`` when neither
    scored it."""
    method, col = fc.attrs.get("method", ""), f"coverage_{level}"
    found = [(float("nan"), 0)]
    for rec in fc.attrs.get("backtest") or []:
        if rec.get("method") == method and pd.notna(rec.get(col)):
            found.append((float(rec[col]), int(rec.get("n", 0))))
    if bt is not None and not bt.table.empty and col in bt.table:
        row = bt.table[bt.table["method"] == method]
        if len(row) and pd.notna(row[col].iloc[0]):
            found.append((float(row[col].iloc[0]), int(row["n"].iloc[0])))
    return max(found, key=lambda x: x[1])


# the lower bound is recommended for committed spend only when the backtest checked the interval on at least
# this many held-back points and it covered at least 70% of them (80% +- 10)
MIN_BACKTEST_POINTS = 12
MIN_COVERAGE_80 = 0.70


def _forecast_findings(fc: pd.DataFrame, cur: str, bt: BacktestResult | None = None) -> list:
    """The forecast total with its interval and the interval's backtest coverage; the lower bound is suggested for
    committed spend only when that coverage shows it reliable."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    cov, npts = _backtest_coverage(fc, bt)
    if npts and pd.notna(cov):
        checked = _tr("; the backtest's 80% interval covered {cov:.0%} of {n} held-back months", cov=cov, n=npts)
    else:
        checked = _tr("; no backtest checked it")
    if npts >= MIN_BACKTEST_POINTS and cov >= MIN_COVERAGE_80:
        sug = _tr("Use the mean for the plan and the lower bound for committed spend")
    elif npts >= MIN_BACKTEST_POINTS:
        sug = _tr("Plan on the mean; do not commit spend against the lower bound: in the backtest the 80% interval "
                  "covered only {cov:.0%} of held-back months", cov=cov)
    else:
        sug = _tr("Plan on the mean; too little backtest to trust the lower bound for committed spend")
    lo, hi = total_interval(fc)
    first, last = pd.Timestamp(fc["period"].iloc[0]), pd.Timestamp(fc["period"].iloc[-1])
    out.append(Finding(subject=_tr("{first:%Y-%m} to {last:%Y-%m}", first=first, last=last), metric="forecast total",
                       value=_tr("{amount:,.0f}{currency}", amount=fc["mean"].sum(), currency=cur),
                       interval=_tr("80% interval {low:,.0f} to {high:,.0f}{currency} (sum of monthly bounds)",
                                    low=lo, high=hi, currency=cur) + checked,
                       evidence=_tr("method {method}: {reason}", method=fc.attrs.get("method", ""),
                                    reason=fc.attrs.get("reason", "")),
                       suggestion=sug, topic="forecast", severity=2.5))
    return out


def _backtest_findings(bt: BacktestResult) -> list:
    """The backtest winner against seasonal naive."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    sm = bt.table.set_index("method")
    best = bt.table.iloc[0]
    n_orig = bt.forecasts["origin"].nunique()
    if best["method"] != "seasonal_naive" and "seasonal_naive" in sm.index and best["mase"] == sm.loc["seasonal_naive",
                                                                                                 "mase"]:
        best = sm.loc["seasonal_naive"].to_dict() | {"method": "seasonal_naive"}   # a tie is no win over the baseline
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
    if best["method"] == "seasonal_naive":  # compared with the best model, not with itself
        bench = (_tr("best model {method} {mase:.2f}", method=nxt["method"], mase=nxt["mase"]) if nxt is not None
                 else "")
    else:
        bench = (_tr("seasonal naive {mase:.2f}", mase=sm.loc["seasonal_naive", "mase"]) if
                 "seasonal_naive" in sm.index else "")
    out.append(Finding(subject=str(best["method"]), metric="backtest MASE", value=f"{best['mase']:.2f}",
                       benchmark=bench,
                       evidence=_tr("{evidence}; sMAPE {smape:.1f}%", evidence=ev, smape=best["smape"]),
                       suggestion=sug, topic="forecast", severity=2))
    return out


def _pipeline_findings(pf, cur: str) -> list:
    """Bookings expected from the open pipeline in the rest of the as-of quarter and in the next quarter (each
    only when some open deal is expected to close in it: P90 above zero)."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    rest = pf.rest_of_quarter
    for q in pf.windows():
        is_rest = rest is not None and q["quarter"] == rest["quarter"]
        ev = ""
        if len(pf.backtest) and not is_rest:
            ev = _tr("in {covered} of {n} past quarters the booked amount fell inside P10-P90",
                     covered=int(pf.backtest["covered_p10_p90"].sum()), n=len(pf.backtest))
        bench = (_tr("CRM weighted pipeline {amount:,.0f}{currency}", amount=q["crm_weighted"], currency=cur)
                 if pd.notna(q.get("crm_weighted")) else "")
        subject = (_tr("rest of {quarter} (after {as_of:%Y-%m-%d})", quarter=q["quarter"], as_of=pf.as_of) if is_rest
                   else str(q["quarter"]))
        sug = (_tr("Use it as the bottom-up check on this quarter's commit: review the open deals it rests on")
               if is_rest else _tr("Close the gap between this and the top-down forecast with new pipeline"))
        out.append(Finding(subject=subject, metric="bookings expected from open deals",
                           value=_tr("{amount:,.0f}{currency}", amount=q["expected"], currency=cur), benchmark=bench,
                           interval=_tr("P10 {p10:,.0f} to P90 {p90:,.0f}{currency}", p10=q["p10"], p90=q["p90"],
                                        currency=cur), evidence=ev, suggestion=sug, topic="forecast",
                           severity=1.1 if is_rest else 1))  # this quarter's before next quarter's
    return out
