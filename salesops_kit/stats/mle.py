"""Maximum-likelihood machinery shared by the CLV models (BG/NBD, Gamma-Gamma, sBG).

Fits run in log-parameter space on a mean negative log-likelihood with an analytic gradient:
L-BFGS-B (or, for large inputs, fixed-metric Newton steps from a subsample fit), then Newton
polish on the numerical Hessian, which also gives the standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as _st

from ..tools.results import Result
from ..tools.validation import check_level

__all__ = ["FittedModel", "compress_rows"]


def compress_rows(*cols, weights=None):
    """Compress identical rows to unique rows with summed weights.

    Returns ``(unique_columns_tuple, weights)``; unique rows are sorted lexicographically. Each
    column is factorised (hash, sorted codes) and the codes are combined into one integer key, so
    the cost is one 1-D sort instead of a row-wise sort.
    """
    arrs = [np.asarray(c, dtype=float) for c in cols]
    n = len(arrs[0]) if arrs else 0
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if n == 0:
        return tuple(np.empty(0) for _ in cols), np.empty(0)
    codes, uniques = zip(*(pd.factorize(a, sort=True) for a in arrs), strict=True)
    sizes = [len(u) for u in uniques]
    if float(np.prod(np.asarray(sizes, dtype=float))) < 2**62:
        key = np.zeros(n, dtype=np.int64)
        for c, s in zip(codes, sizes, strict=True):
            key = key * s + c
        ukey, inv = np.unique(key, return_inverse=True)
        out = []
        for s, u in zip(reversed(sizes), reversed(uniques), strict=True):
            out.append(np.asarray(u, dtype=float)[ukey % s])
            ukey = ukey // s
        wsum = np.bincount(inv.ravel(), weights=w, minlength=len(out[0]))
        return tuple(reversed(out)), wsum
    uniq, inv = np.unique(np.column_stack(arrs), axis=0, return_inverse=True)
    wsum = np.bincount(inv.ravel(), weights=w, minlength=len(uniq))
    return tuple(uniq[:, j] for j in range(uniq.shape[1])), wsum


def dot(u, v) -> float:
    """Σ u·v without BLAS (a 1-D BLAS ddot is slow when its threads compete for few cores)."""
    return float(np.add.reduce(np.multiply(u, v)))


def _num_hessian(grad, theta, h=1e-5):
    """Central-difference Jacobian of an analytic gradient, symmetrised."""
    k = len(theta)
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return (H + H.T) / 2


def _noise(f: float) -> float:
    """Floating-point noise level of a mean log-likelihood value."""
    return 1e-12 * (1.0 + abs(f))


def _backtrack(fun_grad, theta, step, f, *, bound, t_min):
    """Halve the step from ``theta - step`` until the objective does not rise above the noise.

    Returns ``(candidate, f, gradient)``, or None when the step shrank below ``t_min``.
    """
    t = 1.0
    while t > t_min:
        cand = np.clip(theta - t * step, -bound, bound)
        fc, gc = fun_grad(cand)
        if np.isfinite(fc) and fc <= f + _noise(f):
            return cand, fc, gc
        t /= 2
    return None


def _fixed_metric_newton(fun_grad, theta, H, *, bound, tol=1e-9, max_iter=30):
    """Newton-type steps with a fixed Hessian (from a subsample fit): cheap and linearly convergent
    near the optimum. Returns ``(theta, reached_tol)``."""
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return theta, False
    f, g = fun_grad(theta)
    for _ in range(max_iter):
        if not np.isfinite(f):
            return theta, False
        if np.max(np.abs(g)) < tol:
            return theta, True
        found = _backtrack(fun_grad, theta, np.linalg.solve(H, g), f, bound=bound, t_min=1e-4)
        if found is None:
            return theta, False
        theta, f, g = found
    return theta, False


def maximise(fun_grad, x0, *, bound=25.0, H0=None):
    """Minimise a mean negative log-likelihood in log-parameter space, then Newton-polish.

    Large inputs start from a subsample fit (``H0`` its Hessian) with fixed-metric Newton steps;
    otherwise (or if that fails) L-BFGS-B, with Nelder-Mead if it ends on a non-finite value. A
    few Newton steps on the numerical Hessian of the analytic gradient then polish the optimum.
    Returns ``(theta, converged, message, hessian_of_mean_nll)``.
    """
    x0 = np.asarray(x0, dtype=float)
    bounds = [(-bound, bound)] * len(x0)
    with np.errstate(all="ignore"):
        ok = False
        if H0 is not None:
            theta, ok = _fixed_metric_newton(fun_grad, x0, H0, bound=bound)
            message = "Newton steps from a subsample fit reached the gradient tolerance"
        if not ok:
            res = optimize.minimize(fun_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-9})
            theta, message = res.x, str(res.message)
            if not np.isfinite(res.fun):
                nm = optimize.minimize(lambda t: fun_grad(t)[0], x0, method="Nelder-Mead",
                                       options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-14})
                theta = nm.x

        def grad(t):
            return fun_grad(t)[1]

        f, g = fun_grad(theta)
        H = _num_hessian(grad, theta)
        for _ in range(30):  # Newton polish, step halving only on a real increase
            if np.max(np.abs(g)) < 1e-11:
                break
            try:
                np.linalg.cholesky(H)
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            found = _backtrack(fun_grad, theta, step, f, bound=bound, t_min=1e-6)
            if found is None:
                break
            cand, fc, gc = found
            if np.max(np.abs(gc)) >= np.max(np.abs(g)) and fc >= f - _noise(f):
                break  # no progress left above the floating-point noise
            moved = np.max(np.abs(cand - theta))
            theta, f, g = cand, fc, gc
            if moved > 1e-4:  # far from where H was taken: refresh it
                H = _num_hessian(grad, theta)
    try:
        np.linalg.cholesky(H)
        pos_def = True
    except np.linalg.LinAlgError:
        pos_def = False
    converged = bool(np.all(np.isfinite(theta)) and np.max(np.abs(g)) < 1e-6 and pos_def
                     and np.all(np.abs(theta) < bound - 1e-6))
    if not converged:
        message = (f"not converged: max |gradient| {np.max(np.abs(g)):.2g}, Hessian positive definite: {pos_def}, "
                   f"parameter at the log-bound: {bool(np.any(np.abs(theta) >= bound - 1e-6))} ({message})")
    return theta, converged, message, H


def warm_start(make_fg, cols, w, x0, *, max_rows: int = 20000):
    """Start point and Hessian from a fit on a deterministic subsample of the compressed rows
    (inputs with more than ``2 * max_rows`` distinct rows only); ``(x0, None)`` otherwise."""
    n = len(w)
    if n <= 2 * max_rows:
        return x0, None
    idx = np.random.default_rng(0).choice(n, size=max_rows, replace=False)
    idx.sort()
    fg = make_fg(*(c[idx] for c in cols), w[idx])
    with np.errstate(all="ignore"):
        res = optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=[(-25.0, 25.0)] * len(x0),
                                options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8})
        if not (np.all(np.isfinite(res.x)) and np.isfinite(res.fun)):
            return x0, None
        H = _num_hessian(lambda z: fg(z)[1], res.x)
    return res.x, (H if np.all(np.isfinite(H)) else None)


@dataclass(frozen=True, repr=False)
class FittedModel(Result):
    """A maximum-likelihood fit: parameters, log-likelihood, standard errors, intervals, convergence.

    ``params``, ``standard_errors``, ``ci_low`` and ``ci_high`` are Series indexed by parameter name;
    ``covariance_log`` is the covariance of the log-parameters (inverse observed information).
    """

    model: str
    params: pd.Series
    log_likelihood: float
    standard_errors: pd.Series
    ci_low: pd.Series
    ci_high: pd.Series
    converged: bool
    message: str
    n_obs: float
    n_patterns: int
    covariance_log: np.ndarray = field(repr=False)

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals on the log scale, exponentiated: columns ``ci_low, ci_high``."""
        z = _st.norm.ppf(0.5 + check_level(level) / 2)
        se_log = np.sqrt(np.clip(np.diag(self.covariance_log), 0, None))
        lp = np.log(self.params.to_numpy())
        return pd.DataFrame({"ci_low": np.exp(lp - z * se_log), "ci_high": np.exp(lp + z * se_log)},
                            index=self.params.index)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per parameter: ``param, estimate, std_error, ci_low, ci_high`` (+ fit attributes in ``attrs``)."""
        ci = self.confidence_intervals(level)
        df = pd.DataFrame({"param": self.params.index, "estimate": self.params.to_numpy(),
                           "std_error": self.standard_errors.to_numpy(),
                           "ci_low": ci["ci_low"].to_numpy(), "ci_high": ci["ci_high"].to_numpy()})
        df.attrs.update(model=self.model, log_likelihood=self.log_likelihood, converged=self.converged,
                        n_obs=self.n_obs, level=level)
        return df

    def headline(self) -> str:
        ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"{self.model}: {ps}; log-likelihood {self.log_likelihood:.3f}; converged: {self.converged}"

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.summary().round(6).to_html(index=False)


def build_fit(cls, model, names, theta, shift, converged, message, H_mean, total_w, n_patterns, ll, **extra):
    """Assemble a fitted object from log-parameters (``shift`` rescales to the input time unit)."""
    theta_nat = theta + shift
    params = pd.Series(np.exp(theta_nat), index=names, dtype=float)
    try:
        cov = np.linalg.inv(H_mean * total_w)
    except np.linalg.LinAlgError:
        cov = np.full((len(names), len(names)), np.nan)
    se_log = np.sqrt(np.clip(np.diag(cov), 0, None))
    z = _st.norm.ppf(0.975)
    with np.errstate(over="ignore", invalid="ignore"):
            return cls(model=model, params=params, log_likelihood=float(ll),
                   standard_errors=pd.Series(params.to_numpy() * se_log, index=names),
                   ci_low=pd.Series(np.exp(theta_nat - z * se_log), index=names),
                   ci_high=pd.Series(np.exp(theta_nat + z * se_log), index=names),
                   converged=converged, message=message, n_obs=float(total_w), n_patterns=int(n_patterns),
                   covariance_log=cov, **extra)
