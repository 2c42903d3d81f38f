"""The monitoring KPIs of a Dataset (see :mod:`salesops_kit.kpis`): CSAT, NPS, the review month's changes and
attainment and the number of alerts, read from a :func:`~.review.review`, beside it rather than inside."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.currency import converted, currency_of, needs_split, report_currency
from .review import MonitorReview, review

__all__ = ["kpi_rows", "MONEY_KPIS"]

MONEY_KPIS = frozenset({"won_revenue", "avg_won_deal_size"})  # per-period money KPIs of the review


def kpi_rows(ds, *, reviewed: MonitorReview | None = None) -> list[dict]:
    """CSAT / NPS (all answers to as-of, overall, per team and per rep — ``csat_mean`` per rep comes from
    ``reps``), the review month's changes and attainment, and the number of alerts; [] when no
    monitored table is present.

    ``reviewed``: a :func:`review` of ``ds`` already computed (notebook 05 passes its own, so the review is
    not run twice). It is used when it matches the registry's definitions (monthly, alerts at q < 0.05 over
    12 months), whichever month it reviews; otherwise ``review(ds, period="M")`` with its defaults (the last
    complete month) is run here.
    """
    if not any(ds.has(t) for t in ("opportunities", "leads", "orders", "csat")):
        return []
    # money in the report currency with rates (a review of the unconverted data is not reused); over several
    # currencies without rates the money KPIs' changes and attainment are left out (they would mix currencies)
    rates = bool(currency_of(ds).rates)
    split = needs_split(ds, "opportunities")
    code = None if split else report_currency(ds, "opportunities")
    usable = (reviewed is not None and reviewed.period == "M" and reviewed.alpha == 0.05
              and len(reviewed.window) == 12 and not rates)
    rv = reviewed if usable else review(converted(ds), period="M")
    rows: list[dict] = []
    s = rv.series
    for kpi in ("csat_mean", "csat_satisfied_share", "nps"):
        g = s[s["kpi"] == kpi]
        if kpi == "csat_mean":  # per rep: the rep scorecard's row (same definition)
            g = g[~g["segment"].str.startswith("owner=")]
        for seg, x in g.groupby("segment", sort=True):
            rows.append({"kpi": kpi, "segment": seg, **_overall(kpi, x)})
    for r in rv.changes.itertuples(index=False):
        # several currencies without rates: money changes only per currency=XXX (the review has no other series)
        if np.isnan(r.change) or (split and r.kpi in MONEY_KPIS and not r.segment.startswith("currency=")):
            continue
        row = {"kpi": f"{r.kpi}_change_{r.comparison}", "segment": r.segment, "value": r.change,
               "ci_low": r.ci_low, "ci_high": r.ci_high}
        if r.kpi in MONEY_KPIS:  # a change in that currency's units (the registry says "KPI units")
            cur = r.segment.split("=", 1)[1] if r.segment.startswith("currency=") else code
            if cur:
                row["unit"] = cur
        rows.append(row)
    at = rv.attainment
    for r in at[at["period"] == rv.review].itertuples(index=False) if len(at) else []:
        if not np.isnan(r.attainment) and not (split and r.kpi in MONEY_KPIS and not r.segment.startswith("currency=")):
            rows.append({"kpi": f"{r.kpi}_attainment", "segment": r.segment, "value": r.attainment})
    if not rv.charts_reason:  # no control limit anywhere (too few periods): no alert could be raised, not "0"
        rows.append({"kpi": "alerts", "segment": "all", "value": int(len(rv.alerts))})
    return rows


def _overall(kpi: str, x: pd.DataFrame) -> dict:
    from ..stats import nps_interval, wilson_interval

    n = float(x["n"].sum())
    if kpi == "csat_satisfied_share":
        k = float(x["successes"].sum())
        lo, hi = wilson_interval(k, n)
        return {"value": k / n if n else np.nan, "ci_low": lo, "ci_high": hi}
    if kpi == "nps":
        v, lo, hi = nps_interval(x["successes"].sum(), x["detractors"].sum(), n)
        return {"value": v, "ci_low": lo, "ci_high": hi}
    vals = np.concatenate([v for v in x["values"] if v is not None and len(v)]) if n else np.array([])
    if len(vals) < 2:
        return {"value": float(vals.mean()) if len(vals) else np.nan, "ci_low": np.nan, "ci_high": np.nan}
    from scipy import stats as st

    half = st.t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / np.sqrt(len(vals))
    return {"value": float(vals.mean()), "ci_low": float(vals.mean() - half), "ci_high": float(vals.mean() + half)}
