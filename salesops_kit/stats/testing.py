"""Hypothesis tests and false-discovery control: two-proportion and chi-square tests, Fisher against the
rest, the period-over-period change tests (rate, Poisson, sum, NPS) and Benjamini-Hochberg q-values.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

from .intervals import newcombe_diff_interval

__all__ = ["two_proportion_test", "chi_square_independence", "fisher_vs_rest", "rate_change_test", "poisson_rate_test",
           "sum_change_test", "nps_change_test", "bh_adjust"]


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


def bh_adjust(pvalues):
    """Benjamini-Hochberg q-values (scipy.stats.false_discovery_control); NaN p-values stay NaN."""
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = _st.false_discovery_control(p[ok], method="bh")
    return q
