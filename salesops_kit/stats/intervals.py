"""Intervals and effect sizes: Wilson and Newcombe intervals for proportions, a distribution-free median
interval, the NPS interval, Cohen's h and a weighted quantile.

Everything here works on small arrays (one value per stage, rep, month); no DataFrame scanning.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

__all__ = ["wilson_interval", "newcombe_diff_interval", "median_ci", "nps_interval", "cohens_h", "weighted_quantile"]


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
