"""The seasonality and forecasting notebook's findings (number -> comparison -> decision), written from the
results of :mod:`.seasonal`, :mod:`.models` and :mod:`.pipeline` only: the prose lives here, beside the
computations, never inside them."""

from __future__ import annotations

import pandas as pd

from .check import MIN_BACKTEST_POINTS, MIN_COVERAGE_80
from .models import BacktestResult, Forecast
from .seasonal import MONTHS, SeasonalProfile, pct_vs_trend, total_interval

__all__ = ["findings"]


def findings(profile: SeasonalProfile, fc=None, bt: BacktestResult | None = None,
             pf=None, *, lead_months: int = 3, currency: str = "", pipeline_currency: str | None = None):
    """The notebook's Findings (number -> comparison -> decision) from the results.

    Parameters
    ----------
    profile : :func:`seasonal_profile` result; fc : the :func:`~salesops_kit.forecast.plan_forecast` result (its
        one backtest, the check and the forecast planned on), or a :func:`forecast` result (or its table) with
        ``bt`` its :func:`backtest`; pf : :class:`~salesops_kit.forecast.pipeline.PipelineForecast`;
        lead_months : how far ahead of the peak quarter the ramp-up starts; currency : unit shown with amounts;
        pipeline_currency : unit of the pipeline's amounts when it differs (deals in several currencies without
        rates: each section its own).

    The lead finding answers the notebook's question (the peak quarter: how big, when to ramp); the forecast's
    backtest check comes before the forecast, and a forecast that failed it is said to have failed.
    """
    from ..findings import Findings
    from .check import ForecastPlan

    cur = f" {currency}" if currency else ""
    plan = fc if isinstance(fc, ForecastPlan) else None
    if plan is not None:
        bt, fc = plan.backtest, plan.forecast
    fc = fc.table if isinstance(fc, Forecast) else fc
    out = []
    if not profile.quarterly.empty:
        out += _season_findings(profile, lead_months=lead_months, fc=fc, cur=cur)
    if bt is not None and not bt.table.empty:
        out += _backtest_findings(bt, plan)
    if fc is not None and len(fc):
        out += _forecast_findings(fc, cur, bt)
    if pf is not None and pf.windows():  # no finding from a quarter no open deal is expected to close in
        pcur = cur if pipeline_currency is None else (f" {pipeline_currency}" if pipeline_currency else "")
        out += _pipeline_findings(pf, pcur, fc if pcur == cur else None)
    return Findings(out, title="Seasonality and forecasting")


def _peak_stake(fc: pd.DataFrame | None, season: int, index: float) -> tuple[float | None, pd.Period | None]:
    """The bookings the next peak quarter is forecast to bring above trend (``mean x (1 - 1/index)`` over its
    months) and that quarter; ``(None, None)`` without a forecast reaching the whole quarter."""
    if fc is None or not len(fc) or not index > 0:
        return None, None
    per = pd.PeriodIndex(pd.to_datetime(fc["period"]), freq="M")
    q = per.asfreq("Q")
    for cand in sorted(set(q)):
        if cand.quarter == season and (q == cand).sum() == 3:
            amount = float(fc.loc[(q == cand), "mean"].sum())
            return amount * (1 - 1 / index), cand
    return None, None


