"""The per-customer value table (what lifetimes users build first): frequency, recency, T, monetary value, P(alive),
expected purchases in the next 90 and 365 days and the predictive CLV with an interval, one row per customer.

Built on the kit's own fits (:mod:`.clv`: BG/NBD for purchases, Gamma-Gamma for order values) and the orders'
:func:`.customers.rfm_summary` (the heavy scan, on any engine); the model math runs on that small per-customer
table. Definitions follow lifetimes 0.11.3 (checked against it on CDNOW, ``tests/value``):

* ``p_alive`` = P(alive | x, t_x, T) (1 for customers without repeat purchases, by the BG/NBD assumption);
* ``purchases_90d`` / ``purchases_365d`` = E[Y(t) | x, t_x, T] at t = 90 and 365 days (in the RFM time unit);
* ``clv`` = Σ_{k=1..months} E[order value] · (E[Y(k·f)] − E[Y((k−1)·f)]) / (1 + d)^k: the discounted revenue
  expected over the next ``months`` (f = time units per month, d the monthly discount rate);
* ``clv_low`` / ``clv_high``: the ``level`` interval of ``clv`` from the uncertainty of the BG/NBD and Gamma-Gamma
  parameters fitted on this data: by default the delta method on the log scale (gradients of each CLV with respect to
  the log-parameters, their covariance the inverse observed information of each fit, the two fits independent), or
  (``interval="draws"``) quantiles over draws of the parameters from that same normal distribution; on CDNOW the two
  agree (``tests/value``), and the delta method costs 8 model evaluations instead of one per draw. The interval does
  not include the customer's own purchase randomness (a customer expected to buy 2.0 times may buy 0 or 5 times), nor
  the risk that the models are wrong (the holdout and independence checks speak to that).

When Gamma-Gamma's independence check fails (:func:`.clv.gamma_gamma_independence`), a predicted purchase is valued
at the observed average value of a purchase over all customers (revenue / purchase days), as the notebook's LTV
does per channel; the interval then carries the purchase model's uncertainty only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats as _st

from ..tools.results import Result
from ..tools.validation import check_level, check_option, require_columns
from . import clv as _clv
from .customers import TIME_UNITS, as_day, rfm_summary

__all__ = ["CustomerValue", "customer_value", "AT_RISK_P_ALIVE", "HIGH_VALUE_SHARE", "TOP_SHARE"]

#: a customer is "at risk" when more likely gone than alive (P(alive) below one half) ...
AT_RISK_P_ALIVE = 0.5
#: ... and their past revenue is in the top fifth of all customers' (the top quintile, as RFM's M score 5)
HIGH_VALUE_SHARE = 0.2
#: the "top customers" of the value table: the top tenth by predicted CLV
TOP_SHARE = 0.1

_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value", "purchases", "revenue", "first_purchase",
            "last_purchase", "p_alive", "purchases_90d", "purchases_365d", "expected_order_value", "clv", "clv_low",
            "clv_high"]


@dataclass(frozen=True, repr=False)
class CustomerValue(Result):
    """One row per customer, sorted by ``clv`` descending (ties by ``customer_id``): the columns of
    :data:`_COLUMNS` (RFM inputs in ``freq`` units; money in the orders' unit). ``draws_total`` holds the
    customer base's total CLV in each parameter draw (for the intervals of totals and shares)."""

    table: pd.DataFrame
    as_of: pd.Timestamp | None
    months: int
    monthly_discount_rate: float
    freq: str
    level: float
    spend_model: str
    n_draws: int
    bgnbd: object = field(default=None, repr=False)
    gamma_gamma: object = field(default=None, repr=False)
    draws: np.ndarray = field(default=None, repr=False)  # CLV per draw (rows: draws, columns: table rows)
    grad: np.ndarray = field(default=None, repr=False)  # d CLV / d log-parameters (rows: table rows)
    cov: np.ndarray = field(default=None, repr=False)  # covariance of the log-parameters (BG/NBD, then Gamma-Gamma)
    interval: str = "delta"
    currency: str | None = None  # the code written after money in the headline

    def summary(self) -> pd.DataFrame:
        return self.table.copy()

    # --- totals and shares with their intervals (quantiles over the same parameter draws) -------------------
    def _z(self) -> float:
        return float(_st.norm.ppf(0.5 + self.level / 2))

    def _quantiles(self, values: np.ndarray) -> tuple[float, float]:
        a = (1 - self.level) / 2
        lo, hi = np.quantile(values, [a, 1 - a])
        return float(lo), float(hi)

    def total(self, n: int | None = None) -> tuple[float, float, float]:
        """Predicted value over the next ``months`` of the whole customer base (or of the first ``n`` rows, the top
        ``n`` customers): (total, low, high)."""
        n = len(self.table) if n is None else n
        tot = float(self.table["clv"].iloc[:n].sum())
        if self.draws is not None:
            return (tot, *self._quantiles(self.draws[:, :n].sum(axis=1)))
        if self.grad is not None:
            lo, hi = _log_interval([tot], self.grad[:n].sum(axis=0), self.cov, self._z())
            return tot, float(lo[0]), float(hi[0])
        return tot, np.nan, np.nan

    def top(self, share: float = TOP_SHARE) -> pd.DataFrame:
        """The top ``share`` of customers by predicted CLV (at least one customer)."""
        return self.table.iloc[:self.top_n(share)]

    def top_n(self, share: float = TOP_SHARE) -> int:
        return max(int(np.ceil(share * len(self.table))), 1) if len(self.table) else 0

    def top_share(self, share: float = TOP_SHARE) -> tuple[float, float, float]:
        """Share of the predicted value held by the top ``share`` of customers (ranked by the point CLV):
        (share, low, high), the interval over the parameter draws with the same customers."""
        n, tot = self.top_n(share), float(self.table["clv"].sum())
        if not n or tot <= 0:
            return np.nan, np.nan, np.nan
        value = float(self.table["clv"].iloc[:n].sum()) / tot
        if self.draws is not None:
            d = self.draws
            return (value, *self._quantiles(d[:, :n].sum(axis=1) / d.sum(axis=1)))
        if self.grad is None or not 0 < value < 1:
            return value, np.nan, np.nan
        # delta method on the logit of the share (so the interval stays in 0-1)
        g = (self.grad[:n].sum(axis=0) - value * self.grad.sum(axis=0)) / tot
        se = float(np.sqrt(max(g @ self.cov @ g, 0.0))) / (value * (1 - value))
        lg = np.log(value / (1 - value))
        lo, hi = (1 / (1 + np.exp(-(lg + s_ * self._z() * se))) for s_ in (-1, 1))
        return value, float(lo), float(hi)

    def at_risk(self, *, p_alive: float = AT_RISK_P_ALIVE, high_value_share: float = HIGH_VALUE_SHARE
                ) -> pd.DataFrame:
        """Customers with high past value (revenue in the top ``high_value_share`` of customers) who are more likely
        gone than alive (P(alive) < ``p_alive``), by past revenue descending, with ``value_if_active``: the CLV they
        would have if still active (CLV / P(alive), since CLV = P(alive) × value if alive)."""
        t = self.table
        if t.empty:
            return t.assign(value_if_active=pd.Series(dtype=float))
        k = max(int(np.ceil(high_value_share * len(t))), 1)
        cut = t["revenue"].sort_values(ascending=False, kind="stable").iloc[k - 1]
        r = t[(t["revenue"] >= cut) & (t["p_alive"] < p_alive)].copy()
        r["value_if_active"] = np.where(r["p_alive"] > 0, r["clv"] / r["p_alive"].where(r["p_alive"] > 0), np.nan)
        return r.sort_values(["revenue", "customer_id"], ascending=[False, True], kind="stable")

    def headline(self) -> str:
        from ..i18n import tr

        if self.table.empty:
            return tr("No customer to value.")
        tot, lo, hi = self.total()
        code = f" {self.currency}" if self.currency else ""
        if np.isfinite(lo):
            return tr("{n:,} customers are expected to bring {total:,.0f}{code} over the next {months} months "
                      "({level:.0%} interval {low:,.0f}-{high:,.0f}{code}).", n=len(self.table), total=tot,
                      months=self.months, level=self.level, low=lo, high=hi, code=code)
        return tr("{n:,} customers are expected to bring {total:,.0f}{code} over the next {months} months.",
                  n=len(self.table), total=tot, months=self.months, code=code)

    def plot(self, ax=None, **kwargs):
        """Cumulative share of the predicted value by customers ranked by CLV
        (:func:`salesops_kit.plots.plot_value_concentration`)."""
        from ..plots.value import plot_value_concentration

        return plot_value_concentration(self, ax=ax, **kwargs)

    def _repr_html_(self) -> str:
        from ..findings import escape_html

        return f"<p>{escape_html(self.headline())}</p>" + self.table.head(20).round(4).to_html(index=False)


def _draw_fits(fit, n: int, rng) -> list:
    """``n`` copies of ``fit`` with parameters drawn from N(log params, covariance_log)."""
    cov = np.asarray(fit.covariance_log, dtype=float)
    if not np.isfinite(cov).all():
        return []
    mean = np.log(fit.params.to_numpy(dtype=float))
    theta = rng.multivariate_normal(mean, cov, size=n, method="eigh")
    return [replace(fit, params=pd.Series(np.exp(th), index=fit.params.index)) for th in theta]


def _discounted_value(bg, spend, x, tx, T, *, months: int, f: float, d: float) -> np.ndarray:
    """Discounted expected revenue over ``months`` (lifetimes' sum; E[Y(0)] = 0)."""
    total = np.zeros(len(x))
    prev = np.zeros(len(x))
    for k in range(1, months + 1):
        cur = bg.conditional_expected_purchases(k * f, x, tx, T)
        total += spend * (cur - prev) / (1 + d) ** k
        prev = cur
    return total


def _clv_gradient(bg, gg, spend, x, tx, T, m, *, months: int, f: float, d: float, h: float = 1e-4):
    """Gradient of each CLV with respect to the log-parameters (BG/NBD's 4, then Gamma-Gamma's 3 when it values the
    orders; central differences, step ``h`` on the log scale) and the block-diagonal covariance of those
    log-parameters (the two models are fitted separately). (None, None) when a covariance is not finite."""
    covs = [np.asarray(bg.covariance_log, dtype=float)]
    if gg is not None:
        covs.append(np.asarray(gg.covariance_log, dtype=float))
    if not all(np.isfinite(c).all() for c in covs):
        return None, None
    k = sum(len(c) for c in covs)
    cov = np.zeros((k, k))
    cov[:4, :4] = covs[0]
    if gg is not None:
        cov[4:, 4:] = covs[1]
    cols = []
    base = np.log(bg.params.to_numpy(dtype=float))
    for j in range(4):  # CLV = spend x discounted purchases: only the purchases depend on BG/NBD
        vals = []
        for sgn in (1, -1):
            th = base.copy()
            th[j] += sgn * h
            b = replace(bg, params=pd.Series(np.exp(th), index=bg.params.index))
            vals.append(_discounted_value(b, spend, x, tx, T, months=months, f=f, d=d))
        cols.append((vals[0] - vals[1]) / (2 * h))
    if gg is not None:
        purchases = _discounted_value(bg, np.ones(len(x)), x, tx, T, months=months, f=f, d=d)
        gbase = np.log(gg.params.to_numpy(dtype=float))
        for j in range(3):  # only the order value depends on Gamma-Gamma
            vals = []
            for sgn in (1, -1):
                th = gbase.copy()
                th[j] += sgn * h
                g = replace(gg, params=pd.Series(np.exp(th), index=gg.params.index))
                vals.append(g.conditional_expected_spend(x, m))
            cols.append(purchases * (vals[0] - vals[1]) / (2 * h))
    return np.column_stack(cols), cov


def _log_interval(value, grad, cov, z):
    """Delta-method interval on the log scale (so it stays positive): value x exp(±z se / value)."""
    value = np.asarray(value, dtype=float)
    grad = np.atleast_2d(grad)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", grad, cov, grad), 0, None))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a tiny value with a wide interval: no bound
        rel = np.where(value > 0, se / value, np.nan)
        return value * np.exp(-z * rel), value * np.exp(z * rel)


def customer_value(orders=None, *, rfm: pd.DataFrame | None = None, as_of=None, months: int = 12,
                   monthly_discount_rate: float = 0.01, freq: str = "W", n_draws: int = 200, level: float = 0.95,
                   seed: int = 0, spend_model: str = "auto", bgnbd=None, gamma_gamma=None,
                   interval: str = "delta", currency: str | None = None) -> CustomerValue:
    """The per-customer value table (see the module docstring for every column's definition).

    Parameters
    ----------
    orders : pandas / Polars / DuckDB / Spark frame, optional
        ``customer_id, order_date, amount``; summarised with :func:`.customers.rfm_summary` to ``as_of``.
    rfm : DataFrame, optional
        An ``rfm_summary`` already computed (to ``as_of``, in ``freq`` units) instead of ``orders``.
    as_of : date-like, optional
        End of the history (default: the last order day).
    months, monthly_discount_rate : the CLV horizon and the monthly discount rate (lifetimes' defaults 12, 0.01).
    n_draws, level, seed : parameter draws for the CLV interval (0 draws: no interval).
    spend_model : ``"auto"`` (Gamma-Gamma unless its independence check fails), ``"gamma_gamma"`` or
        ``"average_order_value"``.
    bgnbd, gamma_gamma : fits already made on this ``rfm`` (the notebook passes its own); fitted here otherwise.
    interval : ``"delta"`` (default) or ``"draws"`` (see the module docstring).
    currency : the code the headline writes after money.

    Raises
    ------
    ValueError
        Too few customers or repeat purchases to fit the models (the notebook says so in one sentence).
    """
    check_option("freq", freq, sorted(TIME_UNITS))
    check_option("spend_model", spend_model, ("auto", "gamma_gamma", "average_order_value"))
    check_level(level)
    check_option("interval", interval, ("delta", "draws"))
    if rfm is None:
        if orders is None:
            raise ValueError("customer_value needs orders (customer_id, order_date, amount) or an rfm_summary table.")
        rfm = rfm_summary(orders, calibration_end=as_of, freq=freq)
    require_columns(rfm, ["customer_id", "frequency", "recency", "T", "monetary_value", "purchases", "revenue"],
                    table="rfm", purpose="customer_value", hint="Build it with customers.rfm_summary(orders).")
    rfm = rfm.sort_values("customer_id", kind="stable").reset_index(drop=True)
    x, tx, T = (rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    m = rfm["monetary_value"].to_numpy(dtype=float)
    rep = (x > 0) & (m > 0)
    bg = bgnbd if bgnbd is not None else _clv.fit_bgnbd(x, tx, T)
    check = _clv.gamma_gamma_independence(x, m)
    use_gg = spend_model == "gamma_gamma" or (spend_model == "auto" and check.passed)
    gg = gamma_gamma
    if use_gg and gg is None:
        gg = _clv.fit_gamma_gamma(x[rep], m[rep])
    purchases = rfm["purchases"].to_numpy(dtype=float)
    aov = float(rfm["revenue"].sum() / purchases.sum()) if purchases.sum() > 0 else np.nan
    m_in = np.where(rep, m, 0.0)
    spend = gg.conditional_expected_spend(x, m_in) if use_gg else np.full(len(x), aov)
    unit_days = TIME_UNITS[freq]
    f = _clv.MONTH_FACTOR[freq]  # time units per month, lifetimes' convention (weeks: 4.345)
    d = float(monthly_discount_rate)
    # the model math on the distinct (x, t_x, T, spend) rows only
    key = np.column_stack([x, tx, T, m_in])
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    ux, utx, uT, um = uniq.T
    u_spend = gg.conditional_expected_spend(ux, um) if use_gg else np.full(len(ux), aov)
    u_clv = _discounted_value(bg, u_spend, ux, utx, uT, months=int(months), f=f, d=d)
    z = float(_st.norm.ppf(0.5 + level / 2))
    draws = grad = cov = None
    if interval == "draws":
        rng = np.random.default_rng(seed)
        bgs = _draw_fits(bg, int(n_draws), rng) if n_draws else []
        ggs = _draw_fits(gg, int(n_draws), rng) if (n_draws and use_gg) else []
        if bgs and (ggs or not use_gg):
            du = np.empty((len(bgs), len(ux)))
            for i, b in enumerate(bgs):
                sp = ggs[i].conditional_expected_spend(ux, um) if use_gg else u_spend
                du[i] = _discounted_value(b, sp, ux, utx, uT, months=int(months), f=f, d=d)
            draws = du[:, inv]
    else:  # delta method: gradients of CLV with respect to the log-parameters of both models
        grad, cov = _clv_gradient(bg, gg if use_gg else None, u_spend, ux, utx, uT, um, months=int(months), f=f, d=d)
        if grad is not None:
            grad = grad[inv]
    out = rfm[[c for c in _COLUMNS[:9] if c in rfm.columns]].copy()
    out["p_alive"] = bg.p_alive(x, tx, T)
    for days in (90, 365):
        out[f"purchases_{days}d"] = bg.conditional_expected_purchases(days / unit_days, x, tx, T)
    out["expected_order_value"] = spend
    out["clv"] = u_clv[inv]
    out["clv_low"] = out["clv_high"] = np.nan
    if draws is not None:
        a = (1 - level) / 2
        out["clv_low"], out["clv_high"] = np.quantile(draws, [a, 1 - a], axis=0)
    elif grad is not None:
        out["clv_low"], out["clv_high"] = _log_interval(out["clv"].to_numpy(), grad, cov, z)
    order = np.lexsort((out["customer_id"].astype(str).to_numpy(), -out["clv"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    if draws is not None:
        draws = draws[:, order]
    if grad is not None:
        grad = grad[order]
    end = as_day(as_of) if as_of is not None else (
        pd.Timestamp(rfm["last_purchase"].max()) if "last_purchase" in rfm and len(rfm) else None)
    return CustomerValue(table=out[[c for c in _COLUMNS if c in out.columns]], as_of=end, months=int(months),
                         monthly_discount_rate=d, freq=freq, level=level,
                         spend_model="gamma_gamma" if use_gg else "average_order_value", n_draws=int(n_draws),
                         bgnbd=bg, gamma_gamma=gg if use_gg else None, draws=draws, grad=grad, cov=cov,
                         interval=interval, currency=currency)
