"""Shrinkage and rep-comparison statistics (issue 6): hand-computable cases and reference checks."""

import numpy as np
import pytest
from scipy import stats as st
from scipy.special import betaln, gammaln

from salesops_kit.stats import (
    BetaBinomialFit,
    bh_adjust,
    fisher_vs_rest,
    fit_beta_binomial,
    funnel_limits,
    median_ci,
    shrink_rates,
)
from salesops_kit.stats.shrinkage import plausible_prior


def _bb_loglik(k, n, a, b):
    # written out from the definition: C(n, k) * B(k + a, n - k + b) / B(a, b)
    comb = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return np.sum(comb + betaln(k + a, n - k + b) - betaln(a, b))


def test_fit_matches_brute_force_grid_maximum():
    # overdispersed counts across 12 reps; the ML fit must beat (or tie) every point of a fine grid
    k = np.array([2, 9, 4, 15, 7, 1, 11, 6, 3, 13, 5, 8])
    n = np.array([20, 30, 25, 40, 22, 18, 35, 30, 26, 33, 21, 28])
    fit = fit_beta_binomial(k, n)
    assert fit.method == "ml"
    ll_fit = _bb_loglik(k, n, fit.alpha, fit.beta)
    assert fit.loglik == pytest.approx(ll_fit, rel=1e-9)
    means = np.linspace(0.05, 0.6, 111)
    concs = np.exp(np.linspace(np.log(0.5), np.log(500), 200))
    m, c = np.meshgrid(means, concs)
    grid = np.array([_bb_loglik(k, n, mm * cc, (1 - mm) * cc) for mm, cc in zip(m.ravel(), c.ravel(), strict=True)])
    assert ll_fit >= grid.max() - 1e-6
    # and the grid's best point is close to the fit
    i = int(np.argmax(grid))
    assert m.ravel()[i] == pytest.approx(fit.mean, abs=0.01)
    assert np.log(c.ravel()[i]) == pytest.approx(np.log(fit.concentration), abs=0.1)


def test_fit_recovers_generating_prior():
    rng = np.random.default_rng(7)
    p = rng.beta(4.0, 12.0, 600)
    n = rng.integers(30, 90, 600)
    fit = fit_beta_binomial(rng.binomial(n, p), n)
    assert fit.mean == pytest.approx(0.25, abs=0.01)
    assert 10 < fit.concentration < 24  # true 16


def test_no_overdispersion_means_full_pooling():
    # identical rates in every group: the concentration runs to its bound, estimates pool
    k = np.array([10, 10, 10, 10])
    n = np.array([50, 50, 50, 50])
    fit = fit_beta_binomial(k, n)
    assert fit.method == "ml (no overdispersion)"
    assert fit.mean == pytest.approx(0.2, abs=1e-6)
    sh = shrink_rates(k, n, fit=fit)
    assert np.allclose(sh["shrunk_rate"], 0.2, atol=1e-4)


def test_shrinkage_by_hand_with_fixed_prior():
    # prior Beta(2, 8): 3/10 -> (2+3)/(10+10) = 0.25; 0/0 -> prior mean 0.2; 40/100 -> 42/110
    fit = BetaBinomialFit(2.0, 8.0, 0.0, 3, "ml")
    sh = shrink_rates([3, 0, 40], [10, 0, 100], fit=fit)
    assert sh["shrunk_rate"].tolist() == pytest.approx([0.25, 0.2, 42 / 110])
    assert np.isnan(sh["raw_rate"][1])
    assert sh["weight"].tolist() == pytest.approx([0.5, 0.0, 100 / 110])
    lo, hi = st.beta.ppf([0.025, 0.975], 5, 15)
    assert (sh["shrunk_low"][0], sh["shrunk_high"][0]) == pytest.approx((lo, hi))


def test_small_sample_is_pulled_harder_than_large():
    k = np.array([4, 60, 20, 22, 18, 25])
    n = np.array([5, 100, 100, 100, 100, 100])
    sh = shrink_rates(k, n)
    # 4/5 = 80% raw, 60/100 = 60% raw; after shrinkage the small sample is no longer on top
    assert sh["raw_rate"][0] > sh["raw_rate"][1]
    assert sh["shrunk_rate"][0] < sh["shrunk_rate"][1]


def test_fit_edge_cases():
    assert fit_beta_binomial([], []).method.startswith("uniform")
    assert fit_beta_binomial([3], [10]).method.startswith("uniform")
    assert fit_beta_binomial([3, 0], [10, 0]).n_groups == 1
    with pytest.raises(ValueError, match="between 0 and trials"):
        fit_beta_binomial([5], [3])


def test_fisher_vs_rest_equals_scipy():
    k = np.array([3, 10, 0, 25, 7, 1])
    n = np.array([10, 40, 5, 60, 20, 1])
    p, rest = fisher_vs_rest(k, n)
    for i in range(len(k)):
        rk, rn = k.sum() - k[i], n.sum() - n[i]
        ref = st.fisher_exact([[k[i], n[i] - k[i]], [rk, rn - rk]]).pvalue
        assert p[i] == pytest.approx(ref, rel=1e-9)
        assert rest[i] == pytest.approx(rk / rn)


