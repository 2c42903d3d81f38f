"""Shared statistics: Wilson/beta intervals, false-discovery control, bootstrap, shrinkage.

Everything here works on small arrays (one value per stage, rep, month); no DataFrame scanning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize as _opt
from scipy import stats as _st

from ..tools.validation import check_level, renamed_keyword

__all__ = ["wilson_interval", "bh_adjust", "bootstrap_ci"]


def wilson_interval(successes, trials, *, level: float = 0.95):
    """Wilson score interval for a binomial proportion (vectorised).

    Returns ``(low, high)`` arrays (floats for scalar input); NaN where ``trials == 0``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = _st.norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lo = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        hi = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def bh_adjust(pvalues):
    """Benjamini-Hochberg q-values (scipy.stats.false_discovery_control); NaN p-values stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = _st.false_discovery_control(p[ok], method="bh")
    return q


def bootstrap_ci(values, statistic=np.mean, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval of ``statistic`` over ``values`` (deterministic with ``seed``)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan
    res = _st.bootstrap((x,), statistic, n_resamples=n_boot, confidence_level=level, method="percentile",
                        random_state=np.random.default_rng(seed), vectorized=False)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


# --- funnel tests and intervals (issue 3) ----------------------------------------------------------

__all__ += ["two_proportion_test", "chi_square_independence", "newcombe_diff_interval", "cohens_h", "weighted_quantile"]


def two_proportion_test(k1, n1, k2, n2, *, min_expected: float = 5.0) -> tuple[float, str]:
    """Two-sided test of p1 == p2 on the 2x2 table ``[[k1, n1-k1], [k2, n2-k2]]``.

    Pearson chi-square (no continuity correction) when every expected count is at least
    ``min_expected``, otherwise Fisher's exact test (scipy). Returns ``(p_value, method)``;
    ``(nan, "none")`` when a row or column of the table is empty (nothing to compare).
    """
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=float)
    if (table < 0).any():
        raise ValueError(f"two_proportion_test: successes exceed trials in {table.tolist()}")
    if table.sum(axis=1).min() == 0 or table.sum(axis=0).min() == 0:
        return float("nan"), "none"
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if expected.min() >= min_expected:
        res = _st.chi2_contingency(table, correction=False)
        return float(res.pvalue), "chi-square"
    res = _st.fisher_exact(table.astype(int), alternative="two-sided")
    return float(res.pvalue), "fisher"


def chi_square_independence(table) -> tuple[float, float, int]:
    """Pearson chi-square test of independence on an r x c count table (empty rows/columns dropped).

    Returns ``(statistic, p_value, dof)``; NaN p-value when fewer than two rows or columns remain.
    """
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        return float("nan"), float("nan"), 0
    res = _st.chi2_contingency(t, correction=False)
    return float(res.statistic), float(res.pvalue), int(res.dof)


def newcombe_diff_interval(k1, n1, k2, n2, *, level: float = 0.95) -> tuple[float, float]:
    """Newcombe (1998, method 10) interval for p1 - p2 from the two Wilson intervals (vectorised)."""
    k1, n1, k2, n2 = (np.asarray(a, dtype=float) for a in (k1, n1, k2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = k1 / n1, k2 / n2
        l1, u1 = wilson_interval(k1, n1, level=level)
        l2, u2 = wilson_interval(k2, n2, level=level)
        d = p1 - p2
        lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    if np.ndim(lo) == 0:
        return float(lo), float(hi)
    return lo, hi


def cohens_h(p1, p2):
    """Cohen's h effect size for two proportions: 2·asin(√p1) − 2·asin(√p2) (0.2 small, 0.5 medium)."""
    p1, p2 = np.asarray(p1, dtype=float), np.asarray(p2, dtype=float)
    h = 2 * np.arcsin(np.sqrt(p1)) - 2 * np.arcsin(np.sqrt(p2))
    return float(h) if np.ndim(h) == 0 else h


def weighted_quantile(values, weights, q):
    """Quantile ``q`` of a discrete distribution given as values with counts (inverse CDF, 'lower').

    The smallest value whose cumulative share reaches ``q``; NaN when the total weight is 0.
    """
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    ok = ~np.isnan(v) & (w > 0)
    v, w = v[ok], w[ok]
    if w.sum() <= 0:
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w) / w.sum()
    i = int(np.searchsorted(cum, q - 1e-12, side="left"))
    return float(v[min(i, len(v) - 1)])


