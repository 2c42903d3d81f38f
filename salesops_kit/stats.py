"""Shared statistics: Wilson/beta intervals, false-discovery control, bootstrap, shrinkage.

Everything here works on small arrays (one value per stage, rep, month); no DataFrame scanning.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

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


# --- shrinkage and rep comparisons (issue 6) -------------------------------------------------------
