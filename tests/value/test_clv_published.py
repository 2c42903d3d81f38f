"""Published figures on real data (REFERENCES.md), computed through the kit's own functions.

Data: data/external/cdnow (Fader, Hardie & Lee 2005; lifetimes 0.11.3 datasets) and
data/external/retention_sbg (Fader & Hardie 2007). Tolerances are stated next to each assertion.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops_kit.value import clv

EXT = Path(__file__).resolve().parents[2] / "data" / "external"


@pytest.fixture(scope="module")
def summary():
    return pd.read_csv(EXT / "cdnow" / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def with_tx():
    return pd.read_csv(EXT / "cdnow" / "cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def bg(summary):
    return clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])


@pytest.fixture(scope="module")
def gg(with_tx):
    rep = with_tx[with_tx["x"] > 0]
    return clv.fit_gamma_gamma(rep["x"], rep["zbar"])


def test_bgnbd_parameters_and_loglik_match_fader_hardie_lee(bg):
    # FHL (2005) / CLVTools: r=0.2426, alpha=4.4136, a=0.7929, b=2.4259, LL=-9582.429.
    # Tolerance: 1e-4 relative on each parameter (the published 4-decimal precision);
    # LL within 0.005 (our optimum is -9582.4256, 0.0034 *above* the published value: the
    # summary file's recency/T are rounded to 2 decimals, Hardie's spreadsheet used unrounded days/7).
    assert bg.converged
    pub = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
    for k, v in pub.items():
        assert bg.params[k] == pytest.approx(v, rel=1e-4), k
    assert bg.log_likelihood == pytest.approx(-9582.429, abs=0.005)
    assert bg.n_obs == 2357


def test_bgnbd_standard_errors_and_summary(bg):
    s = bg.summary()
    assert list(s["param"]) == ["r", "alpha", "a", "b"]
    assert (s["std_error"] > 0).all()
    assert (s["ci_low"] < s["estimate"]).all() and (s["estimate"] < s["ci_high"]).all()
    # r is tightly identified on 2,357 customers (SE ~0.0126), b much less (SE ~0.7)
    assert s.set_index("param").loc["r", "std_error"] < 0.02 < s.set_index("param").loc["b", "std_error"]


def test_bgnbd_expected_purchases_hardie_spreadsheet(bg):
    # Hardie's spreadsheet values; lifetimes tests the same with decimal=3 (abs 1.5e-3); we use abs 1e-3.
    t = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    np.testing.assert_allclose(bg.expected_purchases(t), expected, atol=1e-3)


def test_bgnbd_conditional_expectation_1226(bg):
    # x=2, t_x=30.43, T=38.86, t=39 -> 1.226 (Hardie), to the 3 published decimals.
    assert float(bg.conditional_expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)


def test_p_alive_bounds_and_zero_repeaters(bg, summary):
    p = bg.p_alive(summary["frequency"], summary["recency"], summary["T"])
    assert np.all((p > 0) & (p <= 1))
    assert np.all(p[summary["frequency"].to_numpy() == 0] == 1.0)


def test_gamma_gamma_matches_note_025(gg):
    # Fader & Hardie note 025 / CLVTools: p=6.25, q=3.74, gamma=15.44, LL ~ -4055.92, on 946 repeaters.
    # Published to 2 decimals; tolerance 0.01 absolute (lifetimes prints gamma 15.45, CLVTools 15.44:
    # the optimum is 15.4477).
    assert gg.converged and gg.n_obs == 946
    assert gg.params["p"] == pytest.approx(6.25, abs=0.01)
    assert gg.params["q"] == pytest.approx(3.74, abs=0.01)
    assert gg.params["gamma"] == pytest.approx(15.44, abs=0.01)
    assert gg.log_likelihood == pytest.approx(-4055.92, abs=0.01)


def test_gamma_gamma_first_ten_conditional_spends(gg, with_tx):
    # Hardie's spreadsheet, 2 decimals; tolerance 0.01 absolute (first value is 24.6586 vs 24.65 published;
    # lifetimes' own test uses atol 0.1).
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    got = gg.conditional_expected_spend(with_tx["x"], with_tx["zbar"])[:10]
    np.testing.assert_allclose(got, expected, atol=0.01)


def test_clv_reproduces_lifetimes_documented_values(with_tx, gg):
    # lifetimes docs: ggf.customer_lifetime_value(bgf, ..., time=12, discount_rate=0.01) -> 140.096218,
    # 18.943466, 38.180575, ... The documented call leaves lifetimes' default freq="D" while the CDNOW
    # summary is in weeks, i.e. one "month" = 30 of the data's time units; freq="D" reproduces that.
    bgf = clv.fit_bgnbd(with_tx["x"], with_tx["t_x"], with_tx["T"])
    got = clv.customer_lifetime_value(bgf, gg, with_tx["x"], with_tx["t_x"], with_tx["T"], with_tx["zbar"],
                                      months=12, monthly_discount_rate=0.01, freq="D")
    expected = [140.10, 18.94, 38.18, 38.18, 38.18, 1003.87, 28.11, 38.18, 167.42, 38.18]
    np.testing.assert_allclose(got[:10], expected, atol=0.006)  # 2 published decimals
    # with the data's real unit (weeks, 4.345 per month) the same customers are worth much less
    weekly = clv.customer_lifetime_value(bgf, gg, with_tx["x"], with_tx["t_x"], with_tx["T"], with_tx["zbar"],
                                         months=12, monthly_discount_rate=0.01, freq="W")
    assert np.all(weekly[:10] < got[:10])


def test_spend_frequency_correlation_is_weak_on_cdnow(with_tx):
    # lifetimes docs report corr(frequency, monetary_value) = 0.113884 among repeaters.
    c = clv.spend_frequency_correlation(with_tx["x"], with_tx["zbar"]).set_index("method")
    assert c.loc["pearson", "n"] == 946
    assert c.loc["pearson", "correlation"] == pytest.approx(0.113884, abs=1e-6)


@pytest.fixture(scope="module")
def raw_sample():
    s = pd.read_csv(EXT / "cdnow" / "CDNOW_sample.txt", sep=r"\s+", header=None,
                    names=["master_id", "sample_id", "date", "cds", "amount"])
    return pd.DataFrame({"customer_id": s["sample_id"].astype(str),
                         "order_date": pd.to_datetime(s["date"].astype(str), format="%Y%m%d"),
                         "amount": s["amount"]})


@pytest.fixture(scope="module")
def rfm_holdout(raw_sample):
    from salesops_kit.value import customers

    return customers.rfm_summary(raw_sample, calibration_end="1997-09-30", holdout_end="1998-06-30", freq="W")


def test_rfm_summary_rederives_the_shipped_summary(rfm_holdout, summary):
    # With one transaction per customer-day and days/7, the re-derived frequency matches the shipped
    # summary for every customer (REFERENCES.md warns of ~93% under other conventions); recency and T
    # match to the summary's 2-decimal rounding.
    m = summary.assign(customer_id=summary["ID"].astype(str)).merge(rfm_holdout, on="customer_id",
                                                                    suffixes=("_pub", ""))
    assert len(m) == 2357
    assert (m["frequency_pub"] == m["frequency"]).mean() == 1.0
    assert np.abs(m["recency_pub"] - m["recency"]).max() <= 0.005
    assert np.abs(m["T_pub"] - m["T"]).max() <= 0.005
    assert (rfm_holdout["duration_holdout"] == 39.0).all()  # 273 days / 7


def test_bgnbd_on_rederived_summary_matches_published(rfm_holdout):
    f = clv.fit_bgnbd(rfm_holdout["frequency"], rfm_holdout["recency"], rfm_holdout["T"])
    for k, v in {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}.items():
        assert f.params[k] == pytest.approx(v, rel=1e-4), k


def test_zero_repeater_holdout_mean(bg, rfm_holdout, summary):
    # FHL (2005): the 1,411 customers with no repeat purchase in calibration made 0.237 transactions
    # on average in the 39-week holdout; BG/NBD predicts 0.23. Holdout counts come from the raw
    # transactions (1997-10-01..1998-06-30), calibration (x, t_x, T) from the shipped summary.
    m = summary.assign(customer_id=summary["ID"].astype(str)).merge(
        rfm_holdout[["customer_id", "frequency_holdout", "duration_holdout"]], on="customer_id")
    h = clv.holdout_validation(bg, m)
    zero = h.bins.set_index("frequency_bin").loc["0"]
    assert zero["customers"] == 1411
    assert zero["actual_mean"] == pytest.approx(0.237, abs=5e-4)   # 3 published decimals
    assert zero["predicted_mean"] == pytest.approx(0.23, abs=0.005)  # 2 published decimals (0.2251)
    # the whole-sample holdout error is recorded in numbers, not only a chart
    assert 0 < h.mae < 1.0 and h.total_actual == m["frequency_holdout"].sum()


def test_sbg_fader_hardie_2007():
    # Fader & Hardie (2007), fit on years 1-7: high end alpha=0.668, beta=3.806; regular alpha=0.704,
    # beta=1.182 (3 published decimals; tolerance 5e-4 absolute).
    from salesops_kit.value import sbg

    d = pd.read_csv(EXT / "retention_sbg" / "fader_hardie_2007_survival.csv")
    pub = {"high_end": (0.668, 3.806), "regular": (0.704, 1.182)}
    for seg, (a, b) in pub.items():
        f = sbg.fit_sbg(d[seg], periods=7)
        assert f.converged
        assert f.params["alpha"] == pytest.approx(a, abs=5e-4), seg
        assert f.params["beta"] == pytest.approx(b, abs=5e-4), seg
        # the projection for years 8-12 (not fitted) stays within 5% of the observed survivors
        p = f.project(12, initial=1000, observed=d[seg])
        tail = p[p["period"] >= 8]
        assert np.all(np.abs(tail["expected_survivors"] / tail["observed"] - 1) < 0.05), seg


# --- the model checks' thresholds (issue 15): set on these published data, where the models are the reference fit,
# never on the sample the notebook reports on. The published data must pass; each threshold is stated in the kit.


def test_bgnbd_holdout_check_passes_on_cdnow(rfm_holdout):
    # Calibrated to 1997-09-30 and checked on the 39 weeks after: 1,653 predicted vs 1,882 actual (-12%), inside
    # the 15% tolerance that was chosen from this figure.
    f = clv.fit_bgnbd(rfm_holdout["frequency"], rfm_holdout["recency"], rfm_holdout["T"])
    h = clv.holdout_validation(f, rfm_holdout)
    assert h.total_actual == 1882 and h.relative_error == pytest.approx(-0.121, abs=0.002)
    assert h.tolerance == clv.BGNBD_HOLDOUT_TOLERANCE and h.passed
    assert "passed" in h.headline()


def test_gamma_gamma_independence_holds_on_cdnow_although_significant(with_tx):
    # Note 025 fits Gamma-Gamma on these 946 repeaters; their Spearman correlation is significant (p < 0.001) yet
    # weak (0.21): a p-value alone would reject the model on its own reference data, so the rule needs strength too.
    c = clv.gamma_gamma_independence(with_tx["x"], with_tx["zbar"])
    assert c.n == 946 and c.p_value < 0.001 and c.spearman == pytest.approx(0.206, abs=0.001)
    assert c.spearman < clv.GG_MAX_SPEARMAN and c.passed


def test_sbg_held_out_check_passes_on_fader_hardie_2007():
    # Fitted on the first half (years 1-6), the projection for years 7-12 is at most 3.1% (regular) and 7.4% (high
    # end) off: both inside the 10% tolerance chosen from these figures.
    from salesops_kit.value import sbg

    d = pd.read_csv(EXT / "retention_sbg" / "fader_hardie_2007_survival.csv")
    errors = {}
    for seg in ("regular", "high_end"):
        c = sbg.holdout_check(d[seg])
        assert c.fitted_periods == 6 and c.held_out["period"].tolist() == list(range(7, 13))
        assert c.passed, seg
        errors[seg] = c.max_relative_error
    assert errors["regular"] == pytest.approx(0.031, abs=0.001)
    assert errors["high_end"] == pytest.approx(0.074, abs=0.001)
    assert max(errors.values()) < sbg.SBG_HOLDOUT_TOLERANCE