def _season_findings(profile: SeasonalProfile, *, lead_months: int, fc: pd.DataFrame | None = None,
                     cur: str = "") -> list:
    """The peak quarter and when to ramp up for it (the lead finding), the weakest month when its dip is
    established, and the trend when its interval excludes zero."""
    from ..findings import Finding
    from ..i18n import t as _t
    from ..i18n import tr as _tr  # findings text in the report language ("tr" below is the trough)
    from .seasonal import history_window, quarter_label

    out = []
    lvl = f"{profile.level:.0%}"
    pk, tr = profile.peak(), profile.trough(by="month")
    st = profile.stats.iloc[0]
    d = profile.decomposition
    window = history_window(pd.Series(d["value"].to_numpy(), index=pd.PeriodIndex(d["period"], freq="M"))) \
        if len(d) and len(profile.monthly) == 12 else ""
    ev = _tr("seasonality strength {strength:.2f}, Kruskal-Wallis p = {p:.2g}, {years} years of data",
             strength=st["strength"], p=st["p_value"], years=int(st["n_years"]))
    sig = pd.notna(pk["ci_low"]) and pk["ci_low"] > 1
    stake, nxt = _peak_stake(fc, int(pk["season"]), float(pk["index"])) if sig else (None, None)
    start = (nxt.asfreq("M", "start") if nxt is not None else
             pd.Period(year=2000, quarter=int(pk["season"]), freq="Q").asfreq("M", "start"))
    ramp = start - lead_months
    if sig and nxt is not None:
        sug = _tr("Ramp marketing and capacity from {ramp} ({lead} months before {peak} starts); plan {peak} at "
                  "about {index} over trend, about {amount:,.0f}{currency} above it",
                  ramp=ramp.strftime("%Y-%m"), lead=lead_months, peak=quarter_label(nxt),
                  index=pct_vs_trend(pk["index"]), amount=stake, currency=cur)
    elif sig:
        sug = _tr("Ramp marketing and capacity from {ramp} ({lead} months before {peak} starts in {start}); plan "
                  "{peak} at about {index} over trend", ramp=_t(MONTHS[ramp.month - 1]), lead=lead_months,
                  peak=pk["label"], start=_t(MONTHS[start.month - 1]), index=pct_vs_trend(pk["index"]))
    else:
        sug = _tr("The {peak} peak is not established (interval includes 1): do not plan a ramp on it yet",
                  peak=pk["label"])
    kpi = f"seasonal_index_q{int(pk['season'])}" if len(profile.monthly) == 12 else ""
    out.append(Finding(subject=str(pk["label"]), metric="seasonal index",
                       value=_tr("{value:.2f} ({index} vs trend)", value=pk["index"], index=pct_vs_trend(pk["index"])),
                       interval=_tr("{level} interval {low} to {high}", level=lvl, low=pct_vs_trend(pk["ci_low"]),
                                    high=pct_vs_trend(pk["ci_high"])) if pd.notna(pk["ci_low"]) else "",
                       evidence=ev, suggestion=sug, topic="forecast", severity=3, kpi=kpi, window=window,
                       stake=stake, lead=True))
    if pd.notna(tr["ci_high"]) and tr["ci_high"] < 1:   # an established dip; "likely, not certain" is no finding
        month = _t(str(tr["label"]))
        out.append(Finding(subject=month, metric="seasonal index (weakest month)",
                           value=_tr("{value:.2f} ({index} vs trend)", value=tr["index"],
                                     index=pct_vs_trend(tr["index"])),
                           interval=_tr("{level} interval {low} to {high}", level=lvl,
                                        low=pct_vs_trend(tr["ci_low"]), high=pct_vs_trend(tr["ci_high"])),
                           suggestion=_tr("Expect a dip in {month}: set targets and cash planning for it",
                                          month=month),
                           topic="forecast", severity=2, kpi=f"seasonal_index_m{int(tr['season']):02d}",
                           window=window))
    if pd.notna(st["growth_ci_low"]) and (st["growth_ci_low"] > 0 or st["growth_ci_high"] < 0):
        out.append(Finding(subject=_tr("trend"), metric="growth per year", value=f"{st['growth_per_year']:+.1%}",
                           interval=_tr("{level} interval {low:+.1%} to {high:+.1%}", level=lvl,
                                        low=st["growth_ci_low"], high=st["growth_ci_high"]),
                           evidence=_tr("quasi-Poisson trend with month effects, HAC interval"), topic="forecast",
                           severity=1.5, window=window))
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