# --- shrinkage and rep comparisons (issue 6) -------------------------------------------------------

__all__ += ["BetaBinomialFit", "fit_beta_binomial", "shrink_rates", "fisher_vs_rest", "funnel_limits",
            "median_ci"]


@dataclass(frozen=True)
class BetaBinomialFit:
    """Maximum-likelihood Beta(alpha, beta) prior of rates across groups (empirical Bayes).

    ``mean = alpha / (alpha + beta)`` is the prior mean rate; ``concentration = alpha + beta`` acts as
    a prior sample size (a group with ``n`` trials keeps ``n / (n + concentration)`` of its own rate).
    ``method`` says how the prior was obtained: ``"ml"`` (fitted), ``"ml (no overdispersion)"``
    (the fit ran to the concentration bound: the groups look like one rate, full pooling) or
    ``"uniform (fewer than 2 groups)"`` (Beta(1, 1), nothing to fit).
    """

    alpha: float
    beta: float
    loglik: float
    n_groups: int
    method: str

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def concentration(self) -> float:
        return self.alpha + self.beta


_MAX_CONC = 1e6


def fit_beta_binomial(successes, trials) -> BetaBinomialFit:
    """Fit a Beta(alpha, beta) prior to per-group binomial counts by maximum likelihood.

    The marginal likelihood is ``prod_i BetaBinom(k_i | n_i, alpha, beta)`` (``scipy.stats.betabinom``),
    maximised over ``(logit mean, log concentration)`` with L-BFGS-B; groups with ``n = 0`` carry no
    information and are ignored. The concentration is bounded at 1e6 (= full pooling).

    Parameters
    ----------
    successes, trials : array-like of non-negative integers, one value per group (rep).
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if k.shape != n.shape:
        raise ValueError(f"successes and trials differ in shape: {k.shape} vs {n.shape}.")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("successes must lie between 0 and trials for every group.")
    ok = n > 0
    k, n = k[ok], n[ok]
    if len(k) < 2:
        ll = float(_st.betabinom.logpmf(k, n, 1.0, 1.0).sum()) if len(k) else 0.0
        return BetaBinomialFit(1.0, 1.0, ll, int(len(k)), "uniform (fewer than 2 groups)")
    pooled = np.clip(k.sum() / n.sum(), 1e-4, 1 - 1e-4)
    # method-of-moments start for the concentration
    p = k / n
    var = np.var(p, ddof=1) if len(p) > 1 else 0.0
    binvar = pooled * (1 - pooled) * np.mean(1 / n)
    start_s = pooled * (1 - pooled) / (var - binvar) - 1 if var > binvar else 1e3
    start_s = float(np.clip(start_s, 0.5, 1e5))

    def nll(theta):
        m = 1 / (1 + np.exp(-theta[0]))
        s = np.exp(theta[1])
        return -_st.betabinom.logpmf(k, n, m * s, (1 - m) * s).sum()

    lo_s, hi_s = np.log(1e-3), np.log(_MAX_CONC)
    x0 = np.array([np.log(pooled / (1 - pooled)), np.log(start_s)])
    best = None
    for s0 in (x0[1], np.log(10.0), np.log(1e4)):
        r = _opt.minimize(nll, np.array([x0[0], s0]), method="L-BFGS-B",
                          bounds=[(-15, 15), (lo_s, hi_s)])
        if best is None or r.fun < best.fun:
            best = r
    # the likelihood is nearly flat in the concentration when groups do not differ: compare with
    # full pooling at the bound explicitly
    pooled_x = np.array([np.log(pooled / (1 - pooled)), hi_s])
    if nll(pooled_x) <= best.fun + 1e-6:
        best = _opt.OptimizeResult(x=pooled_x, fun=nll(pooled_x))
    m = 1 / (1 + np.exp(-best.x[0]))
    s = float(np.exp(best.x[1]))
    method = "ml (no overdispersion)" if best.x[1] >= hi_s - 1e-3 else "ml"
    return BetaBinomialFit(float(m * s), float((1 - m) * s), float(-best.fun), int(len(k)), method)


def shrink_rates(successes, trials, *, fit: BetaBinomialFit | None = None, level: float = 0.95) -> pd.DataFrame:
    """Empirical-Bayes shrunk rates with equal-tailed posterior intervals.

    Posterior of group ``i`` is ``Beta(alpha + k_i, beta + n_i - k_i)``; the shrunk rate is its mean.

    Returns
    -------
    DataFrame, one row per input group (input order): ``successes, trials, raw_rate`` (NaN when
    n = 0), ``shrunk_rate, shrunk_low, shrunk_high, post_alpha, post_beta, weight`` (the weight of the
    group's own rate, ``n / (n + alpha + beta)``).
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if fit is None:
        fit = fit_beta_binomial(k, n)
    a = fit.alpha + k
    b = fit.beta + n - k
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    return pd.DataFrame({
        "successes": k, "trials": n, "raw_rate": raw,
        "shrunk_rate": a / (a + b),
        "shrunk_low": _st.beta.ppf(tail, a, b),
        "shrunk_high": _st.beta.ppf(1 - tail, a, b),
        "post_alpha": a, "post_beta": b,
        "weight": n / (n + fit.concentration),
    })


def fisher_vs_rest(successes, trials):
    """Two-sided Fisher exact test of each group against all other groups pooled (vectorised).

    For group ``i`` the 2x2 table is ``[[k_i, n_i - k_i], [K - k_i, N - n_i - (K - k_i)]]``; the
    p-value sums the hypergeometric probabilities of tables no more likely than the observed one
    (scipy's convention, relative tolerance 1e-7). Equals ``scipy.stats.fisher_exact`` per group.

    Returns
    -------
    (p_values, rest_rate) : arrays, NaN where a group or the rest has no trials.
    """
    k = np.asarray(successes, dtype=np.int64)
    n = np.asarray(trials, dtype=np.int64)
    scalar = k.ndim == 0
    k, n = np.atleast_1d(k), np.atleast_1d(n)
    # allow a leading batch axis: (..., groups); totals over the last axis
    K = k.sum(axis=-1, keepdims=True)
    N = n.sum(axis=-1, keepdims=True)
    rest_n = N - n
    rest_k = K - k
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_rate = np.where(rest_n > 0, rest_k / np.where(rest_n > 0, rest_n, 1), np.nan)
    # hypergeometric: population N, K successes, draw n; x = successes in the group
    lo = np.maximum(0, n + K - N)
    hi = np.minimum(n, K)
    width = int((hi - lo).max()) + 1 if k.size else 1
    grid = lo[..., None] + np.arange(width)
    valid = grid <= hi[..., None]
    logp = _st.hypergeom.logpmf(grid, N[..., None], K[..., None], n[..., None])
    logp = np.where(valid, logp, -np.inf)
    obs = _st.hypergeom.logpmf(k, N, K, n)
    pmf = np.exp(logp)
    keep = logp <= obs[..., None] + np.log1p(1e-7)
    p = np.clip(np.where(keep, pmf, 0.0).sum(axis=-1), 0, 1)
    p = np.where((n > 0) & (rest_n > 0), p, np.nan)
    if scalar:
        return float(p.ravel()[0]), float(rest_rate.ravel()[0])
    return p, rest_rate


@renamed_keyword("levels", "level")
def funnel_limits(trials, p0: float, *, level=(0.95, 0.998)) -> pd.DataFrame:
    """Funnel-plot control limits for a proportion around a target ``p0`` (Spiegelhalter 2005).

    ``level`` is one probability or several (the old keyword ``levels=`` is still accepted).

    Exact binomial quantiles with the interpolation that makes the limits smooth in ``n``:
    ``r = binom.ppf(q, n, p0)``, ``a = (F(r) - q) / (F(r) - F(r - 1))``, limit = ``(r - a) / n``.

    Returns
    -------
    DataFrame with ``trials`` and ``low_<level>``/``high_<level>`` per level (e.g. ``low_95``,
    ``high_99.8``), NaN where ``trials == 0``.
    """
    n = np.asarray(trials, dtype=float)
    out = {"trials": n}
    with np.errstate(invalid="ignore", divide="ignore"):
        for lev in np.atleast_1d(level):
            lev = check_level(lev, where="funnel_limits")
            name = f"{lev * 100:g}"
            for side, q in (("low", (1 - lev) / 2), ("high", 1 - (1 - lev) / 2)):
                r = _st.binom.ppf(q, n, p0)
                fr = _st.binom.cdf(r, n, p0)
                fr1 = _st.binom.cdf(r - 1, n, p0)
                a = np.where(fr - fr1 > 0, (fr - q) / (fr - fr1), 0.0)
                lim = np.where(n > 0, np.clip((r - a) / np.where(n > 0, n, 1), 0, 1), np.nan)
                out[f"{side}_{name}"] = lim
    return pd.DataFrame(out)


def median_ci(values, *, level: float = 0.95):
    """Distribution-free interval for a median from order statistics (binomial, conservative).

    Returns ``(median, low, high)``; NaN when fewer than one value, and NaN bounds when the sample is
    too small for the level (n < 6 at 95%).
    """
    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, np.nan
    med = float(np.median(x))
    j = int(_st.binom.ppf((1 - level) / 2, n, 0.5))  # lower order statistic index (1-based j)
    if j < 1:
        return med, np.nan, np.nan
    return med, float(x[j - 1]), float(x[n - j])


# --- monitoring (issue 9) ---

__all__ += ["rate_change_test", "poisson_rate_test", "bootstrap_diff", "sum_change_test", "nps_interval",
            "nps_change_test"]


def rate_change_test(k1, n1, k0, n0, *, level: float = 0.95) -> dict:
    """Change of a proportion from a base period (``k0 / n0``) to a current period (``k1 / n1``).

    Two-proportion test: Pearson chi-square on the 2x2 table (equivalent to the pooled two-sided
    z-test ``z = (p1 - p0) / sqrt(p (1 - p) (1/n1 + 1/n0))``, ``p`` pooled), Fisher's exact test when an
    expected count is below 5 (``two_proportion_test`` of the funnel block); Newcombe interval of
    ``p1 - p0``.

    Returns
    -------
    dict with ``value, base_value, change`` (p1 - p0), ``ci_low, ci_high, p_value, test``; NaN where
    either period has no trials.
    """
    out = {"value": np.nan, "base_value": np.nan, "change": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "test": "none"}
    if not (n1 > 0 and n0 > 0):
        return out
    p, method = two_proportion_test(k1, n1, k0, n0)
    lo, hi = newcombe_diff_interval(k1, n1, k0, n0, level=level)
    out.update(value=k1 / n1, base_value=k0 / n0, change=k1 / n1 - k0 / n0, ci_low=float(lo), ci_high=float(hi),
               p_value=float(p) if method != "none" else 1.0,
               test="two-proportion " + ("chi-square" if method == "chi-square" else
                                         "Fisher exact" if method == "fisher" else "(no variation)"))
    return out


def poisson_rate_test(c1, e1, c0, e0, *, level: float = 0.95) -> dict:
    """Exact conditional test of two Poisson rates ``c1 / e1`` vs ``c0 / e0`` (counts over exposures).

    Given ``c1 + c0`` events, ``c1 ~ Binomial(c1 + c0, e1 / (e1 + e0))`` under equal rates
    (``scipy.stats.binomtest``, two-sided). The rate ratio interval comes from the Clopper-Pearson
    interval ``(pl, pu)`` of that binomial: ``ratio = pi / (1 - pi) * e0 / e1``.

    Returns
    -------
    dict ``rate, base_rate, ratio, ratio_low, ratio_high, p_value, test`` (NaN when there are no events
    or no exposure).
    """
    out = {"rate": np.nan, "base_rate": np.nan, "ratio": np.nan, "ratio_low": np.nan, "ratio_high": np.nan,
           "p_value": np.nan, "test": "Poisson exact (conditional binomial)"}
    if not (e1 > 0 and e0 > 0):
        return out
    out.update(rate=c1 / e1, base_rate=c0 / e0)
    total = int(round(c1 + c0))
    if total == 0:
        out.update(p_value=1.0)
        return out
    res = _st.binomtest(int(round(c1)), total, e1 / (e1 + e0))
    ci = res.proportion_ci(confidence_level=level, method="exact")
    def odds(q):
        return q / (1 - q) * e0 / e1 if q < 1 else np.inf

    out.update(ratio=(c1 / e1) / (c0 / e0) if c0 > 0 else np.inf, ratio_low=odds(ci.low), ratio_high=odds(ci.high),
               p_value=float(res.pvalue))
    return out


def bootstrap_diff(x1, x0, *, statistic: str = "mean", n_boot: int = 2000, level: float = 0.95,
                   seed: int = 0) -> dict:
    """Percentile bootstrap of ``stat(x1) - stat(x0)`` (two independent samples, vectorised).

    Each sample is resampled with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``);
    the two-sided p-value is ``2 * min(share of resampled differences <= 0, share >= 0)``, at least
    ``1 / n_boot`` (a bootstrap cannot say more). ``statistic`` is ``"mean"`` or ``"median"``.

    Returns
    -------
    dict ``value, base_value, change, ci_low, ci_high, p_value, test``; NaN when a sample is empty.
    """
    f = {"mean": np.mean, "median": np.median}[statistic]
    a = np.asarray(x1, dtype=float)
    b = np.asarray(x0, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    out = {"value": np.nan, "base_value": np.nan, "change": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "test": f"bootstrap ({statistic})"}
    if len(a) == 0 or len(b) == 0:
        return out
    rng = np.random.default_rng(seed)
    ba = f(a[rng.integers(0, len(a), size=(n_boot, len(a)))], axis=1)
    bb = f(b[rng.integers(0, len(b), size=(n_boot, len(b)))], axis=1)
    d = ba - bb
    tail = (1 - level) / 2
    p = 2 * min(np.mean(d <= 0), np.mean(d >= 0))
    out.update(value=float(f(a)), base_value=float(f(b)), change=float(f(a) - f(b)),
               ci_low=float(np.quantile(d, tail)), ci_high=float(np.quantile(d, 1 - tail)),
               p_value=float(np.clip(p, 1 / n_boot, 1.0)))
    return out


def sum_change_test(x1, x0, *, level: float = 0.95) -> dict:
    """Change of a period total (e.g. won revenue) treating each total as a compound Poisson sum.

    ``Var(sum) = sum(x**2)`` for a compound Poisson total of amounts ``x`` (the number of deals is
    random too), so ``z = (S1 - S0) / sqrt(sum(x1**2) + sum(x0**2))``, normal two-sided p-value and
    interval ``S1 - S0 +- z_(level) * sqrt(...)``.
    """
    a = np.asarray(x1, dtype=float)
    b = np.asarray(x0, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    s1, s0 = float(a.sum()), float(b.sum())
    se = float(np.sqrt((a**2).sum() + (b**2).sum()))
    zc = _st.norm.ppf(0.5 + level / 2)
    out = {"value": s1, "base_value": s0, "change": s1 - s0, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "test": "compound-Poisson z"}
    if se > 0:
        z = (s1 - s0) / se
        out.update(ci_low=float(s1 - s0 - zc * se), ci_high=float(s1 - s0 + zc * se),
                   p_value=float(2 * _st.norm.sf(abs(z))))
    return out


def nps_interval(promoters, detractors, n, *, level: float = 0.95):
    """Net promoter score ``(promoters - detractors) / n`` in [-1, 1] with a normal interval (vectorised).

    ``Var = (p+ + p- - (p+ - p-)**2) / n`` (the multinomial variance of the difference of two shares).
    Returns ``(nps, low, high)``, NaN where ``n == 0``; bounds clipped to [-1, 1].
    """
    P = np.asarray(promoters, dtype=float)
    D = np.asarray(detractors, dtype=float)
    N = np.asarray(n, dtype=float)
    zc = _st.norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        pp, pd_ = P / N, D / N
        v = pp - pd_
        se = np.sqrt(np.maximum(pp + pd_ - v**2, 0) / N)
        lo = np.where(N > 0, np.clip(v - zc * se, -1, 1), np.nan)
        hi = np.where(N > 0, np.clip(v + zc * se, -1, 1), np.nan)
        v = np.where(N > 0, v, np.nan)
    if v.ndim == 0:
        return float(v), float(lo), float(hi)
    return v, lo, hi


def nps_change_test(P1, D1, n1, P0, D0, n0, *, level: float = 0.95) -> dict:
    """Change of NPS between two independent samples: z-test with the multinomial variances summed."""
    out = {"value": np.nan, "base_value": np.nan, "change": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "test": "NPS z (multinomial variance)"}
    if not (n1 > 0 and n0 > 0):
        return out
    v1, v0 = (P1 - D1) / n1, (P0 - D0) / n0
    var = (P1 / n1 + D1 / n1 - v1**2) / n1 + (P0 / n0 + D0 / n0 - v0**2) / n0
    zc = _st.norm.ppf(0.5 + level / 2)
    out.update(value=float(v1), base_value=float(v0), change=float(v1 - v0))
    if var > 0:
        se = np.sqrt(var)
        out.update(ci_low=float(v1 - v0 - zc * se), ci_high=float(v1 - v0 + zc * se),
                   p_value=float(2 * _st.norm.sf(abs(v1 - v0) / se)))
    else:
        out.update(ci_low=v1 - v0, ci_high=v1 - v0, p_value=1.0 if v1 == v0 else 0.0)
    return out