def test_fisher_vs_rest_batched_and_empty_groups():
    rng = np.random.default_rng(0)
    k = rng.binomial(50, 0.3, (4, 6))
    n = np.full((4, 6), 50)
    p, _ = fisher_vs_rest(k, n)
    for b in range(4):
        pb, _ = fisher_vs_rest(k[b], n[b])
        assert np.allclose(p[b], pb)
    p0, _ = fisher_vs_rest([0, 3, 4], [0, 10, 10])
    assert np.isnan(p0[0]) and not np.isnan(p0[1])


def test_bh_matches_scipy():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    assert np.allclose(bh_adjust(p), st.false_discovery_control(p, method="bh"))
    # by hand: the smallest p times m / rank, monotone from the top: 0.001*10/1 = 0.01
    assert bh_adjust(p)[0] == pytest.approx(0.01)
    q = bh_adjust([0.01, np.nan, 0.04])
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.04)


def test_funnel_limits_exact_and_normal_agreement():
    lim = funnel_limits([0, 10, 100, 10_000], 0.2)
    assert np.isnan(lim["low_95"][0])
    # large n: close to the normal approximation p0 +- z sqrt(p0 (1 - p0) / n)
    se = np.sqrt(0.2 * 0.8 / 10_000)
    assert lim["high_95"][3] == pytest.approx(0.2 + 1.96 * se, abs=2e-4)
    assert lim["low_99.8"][3] == pytest.approx(0.2 - 3.09 * se, abs=2e-4)
    # the 99.8% band is wider than the 95% band, and bands narrow as n grows
    assert (lim["high_99.8"][1:] >= lim["high_95"][1:]).all()
    assert lim["high_95"][1] > lim["high_95"][2] > lim["high_95"][3]
    # interpolation by hand at n = 10, p0 = 0.2, q = 0.975: F(4) = 0.96721 < q <= F(5) = 0.99363, so
    # r = 5, a = (0.99363 - 0.975) / (0.99363 - 0.96721) = 0.7052, limit = (5 - 0.7052) / 10 = 0.4295
    assert lim["high_95"][1] == pytest.approx(0.4295, abs=1e-4)


def test_median_ci_order_statistics():
    med, lo, hi = median_ci(np.arange(1, 101))
    # binom.ppf(0.025, 100, 0.5) = 40 -> 40th and 61st order statistics
    assert (med, lo, hi) == (50.5, 40.0, 61.0)
    assert np.isnan(median_ci([1.0, 2.0])[1])
    assert np.isnan(median_ci([])[0])


def test_no_overdispersion_keeps_each_groups_own_sample_in_its_interval():
    # 5/25, 10/50, 20/100: every rate is 20%, the ML prior runs to full pooling (a million trials of prior), and
    # its posterior intervals would all be 20% +- 0.1 pp. The prior used instead is the weakest the data allow:
    # at mean 0.2, the concentration s whose log-likelihood is 1.92 (chi2(1) 95% / 2) below the maximum.
    k, n = np.array([5, 10, 20]), np.array([25, 50, 100])
    fit = fit_beta_binomial(k, n)
    assert fit.method == "ml (no overdispersion)"
    ll_max = _bb_loglik(k, n, 0.2 * 1e6, 0.8 * 1e6)
    lo, hi = 1e-3, 1e6  # bisect the written-out likelihood for the crossing (it rises with s here)
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if _bb_loglik(k, n, 0.2 * mid, 0.8 * mid) < ll_max - 3.841458820694124 / 2 else (lo, mid)
    s = np.sqrt(lo * hi)
    prior = plausible_prior(k, n, fit)
    assert prior.concentration == pytest.approx(s, rel=1e-4)
    assert prior.mean == pytest.approx(0.2, abs=1e-9)
    assert "weakest the data allow" in prior.method
    sh = shrink_rates(k, n, fit=fit)
    assert np.allclose(sh["shrunk_rate"], 0.2)  # equal rates: the point estimates still pool
    low = st.beta.ppf(0.025, 0.2 * s + k, 0.8 * s + n - k)
    high = st.beta.ppf(0.975, 0.2 * s + k, 0.8 * s + n - k)
    assert sh["shrunk_low"].to_numpy() == pytest.approx(low, rel=1e-4)
    assert sh["shrunk_high"].to_numpy() == pytest.approx(high, rel=1e-4)
    width = (sh["shrunk_high"] - sh["shrunk_low"]).to_numpy()
    assert width[0] > width[1] > width[2] > 0.1  # the rep with 25 deals is less certain than the one with 100
    pooled_width = np.diff(st.beta.ppf([0.025, 0.975], 0.2e6 + 5, 0.8e6 + 20)).item()
    assert pooled_width < 0.002 < width.min()


def test_plausible_prior_leaves_an_overdispersed_fit_alone():
    k = np.array([2, 9, 4, 15, 7, 1, 11, 6, 3, 13, 5, 8])
    n = np.array([20, 30, 25, 40, 22, 18, 35, 30, 26, 33, 21, 28])
    fit = fit_beta_binomial(k, n)
    assert plausible_prior(k, n, fit) is fit
