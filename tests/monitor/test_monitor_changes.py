"""Change tests (stats monitoring block), period-over-period / year-over-year changes and targets on
tiny inputs whose answers are worked out by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from salesops_kit import monitor
from salesops_kit.stats import (
    bootstrap_diff,
    nps_change_test,
    nps_interval,
    poisson_rate_test,
    rate_change_test,
    sum_change_test,
)

# ---- change tests ----------------------------------------------------------------------------------


def test_rate_change_test_by_hand():
    # 30/100 vs 45/100: pooled p = 0.375, se = sqrt(0.375 * 0.625 * (1/100 + 1/100)) = 0.068465,
    # z = -0.15 / 0.068465 = -2.1909, two-sided p = 0.02846
    r = rate_change_test(30, 100, 45, 100)
    assert r["change"] == pytest.approx(-0.15)
    assert r["p_value"] == pytest.approx(2 * st.norm.sf(0.15 / np.sqrt(0.375 * 0.625 * 0.02)), rel=1e-6)
    assert r["ci_low"] < -0.15 < r["ci_high"] < 0
    assert "chi-square" in r["test"]
    # small counts -> Fisher exact (scipy)
    r = rate_change_test(1, 4, 4, 4)
    assert r["test"].endswith("Fisher exact")
    assert r["p_value"] == pytest.approx(st.fisher_exact([[1, 3], [4, 0]]).pvalue)
    # no trials -> NaN, nothing raised
    assert np.isnan(rate_change_test(0, 0, 3, 10)["p_value"])


def test_poisson_rate_test_by_hand():
    # 10 vs 20 events over equal exposure: given 30 events, X ~ Binomial(30, 0.5);
    # p = 2 P(X <= 10) = 0.09874; rate ratio 0.5
    r = poisson_rate_test(10, 30, 20, 30)
    assert r["ratio"] == pytest.approx(0.5)
    assert r["p_value"] == pytest.approx(2 * st.binom.cdf(10, 30, 0.5), rel=1e-9)
    assert r["ratio_low"] < 0.5 < r["ratio_high"]
    # unequal exposure: 28 days vs 31 days, same daily rate -> p = 1-ish
    r = poisson_rate_test(28, 28, 31, 31)
    assert r["p_value"] == pytest.approx(1.0)
    assert poisson_rate_test(0, 30, 0, 30)["p_value"] == 1.0


def test_bootstrap_diff_by_hand():
    # constant samples: every resampled difference is exactly -2 -> interval (-2, -2), p at its floor
    r = bootstrap_diff([1, 1, 1], [3, 3, 3], n_boot=1000)
    assert (r["change"], r["ci_low"], r["ci_high"]) == (-2.0, -2.0, -2.0)
    assert r["p_value"] == pytest.approx(1 / 1000)
    # identical samples: every difference is 0 -> p = 1
    assert bootstrap_diff([1, 2, 3], [1, 2, 3], n_boot=500)["p_value"] == 1.0
    # median: 2 vs 5
    assert bootstrap_diff([1, 2, 3], [4, 5, 6], statistic="median")["change"] == -3.0
    assert np.isnan(bootstrap_diff([], [1, 2])["p_value"])
    # deterministic with the seed
    assert bootstrap_diff([1, 5, 2, 8], [3, 3, 9, 1]) == bootstrap_diff([1, 5, 2, 8], [3, 3, 9, 1])


def test_sum_change_test_by_hand():
    # totals 7 vs 0: Var = 3^2 + 4^2 = 25, z = 7 / 5 = 1.4, p = 0.1615; CI 7 ± 1.96 * 5
    r = sum_change_test([3, 4], [0])
    assert r["change"] == 7
    assert r["p_value"] == pytest.approx(2 * st.norm.sf(1.4))
    assert r["ci_low"] == pytest.approx(7 - st.norm.ppf(0.975) * 5)


def test_nps_interval_and_change_by_hand():
    # 50 promoters, 20 detractors of 100: NPS 0.3, Var = (0.5 + 0.2 - 0.09) / 100 = 0.0061
    v, lo, hi = nps_interval(50, 20, 100)
    assert v == pytest.approx(0.3)
    assert hi - v == pytest.approx(st.norm.ppf(0.975) * np.sqrt(0.0061))
    # vs 40 / 30 of 100 (NPS 0.1, Var 0.0069): z = 0.2 / sqrt(0.013) = 1.754
    r = nps_change_test(50, 20, 100, 40, 30, 100)
    assert r["change"] == pytest.approx(0.2)
    assert r["p_value"] == pytest.approx(2 * st.norm.sf(0.2 / np.sqrt(0.013)))
    v, lo, hi = nps_interval([0], [0], [0])
    assert np.isnan(v[0])


# ---- changes on a tiny series --------------------------------------------------------------------


def _series():
    """Win rate: 2024-11 45/100, 2025-10 45/100, 2025-11 30/100; deals won counts; a partial December."""
    rows = []
    for p, k, n, part in (("2024-11-01", 45, 100, False), ("2025-10-01", 45, 100, False),
                          ("2025-11-01", 30, 100, False), ("2025-12-01", 5, 20, True)):
        rows.append({"kpi": "win_rate", "kind": "rate", "segment": "all", "period": pd.Timestamp(p),
                     "partial": part, "low_volume": False, "n": float(n), "successes": float(k), "value": k / n,
                     "days": 30.0, "detractors": np.nan, "total": np.nan, "values": None})
        rows.append({"kpi": "deals_won", "kind": "count", "segment": "all", "period": pd.Timestamp(p),
                     "partial": part, "low_volume": False, "n": float(k), "successes": np.nan, "value": float(k),
                     "days": 30.0, "detractors": np.nan, "total": np.nan, "values": None})
    return pd.DataFrame(rows)


def test_changes_pop_and_yoy_by_hand():
    ch = monitor.changes(_series(), review="2025-11", period="M")
    wr = ch[ch["kpi"] == "win_rate"].set_index("comparison")
    # both comparisons are 30/100 vs 45/100 (hand p = 0.02846, see above)
    for comp in ("pop", "yoy"):
        assert wr.loc[comp, "change"] == pytest.approx(-0.15)
        assert wr.loc[comp, "p_value"] == pytest.approx(0.028459, abs=1e-5)
    assert wr.loc["yoy", "base_period"] == pd.Timestamp("2024-11-01")
    dw = ch[ch["kpi"] == "deals_won"].set_index("comparison")
    assert dw.loc["pop", "change"] == -15
    assert dw.loc["pop", "p_value"] == pytest.approx(2 * st.binom.cdf(30, 75, 0.5))
    # sentence: "win rate fell from 45.0% to 30.0% (...)"
    s = monitor.change_sentence(wr.loc["pop"].rename(None).to_frame().T.itertuples(index=False).__next__(),
                                monitor.KPI_SPECS["win_rate"])
    assert s.startswith("win rate fell from 45.0% to 30.0%")


def test_changes_partial_and_missing_say_so():
    ch = monitor.changes(_series(), review="2025-12", period="M")
    assert ch[ch["comparison"] == "pop"]["note"].str.startswith("partial period").all()
    assert (ch[ch["comparison"] == "yoy"]["note"] == "no data for the comparison period").all()
    assert ch["p_value"].isna().all()
    ch = monitor.changes(_series(), review="2025-10", period="M")
    yoy = ch[(ch["kpi"] == "win_rate") & (ch["comparison"] == "yoy")].iloc[0]
    assert yoy["note"] == "no data for the comparison period"
    assert len(monitor.changes(pd.DataFrame(), review="2025-11")) == 0


# ---- targets ---------------------------------------------------------------------------------------


def test_attainment_and_run_rate_by_hand():
    s = _series()
    t = pd.DataFrame({"kpi": ["deals_won", "deals_won", "win_rate"], "segment": "all",
                      "period": ["2025-11", "2025-12", "2025-11"], "target": [40.0, 40.0, 0.25],
                      "source": "test"})
    s.loc[s["period"] == pd.Timestamp("2025-12-01"), "days"] = 15.0
    s["period_end"] = s["period"] + pd.offsets.MonthEnd(0)
    a = monitor.attainment(s, t, period="M").set_index(["kpi", "period"])
    # November: 30 won vs 40 -> 75%, missed; win rate 0.30 vs 0.25 -> 120%, met
    assert a.loc[("deals_won", pd.Timestamp("2025-11-01")), "attainment"] == pytest.approx(0.75)
    assert a.loc[("deals_won", pd.Timestamp("2025-11-01")), "status"] == "missed"
    assert a.loc[("win_rate", pd.Timestamp("2025-11-01")), "status"] == "met"
    # December is partial: 5 won in 15 of 31 days -> run rate 5 * 31 / 15 = 10.33 -> 26% of 40, behind
    dec = a.loc[("deals_won", pd.Timestamp("2025-12-01"))]
    assert dec["projected"] == pytest.approx(5 * 31 / 15)
    assert dec["status"] == "behind"
    assert len(monitor.attainment(s, None)) == 0


def test_targets_from_quotas_by_hand():
    q = pd.DataFrame({"owner": ["Ann", "Ben", "Ann"],
                      "period_start": pd.to_datetime(["2025-01-01"] * 2 + ["2025-02-01"]),
                      "quota": [100.0, 50.0, 280.0],
                      "period_end": pd.to_datetime(["2025-01-31", "2025-01-31", "2025-03-31"])})
    teams = pd.DataFrame({"owner": ["Ann", "Ben"], "team": ["T1", "T1"]})
    t = monitor.targets_from_quotas(q, owner_team=teams).set_index(["segment", "period"])["target"]
    assert t[("owner=Ann", "2025-01")] == 100 and t[("team=T1", "2025-01")] == 150 and t[("all", "2025-01")] == 150
    # a Feb-Mar quota of 280 spread by days: 28 of 59 days in February
    assert t[("owner=Ann", "2025-02")] == pytest.approx(280 * 28 / 59)


def test_read_targets_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="kpi, segment, period, target"):
        monitor.read_targets(tmp_path / "nope.csv")
    p = tmp_path / "targets.csv"
    p.write_text("kpi,segment,target\nwin_rate,all,0.3\n")
    with pytest.raises(ValueError, match="period"):
        monitor.read_targets(p)
    p.write_text("kpi,segment,period,target\nwin_rate,all,2025-11,0.3\n")
    assert monitor.read_targets(p)["target"].tolist() == [0.3]


def test_inputs_not_mutated():
    s = _series()
    before = s.copy()
    monitor.changes(s, review="2025-11")
    pd.testing.assert_frame_equal(s, before)
