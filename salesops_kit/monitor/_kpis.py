"""The monitoring KPIs of a Dataset (see :mod:`salesops_kit.kpis`): CSAT, NPS, the review month's changes and
attainment and the number of alerts, read from a :func:`~.review.review`, beside it rather than inside."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.currency import converted, needs_split, report_currency
from ._series import kpi_windows
from .review import MonitorReview, review
from .sources import NOT_SET, RevenueSources, revenue_sources

__all__ = ["kpi_rows", "kpi_windows", "kpis_text", "kpis_table", "tables_used", "MONEY_KPIS", "source_rows"]

MONEY_KPIS = frozenset({"won_revenue", "avg_won_deal_size"})  # per-period money KPIs of the review


def kpi_rows(ds, *, reviewed: MonitorReview | None = None, sources=None) -> list[dict]:
    """CSAT / NPS (all answers to as-of, overall, per team and per rep — ``csat_mean`` per rep comes from
    ``reps``), the review month's changes and attainment, and the number of alerts; [] when no
    monitored table is present.

    ``reviewed``: a :func:`review` of ``ds`` already computed (notebook 05 passes its own, so the review is
    not run twice). It is used when it matches the registry's definitions (monthly, alerts at q < 0.05 over
    12 months), whichever month it reviews; otherwise ``review(ds, period="M")`` with its defaults (the last
    complete month) is run here.

    ``sources``: a :func:`~.sources.revenue_sources` of ``ds`` over the 12 months to the review month (notebook 05
    passes its own); otherwise it is computed here. Its rows: won and order revenue share per product and region,
    the top-20% accounts' and customers' share and the year-over-year growth of won revenue.
    """
    if not any(ds.has(t) for t in ("opportunities", "leads", "orders", "csat")):
        return []
    # money in the report currency with rates (review() converts); over several currencies without rates the
    # money KPIs' changes and attainment are left out (they would mix currencies)
    split = needs_split(ds, "opportunities")
    code = None if split else report_currency(ds, "opportunities")
    usable = (reviewed is not None and reviewed.period == "M" and reviewed.alpha == 0.05
              and len(reviewed.window) == 12)  # review() converts money itself
    rv = reviewed if usable else review(converted(ds), period="M")
    windows = kpi_windows(rv)
    rows: list[dict] = []
    s = rv.series
    for kpi in ("csat_mean", "csat_satisfied_share", "nps"):
        g = s[s["kpi"] == kpi]
        if kpi == "csat_mean":  # per rep: the rep scorecard's row (same definition)
            g = g[~g["segment"].str.startswith("owner=")]
        for seg, x in g.groupby("segment", sort=True):
            rows.append({"kpi": kpi, "segment": seg, **_overall(kpi, x), "window": windows["all"]})
    for r in rv.changes.itertuples(index=False):
        # several currencies without rates: money changes only per currency=XXX (the review has no other series)
        if np.isnan(r.change) or (split and r.kpi in MONEY_KPIS and not r.segment.startswith("currency=")):
            continue
        row = {"kpi": f"{r.kpi}_change_{r.comparison}", "segment": r.segment, "value": r.change,
               "ci_low": r.ci_low, "ci_high": r.ci_high, "window": windows[r.comparison]}
        if r.kpi in MONEY_KPIS:  # a change in that currency's units (the registry says "KPI units")
            cur = r.segment.split("=", 1)[1] if r.segment.startswith("currency=") else code
            if cur:
                row["unit"] = cur
        rows.append(row)
    at = rv.attainment
    for r in at[at["period"] == rv.review].itertuples(index=False) if len(at) else []:
        if not np.isnan(r.attainment) and not (split and r.kpi in MONEY_KPIS and not r.segment.startswith("currency=")):
            rows.append({"kpi": f"{r.kpi}_attainment", "segment": r.segment, "value": r.attainment,
                         "window": windows["review"]})
    if not rv.charts_reason:  # no control limit anywhere (too few periods): no alert could be raised, not "0"
        rows.append({"kpi": "alerts", "segment": "all", "value": int(len(rv.alerts)), "window": windows["alerts"]})
    usable = (sources is not None and sources.end == rv.review and sources.n_months == 12)
    return rows + source_rows(sources if usable else revenue_sources(ds, end=rv.review))


def source_rows(rs: RevenueSources) -> list[dict]:
    """The registry rows of a :class:`~.sources.RevenueSources` (12 months to the review month): revenue shares
    per product and region (levels with a name), the top-20% shares and the year-over-year growth of won
    revenue (deals only: order revenue has no such KPI)."""
    rows: list[dict] = []
    if rs.n_months != 12:
        return rows
    names = {"deals": "won_revenue_share", "orders": "order_revenue_share"}
    t = rs.table
    keep = t[t["dimension"].isin(["product", "region"]) & (t["level"] != NOT_SET) & t["share"].notna()]
    for r in keep.itertuples(index=False):
        rows.append({"kpi": names[r.source], "segment": f"{r.dimension}={r.level}", "value": r.share,
                     "ci_low": r.share_low, "ci_high": r.share_high, "window": rs.window})
    for kind, kpi in (("accounts", "top20_account_revenue_share"), ("customers", "top20_customer_revenue_share")):
        if kind in rs.top and np.isfinite(rs.top[kind][0]):
            rows.append({"kpi": kpi, "segment": "all", "value": rs.top[kind][0], "window": rs.window})
    y = rs.yoy
    if y.get("source") == "deals" and np.isfinite(y.get("growth", np.nan)):
        rows.append({"kpi": "won_revenue_growth_yoy", "segment": "all", "value": y["growth"], "ci_low": y["ci_low"],
                     "ci_high": y["ci_high"], "window": rs.window})
    return rows


def kpis_text(frame: pd.DataFrame, *, segment: str = "all") -> pd.DataFrame:
    """The monitoring rows of ``segment`` from a ``kpi_frame(kpi_rows(...))`` table for display: KPI in words,
    value and 95% interval in the KPI's units (a rate's change in points, money with its code), and the window
    each number covers (the CSAT rows are all history, the changes and attainment the reviewed month)."""
    from ..i18n import kpi_label, t, tr
    from ..stats.kpi_specs import KPI_SPECS, fmt

    rows = []
    for r in frame[frame["segment"] == segment].itertuples(index=False):
        base = r.kpi.rsplit("_change_", 1)[0] if "_change_" in r.kpi else r.kpi.removesuffix("_attainment")
        spec = KPI_SPECS.get(base)
        code = r.unit if isinstance(r.unit, str) and len(r.unit) == 3 and r.unit.isupper() else ""
        if r.kpi.endswith("_attainment") and spec is not None:
            name, f = tr("{kpi} target attainment", kpi=t(spec.label)), "share"
        elif "_change_" in r.kpi and spec is not None:
            name, f = kpi_label(r.kpi), ("pts" if spec.fmt in ("pct", "nps") else spec.fmt)
        else:
            name, f = (t(spec.label) if spec is not None else kpi_label(r.kpi)), (spec.fmt if spec else "int")

        def v(x, f=f, code=code):
            if pd.isna(x):
                return "—"
            if f == "share":
                return f"{x:.0%}"
            if f == "pts":
                return tr("{x:+.1f} pts", x=x * 100)
            return fmt(x, f) + (f" {code}" if code else "")
        ci = "—" if pd.isna(r.ci_low) or pd.isna(r.ci_high) else f"{v(r.ci_low)} – {v(r.ci_high)}"
        rows.append([name, v(r.value), ci, r.window])
    return pd.DataFrame(rows, columns=[t("KPI"), t("value"), t("95% interval"), t("window")])


def kpis_table(frame: pd.DataFrame, *, segment: str = "all"):
    """:func:`kpis_text` as a table to display; None (nothing shown) when ``segment`` has no row."""
    from ..i18n import t
    from ..tools.tables import show_table

    text = kpis_text(frame, segment=segment)
    if not len(text):
        return None
    return show_table(text,
                      caption=t("Company KPIs published to kpis.csv, each with its window"))


def tables_used(ds):
    """The rows of each table the review can use (a missing table: em dash), captioned with the as-of date."""
    from ..engines import n_rows
    from ..i18n import format_date, tr
    from ..tools.tables import show_table

    names = ("opportunities", "leads", "orders", "marketing_spend", "csat", "quotas")
    rows = [n_rows(ds.tables[n]) if ds.has(n) else None for n in names]
    return show_table(pd.DataFrame({"table": names, "rows": rows}),
                      caption=tr("Tables used (as of {date})", date=format_date(ds.as_of)))


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
