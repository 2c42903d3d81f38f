"""Forecasts and backtests (issues 5, 16): seasonal naive and backtest splits by hand, fallbacks with reasons,
a known pattern recovered, the combination and its calibrated bounds by hand, accuracy on real series. Interval
coverage is checked on real series the calibration never saw (test_m3.py)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from salesops_kit.forecast import backtest, forecast

REAL = Path(__file__).resolve().parents[2] / "data" / "external" / "real_monthly" / "series.csv"
Z95 = stats.norm.ppf(0.975)


def ser(values, start="2020-01"):
    return pd.Series(np.asarray(values, dtype=float), index=pd.period_range(start, periods=len(values), freq="M"))


def test_seasonal_naive_by_hand():
    y = ser(100 + np.arange(1, 25))                       # 101..124
    fc = forecast(y, horizon=13, method="seasonal_naive")
    # h = 1..12 repeat the last season 113..124; h = 13 repeats it again (113)
    assert fc.table["mean"].tolist() == list(range(113, 125)) + [113]
    # residuals y_t - y_{t-12} = 12 each -> sigma 12; sd = 12 for h <= 12, 12*sqrt(2) at h = 13
    assert fc.table["lower_95"].iloc[0] == pytest.approx(113 - Z95 * 12)
    assert fc.table["upper_80"].iloc[12] == pytest.approx(113 + stats.norm.ppf(0.9) * 12 * np.sqrt(2))
    assert fc.table["period"].iloc[0] == pd.Timestamp("2022-01-01") and fc.method == "seasonal_naive"


def test_backtest_splits_and_errors_by_hand():
    pattern = np.array([5, 3, 4, 6, 8, 9, 12, 13, 11, 7, 6, 4], dtype=float) * 10
    t = np.arange(40)
    y = ser(pattern[t % 12] + t)                          # seasonal + 1 per month
    bt = backtest(y, horizon=6, folds=3, step=6, methods=("seasonal_naive",))
    f = bt.forecasts
    # origins: n - h - step*k = 34, 28, 22; 22 < 2*12 + 2 = 26 training periods -> dropped
    assert sorted(f["origin"].unique()) == [pd.Timestamp("2022-04-01"), pd.Timestamp("2022-10-01")]
    assert len(f) == 12 and f["h"].tolist() == [1, 2, 3, 4, 5, 6] * 2
    # seasonal naive error = y_t - y_{t-12} = 12 everywhere; training scale (in-sample seasonal naive MAE) = 12
    assert (f["actual"] - f["mean"]).tolist() == [12.0] * 12
    s = bt.summary().iloc[0]
    assert s["mase"] == pytest.approx(1.0)
    smape = np.mean(200 * 12 / (f["actual"] + f["mean"]))
    assert s["smape"] == pytest.approx(smape)
    assert bt.by_horizon["h"].tolist() == [1, 2, 3, 4, 5, 6]


def test_backtest_too_short_is_empty_and_unknown_method():
    bt = backtest(ser(np.arange(15) + 1.0), horizon=6)   # 15 - 6 = 9 < 10 training periods
    assert bt.summary().empty and "too short" in bt.headline()
    with pytest.raises(ValueError, match="unknown method"):
        backtest(ser(np.arange(40) + 1.0), methods=("prophet",))


@pytest.mark.parametrize("values,word", [([], "empty"), ([0.0] * 30, "zero"), ([7.0] * 30, "constant")])
def test_degenerate_series_have_a_stated_fallback(values, word):
    fc = forecast(ser(values), horizon=3)
    assert word in fc.reason
    if values:
        t = fc.table
        assert t["mean"].tolist() == [values[-1]] * 3 and (t["lower_95"] == t["upper_95"]).all()
    else:
        assert fc.table.empty and "mean" in fc.table


def test_short_series_fall_back_to_non_seasonal():
    rng = np.random.default_rng(0)
    fc = forecast(ser(100 + rng.normal(0, 5, 18)), horizon=6)
    assert "fewer than two seasons" in fc.reason and len(fc.table) == 6
    assert (fc.table["lower_95"] <= fc.table["mean"]).all() and (fc.table["mean"] <= fc.table["upper_95"]).all()
    tiny = forecast(ser([3.0, 4.0, 5.0]), horizon=2)
    assert tiny.method == "naive" and tiny.table["mean"].tolist() == [5.0, 5.0]


FACT = np.array([0.9, 0.75, 0.95, 1.0, 1.0, 0.95, 1.3, 1.3, 1.25, 0.95, 0.85, 0.8])


def test_known_pattern_and_trend_are_forecast():
    rng = np.random.default_rng(2)
    t = np.arange(84)
    truth = 1000 * 1.01 ** t * FACT[t % 12]
    y = ser(truth[:72] * np.exp(rng.normal(0, 0.02, 72)))
    for method in ("ets", "theta", "auto"):
        fc = forecast(y, horizon=12, method=method)
        err = np.abs(fc.table["mean"].to_numpy() / truth[72:] - 1)
        assert err.max() < 0.08, method
        tb = fc.table
        assert (tb["lower_80"] <= tb["mean"]).all() and (tb["upper_95"] >= tb["upper_80"]).all()
    assert fc.backtest is not None and "backtest" in fc.reason
    assert len(pd.concat([fc.table, fc.table])) == 24   # attrs stay comparable: frames of several series concat
    assert list(fc.table.columns) == ["period", "h", "mean", "lower_80", "upper_80", "lower_95", "upper_95"]


def test_a_short_seasonal_history_keeps_its_season():
    """Three years of a planted season (Q3 about +30%, February -25%) under 10% noise: at 36 points the
    autocorrelation test misses it, the month-effect test finds it, and auto's forecast keeps the season."""
    from salesops_kit.forecast.members import acf_seasonal, is_seasonal

    rng = np.random.default_rng(1)
    t = np.arange(48)
    truth = 1000 * 1.01 ** t * FACT[t % 12]
    y = truth[:36] * np.exp(rng.normal(0, 0.1, 36))
    assert not acf_seasonal(y, 12) and is_seasonal(y, 12)
    fc = forecast(ser(y), horizon=12)
    f = fc.table["mean"].to_numpy()
    q3, true_q3 = (v[6:9].mean() / np.r_[v[:6], v[9:]].mean() for v in (f, truth[36:]))
    assert q3 == pytest.approx(true_q3, rel=0.05)         # the planted Q3 uplift over the rest of the year
    assert f[1] < min(f[0], f[2])                         # the February dip
    assert np.mean(np.abs(f / truth[36:] - 1)) < 0.1
    assert fc.backtest is not None


