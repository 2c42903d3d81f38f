"""sBG unit tests (published figures are in test_clv_published.py)."""

import numpy as np
import pytest

from salesops_kit.value import sbg


def test_survival_identities():
    f = sbg.fit_sbg([1000, 800, 680, 600, 545, 505])
    assert f.converged
    t = np.arange(1, 8)
    # S(t) = S(t-1) * r(t), and P(T=t) = S(t-1) - S(t)
    np.testing.assert_allclose(f.survival(t), f.survival(t - 1) * f.retention_rate(t), rtol=1e-12)
    np.testing.assert_allclose(f.churn_probability(t), f.survival(t - 1) - f.survival(t), rtol=1e-10)
    assert f.survival(0) == pytest.approx(1.0)
    # retention rises with tenure (heterogeneity sorts out the leavers)
    assert np.all(np.diff(f.retention_rate(t)) > 0)
    assert f.expected_lifetime() > 1


def test_constant_churn_gives_large_alpha_beta_ratio():
    # exact geometric survival (theta = 0.2 for everyone): every period keeps 80%
    n = 10000 * 0.8 ** np.arange(8)
    f = sbg.fit_sbg(np.round(n))
    assert f.params["alpha"] / (f.params["alpha"] + f.params["beta"]) == pytest.approx(0.2, abs=0.01)


def test_project_and_summary():
    f = sbg.fit_sbg([100, 70, 55, 47], periods=2)
    p = f.project(5, initial=100, observed=[100, 70, 55, 47])
    assert p["period"].tolist() == list(range(6)) and p["observed"].isna().sum() == 2
    assert list(f.summary()["param"]) == ["alpha", "beta"]


def test_bad_input():
    with pytest.raises(ValueError, match="non-increasing"):
        sbg.fit_sbg([100, 120, 90])
    with pytest.raises(ValueError, match="at least one later"):
        sbg.fit_sbg([100])
    with pytest.raises(ValueError, match="no customer was lost"):
        sbg.fit_sbg([100, 100, 100])
    with pytest.raises(ValueError, match="periods"):
        sbg.fit_sbg([100, 90, 80], periods=5)
