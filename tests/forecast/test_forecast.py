"""Monthly series and seasonal profile (issue 5): hand-computed tiny frames, engine parity, a known
seasonal pattern and trend recovered, edge cases, and the sample company's planted seasonality."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from salesops_kit import forecast as F

T = pd.Timestamp
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def orders():
    return pd.DataFrame({
        "order_id": ["a", "b", "c", "d", "e"],
        "order_date": pd.to_datetime(["2024-01-05", "2024-01-31", "2024-03-02", "2024-04-10", "2024-04-20"]),
        "amount": [10.0, 5.0, 7.0, 1.0, np.nan],
    })


def test_monthly_series_by_hand():
    df = orders()
    before = df.copy()
    s = F.monthly_series(df, date="order_date", value="amount", as_of="2024-04-30")
    pd.testing.assert_frame_equal(df, before)
    # Jan 10+5, Feb nothing -> 0, Mar 7, Apr 1 + missing amount (counted as a row, adds 0); April complete
    assert s["period"].tolist() == [T("2024-01-01"), T("2024-02-01"), T("2024-03-01"), T("2024-04-01")]
    assert s["value"].tolist() == [15.0, 0.0, 7.0, 1.0]
    assert s["n"].tolist() == [2, 0, 1, 2]
    assert s["complete"].all()


def test_partial_last_month_dropped_or_flagged_never_silent():
    df = orders()
    dropped = F.monthly_series(df, date="order_date", as_of="2024-04-15")
    assert dropped["period"].max() == T("2024-03-01")
    flagged = F.monthly_series(df, date="order_date", as_of="2024-04-15", partial="flag")
    last = flagged.iloc[-1]
    # only the April 10 order is on or before as-of; the month is flagged incomplete
    assert (last["period"], last["value"], bool(last["complete"])) == (T("2024-04-01"), 1.0, False)
    # default as-of = latest date (Apr 20) -> April incomplete -> dropped
    assert F.monthly_series(df, date="order_date")["period"].max() == T("2024-03-01")


def test_as_of_beyond_data_fills_zero_months():
    s = F.monthly_series(orders(), date="order_date", as_of="2024-06-30")
    assert s["period"].iloc[-1] == T("2024-06-01") and s["value"].tolist()[-2:] == [0.0, 0.0]


def test_count_and_quarterly():
    s = F.monthly_series(orders(), date="order_date", value="count", freq="Q", as_of="2024-06-30")
    # Q1: a, b, c = 3; Q2: d, e = 2
    assert s["period"].tolist() == [T("2024-01-01"), T("2024-04-01")]
    assert s["value"].tolist() == [3.0, 2.0]


def test_engine_parity():
    df = orders()
    ref = F.monthly_series(df, date="order_date", as_of="2024-04-30")
    pldf = pl.from_pandas(df)
    rel = duckdb.sql("select * from df")
    for native in (pldf, pldf.lazy(), rel):
        got = F.monthly_series(native, date="order_date", as_of="2024-04-30")
        pd.testing.assert_frame_equal(got, ref)


def test_empty_missing_column_and_bad_args():
    e = F.monthly_series(orders().iloc[0:0], date="order_date")
    assert e.empty and list(e.columns) == ["period", "value", "n", "complete"]
    assert F.monthly_series(None).empty
    with pytest.raises(ValueError, match="order_dte"):
        F.monthly_series(orders(), date="order_dte")
    with pytest.raises(ValueError, match="freq"):
        F.monthly_series(orders(), date="order_date", freq="W")


# ------------------------------------------------------------------------------------ profile
FACTORS = np.array([1.0, 0.75, 0.95, 0.95, 0.95, 0.95, 1.3, 1.3, 1.3, 0.95, 0.85, 0.75])
FACTORS = FACTORS / FACTORS.mean()


def seasonal_series(years=6, growth=0.12, noise=0.03, seed=1):
    rng = np.random.default_rng(seed)
    n = 12 * years
    t = np.arange(n)
    y = 1000 * (1 + growth) ** (t / 12) * FACTORS[t % 12] * np.exp(rng.normal(0, noise, n))
    return pd.DataFrame({"period": pd.date_range("2019-01-01", periods=n, freq="MS"), "value": y, "complete": True})


def test_known_seasonal_pattern_and_trend_recovered():
    p = F.seasonal_profile(seasonal_series())
    got = p.monthly.set_index("season")["index"].to_numpy()
    assert np.max(np.abs(got - FACTORS)) < 0.04
    # the true factor lies inside each month's 95% interval for most months (12 intervals, 95%)
    inside = (p.monthly["ci_low"] <= FACTORS) & (FACTORS <= p.monthly["ci_high"])
    assert inside.sum() >= 10
    q3_true = FACTORS[6:9].mean() / np.mean([FACTORS[i:i + 3].mean() for i in (0, 3, 6, 9)])
    q3 = p.quarterly.set_index("label").loc["Q3"]
    assert q3["ci_low"] <= q3_true <= q3["ci_high"] and abs(q3["index"] - q3_true) < 0.03
    st = p.stats.iloc[0]
    assert st["growth_ci_low"] <= 0.12 <= st["growth_ci_high"]
    assert st["strength"] > 0.9 and st["p_value"] < 0.001 and bool(st["multiplicative"])
    assert p.peak()["label"] == "Q3" and p.trough(by="month")["label"] in ("Feb", "Dec")
    assert p.sentence("Q3").startswith("Q3 runs +") and "95% interval" in p.sentence("Q3")


def test_no_seasonality_is_not_significant():
    rng = np.random.default_rng(3)
    s = pd.Series(100 + rng.normal(0, 5, 72), index=pd.period_range("2019-01", periods=72, freq="M"))
    p = F.seasonal_profile(s)
    assert p.p_value > 0.05
    assert (p.monthly["ci_low"] <= 1.0).sum() >= 10     # intervals cover "no effect" for (almost) all months


def test_short_constant_and_zero_series():
    short = seasonal_series(years=1)
    p = F.seasonal_profile(short)
    assert p.monthly.empty and "two full seasons" in p.notes[0] and "Not enough" in p.headline()
    const = pd.Series(5.0, index=pd.period_range("2020-01", periods=36, freq="M"))
    assert F.seasonal_profile(const).monthly.empty
    z = seasonal_series(years=3)
    z.loc[5, "value"] = 0.0
    pz = F.seasonal_profile(z)
    assert len(pz.monthly) == 12 and "additive" in pz.notes[0]


def test_incomplete_period_is_ignored():
    s = seasonal_series(years=3)
    s.loc[len(s) - 1, "complete"] = False
    p = F.seasonal_profile(s)
    assert int(p.stats["n_periods"].iloc[0]) == 35


# ---------------------------------------------------------------------- planted truths (sample)
@pytest.fixture(scope="module")
def sample():
    if not (SAMPLE / "opportunities.csv").exists():
        pytest.skip("data/sample not generated")
    import salesops_kit

    return salesops_kit.load_dataset(SAMPLE)


def test_sample_planted_seasonality_recovered(sample):
    from salesops_kit.data.synth import PLANTED

    plant = PLANTED["bookings_seasonality"]
    ser = F.bookings_series(sample)
    assert not ser.empty and ser["complete"].all()
    assert ser["period"].max() < sample.as_of.to_period("M").to_timestamp()   # partial December dropped
    p = F.seasonal_profile(ser)
    q3 = p.quarterly.set_index("label").loc["Q3"]
    q3_planted = np.mean([plant["monthly_factor"][m] for m in (7, 8, 9)])
    assert q3["ci_low"] <= q3_planted <= q3["ci_high"]
    assert p.peak()["label"] == "Q3"
    # the February dip: the analysis finds February the weakest month of the year
    assert p.trough(by="month")["label"] == "Feb"
    st = p.stats.iloc[0]
    assert st["growth_ci_low"] <= plant["yearly_growth"] <= st["growth_ci_high"]


def test_sample_kpis_and_findings(sample):
    from salesops_kit.kpis import kpi_frame

    rows = F.kpi_rows(sample)
    kt = kpi_frame(rows)                                   # every name is registered
    names = set(kt["kpi"])
    assert {f"seasonal_index_m{i:02d}" for i in range(1, 13)} <= names
    assert {"seasonal_index_q3", "seasonality_strength", "forecast_next_12m_total", "forecast_backtest_mase",
            "pipeline_expected_next_quarter"} <= names
    tot = kt.set_index("kpi").loc["forecast_next_12m_total"]
    assert tot["ci_low"] < tot["value"] < tot["ci_high"]
    pipe = kt.set_index("kpi").loc["pipeline_expected_next_quarter"]
    assert pipe["ci_low"] <= pipe["value"] <= pipe["ci_high"]
    ser = F.bookings_series(sample)
    plan = F.plan_forecast(ser, horizon=12)
    fnd = F.findings(F.seasonal_profile(ser), plan, None, None, lead_months=3, currency="USD")
    lead = fnd[0]
    # the lead finding answers the notebook's question: the peak quarter, its size, when to ramp up for it
    next_q3 = pd.Period(year=sample.as_of.year + (sample.as_of.quarter >= 3), quarter=3, freq="Q")
    ramp = (next_q3.asfreq("M", "start") - 3).strftime("%Y-%m")       # 3 months ahead of the July start
    assert lead.lead and lead.subject == "Q3" and lead.kpi == "seasonal_index_q3" and lead.stake > 0
    assert f"from {ramp}" in lead.suggestion and f"{next_q3.year} Q3" in lead.suggestion
    # one number per KPI: every finding that names a KPI quotes the kpi_rows value (same computation)
    values = {r["kpi"]: r["value"] for r in rows}
    quoted = [f for f in fnd if f.kpi]
    assert {f.kpi for f in quoted} >= {"seasonal_index_q3", "forecast_backtest_mase", "forecast_next_12m_total"}
    for f in quoted:
        shown = float(f.value.split()[0].replace(",", ""))
        assert shown == pytest.approx(values[f.kpi], abs=0.006 if values[f.kpi] < 100 else 0.5), f.kpi
    # the backtest MASE is the one backtest's, of the method the forecast uses, with its window
    sel = plan.backtest.table.set_index("method").loc[plan.method]
    assert values["forecast_backtest_mase"] == sel["mase"] and len(plan.backtest.origins) >= 2
    assert kt.set_index("kpi").loc["forecast_backtest_mase", "window"] == plan.backtest.window()
    assert values["forecast_next_12m_total"] == pytest.approx(plan.forecast.table["mean"].sum())


def test_a_model_that_does_not_beat_seasonal_naive_is_not_planned_on(monkeypatch):
    """Model check before model result: when the combination's backtest MASE is above seasonal naive's, the plan is
    seasonal naive's forecast, the check finding says so, and the forecast finding quotes seasonal naive's total."""
    from salesops_kit.forecast import check
    from salesops_kit.forecast.models import BacktestResult

    t = np.arange(36)
    ser = pd.Series(1000 + 300 * np.sin(2 * np.pi * t / 12) + 50 * (t % 5), index=pd.period_range("2023-01", periods=36,
                                                                                             freq="M"))
    origin, period = T("2025-05-01"), pd.date_range("2025-06-01", periods=6, freq="MS")
    fcs = pd.DataFrame({"method": "combo", "origin": origin, "h": np.arange(1, 7), "period": period})
    table = pd.DataFrame({"method": ["seasonal_naive", "combo"], "mase": [1.0, 2.0], "smape": [10.0, 20.0],
                          "coverage_80": [0.5, 0.5], "coverage_95": [0.9, 0.9], "n": [6, 6], "rank": [1, 2]})
    monkeypatch.setattr(check, "backtest", lambda *a, **k: BacktestResult(fcs, pd.DataFrame(), table))
    plan = check.plan_forecast(ser, horizon=12)
    assert plan.model.method == "combo" and plan.fell_back and plan.method == "seasonal_naive"
    snaive = F.forecast(ser, horizon=12, method="seasonal_naive").table["mean"]
    assert plan.forecast.table["mean"].tolist() == snaive.tolist() == ser.iloc[-12:].tolist()
    assert plan.score()["mase"] == 1.0 and "does not beat" in plan.headline()
    fnd = F.findings(F.seasonal_profile(ser), plan)
    chk = next(f for f in fnd if f.kpi == "forecast_backtest_mase")
    assert (chk.subject, chk.value, chk.benchmark) == ("seasonal_naive", "1.00", "combo 2.00")
    assert "does not beat last year's same month" in chk.suggestion
    tot = next(f for f in fnd if f.kpi == "forecast_next_12m_total")
    assert tot.value == f"{ser.iloc[-12:].sum():,.0f}" and "seasonal naive" in tot.evidence
    assert "too little backtest" in tot.suggestion               # 6 held-back months: no bound recommended


def test_kpi_rows_without_tables_is_empty():
    class _DS:
        opportunities = None
        orders = None

    assert F.kpi_rows(_DS()) == []


def _fc_table(cov80, n):
    t = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=3, freq="MS"), "h": [1, 2, 3],
                      "mean": [10.0, 20.0, 30.0], "lower_80": [5.0, 15.0, 20.0], "upper_80": [15.0, 25.0, 40.0]})
    t.attrs.update(method="combo", reason="r", backtest=[{"method": "combo", "coverage_80": cov80, "n": n},
                                                         {"method": "ets", "coverage_80": 0.99, "n": 99}])
    return t


@pytest.mark.parametrize("cov,n,recommends,says", [(0.25, 24, False, "25% of 24"), (0.80, 24, True, "80% of 24"),
                                                   (0.95, 12, True, "95% of 12"), (0.90, 6, False, "90% of 6"),
                                                   (float("nan"), 0, False, "no backtest")])
def test_forecast_finding_states_backtest_coverage_and_never_recommends_an_unreliable_bound(cov, n, recommends, says):
    from salesops_kit.forecast._findings import _forecast_findings

    f = _forecast_findings(_fc_table(cov, n), "")[0]
    # total 60, 80% interval = sum of the monthly bounds 40 to 80; the coverage is the combination's, not ETS's
    assert f.value == "60" and "40 to 80" in f.interval and says in f.interval
    assert f.suggestion.startswith("Use the mean for the plan and the lower bound for committed spend") == recommends
    assert recommends or f.suggestion.startswith("Plan on the mean")


def test_backtest_finding_compares_seasonal_naive_with_the_best_model_not_itself():
    """When no model beats last year's same month, the finding's benchmark is the best model's MASE (the sample
    read 'seasonal_naive MASE 1.92 vs seasonal naive 1.92'); a model that wins is compared with seasonal naive."""
    import pandas as pd

    from salesops_kit.forecast._findings import _backtest_findings
    from salesops_kit.forecast.models import BacktestResult

    def bt(rows):
        table = pd.DataFrame(rows, columns=["method", "mase", "smape"]).sort_values("mase", kind="stable")
        fc = pd.DataFrame({"origin": [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")], "h": [1, 1],
                           "period": [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-05-01")]})
        return BacktestResult(forecasts=fc, by_horizon=pd.DataFrame(), table=table.reset_index(drop=True))

    f = _backtest_findings(bt([("seasonal_naive", 1.5, 20.0), ("ets", 1.9, 25.0), ("theta", 2.2, 26.0)]))[0]
    assert (f.subject, f.value, f.benchmark) == ("seasonal_naive", "1.50", "best model ets 1.90")
    assert "No model beats" in f.suggestion
    f = _backtest_findings(bt([("ets", 0.9, 10.0), ("seasonal_naive", 1.2, 14.0)]))[0]
    assert (f.subject, f.value, f.benchmark) == ("ets", "0.90", "seasonal naive 1.20")


def test_a_forecast_needs_as_many_complete_months_as_its_horizon():
    """Three complete months gave a 12-month forecast with intervals of -135 to +135 million: now one sentence,
    no forecast KPI; the month-by-month pattern needs two full years."""
    import pandas as pd

    from salesops_kit import forecast

    def months(n, partial=True):
        period = pd.date_range("2024-01-01", periods=n + partial, freq="MS")
        return pd.DataFrame({"period": period, "value": 100.0, "complete": [True] * n + [False] * partial})

    assert forecast.complete_months(months(3)) == 3
    assert "Only 3 complete months" in forecast.forecast_limit(months(3), 12)
    assert "12-month" in forecast.forecast_limit(months(11), 12)
    assert forecast.forecast_limit(months(12), 12) is None  # the partial month does not count, the 12 do
    assert forecast.forecast_limit(months(0, partial=False), 12) == "No complete month of history: nothing to forecast."
    assert "two full years (24 months)" in forecast.pattern_limit(months(23))
    assert forecast.pattern_limit(months(24)) is None


def test_no_forecast_kpi_from_a_short_series():
    from salesops_kit import forecast, load_dataset

    ds = load_dataset(SAMPLE.parents[1] / "tests" / "fixtures" / "exports" / "salesforce_multicurrency",
                      mapping="salesforce")
    rows = forecast.kpi_rows(ds)
    assert rows and not [r for r in rows if r["kpi"] == "forecast_next_12m_total"]
