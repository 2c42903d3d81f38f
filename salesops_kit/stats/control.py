"""Control limits for KPI series and alerts with false-alarm control (issue 9).

Three charts, chosen by the kind of KPI (see ``salesops_kit.monitor.KPI_SPECS``):

* **p-chart** for rates (win rate, conversion, share satisfied): centre ``p̄`` = pooled rate of the
  baseline periods, limits ``p̄ ± z·sqrt(p̄(1−p̄)/n_t)``;
* **u-chart** for counts per period (deals won, new customers): centre ``ū`` = events per day over
  the baseline, limits ``ū ± z·sqrt(ū/e_t)`` with ``e_t`` the days in period ``t`` (a partial period
  has fewer days);
* **EWMA** for continuous KPIs (means, medians, totals, CAC, NPS): ``E_t = λ x_t + (1−λ) E_{t−1}``
  started at the baseline mean, limits ``μ ± z·σ·sqrt(λ/(2−λ)·(1−(1−λ)^{2j}))`` with ``σ`` from the
  baseline's average moving range (``MR̄ / 1.128``).

The baseline of period ``t`` is the ``baseline`` calendar periods before it (complete, testable
periods only; at least ``min_baseline`` of them, else the point is not judged). For p- and u-charts
the Laney (2002) factor ``σ_z = max(1, MR̄(z)/1.128)`` widens the limits when the baseline varies more
than binomial/Poisson noise (seasonality, overdispersion), so ordinary month-to-month swings of a
large series do not alarm. Points with fewer than ``min_expected`` expected events are *low volume*:
drawn, never alerted.

False alarms across the many KPI × segment series: every testable point in the review window gets
a two-sided p-value from its z-score; Benjamini–Hochberg q-values across all of them (``method="bh"``)
or a Bonferroni limit (``method="bonferroni"``) decide the alerts, and the drawn limits use the same
cut-off (``z*``), so a point is an alert exactly when it lies outside the drawn limits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from ..tools.validation import check_option
from .testing import bh_adjust

__all__ = ["p_chart_limits", "u_chart_limits", "ewma", "ewma_limits", "laney_sigma_z", "rate_chart",
           "count_chart", "mean_chart", "total_chart", "ewma_chart", "control_limits", "flag_alerts", "LIMIT_COLUMNS"]

D2 = 1.128  # E[moving range of 2] / sigma for normal data

LIMIT_COLUMNS = ["kpi", "kind", "segment", "period", "partial", "chart", "value", "stat", "center", "sigma",
                 "log", "z", "df", "p_value", "testable", "reason"]


# ---- hand-computable limit formulas ---------------------------------------------------------------

def p_chart_limits(pbar, n, *, z: float = 3.0):
    """p-chart limits ``p̄ ± z sqrt(p̄ (1 − p̄) / n)`` clipped to [0, 1] (vectorised; NaN where n = 0)."""
    p = np.asarray(pbar, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(n > 0, np.sqrt(p * (1 - p) / n), np.nan)
    return np.clip(p - z * se, 0, 1), np.clip(p + z * se, 0, 1)


def u_chart_limits(ubar, exposure, *, z: float = 3.0):
    """u-chart limits ``ū ± z sqrt(ū / e)`` (events per unit exposure), lower limit floored at 0."""
    u = np.asarray(ubar, dtype=float)
    e = np.asarray(exposure, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(e > 0, np.sqrt(u / e), np.nan)
    return np.maximum(u - z * se, 0), u + z * se


def ewma(x, *, lam: float = 0.3, start: float | None = None) -> np.ndarray:
    """Exponentially weighted moving average ``E_t = λ x_t + (1 − λ) E_{t−1}``, ``E_0 = start``
    (default: the first value). NaN values carry the previous EWMA forward."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    prev = x[0] if start is None and len(x) else start
    for i, v in enumerate(x):
        prev = prev if np.isnan(v) else lam * v + (1 - lam) * prev
        out[i] = prev
    return out