def test_month_effect_test_is_seasonal_profiles():
    """The forecast decides seasonality with the test seasonal_profile reports (robust STL, Kruskal-Wallis)."""
    from salesops_kit.forecast import seasonal_profile
    from salesops_kit.forecast.members import month_effect_p

    rng = np.random.default_rng(4)
    t = np.arange(40)
    for v in (1000 * FACT[t % 12] * np.exp(rng.normal(0, 0.2, 40)), rng.normal(0, 1, 40)):   # positive; signed
        assert month_effect_p(v, 12) == pytest.approx(seasonal_profile(ser(v)).p_value, rel=1e-9)


def test_monthly_series_frame_input_ignores_incomplete_month():
    y = ser(1000 * FACT[np.arange(36) % 12])
    df = pd.DataFrame({"period": y.index.to_timestamp(), "value": y.to_numpy(), "complete": [True] * 35 + [False]})
    fc = forecast(df, horizon=2, method="seasonal_naive")
    assert fc.table["period"].iloc[0] == pd.Timestamp("2022-12-01")     # the flagged December is forecast, not used


def _real_series():
    df = pd.read_csv(REAL)
    out = {k: ser(g["value"].to_numpy(), start=g["month"].iloc[0]) for k, g in df.groupby("series")}
    from statsmodels.datasets import elec_equip

    ee = elec_equip.load_pandas().data.iloc[:, 0]
    out["statsmodels/elec_equip"] = pd.Series(ee.to_numpy(float), index=ee.index.to_period("M"))
    return out


def _scores(train, test, f):
    a, f = test, np.asarray(f)
    smape = np.mean(200 * np.abs(a - f) / (np.abs(a) + np.abs(f)))
    mase = np.mean(np.abs(a - f)) / np.mean(np.abs(train[12:] - train[:-12]))
    return smape, mase