def _forecast_findings(fc: pd.DataFrame, cur: str, bt: BacktestResult | None = None) -> list:
    """The forecast total with its interval and the interval's backtest coverage; the lower bound is suggested for
    committed spend only when that coverage shows it reliable."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language
    from .seasonal import forecast_window

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
    total = float(fc["mean"].sum())
    method = fc.attrs.get("method", "")
    ev = (_tr("seasonal naive (last year's same month): the model did not beat it in the backtest")
          if method == "seasonal_naive" and fc.attrs.get("backtest") else _tr("method {method}", method=method))
    out.append(Finding(subject=_tr("won amount"), metric="forecast total",
                       value=_tr("{amount:,.0f}{currency}", amount=total, currency=cur),
                       interval=_tr("80% interval {low:,.0f} to {high:,.0f}{currency} (sum of monthly bounds)",
                                    low=lo, high=hi, currency=cur) + checked,
                       evidence=ev, suggestion=sug, topic="forecast", severity=2.5, kpi="forecast_next_12m_total",
                       window=forecast_window(fc),
                       stake=total - lo if pd.notna(lo) else None))   # the spend the lower bound would commit
    return out


def _backtest_findings(bt: BacktestResult, plan=None) -> list:
    """The model check, shown before the forecast: the forecast's method against seasonal naive on the same
    held-back months (with a plan: the method it plans on; without: the backtest's best)."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    sm = bt.table.set_index("method")
    window = bt.window()
    if plan is not None and plan.forecast is not None and plan.score() is not None:
        return [_plan_check(plan, sm, window)]
    best = bt.table.iloc[0]
    if best["method"] != "seasonal_naive" and "seasonal_naive" in sm.index and best["mase"] == sm.loc["seasonal_naive",
                                                                                                 "mase"]:
        best = sm.loc["seasonal_naive"].to_dict() | {"method": "seasonal_naive"}   # a tie is no win over the baseline
    nxt = None
    if "seasonal_naive" in sm.index and best["method"] != "seasonal_naive":
        base = sm.loc["seasonal_naive", "mase"]
        ev = _tr("{gain:.0%} lower MASE than seasonal naive", gain=1 - best["mase"] / base)
        sug = _tr("Forecast with {method}; keep seasonal naive as the sanity check", method=best["method"])
    elif best["method"] == "seasonal_naive":
        others = bt.table[bt.table["method"] != "seasonal_naive"]
        nxt = others.iloc[0] if len(others) else None
        ev = ""
        sug = _tr("No model beats last year's same month on this history: plan from seasonal naive and revisit "
                  "when more years are available")
    else:
        ev, sug = "", ""
    if best["method"] == "seasonal_naive":  # compared with the best model, not with itself
        bench = (_tr("best model {method} {mase:.2f}", method=nxt["method"], mase=nxt["mase"]) if nxt is not None
                 else "")
    else:
        bench = (_tr("seasonal naive {mase:.2f}", mase=sm.loc["seasonal_naive", "mase"]) if
                 "seasonal_naive" in sm.index else "")
    return [Finding(subject=str(best["method"]), metric="backtest MASE", value=f"{best['mase']:.2f}",
                    benchmark=bench, evidence=_tr("{evidence}; sMAPE {smape:.1f}%", evidence=ev, smape=best["smape"])
                    if ev else _tr("sMAPE {smape:.1f}%", smape=best["smape"]),
                    suggestion=sug, topic="forecast", severity=2.6, window=window)]


def _plan_check(plan, sm: pd.DataFrame, window: str):
    """The check of the forecast planned on: its MASE (the ``forecast_backtest_mase`` KPI) against seasonal naive's
    (or, when it is seasonal naive because the model failed, against the model's), and its interval coverage."""
    from ..findings import Finding
    from ..i18n import tr as _tr

    used, model = plan.method, plan.model.method
    s = plan.score()
    cov = _tr("its 80% interval covered {cov:.0%} of {n} held-back months", cov=s["coverage_80"], n=int(s["n"]))
    best = sm["mase"].idxmin()
    if plan.fell_back:
        bench = _tr("{method} {mase:.2f}", method=model, mase=sm.loc[model, "mase"])
        sug = _tr("The model does not beat last year's same month on this history: the forecast is seasonal naive's; "
                  "revisit when more years are available")
    else:
        bench = _tr("seasonal naive {mase:.2f}", mase=sm.loc["seasonal_naive", "mase"])
        sug = (_tr("Plan on the {method} forecast; keep seasonal naive as the sanity check", method=used)
               if plan.bound_reliable() else
               _tr("Plan on the {method} forecast's mean, not its bounds; keep seasonal naive as the sanity check",
                   method=used))
    ev = cov
    if not plan.fell_back and sm.loc["seasonal_naive", "mase"] > 0:
        ev = _tr("{gain:.0%} lower MASE than seasonal naive", gain=1 - s["mase"] / sm.loc["seasonal_naive", "mase"]) \
            + "; " + cov
    if best not in (used, model):
        ev += _tr("; lowest in the table: {method} {mase:.2f} (the forecast keeps the combination: on other series "
                  "no single member beat combining)", method=best, mase=sm.loc[best, "mase"])
    return Finding(subject=used, metric="backtest MASE", value=f"{s['mase']:.2f}", benchmark=bench, evidence=ev,
                   suggestion=sug, topic="forecast", severity=2.6, kpi="forecast_backtest_mase", window=window)


def _pipeline_findings(pf, cur: str, fc: pd.DataFrame | None = None) -> list:
    """Bookings expected from the open pipeline in the rest of the as-of quarter and in the next quarter (each
    only when some open deal is expected to close in it: P90 above zero), each with the model's check: in how
    many past quarters its P10-P90 band held what was booked. The next quarter is set against the top-down
    forecast for it (same currency), whose gap is the new pipeline needed."""
    from ..findings import Finding
    from ..i18n import tr as _tr  # findings text in the report language

    out = []
    rest = pf.rest_of_quarter
    covered, n = pf.band_check()
    reliable = pf.band_reliable()
    for q in pf.windows():
        is_rest = rest is not None and q["quarter"] == rest["quarter"]
        if n:
            ev = _tr("in {covered} of {n} past quarters the booked amount fell inside P10-P90", covered=covered, n=n)
        else:
            ev = _tr("not backtested (no stage history to rebuild past pipelines)")
        bench = (_tr("CRM weighted pipeline {amount:,.0f}{currency}", amount=q["crm_weighted"], currency=cur)
                 if pd.notna(q.get("crm_weighted")) else "")
        subject = (_tr("rest of {quarter} (after {as_of:%Y-%m-%d})", quarter=q["quarter"], as_of=pf.as_of) if is_rest
                   else _tr("open pipeline"))
        stake = None
        top = None if is_rest else _top_down(fc, q["quarter"])
        if reliable is False:
            sug = _tr("Do not rely on this band: it held the booked amount in only {covered} of {n} past quarters; "
                      "review the open deals one by one", covered=covered, n=n)
        elif not n:
            sug = _tr("Not backtested: read it beside the CRM weighted pipeline and review the open deals it rests on")
        elif is_rest:
            sug = _tr("Use it as the bottom-up check on this quarter's commit: review the open deals it rests on")
        else:
            if top is not None and top > q["expected"]:
                stake = top - q["expected"]
                ev += _tr("; the top-down forecast for {quarter} is {amount:,.0f}{currency}", quarter=q["quarter"],
                          amount=top, currency=cur)
                sug = _tr("Create about {gap:,.0f}{currency} of new bookings for {quarter} beyond the open deals to "
                          "meet the top-down forecast", gap=stake, currency=cur, quarter=q["quarter"])
            elif top is not None:
                sug = _tr("The open deals cover the top-down forecast for {quarter}: review the ones it rests on",
                          quarter=q["quarter"])
            else:
                sug = _tr("Use it as the bottom-up view of {quarter}: review the open deals it rests on",
                          quarter=q["quarter"])
        out.append(Finding(subject=subject, metric="bookings expected from open deals",
                           value=_tr("{amount:,.0f}{currency}", amount=q["expected"], currency=cur), benchmark=bench,
                           interval=_tr("P10 {p10:,.0f} to P90 {p90:,.0f}{currency}", p10=q["p10"], p90=q["p90"],
                                        currency=cur), evidence=ev, suggestion=sug, topic="forecast",
                           severity=1.1 if is_rest else 1, kpi="" if is_rest else "pipeline_expected_next_quarter",
                           window="" if is_rest else str(q["quarter"]), stake=stake))
    return out


def _top_down(fc: pd.DataFrame | None, quarter: str) -> float | None:
    """The top-down forecast's total for ``quarter`` ("2026 Q1") when it covers all three months, else None."""
    if fc is None or not len(fc):
        return None
    year, qn = quarter.split(" Q")
    q = pd.PeriodIndex(pd.to_datetime(fc["period"]), freq="M").asfreq("Q")
    sel = (q.year == int(year)) & (q.quarter == int(qn))
    return float(fc.loc[sel, "mean"].sum()) if sel.sum() == 3 else None