def ewma_limits(mu, sigma, j, *, lam: float = 0.3, z: float = 3.0):
    """EWMA limits after ``j`` updates: ``μ ± z σ sqrt(λ/(2−λ) (1 − (1−λ)^(2j)))`` (vectorised)."""
    j = np.asarray(j, dtype=float)
    w = np.asarray(sigma, dtype=float) * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * j)))
    return np.asarray(mu, dtype=float) - z * w, np.asarray(mu, dtype=float) + z * w


def laney_sigma_z(zscores) -> float:
    """Laney's ``σ_z`` = average moving range of consecutive z-scores / 1.128 (NaN-gaps skipped);
    NaN with fewer than two values."""
    z = np.asarray(zscores, dtype=float)
    z = z[~np.isnan(z)]
    if len(z) < 2:
        return np.nan
    return float(np.mean(np.abs(np.diff(z))) / D2)


# ---- vectorised charts on (series x periods) arrays ----------------------------------------------

def _window_sum(a: np.ndarray, baseline: int) -> np.ndarray:
    """Sum of the ``baseline`` columns strictly before each column (axis 1)."""
    c = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(a, axis=1)], axis=1)
    t = np.arange(a.shape[1])
    return c[:, t] - c[:, np.maximum(t - baseline, 0)]


def _shewhart(stat, size, ok, *, baseline: int, min_baseline: int, unit_var, laney: bool, z_exclude: float):
    """Sequential Shewhart chart with per-point standard errors on (S, T) arrays.

    For each period ``t`` the baseline is the eligible, not-excluded points among the ``baseline``
    periods before it: centre = size-weighted mean of their statistic, unit variance from
    ``unit_var(center, lo, t, use)``, ``sigma_t = sqrt(var / size_t) * factor`` (Laney factor of the
    baseline's z-scores, at least 1). A point beyond ``z_exclude`` is left out of later baselines
    (an out-of-control period must not become the new normal).
    """
    S, T = stat.shape
    center = np.full((S, T), np.nan)
    sigma = np.full((S, T), np.nan)
    factor = np.ones((S, T))
    excl = np.zeros((S, T), dtype=bool)
    z = np.full((S, T), np.nan)
    xs = np.where(ok, stat * size, 0.0)
    for t in range(T):
        lo = max(t - baseline, 0)
        use = ok[:, lo:t] & ~excl[:, lo:t]
        m = use.sum(axis=1)
        sz = np.where(use, size[:, lo:t], 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where((m >= min_baseline) & (sz > 0), np.where(use, xs[:, lo:t], 0.0).sum(axis=1) / sz, np.nan)
            v = unit_var(c, lo, t, use)
            if laney and t - lo >= 2:
                zz = np.where(use, (stat[:, lo:t] - c[:, None]) / np.sqrt(v[:, None] / size[:, lo:t]), np.nan)
                d = np.abs(np.diff(zz, axis=1))
                cnt = (~np.isnan(d)).sum(axis=1)
                mr = np.where(cnt > 0, np.nansum(d, axis=1) / np.maximum(cnt, 1), np.nan)
                factor[:, t] = np.where(cnt > 0, np.maximum(1.0, mr / D2), 1.0)
            sg = np.sqrt(v / size[:, t]) * factor[:, t]
            zt = (stat[:, t] - c) / sg
        center[:, t], sigma[:, t], z[:, t] = c, sg, zt
        excl[:, t] = ok[:, t] & (np.abs(np.nan_to_num(zt)) > z_exclude)
    return center, sigma, factor, z


def rate_chart(successes, trials, eligible, *, baseline: int = 12, min_baseline: int = 6, laney: bool = True,
               min_expected: float = 5.0, z_exclude: float = 3.0, exact: bool = True) -> dict:
    """p-chart on (series × periods) arrays.

    ``eligible`` marks complete periods, usable as baseline and for testing. The centre of period ``t``
    is the pooled rate of the eligible periods among the ``baseline`` before it (at least
    ``min_baseline`` of them; points beyond ``z_exclude`` are left out of later baselines).

    With ``exact`` (default) ``z`` is the normal equivalent of the exact binomial two-sided tail
    probability of the point at the centre rate (doubling the smaller tail), divided by the Laney
    factor; without it, the classical ``(p − p̄) / sigma``. ``sigma`` is then the standard error the
    exact test implies at the point (``|p − p̄| / |z|``), so drawn limits and alerts agree.

    Returns
    -------
    dict of (S, T) arrays: ``stat`` (the rate), ``center``, ``sigma`` (standard error of the rate at
    ``t``, Laney-widened), ``z``, ``factor`` (Laney), ``testable``, ``low_volume`` (expected successes
    or failures below ``min_expected``).
    """
    k = np.atleast_2d(np.asarray(successes, dtype=float))
    n = np.atleast_2d(np.asarray(trials, dtype=float))
    ok = np.atleast_2d(np.asarray(eligible, dtype=bool)) & (n > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    center, sigma, factor, z = _shewhart(stat, n, ok, baseline=baseline, min_baseline=min_baseline,
                                         unit_var=lambda c, lo, t, use: c * (1 - c), laney=laney,
                                         z_exclude=z_exclude)
    low = (n * center < min_expected) | (n * (1 - center) < min_expected)
    if exact:
        with np.errstate(invalid="ignore"):
            z = _exact_z(_st.binom.cdf(k, n, center), _st.binom.sf(k - 1, n, center), stat - center) / factor
            sigma = _implied_sigma(stat, center, z, sigma)
    testable = ok & np.isfinite(z) & ~low
    return {"stat": stat, "center": center, "sigma": sigma, "z": z, "factor": factor, "testable": testable,
            "low_volume": low}


def _implied_sigma(stat, center, z, sigma):
    """The standard error implied by the exact test at each point, ``|x − c| / |z|`` (the normal one
    where the point sits near the centre), so that the drawn limits ``c ± z* sigma`` put a point
    outside exactly when its exact test crosses the alert cut-off."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(z) > 0.5, np.abs(stat - center) / np.abs(z), sigma)


def _exact_z(lower, upper, sign):
    """Normal-equivalent z of an exact two-sided tail probability ``min(1, 2 min(P(X <= x), P(X >= x)))``
    (signed by the direction of the deviation)."""
    p = np.clip(2 * np.minimum(lower, upper), 1e-300, 1.0)
    return np.sign(sign) * _st.norm.isf(p / 2)


def count_chart(counts, exposure, eligible, *, baseline: int = 12, min_baseline: int = 6, laney: bool = True,
                min_expected: float = 5.0, z_exclude: float = 3.0, exact: bool = True) -> dict:
    """u-chart on (series × periods) arrays: events per unit of exposure (days in the period).

    Same outputs as :func:`rate_chart`, in events per exposure unit (multiply by the exposure for
    counts); low volume when the expected count ``ū e_t`` is below ``min_expected``; ``exact`` uses
    Poisson tails at ``ū e_t``.
    """
    c = np.atleast_2d(np.asarray(counts, dtype=float))
    e = np.atleast_2d(np.asarray(exposure, dtype=float))
    ok = np.atleast_2d(np.asarray(eligible, dtype=bool)) & (e > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(e > 0, c / np.where(e > 0, e, 1), np.nan)
    center, sigma, factor, z = _shewhart(stat, e, ok, baseline=baseline, min_baseline=min_baseline,
                                         unit_var=lambda u, lo, t, use: u, laney=laney, z_exclude=z_exclude)
    low = e * center < min_expected
    if exact:
        with np.errstate(invalid="ignore"):
            z = _exact_z(_st.poisson.cdf(c, e * center), _st.poisson.sf(c - 1, e * center), stat - center) / factor
            sigma = _implied_sigma(stat, center, z, sigma)
    testable = ok & np.isfinite(z) & ~low
    return {"stat": stat, "center": center, "sigma": sigma, "z": z, "factor": factor, "testable": testable,
            "low_volume": low}


def mean_chart(means, sizes, variances, eligible, *, baseline: int = 12, min_baseline: int = 6,
               laney: bool = True, z_exclude: float = 3.0) -> dict:
    """X̄-chart with varying sample sizes on (series × periods) arrays (e.g. CSAT mean per rep-month).

    Centre = size-weighted mean of the baseline means; unit variance = pooled within-period variance
    of the baseline, ``Σ (n_i − 1) s_i² / Σ (n_i − 1)``; ``sigma_t = sqrt(var / n_t)`` × Laney factor
    (between-period variation beyond sampling noise widens the limits). Also used for NPS, whose
    per-answer variance is ``variances`` = ``p+ + p− − (p+ − p−)²``.
    """
    x = np.atleast_2d(np.asarray(means, dtype=float))
    n = np.atleast_2d(np.asarray(sizes, dtype=float))
    s2 = np.atleast_2d(np.asarray(variances, dtype=float))
    ok = np.atleast_2d(np.asarray(eligible, dtype=bool)) & (n > 1) & ~np.isnan(x) & ~np.isnan(s2)
    ss = np.where(ok, (n - 1) * s2, 0.0)
    dfw = np.where(ok, n - 1, 0.0)

    def var(c, lo, t, use):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(use, ss[:, lo:t], 0).sum(axis=1) / np.where(use, dfw[:, lo:t], 0).sum(axis=1)

    center, sigma, factor, z = _shewhart(x, n, ok, baseline=baseline, min_baseline=min_baseline, unit_var=var,
                                         laney=laney, z_exclude=z_exclude)
    testable = ok & np.isfinite(z)
    return {"stat": x, "center": center, "sigma": sigma, "z": z, "factor": factor, "testable": testable,
            "low_volume": np.zeros_like(ok)}


def total_chart(totals, sumsq, exposure, eligible, *, counts=None, baseline: int = 12, min_baseline: int = 6,
                laney: bool = True, z_exclude: float = 3.0, min_expected: float = 10.0) -> dict:
    """Chart of a period total of amounts (won revenue) as a compound-Poisson sum, on (S, T) arrays.

    The statistic is the total per unit of exposure (days, × seasonal factor); centre = baseline total /
    baseline exposure; a total over exposure ``e`` has variance ``e q`` with ``q`` = baseline sum of
    squared amounts / baseline exposure (the compound-Poisson variance, deals arriving at random with
    random sizes), so ``sigma_t = sqrt(q / e_t)`` × Laney factor. With ``counts`` (deals per period) a
    period expecting fewer than ``min_expected`` deals is low volume: a total of a handful of skewed
    amounts is far from normal. Outputs as :func:`rate_chart`, per unit of exposure.
    """
    x = np.atleast_2d(np.asarray(totals, dtype=float))
    q2 = np.atleast_2d(np.asarray(sumsq, dtype=float))
    e = np.atleast_2d(np.asarray(exposure, dtype=float))
    ok = np.atleast_2d(np.asarray(eligible, dtype=bool)) & (e > 0) & ~np.isnan(x) & ~np.isnan(q2)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(e > 0, x / np.where(e > 0, e, 1), np.nan)
    q2u = np.where(ok, q2, 0.0)
    eu = np.where(ok, e, 0.0)

    def var(c, lo, t, use):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(use, q2u[:, lo:t], 0).sum(axis=1) / np.where(use, eu[:, lo:t], 0).sum(axis=1)

    center, sigma, factor, z = _shewhart(stat, e, ok, baseline=baseline, min_baseline=min_baseline, unit_var=var,
                                         laney=laney, z_exclude=z_exclude)
    low = np.zeros_like(ok)
    if counts is not None:
        n = np.atleast_2d(np.asarray(counts, dtype=float))
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = _window_sum(np.where(ok, n, 0.0), baseline) / _window_sum(eu, baseline)
        low = ~(rate * e >= min_expected)
    testable = ok & np.isfinite(z) & (sigma > 0) & ~low
    return {"stat": stat, "center": center, "sigma": sigma, "z": z, "factor": factor, "testable": testable,
            "low_volume": low}


def ewma_chart(values, eligible, *, lam: float = 0.3, baseline: int = 12, min_baseline: int = 6,
               z_exclude: float = 3.0, gap: int = 3, sd: str = "mr") -> dict:
    """EWMA chart on (series × periods) arrays with a trailing baseline.

    For period ``t`` the baseline is the eligible values among the ``baseline`` periods ending ``gap``
    periods before it (the EWMA's own recent memory is kept out of its baseline, else a shift drags
    the centre along; points whose EWMA went beyond ``z_exclude`` are left out too): its mean ``μ_t``
    and ``σ_t = MR̄ / 1.128`` (moving ranges of adjacent baseline periods; ``sd="sd"`` uses the
    standard deviation instead). The EWMA starts at ``μ`` of the first period with a
    baseline of at least ``min_baseline`` values and is updated by eligible values only (others carry
    it forward); ``sigma`` at ``t`` is ``σ_t sqrt(λ/(2−λ) (1 − (1−λ)^(2j)))`` after ``j`` updates.

    Returns a dict of (S, T) arrays: ``stat`` (the EWMA), ``center`` (μ), ``sigma``, ``z``, ``testable``,
    ``df`` (degrees of freedom to judge ``z`` with: σ is estimated from few moving ranges).
    """
    x = np.atleast_2d(np.asarray(values, dtype=float))
    ok = np.atleast_2d(np.asarray(eligible, dtype=bool)) & ~np.isnan(x)
    S, T = x.shape
    mu = np.full((S, T), np.nan)
    sig = np.full((S, T), np.nan)
    sigma = np.full((S, T), np.nan)
    stat = np.full((S, T), np.nan)
    z = np.full((S, T), np.nan)
    mcount = np.zeros((S, T))
    excl = np.zeros((S, T), dtype=bool)
    prev = np.full(S, np.nan)
    steps = np.zeros(S)
    for t in range(T):
        hi_ = max(t - gap, 0)
        lo = max(hi_ - baseline, 0)
        use = ok[:, lo:hi_] & ~excl[:, lo:hi_]
        m = use.sum(axis=1)
        mcount[:, t] = m
        xw = np.where(use, x[:, lo:hi_], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu[:, t] = np.where(m >= min_baseline, np.where(use, x[:, lo:hi_], 0).sum(axis=1) / np.maximum(m, 1),
                                np.nan)
            if sd == "mr":
                d = np.abs(np.diff(xw, axis=1)) if hi_ - lo >= 2 else np.full((S, 0), np.nan)
                cnt = (~np.isnan(d)).sum(axis=1)
                sig[:, t] = np.where((cnt > 0) & (m >= min_baseline),
                                     np.nansum(d, axis=1) / np.maximum(cnt, 1) / D2, np.nan)
            else:
                sig[:, t] = np.where(m >= min_baseline, np.nanstd(xw, axis=1, ddof=1), np.nan)
        start = np.isnan(prev) & ~np.isnan(mu[:, t])
        prev = np.where(start, mu[:, t], prev)
        upd = ok[:, t] & ~np.isnan(prev)
        # an ineligible point (partial period) is shown as if updated but does not move the running EWMA
        shown = np.where(~np.isnan(x[:, t]) & ~np.isnan(prev), lam * x[:, t] + (1 - lam) * prev, prev)
        prev = np.where(upd, shown, prev)
        steps = steps + upd
        j = np.where(upd, steps, steps + (~np.isnan(x[:, t])))
        stat[:, t] = shown
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma[:, t] = sig[:, t] * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * j)))
            z[:, t] = (shown - mu[:, t]) / sigma[:, t]
        # leave a period out of later baselines when its own value (not the EWMA, which carries
        # earlier periods) lies beyond z_exclude baseline sigmas
        with np.errstate(invalid="ignore", divide="ignore"):
            raw_z = (x[:, t] - mu[:, t]) / sig[:, t]
        excl[:, t] = ok[:, t] & (np.abs(np.nan_to_num(raw_z)) > z_exclude)
    testable = ok & np.isfinite(z)
    # σ comes from few moving ranges: judge z against Student t with ≈ 0.62 (m − 1) degrees of freedom
    # (the usual effective df of an MR-based σ), which keeps false alarms at or below nominal
    df = np.maximum(0.62 * (mcount - 1), 1.0) if sd == "mr" else np.maximum(mcount - 1, 1.0)
    return {"stat": stat, "center": mu, "sigma": sigma, "z": z, "factor": np.ones((S, T)), "testable": testable,
            "low_volume": np.zeros((S, T), dtype=bool), "df": df}


# ---- DataFrame wrappers ---------------------------------------------------------------------------

CHART_OF_KIND = {"rate": "p", "count": "u", "sum": "cp", "mean": "xbar", "nps": "xbar"}  # else: EWMA


def control_limits(series: pd.DataFrame, *, baseline: int = 12, min_baseline: int = 6, lam: float = 0.3,
                   laney: bool = True, min_expected: float = 5.0, charts: dict | None = None,
                   log_kpis=()) -> pd.DataFrame:
    """Control-chart statistics for every point of every KPI × segment series.

    Parameters
    ----------
    series : DataFrame with ``kpi, kind, segment, period, partial, value, n, successes, days`` and
        optionally ``low_volume`` (one row per KPI × segment × period; see ``monitor.kpi_series``).
        ``kind`` picks the chart: ``rate`` → p-chart on ``successes / n``, ``count`` → u-chart on
        ``n`` events over ``days``, ``sum`` → compound-Poisson chart of ``value`` over ``days`` with the
        period's sum of squared amounts in ``unit_var``, ``mean``/``nps`` → X̄-chart on ``value`` with ``n``
        and the per-answer variance ``unit_var``, anything else → EWMA of ``value``. ``charts``
        (kpi -> ``p``/``u``/``xbar``/``ewma``) overrides the chart of a KPI. An optional ``season`` column
        (multiplicative seasonal factor of the period, default 1) scales the u-chart's exposure and
        deseasonalises EWMA values.
        KPIs in ``log_kpis`` get their EWMA on the log scale (``sigma`` then in log units, ``log`` True).

    Returns
    -------
    DataFrame ``kpi, kind, segment, period, partial, chart, value, stat, center, sigma, log, z, df,
    p_value, testable, reason`` in KPI units (u-chart centre and sigma multiplied by the period's days), sorted
    by kpi, segment, period. ``reason`` says why a point is not judged (partial period, low volume,
    short baseline).
    """
    if series is None or len(series) == 0:
        return pd.DataFrame(columns=LIMIT_COLUMNS)
    opts = {"baseline": baseline, "min_baseline": min_baseline, "laney": laney, "min_expected": min_expected,
            "lam": lam}
    out = []
    for (kpi, kind), g in series.groupby(["kpi", "kind"], sort=True):
        grid = _Grid(g)
        chart = (charts or {}).get(kpi) or CHART_OF_KIND.get(kind, "ewma")
        r, scale = _run_chart(chart, grid, log=kpi in log_kpis, **opts)
        out.append(_limit_frame(kpi, kind, chart, grid, r, scale, log=kpi in log_kpis and chart == "ewma"))
    res = pd.concat(out, ignore_index=True)
    return res.sort_values(["kpi", "segment", "period"], kind="stable").reset_index(drop=True)


class _Grid:
    """One KPI's series as segment x period matrices (missing points NaN), with the points that can be judged."""

    def __init__(self, g: pd.DataFrame):
        self.periods = np.sort(g["period"].unique())
        self.segs = np.sort(g["segment"].unique())
        idx = pd.MultiIndex.from_product([self.segs, self.periods], names=["segment", "period"])
        self.w = g.set_index(["segment", "period"]).reindex(idx)
        shape = (len(self.segs), len(self.periods))
        self.present = ~np.isnan(self.arr("value"))
        self.partial = self.w["partial"].astype("boolean").fillna(False).to_numpy(dtype=bool).reshape(shape)
        self.lowv = (self.w["low_volume"].astype("boolean").fillna(False).to_numpy(dtype=bool).reshape(shape)
                     if "low_volume" in self.w else np.zeros_like(self.partial))
        self.elig = self.present & ~self.partial & ~self.lowv
        season = self.arr("season", 1.0) if "season" in self.w else np.ones(shape)
        self.season = np.where(np.isfinite(season) & (season > 0), season, 1.0)

    def arr(self, col, fill=np.nan):
        v = self.w[col] if col in self.w else pd.Series(fill, index=self.w.index)
        return v.to_numpy(dtype=float, na_value=fill).reshape(len(self.segs), len(self.periods))


def _run_chart(chart: str, grid: _Grid, *, log: bool, baseline, min_baseline, laney, min_expected, lam):
    """The chart's statistics for every point, and the factor that puts them back in KPI units."""
    arr, elig, season = grid.arr, grid.elig, grid.season
    if chart == "p":
        r = rate_chart(arr("successes", 0), arr("n", 0), elig, baseline=baseline, min_baseline=min_baseline,
                       laney=laney, min_expected=min_expected)
        return r, np.ones_like(r["stat"])
    if chart == "u":  # seasonal exposure: a month expected to be 30% busier counts as 1.3x the days
        days = arr("days", 0) * season
        return count_chart(arr("n", 0), days, elig, baseline=baseline, min_baseline=min_baseline, laney=laney,
                           min_expected=min_expected), days
    if chart == "cp":  # compound-Poisson total, seasonal exposure
        days = arr("days", 0) * season
        return total_chart(arr("value"), arr("unit_var"), days, elig, counts=arr("n", 0), baseline=baseline,
                           min_baseline=min_baseline, laney=laney), days
    if chart == "xbar":
        r = mean_chart(arr("value"), arr("n", 0), arr("unit_var"), elig, baseline=baseline,
                       min_baseline=min_baseline, laney=laney)
        return r, np.ones_like(r["stat"])
    if log:  # EWMA of log values (skewed KPIs such as response times), shown back as values
        with np.errstate(invalid="ignore", divide="ignore"):
            lv = np.log(np.where(arr("value") > 0, arr("value") / season, np.nan))
        r = ewma_chart(lv, elig & ~np.isnan(lv), lam=lam, baseline=baseline, min_baseline=min_baseline)
        return {**r, "stat": np.exp(r["stat"]), "center": np.exp(r["center"])}, season
    # EWMA of the seasonally adjusted value, shown back in this period's units
    return ewma_chart(arr("value") / season, elig, lam=lam, baseline=baseline, min_baseline=min_baseline), season


def _limit_frame(kpi, kind, chart: str, grid: _Grid, r: dict, scale, *, log: bool) -> pd.DataFrame:
    """One row per present point: value, chart statistic, centre and sigma in KPI units, z, p-value, reason."""
    segs, periods, present, partial = grid.segs, grid.periods, grid.present, grid.partial
    df = r.get("df", np.full(r["stat"].shape, np.inf))
    with np.errstate(invalid="ignore"):
        pv = np.where(r["testable"], 2 * _st.t.sf(np.abs(r["z"]), df), np.nan)
    reason = np.where(~present, "no data", np.where(partial, "partial period", np.where(
        grid.lowv | r["low_volume"], "low volume", np.where(np.isnan(r["center"]), "baseline too short",
                                                            np.where(r["testable"], "", "not judged")))))
    frame = pd.DataFrame({
        "kpi": kpi, "kind": kind, "segment": np.repeat(segs, len(periods)),
        "period": np.tile(periods, len(segs)), "partial": partial.ravel(), "chart": chart,
        "value": grid.arr("value").ravel(), "stat": (r["stat"] * scale).ravel(),
        "center": (r["center"] * scale).ravel(), "sigma": (r["sigma"] * (1 if log else scale)).ravel(), "log": log,
        "z": r["z"].ravel(), "df": df.ravel(), "p_value": pv.ravel(), "testable": r["testable"].ravel(),
        "reason": reason.ravel(),
    })
    return frame[present.ravel()]


def flag_alerts(limits: pd.DataFrame, *, periods=None, alpha: float = 0.05, method: str = "bh") -> pd.DataFrame:
    """Decide alerts across all series at once and draw the matching limits.

    Parameters
    ----------
    limits : output of :func:`control_limits`.
    periods : the review window (period starts); None = every period.
    alpha : false-discovery rate (``method="bh"``, Benjamini–Hochberg over every testable point in the
        window, all KPIs × segments together) or family-wise error (``method="bonferroni"``).

    Returns
    -------
    ``limits`` plus ``in_window, q_value, lcl, ucl, alert, direction`` (``up``/``down``/``""``). The
    limits are ``center ± z* sigma`` with ``z*`` the cut-off at which a point becomes an alert (the
    largest BH-rejected p-value, or ``alpha / m`` when nothing is rejected / for Bonferroni), so a
    judged point is an alert exactly when it lies outside them.
    """
    check_option("method", method, {"bh": "false-discovery rate", "bonferroni": "family-wise"}, where="flag_alerts")
    df = limits.copy()
    if periods is None:
        inw = np.ones(len(df), dtype=bool)
    else:
        inw = df["period"].isin(pd.to_datetime(pd.Index(periods))).to_numpy()
    cand = inw & df["testable"].to_numpy(dtype=bool)
    p = df["p_value"].to_numpy(dtype=float)
    q = np.full(len(df), np.nan)
    m = int(cand.sum())
    cut = alpha / max(m, 1)
    if m:
        if method == "bh":
            q[cand] = bh_adjust(p[cand])
        else:
            q[cand] = np.minimum(1.0, p[cand] * m)
        rejected = cand & (q <= alpha)
        if method == "bh" and rejected.any():
            cut = max(cut, float(p[rejected].max()))
    zstar = _st.t.isf(cut / 2, df["df"].to_numpy(dtype=float)) if len(df) else np.array([])
    df["in_window"] = inw
    df["q_value"] = q
    df["lcl"] = df["center"] - zstar * df["sigma"]
    df["ucl"] = df["center"] + zstar * df["sigma"]
    if "log" in df and df["log"].any():
        lg = df["log"].astype(bool).to_numpy()
        df.loc[lg, "lcl"] = df.loc[lg, "center"] * np.exp(-zstar[lg] * df.loc[lg, "sigma"])
        df.loc[lg, "ucl"] = df.loc[lg, "center"] * np.exp(zstar[lg] * df.loc[lg, "sigma"])
    if len(df):
        lo_clip = df["kind"].isin(["rate", "count", "sum", "mean", "median", "ratio"])
        df.loc[lo_clip, "lcl"] = df.loc[lo_clip, "lcl"].clip(lower=0)
        df.loc[df["kind"] == "rate", "ucl"] = df.loc[df["kind"] == "rate", "ucl"].clip(upper=1)
    df["alert"] = cand & (q <= alpha)
    df["direction"] = np.where(df["alert"], np.where(df["z"] > 0, "up", "down"), "")
    df.attrs["z_star_cut"] = cut
    df.attrs["tests"] = m
    return df