@pytest.mark.slow
def test_auto_beats_theta_and_seasonal_naive_on_real_series():
    from statsmodels.tsa.forecasting.theta import ThetaModel

    h = 12
    rows = []
    for name, s in sorted(_real_series().items()):
        train, test = s.iloc[:-h], s.iloc[-h:].to_numpy()
        tr = train.to_numpy()
        theta = ThetaModel(pd.Series(tr, index=train.index.to_timestamp()), period=12).fit().forecast(h)
        snaive = np.tile(tr[-12:], 2)[:h]
        auto = forecast(train, horizon=h, method="auto").table["mean"]
        rows.append((name, *_scores(tr, test, auto), *_scores(tr, test, theta), *_scores(tr, test, snaive)))
    r = pd.DataFrame(rows, columns=["series", "auto_smape", "auto_mase", "theta_smape", "theta_mase",
                                    "snaive_smape", "snaive_mase"])
    assert len(r) == 44
    mean = r.mean(numeric_only=True)
    assert mean["auto_smape"] <= mean["theta_smape"] and mean["auto_mase"] <= mean["theta_mase"]
    assert mean["auto_mase"] <= 0.8 * mean["snaive_mase"] and mean["auto_smape"] <= 0.8 * mean["snaive_smape"]
    # not carried by a few series: auto beats seasonal naive (MASE) on most of them
    assert (r["auto_mase"] < r["snaive_mase"]).mean() >= 0.7


def test_a_member_that_cannot_be_fitted_is_dropped_and_named(monkeypatch):
    import salesops_kit.forecast.members as fm

    def broken(*a, **k):
        raise ValueError("boom")

    monkeypatch.setattr(fm, "_theta", broken)
    t = np.arange(48)
    y = ser(1000 * 1.01 ** t * FACT[t % 12])
    fc = forecast(y, horizon=6, method="auto")
    assert fc.method in ("combo", "ets", "arima") and "Dropped: theta (ValueError: boom)" in fc.reason
    assert np.isfinite(fc.table["mean"]).all()
    only = forecast(y, horizon=6, method="theta")
    assert only.method == "combo" and "theta could not be fitted" in only.reason


def test_missing_values_are_interpolated_and_scale_does_not_matter():
    t = np.arange(48)
    base = 1000 * 1.01 ** t * FACT[t % 12]
    holes = base.copy()
    holes[[5, 30]] = np.nan
    fc = forecast(ser(holes), horizon=3, method="ets")
    assert "2 missing value(s) interpolated" in fc.reason and np.isfinite(fc.table["mean"]).all()
    a = forecast(ser(base), horizon=3, method="combo").table["mean"].to_numpy()
    b = forecast(ser(base * 1e-6), horizon=3, method="combo").table["mean"].to_numpy()
    assert np.allclose(a * 1e-6, b, rtol=1e-3)


def test_combination_and_its_calibrated_bounds_by_hand():
    from salesops_kit.forecast.members import CALIBRATION, _Fc, summarise

    fcs = {"ets": _Fc(np.array([100.0, 110.0]), np.array([10.0, 20.0])),
           "theta": _Fc(np.array([90.0, 100.0]), np.array([6.0, 10.0])),
           "dotm": _Fc(np.array([110.0, 120.0]), np.array([8.0, 12.0])),
           "seasonal_naive": _Fc(np.array([1e6, 1e6]), np.array([1.0, 1.0]))}     # not a member of the combination
    s = summarise(fcs, "combo", (80, 95))
    # mean of 100, 90, 110 = 100 and of 110, 100, 120 = 110; average sd (10+6+8)/3 = 8 and (20+10+12)/3 = 14
    assert s["mean"].tolist() == [100.0, 110.0]
    c80, c95 = CALIBRATION["combo"][80], CALIBRATION["combo"][95]
    assert s["upper_80"] == pytest.approx([100 + c80[0] * 8, 110 + c80[1] * 14])
    assert s["lower_95"] == pytest.approx([100 - c95[0] * 8, 110 - c95[1] * 14])
    # one member: no combination; seasonal naive keeps its model (normal) interval
    with pytest.raises(KeyError):
        summarise({"ets": fcs["ets"]}, "combo", (80,))
    sn = summarise(fcs, "seasonal_naive", (80,))
    assert sn["upper_80"] == pytest.approx([1e6 + stats.norm.ppf(0.9)] * 2)


def test_an_exploding_member_fails_the_sanity_check(monkeypatch):
    import salesops_kit.forecast.members as fm

    def exploding(y, h, m, seasonal):
        return fm._Fc(np.full(h, 1e3 * np.max(y)), np.ones(h))

    monkeypatch.setattr(fm, "_dotm", exploding)
    t = np.arange(48)
    y = ser(1000 * 1.01 ** t * FACT[t % 12])
    fc = forecast(y, horizon=6, method="combo")
    assert fc.method == "combo" and "dotm (forecast exceeds ten times" in fc.reason
    assert fc.table["mean"].max() < 3 * y.max()           # the combination of the two sane members
