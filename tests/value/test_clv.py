"""Unit tests of the BG/NBD / Gamma-Gamma machinery on small or simulated inputs."""

import numpy as np
import pandas as pd
import pytest

from salesops_kit.value import clv


@pytest.fixture(scope="module")
def sim():
    return clv.simulate_bgnbd_gg(8000, r=0.5, alpha=5.0, a=0.8, b=2.5, p=6.0, q=4.0, gamma=15.0, seed=3)


def test_compress_rows_sums_weights():
    (x, t), w = clv.compress_rows([1, 0, 1, 1], [2.0, 0.0, 2.0, 3.0])
    # unique rows sorted: (0,0) once, (1,2) twice, (1,3) once
    assert x.tolist() == [0, 1, 1] and t.tolist() == [0, 2, 3] and w.tolist() == [1, 2, 1]


def test_weights_equal_repeated_rows(sim):
    d = sim.head(300)
    f1 = clv.fit_bgnbd(pd.concat([d, d])["frequency"], pd.concat([d, d])["recency"], pd.concat([d, d])["T"])
    f2 = clv.fit_bgnbd(d["frequency"], d["recency"], d["T"], weights=np.full(len(d), 2.0))
    np.testing.assert_allclose(f1.params, f2.params, rtol=1e-6)
    assert f1.log_likelihood == pytest.approx(f2.log_likelihood, rel=1e-9)


def test_fit_recovers_simulated_parameters(sim):
    f = clv.fit_bgnbd(sim["frequency"], sim["recency"], sim["T"])
    g = clv.fit_gamma_gamma(sim["frequency"], sim["monetary_value"])
    assert f.converged and g.converged
    for k, v in {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}.items():
        assert f.ci_low[k] <= v <= f.ci_high[k], k
    for k, v in {"p": 6.0, "q": 4.0, "gamma": 15.0}.items():
        assert g.ci_low[k] <= v <= g.ci_high[k], k
    # log-likelihood at the optimum beats the truth
    assert f.log_likelihood >= f.log_likelihood_rows(sim["frequency"], sim["recency"], sim["T"]).sum() - 1e-6


def test_ll_rows_sum_to_fitted_ll(sim):
    f = clv.fit_bgnbd(sim["frequency"], sim["recency"], sim["T"])
    assert f.log_likelihood_rows(sim["frequency"], sim["recency"], sim["T"]).sum() == pytest.approx(f.log_likelihood)


def test_inputs_not_mutated(sim):
    d = sim.head(500).copy()
    before = d.copy()
    clv.fit_bgnbd(d["frequency"], d["recency"], d["T"])
    clv.fit_gamma_gamma(d["frequency"], d["monetary_value"])
    pd.testing.assert_frame_equal(d, before)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="empty"):
        clv.fit_bgnbd([], [], [])
    with pytest.raises(ValueError, match="recency"):
        clv.fit_bgnbd([1, 2], [5.0, 1.0], [4.0, 4.0])
    with pytest.raises(ValueError, match="whole numbers"):
        clv.fit_bgnbd([1.5], [1.0], [4.0])
    with pytest.raises(ValueError, match="positive"):
        clv.fit_gamma_gamma([1, 2, 3], [10.0, 0.0, 5.0])
    with pytest.raises(ValueError, match="at least two"):
        clv.fit_gamma_gamma([0, 1], [0.0, 5.0])


def test_non_converged_fit_is_reported():
    # all customers with zero repeat purchases: a -> 0 or b -> inf, no interior optimum
    f = clv.fit_bgnbd([0, 0, 0], [0.0, 0.0, 0.0], [10.0, 20.0, 30.0])
    assert not f.converged and "not converged" in f.message


def test_predictions_shapes_and_limits(sim):
    f = clv.fit_bgnbd(sim["frequency"], sim["recency"], sim["T"])
    assert f.expected_purchases(0.0) == pytest.approx(0.0)
    e = f.expected_purchases([1.0, 10.0, 100.0])
    assert np.all(np.diff(e) > 0)
    # a customer who bought often but long ago is less likely alive than one who bought recently
    pa = f.p_alive([5, 5], [5.0, 49.0], [50.0, 50.0])
    assert pa[0] < pa[1]
    c = f.conditional_expected_purchases(10.0, [5, 5], [5.0, 49.0], [50.0, 50.0])
    assert c[0] < c[1]


def test_gamma_gamma_spend_shrinks_toward_population_mean(sim):
    g = clv.fit_gamma_gamma(sim["frequency"], sim["monetary_value"])
    pm = g.population_mean_spend()
    s = g.conditional_expected_spend([0, 1, 50], [0.0, 1000.0, 1000.0])
    assert s[0] == pytest.approx(pm)
    assert pm < s[1] < s[2] < 1000.0


def test_clv_zero_discount_equals_spend_times_purchases(sim):
    d = sim.head(50)
    f = clv.fit_bgnbd(sim["frequency"], sim["recency"], sim["T"])
    g = clv.fit_gamma_gamma(sim["frequency"], sim["monetary_value"])
    v = clv.customer_lifetime_value(f, g, d["frequency"], d["recency"], d["T"], d["monetary_value"],
                                    months=6, monthly_discount_rate=0.0, freq="W")
    expect = g.conditional_expected_spend(d["frequency"], d["monetary_value"]) * \
        f.conditional_expected_purchases(6 * 4.345, d["frequency"], d["recency"], d["T"])
    np.testing.assert_allclose(v, expect, rtol=1e-10)
    with pytest.raises(ValueError, match="freq"):
        clv.customer_lifetime_value(f, g, [1], [1.0], [2.0], [3.0], freq="Y")


def test_summary_and_repr_are_deterministic(sim):
    f = clv.fit_bgnbd(sim["frequency"], sim["recency"], sim["T"])
    assert f._repr_html_() == f._repr_html_()
    s = f.summary(level=0.9)
    assert s.attrs["level"] == 0.9 and (s["ci_high"] > s["ci_low"]).all()


def test_holdout_validation_bins():
    fit = clv.fit_bgnbd(*clv.simulate_bgnbd_gg(3000, r=0.5, alpha=5, a=0.8, b=2.5, seed=1)
                        [["frequency", "recency", "T"]].to_numpy().T)
    rfm = pd.DataFrame({"frequency": [0, 0, 1, 9], "recency": [0.0, 0.0, 3.0, 20.0], "T": [30.0] * 4,
                        "frequency_holdout": [0, 1, 1, 4], "duration_holdout": [10.0] * 4})
    h = clv.holdout_validation(fit, rfm, max_bin=7)
    assert h.bins["frequency_bin"].tolist() == ["0", "1", "7+"]
    assert h.bins["customers"].tolist() == [2, 1, 1]
    assert h.bins["actual_mean"].tolist() == [0.5, 1.0, 4.0]
    assert h.total_actual == 6
    with pytest.raises(KeyError, match="frequency_holdout"):
        clv.holdout_validation(fit, rfm.drop(columns="frequency_holdout"))


def test_spend_frequency_correlation_degenerate():
    c = clv.spend_frequency_correlation([0, 1], [0.0, 5.0])
    assert c["correlation"].isna().all() and c["n"].tolist() == [1, 1]
