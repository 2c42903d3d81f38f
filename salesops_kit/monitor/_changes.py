"""Changes between periods and seasonal factors for the KPI review (issue 9).

Period over period and year over year, each with the test that fits the KPI's kind (two-proportion for
rates, exact Poisson for counts, bootstrap for means and medians, compound-Poisson for totals, multinomial
for NPS), and the multiplicative seasonal factors that the control charts use for volume KPIs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import (
    bh_adjust,
    bootstrap_diff,
    nps_change_test,
    poisson_rate_test,
    rate_change_test,
    sum_change_test,
)
from ..stats.kpi_specs import KPI_SPECS, KPISpec, fmt
from . import _series as ms
from ._series import parse_review

__all__ = ["CHANGE_COLUMNS", "changes", "change_sentence", "fmt", "seasonal_factors"]

CHANGE_COLUMNS = ["kpi", "segment", "comparison", "period", "base_period", "value", "base_value", "change",
                  "rel_change", "ci_low", "ci_high", "p_value", "q_value", "test", "significant", "note"]


def seasonal_factors(series: pd.DataFrame, *, period: str = "M", before=None) -> pd.DataFrame:
    """Multiplicative seasonal factors of the volume KPIs (counts and totals), from the company series.

    For each KPI of kind ``count`` or ``sum``, segment ``all``: per full calendar year before ``before``
    (a year whose months / quarters are all complete), each period's daily rate divided by the year's
    mean daily rate; the factor of a month (quarter) of the year is the mean over those years,
    normalised to average 1. Weeks get no factor. Without a full year there is no factor (1).

    Returns
    -------
    DataFrame ``kpi, slot`` (month 1–12 or quarter 1–4), ``factor, years``.
    """
    cols = ["kpi", "slot", "factor", "years"]
    if period not in ("M", "Q") or series is None or not len(series):
        return pd.DataFrame(columns=cols)
    per_year = 12 if period == "M" else 4
    s = series[series["kind"].isin(["count", "sum"]) & (series["segment"] == "all") & ~series["partial"]]
    if before is not None:
        s = s[s["period"] < pd.Timestamp(before)]
    out = []
    for kpi, g in s.groupby("kpi", sort=True):
        g = g.assign(year=g["period"].dt.year, rate=g["value"] / g["days"],
                     slot=g["period"].dt.month if period == "M" else g["period"].dt.quarter)
        full = g.groupby("year")["slot"].nunique()
        full = full[full == per_year].index
        g = g[g["year"].isin(full)]
        if not len(g):
            continue
        g = g.assign(rel=g["rate"] / g.groupby("year")["rate"].transform("mean"))
        f = g.groupby("slot")["rel"].mean()
        f = f / f.mean()
        out.append(pd.DataFrame({"kpi": kpi, "slot": f.index, "factor": f.to_numpy(), "years": len(full)}))
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def with_season(series: pd.DataFrame, factors: pd.DataFrame, period: str) -> pd.DataFrame:
    s = series.copy()
    s["season"] = 1.0
    if not len(factors):
        return s
    slot = s["period"].dt.month if period == "M" else s["period"].dt.quarter
    key = pd.MultiIndex.from_arrays([s["kpi"], slot])
    f = factors.set_index(["kpi", "slot"])["factor"]
    s["season"] = f.reindex(key).fillna(1.0).to_numpy()
    return s


# ---- changes -------------------------------------------------------------------------------------

def _test(kind: str, cur, base, *, n_boot: int, seed: int) -> dict:
    if kind == "rate":
        return rate_change_test(cur.successes, cur.n, base.successes, base.n)
    if kind == "count":
        r = poisson_rate_test(cur.n, cur.days, base.n, base.days)
        exp = base.n * cur.days / base.days if base.days else np.nan
        return {"value": cur.n, "base_value": base.n, "change": cur.n - base.n, "p_value": r["p_value"],
                "ci_low": exp * r["ratio_low"] - base.n if np.isfinite(r["ratio_low"]) else np.nan,
                "ci_high": exp * r["ratio_high"] - base.n if np.isfinite(r["ratio_high"]) else np.nan,
                "test": r["test"] + " (per day)"}
    if kind == "ratio":  # CAC = spend / customers: customers per unit of spend is a Poisson rate
        r = poisson_rate_test(cur.n, cur.total, base.n, base.total)
        v, b = cur.value, base.value

        def conv(q):
            return b / q - b if q and np.isfinite(q) and q > 0 else np.nan
        return {"value": v, "base_value": b, "change": v - b, "p_value": r["p_value"],
                "ci_low": conv(r["ratio_high"]), "ci_high": conv(r["ratio_low"]),
                "test": "Poisson exact on new customers per unit of spend"}
    if kind == "nps":
        return nps_change_test(cur.successes, cur.detractors, cur.n, base.successes, base.detractors, base.n)
    if kind == "sum":
        return sum_change_test(cur["values"], base["values"])
    return bootstrap_diff(cur["values"], base["values"], statistic=kind, n_boot=n_boot, seed=seed)


def changes(series: pd.DataFrame, *, review, period: str = "M", alpha: float = 0.05, n_boot: int = 2000,
            seed: int = 0) -> pd.DataFrame:
    """Period-over-period (``pop``) and year-over-year (``yoy``) change of every series at ``review``.

    Returns
    -------
    DataFrame ``CHANGE_COLUMNS``: ``value`` (review period), ``base_value``, ``change`` (difference in
    KPI units; rates in points of [0, 1]), ``rel_change``, ``ci_low, ci_high`` (95% interval of the
    change), ``p_value``, ``q_value`` (BH within each comparison), ``test``, ``significant``
    (q < alpha), ``note`` (why a change was not tested: missing, partial or low-volume period).
    """
    period = ms.check_period(period)
    review = parse_review(review, period)
    rows = []
    if series is None or not len(series):
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    idx = series.set_index(["kpi", "segment", "period"]).sort_index()
    for (kpi, seg), _ in series.groupby(["kpi", "segment"], sort=True):
        kind = KPI_SPECS[kpi].kind if kpi in KPI_SPECS else "rate"
        for comp, lag in (("pop", 1), ("yoy", ms.YEAR_LAG[period])):
            base_p = ms.shift_period(review, period, lag)
            row = {"kpi": kpi, "segment": seg, "comparison": comp, "period": review, "base_period": base_p}
            cur = idx.loc[(kpi, seg, review)] if (kpi, seg, review) in idx.index else None
            base = idx.loc[(kpi, seg, base_p)] if (kpi, seg, base_p) in idx.index else None
            note = ""
            if cur is None or base is None:
                note = "no data for " + ("this period" if cur is None else "the comparison period")
            elif cur.partial or base.partial:
                note = "partial period (not over at the as-of date, or leads not yet mature)"
            elif cur.low_volume or base.low_volume:
                note = "low volume: too few observations to compare"
            if note:
                row.update(value=np.nan if cur is None else cur.value, base_value=np.nan if base is None else
                           base.value, note=note)
            else:
                r = _test(kind, cur, base, n_boot=n_boot, seed=seed)
                row.update({k: r.get(k, np.nan) for k in ("value", "base_value", "change", "ci_low", "ci_high",
                                                          "p_value", "test")})
                if np.isnan(r.get("p_value", np.nan)):
                    row["note"] = "no variation in either period"
            rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=CHANGE_COLUMNS)
    for c in ("value", "base_value", "change", "ci_low", "ci_high", "p_value"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rel_change"] = np.where(out["base_value"].abs() > 0, out["value"] / out["base_value"] - 1, np.nan)
    out["q_value"] = np.nan
    for comp in ("pop", "yoy"):
        m = (out["comparison"] == comp).to_numpy()
        out.loc[m, "q_value"] = bh_adjust(out.loc[m, "p_value"].to_numpy())
    out["significant"] = out["q_value"] < alpha
    out["note"] = out["note"].fillna("")
    out["test"] = out["test"].fillna("")
    return out.sort_values(["kpi", "segment", "comparison"], kind="stable").reset_index(drop=True)


def change_sentence(row, spec: KPISpec, *, alpha: float = 0.05, n_tests: int | None = None) -> str:
    """"win rate fell from 31% to 24% (p = 0.01)" or "... (within normal variation, p = 0.4)"; a change with
    p < ``alpha`` that the false-discovery correction across ``n_tests`` tests does not keep says so."""
    from ..i18n import t, tr  # the sentence in the report language

    label = t(spec.label)
    if row.note:
        return tr("{label}: {note}", label=label, note=t(row.note))
    p = f"p = {row.p_value:.2g}" if row.p_value >= 0.001 else "p < 0.001"
    if row.significant:
        judged = p
    elif row.p_value < alpha and n_tests:
        judged = tr("not significant after the false-discovery correction across {n} tests, {p}", n=n_tests, p=p)
    else:
        judged = tr("within normal variation, {p}", p=p)
    values = {"label": label, "base": fmt(row.base_value, spec.fmt), "value": fmt(row.value, spec.fmt),
              "judged": judged}
    if row.change > 0:
        return tr("{label} rose from {base} to {value} ({judged})", **values)
    if row.change < 0:
        return tr("{label} fell from {base} to {value} ({judged})", **values)
    return tr("{label} held from {base} to {value} ({judged})", **values)
