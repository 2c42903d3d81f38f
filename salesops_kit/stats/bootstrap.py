"""Percentile bootstrap: the interval of a statistic and the difference of two independent samples."""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

__all__ = ["bootstrap_ci", "bootstrap_diff"]


def bootstrap_ci(values, statistic=np.mean, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval of ``statistic`` over ``values`` (deterministic with ``seed``)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan
    res = _st.bootstrap((x,), statistic, n_resamples=n_boot, confidence_level=level, method="percentile",
                        random_state=np.random.default_rng(seed), vectorized=False)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


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
