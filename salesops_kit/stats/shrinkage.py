"""Empirical-Bayes shrinkage of rates across groups (beta-binomial prior fitted by maximum likelihood)
and funnel-plot control limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize as _opt
from scipy import stats as _st

from ..tools.validation import check_level, renamed_keyword

__all__ = ["BetaBinomialFit", "fit_beta_binomial", "plausible_prior", "shrink_rates", "funnel_limits",
           "NO_OVERDISPERSION"]


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
NO_OVERDISPERSION = "ml (no overdispersion)"  # the method of a fit that ran to the concentration bound


def _bb_nll(k, n):
    def nll(theta):
        m = 1 / (1 + np.exp(-theta[0]))
        s = np.exp(theta[1])
        return -_st.betabinom.logpmf(k, n, m * s, (1 - m) * s).sum()

    return nll


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

    nll = _bb_nll(k, n)
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
    method = NO_OVERDISPERSION if best.x[1] >= hi_s - 1e-3 else "ml"
    return BetaBinomialFit(float(m * s), float((1 - m) * s), float(-best.fun), int(len(k)), method)


def plausible_prior(successes, trials, fit: BetaBinomialFit | None = None, *, level: float = 0.95) -> BetaBinomialFit:
    """The prior to shrink with: ``fit`` itself, unless its concentration ran to the bound (no overdispersion).

    At the bound the maximum-likelihood prior says every group has the pooled rate exactly (a prior worth a
    million trials), so each group's posterior interval collapses to the pooled rate whatever its own sample:
    a rep with 20 deals got the same narrow interval as one with 500. "No overdispersion found" is not "no
    overdispersion": the data are as consistent with a weaker prior down to the lower end of the
    concentration's likelihood interval: at the fitted (pooled) mean, the smallest ``alpha + beta`` whose
    log-likelihood lies within ``chi2(1).ppf(level) / 2`` of the maximum. That prior is returned, so each interval
    reflects the group's own sample and the uncertainty in the prior; its ``method`` says so. ``fit`` defaults
    to :func:`fit_beta_binomial` of the counts.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    fit = fit if fit is not None else fit_beta_binomial(k, n)
    if fit.method != NO_OVERDISPERSION:
        return fit
    ok = n > 0
    nll = _bb_nll(k[ok], n[ok])
    x = float(np.log(fit.mean / (1 - fit.mean)))
    target = -fit.loglik + _st.chi2.ppf(level, 1) / 2  # a concentration with nll above this is rejected
    lo, hi = np.log(1e-3), np.log(_MAX_CONC)
    if nll(np.array([x, lo])) <= target:
        log_s = lo  # not even the weakest prior is rejected
    else:
        log_s = _opt.brentq(lambda v: nll(np.array([x, v])) - target, lo, hi, xtol=1e-8)
    s = float(np.exp(log_s))
    return BetaBinomialFit(fit.mean * s, (1 - fit.mean) * s, -float(nll(np.array([x, log_s]))), fit.n_groups,
                           f"{NO_OVERDISPERSION}: prior strength {s:,.0f}, the weakest the data allow "
                           f"({level:.0%} likelihood interval)")


def shrink_rates(successes, trials, *, fit: BetaBinomialFit | None = None, level: float = 0.95) -> pd.DataFrame:
    """Empirical-Bayes shrunk rates with equal-tailed posterior intervals.

    Posterior of group ``i`` is ``Beta(alpha + k_i, beta + n_i - k_i)``; the shrunk rate is its mean. The prior
    is :func:`plausible_prior` of ``fit`` (the maximum-likelihood fit by default): when the fit finds no
    overdispersion the prior is the weakest the data allow, never full pooling, so each group's interval
    still reflects its own sample.

    Returns
    -------
    DataFrame, one row per input group (input order): ``successes, trials, raw_rate`` (NaN when
    n = 0), ``shrunk_rate, shrunk_low, shrunk_high, post_alpha, post_beta, weight`` (the weight of the
    group's own rate, ``n / (n + alpha + beta)``).
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    fit = plausible_prior(k, n, fit, level=level)
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
