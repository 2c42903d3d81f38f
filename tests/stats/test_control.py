"""Control limits and alerts (salesops_kit.stats.control): hand-computed limits, false-alarm rate near
nominal on in-control series, planted shifts caught within a stated number of periods."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from salesops_kit.stats import bh_adjust
from salesops_kit.stats import control as c

# ---- hand-computable limits ------------------------------------------------------------------------


def test_p_chart_limits_by_hand():
    # p̄ = 0.2, n = 100: se = sqrt(0.2 * 0.8 / 100) = 0.04 -> 0.2 ± 3 * 0.04 = (0.08, 0.32)
    lo, hi = c.p_chart_limits(0.2, 100)
    assert lo == pytest.approx(0.08) and hi == pytest.approx(0.32)
    # clipped at 0 for small n: se = 0.4 / sqrt(4) ... 0.2 - 3 * 0.2 < 0
    lo, hi = c.p_chart_limits(0.2, 4)
    assert lo == 0 and hi == pytest.approx(0.8)
    lo, hi = c.p_chart_limits([0.2], [0])
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def test_u_chart_limits_by_hand():
    # ū = 2 events/day, e = 50 days: se = sqrt(2 / 50) = 0.2 -> (1.4, 2.6)
    lo, hi = c.u_chart_limits(2.0, 50)
    assert lo == pytest.approx(1.4) and hi == pytest.approx(2.6)
    lo, _ = c.u_chart_limits(0.1, 1)
    assert lo == 0


def test_ewma_and_its_limits_by_hand():
    # λ = 0.5 from 0: 0.5, 0.5*2 + 0.5*0.5 = 1.25, 0.5*3 + 0.5*1.25 = 2.125; NaN carries forward
    assert c.ewma([1, 2, 3], lam=0.5, start=0).tolist() == [0.5, 1.25, 2.125]
    assert c.ewma([1, np.nan, 3], lam=0.5, start=0).tolist() == [0.5, 0.5, 1.75]
    # j = 1, λ = 0.5: σ_E = 2 * sqrt(0.5/1.5 * (1 - 0.25)) = 2 * 0.5 = 1 -> 10 ± 3
    lo, hi = c.ewma_limits(10, 2, 1, lam=0.5, z=3)
    assert lo == pytest.approx(7) and hi == pytest.approx(13)
    # asymptotic: 2 * sqrt(1/3) * 3
    lo, hi = c.ewma_limits(10, 2, 1000, lam=0.5, z=3)
    assert hi - 10 == pytest.approx(6 / np.sqrt(3))


def test_laney_sigma_z_by_hand():
    # moving ranges |1.128 - 0| and |0 - 1.128| -> mean 1.128 -> σ_z = 1
    assert c.laney_sigma_z([0, 1.128, 0]) == pytest.approx(1.0)
    assert c.laney_sigma_z([np.nan, 2.0]) != c.laney_sigma_z([np.nan, 2.0])  # NaN: one value only


def test_rate_chart_by_hand():
    # six baseline months of 20/100, then 8/100: centre 0.2, se 0.04, z = (0.08 - 0.2) / 0.04 = -3;
    # identical baseline points -> Laney moving range 0 -> factor floored at 1
    k = np.array([[20, 20, 20, 20, 20, 20, 8]])
    n = np.full((1, 7), 100)
    r = c.rate_chart(k, n, np.ones((1, 7), bool), min_baseline=6, exact=False)
    assert r["center"][0, 6] == pytest.approx(0.2)
    assert r["sigma"][0, 6] == pytest.approx(0.04)
    assert r["z"][0, 6] == pytest.approx(-3.0)
    assert r["testable"][0].tolist() == [False] * 6 + [True]  # baseline too short before
    # exact (default): two-sided tail 2 P(X <= 8 | n = 100, p = 0.2) as a normal-equivalent z
    r = c.rate_chart(k, n, np.ones((1, 7), bool), min_baseline=6)
    assert r["z"][0, 6] == pytest.approx(-st.norm.isf(st.binom.cdf(8, 100, 0.2)))


def test_rate_chart_low_volume_and_ineligible():
    # expected failures n(1 - p̄) = 10 * 0.2 = 2 < 5: low volume, never testable
    k = np.array([[8] * 7])
    n = np.array([[10] * 7])
    r = c.rate_chart(k, n, np.ones((1, 7), bool), min_baseline=6)
    assert r["low_volume"][0, 6] and not r["testable"][0, 6]
    # a partial (ineligible) period is drawn but not judged and not in the baseline
    k = np.array([[20] * 6 + [0, 20]])
    n = np.array([[100] * 8])
    elig = np.array([[True] * 6 + [False, True]])
    r = c.rate_chart(k, n, elig, min_baseline=6)
    assert not r["testable"][0, 6] and r["center"][0, 7] == pytest.approx(0.2)


def test_out_of_control_point_leaves_the_baseline():
    # month 7 at 0/100 is far out (z = -5); month 8's centre is still 0.2, not pulled down
    k = np.array([[20] * 6 + [0, 20]])
    n = np.full((1, 8), 100)
    r = c.rate_chart(k, n, np.ones((1, 8), bool), min_baseline=6, exact=False)
    assert r["z"][0, 6] == pytest.approx(-5.0)
    assert r["center"][0, 7] == pytest.approx(0.2)
    assert r["factor"][0, 7] == pytest.approx(1.0)


def test_count_chart_by_hand():
    # six months of 60 events in 30 days (ū = 2/day), then 30 in 30 days: z = (1 - 2) / sqrt(2/30)
    cnt = np.array([[60] * 6 + [30]])
    days = np.full((1, 7), 30.0)
    r = c.count_chart(cnt, days, np.ones((1, 7), bool), min_baseline=6, exact=False)
    assert r["center"][0, 6] == pytest.approx(2.0)
    assert r["z"][0, 6] == pytest.approx(-1 / np.sqrt(2 / 30))
    # exact: 2 P(X <= 30 | Poisson(60))
    r = c.count_chart(cnt, days, np.ones((1, 7), bool), min_baseline=6)
    assert r["z"][0, 6] == pytest.approx(-st.norm.isf(st.poisson.cdf(30, 60)))


def test_mean_chart_by_hand():
    # six months of mean 4.0 (n = 10, variance 1): pooled variance 1; a month of mean 3.0 from 25
    # answers: sigma = sqrt(1 / 25) = 0.2, z = -5
    x = np.array([[4.0] * 6 + [3.0]])
    n = np.array([[10] * 6 + [25]])
    v = np.ones((1, 7))
    r = c.mean_chart(x, n, v, np.ones((1, 7), bool), min_baseline=6)
    assert r["center"][0, 6] == pytest.approx(4.0)
    assert r["sigma"][0, 6] == pytest.approx(0.2)
    assert r["z"][0, 6] == pytest.approx(-5.0)


def test_ewma_chart_by_hand():
    # baseline 9, 11, 9, 11, 9, 11: μ = 10, moving ranges 2 -> σ = 2 / 1.128; the EWMA starts at μ and
    # takes 20: E = 0.3 * 20 + 0.7 * 10 = 13 after j = 1 update: σ_E = σ sqrt(0.3/1.7 * (1 - 0.7^2))
    x = np.array([[9, 11, 9, 11, 9, 11, 20.0]])
    r = c.ewma_chart(x, np.ones((1, 7), bool), lam=0.3, min_baseline=6, gap=0)
    sigma = 2 / 1.128
    se = sigma * np.sqrt(0.3 / 1.7 * (1 - 0.49))
    assert r["center"][0, 6] == pytest.approx(10)
    assert r["stat"][0, 6] == pytest.approx(13)
    assert r["sigma"][0, 6] == pytest.approx(se)
    assert r["z"][0, 6] == pytest.approx(3 / se)


def _limits_frame(p_values, center=0.0, sigma=1.0):
    m = len(p_values)
    return pd.DataFrame({"kpi": "x", "kind": "mean", "segment": [f"s{i}" for i in range(m)],
                         "period": pd.Timestamp("2025-01-01"), "partial": False, "chart": "xbar",
                         "value": 0.0, "stat": 0.0, "center": center, "sigma": sigma,
                         "z": st.norm.isf(np.asarray(p_values) / 2), "df": np.inf, "p_value": p_values,
                         "testable": True, "reason": ""})


def test_flag_alerts_bh_by_hand():
    # p = 0.001, 0.02, 0.5 (m = 3): BH q = 0.003, 0.03, 0.5 -> two alerts at alpha 0.05; the drawn
    # limits use the largest rejected p (0.02): z* = 2.326, so the limits are 0 ± 2.326
    f = c.flag_alerts(_limits_frame([0.001, 0.02, 0.5]), alpha=0.05)
    assert f["q_value"].round(6).tolist() == [0.003, 0.03, 0.5]
    assert f["alert"].tolist() == [True, True, False]
    assert f["ucl"].iloc[0] == pytest.approx(st.norm.isf(0.01))
    # Bonferroni: 0.02 * 3 = 0.06 > 0.05 -> one alert; limits at alpha / m
    f = c.flag_alerts(_limits_frame([0.001, 0.02, 0.5]), alpha=0.05, method="bonferroni")
    assert f["alert"].tolist() == [True, False, False]
    assert f["ucl"].iloc[0] == pytest.approx(st.norm.isf(0.05 / 3 / 2))
    # a judged point is an alert exactly when it lies outside the drawn limits
    inside = (f["z"] * f["sigma"] + f["center"]).between(f["lcl"], f["ucl"])
    assert (inside == ~f["alert"]).all()


def test_flag_alerts_window_and_errors():
    f = _limits_frame([0.001, 0.001])
    f.loc[1, "period"] = pd.Timestamp("2024-01-01")
    out = c.flag_alerts(f, periods=[pd.Timestamp("2025-01-01")])
    assert out["alert"].tolist() == [True, False] and out["in_window"].tolist() == [True, False]
    with pytest.raises(ValueError, match="bonferroni"):
        c.flag_alerts(f, method="holm")


def test_control_limits_empty_and_short():
    assert len(c.control_limits(pd.DataFrame())) == 0
    s = pd.DataFrame({"kpi": "win_rate", "kind": "rate", "segment": "all", "period": pd.Timestamp("2025-01-01"),
                      "partial": False, "value": 0.5, "n": 10.0, "successes": 5.0, "days": 31.0}, index=[0])
    lim = c.control_limits(s)
    assert len(lim) == 1 and not lim["testable"].any() and lim["reason"].iloc[0] == "baseline too short"


# ---- false alarms and detection (simulation, vectorised) ---------------------------------------------


def test_p_chart_false_alarm_rate_near_nominal():
    rng = np.random.default_rng(7)
    n = np.full((300, 48), 200)
    k = rng.binomial(n, 0.3)
    r = c.rate_chart(k, n, np.ones_like(n, bool))
    t = r["testable"]
    rate = (np.abs(r["z"][t]) > 3).mean()
    # nominal two-sided 3-sigma rate 0.0027; estimated baselines and the Laney floor keep it near that
    assert 0.0005 < rate < 0.006


def test_u_and_ewma_false_alarm_rates_at_most_nominal():
    rng = np.random.default_rng(8)
    cnt = rng.poisson(90, (300, 48))
    r = c.count_chart(cnt, np.full((300, 48), 30.0), np.ones((300, 48), bool))
    assert (np.abs(r["z"][r["testable"]]) > 3).mean() < 0.006
    x = rng.normal(10, 1, (300, 48))
    e = c.ewma_chart(x, np.ones_like(x, bool))
    p = 2 * st.t.sf(np.abs(e["z"]), e["df"])
    t = e["testable"]
    assert (p[t] < 0.0027).mean() < 0.006
    assert 0.01 < (p[t] < 0.05).mean() < 0.07


def test_review_false_alarm_rate_with_bh_across_series():
    # 200 simulated reviews of 20 in-control rate series x 36 months; alerts judged on the last 12
    # months of all 20 series together with BH at 5%: the share of reviews with any alert stays
    # near the nominal 5% (under the global null BH controls the family-wise rate; measured 4% with
    # this seed using exact binomial tails)
    rng = np.random.default_rng(9)
    R, S, T = 200, 20, 36
    n = rng.integers(60, 200, size=(R * S, T))
    k = rng.binomial(n, 0.25)
    r = c.rate_chart(k, n, np.ones_like(n, bool))
    p = np.where(r["testable"], 2 * st.norm.sf(np.abs(r["z"])), np.nan)[:, -12:].reshape(R, S * 12)
    any_alert = [bool((bh_adjust(row[~np.isnan(row)]) <= 0.05).any()) for row in p]
    assert np.mean(any_alert) < 0.08


def test_planted_rate_shift_caught_within_two_periods():
    # win rate drops from 30% to 18% at month 36 (200 closed deals a month): |z| ≈ 3.7, so the
    # 3-sigma p-chart flags it within 2 periods in at least 75% of 300 runs (measured 84%; 72% in
    # the first period)
    rng = np.random.default_rng(10)
    n = np.full((300, 40), 200)
    p = np.where(np.arange(40) >= 36, 0.18, 0.30)
    k = rng.binomial(n, p)
    r = c.rate_chart(k, n, np.ones_like(n, bool))
    hit = (r["z"][:, 36:38] < -3).any(axis=1)
    assert hit.mean() >= 0.75


def test_planted_mean_shift_caught_by_ewma_within_four_periods():
    # a sustained 3-sigma drop in a continuous KPI: the EWMA (λ = 0.3, baseline estimated from 12
    # periods) crosses its limit at the 3-sigma rate (p < 0.0027 on the t reference) within 4 periods
    # in at least 70% of runs (measured 78%; a 2-sigma drop: 34% within 4 — the EWMA is the slow,
    # cautious chart, used only for KPIs without a known sampling variance)
    rng = np.random.default_rng(11)
    x = rng.normal(10, 1, (300, 42))
    x[:, 36:] -= 3
    e = c.ewma_chart(x, np.ones_like(x, bool))
    p = 2 * st.t.sf(np.abs(e["z"]), e["df"])
    hit = ((p[:, 36:40] < 0.0027) & (e["z"][:, 36:40] < 0)).any(axis=1)
    assert hit.mean() >= 0.7


def test_total_chart_by_hand():
    # six periods of total 100 over 10 days (sum of squared amounts 2000): centre 10/day,
    # q = 2000 / 10 = 200 per day; a period of 40 over 10 days: sigma = sqrt(200 / 10), z = (4 - 10) / sigma
    tot = np.array([[100.0] * 6 + [40.0]])
    sq = np.array([[2000.0] * 7])
    days = np.full((1, 7), 10.0)
    r = c.total_chart(tot, sq, days, np.ones((1, 7), bool), min_baseline=6)
    assert r["center"][0, 6] == pytest.approx(10.0)
    assert r["sigma"][0, 6] == pytest.approx(np.sqrt(20.0))
    assert r["z"][0, 6] == pytest.approx(-6 / np.sqrt(20.0))
    # with 3 deals a period expected (< 10), the total is low volume: drawn, not judged
    r = c.total_chart(tot, sq, days, np.ones((1, 7), bool), counts=np.full((1, 7), 3.0), min_baseline=6)
    assert r["low_volume"][0, 6] and not r["testable"][0, 6]


def test_log_scale_ewma_limits_are_multiplicative():
    # a right-skewed KPI charted on the log scale: limits are centre x exp(± z* sigma)
    periods = pd.date_range("2024-01-01", periods=20, freq="MS")
    rng = np.random.default_rng(3)
    v = np.exp(rng.normal(1.5, 0.2, 20))
    s = pd.DataFrame({"kpi": "first_response_median_hours", "kind": "median", "segment": "all", "period": periods,
                      "partial": False, "value": v, "n": 50.0, "days": 30.0})
    lim = c.flag_alerts(c.control_limits(s, log_kpis={"first_response_median_hours"}))
    j = lim["testable"].to_numpy().nonzero()[0][0]
    row = lim.iloc[j]
    assert row["log"] and row["lcl"] * row["ucl"] == pytest.approx(row["center"] ** 2)
